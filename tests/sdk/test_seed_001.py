"""Every code block of the programmatic-API seed (``seeds/001_…txt``) and the all-in-one quick start of the client
seed (``seeds/000_…txt``), run as written. The blocks name OpenAI models and read ``OPENAI_API_KEY``; the servers
they start answer every LLM call from the scripted ``hindsight-test`` provider (no network), and the tests check the
calls reached it under the model the block named, and that the key never reached a log.

These start whole servers (embedded PostgreSQL, Redis, gunicorn, Celery), so they are slow.
"""

from __future__ import annotations

import contextlib
import io
import time

import psutil
import pytest

from hindsight import HindsightEmbedded
from hindsight import server as server_module
from tests.sdk.conftest import FAKE_OPENAI_KEY, describe, logs_mention, processes_of, recorded_models

SEED_000_ALL_IN_ONE = """
import os
from hindsight import HindsightServer, HindsightClient

with HindsightServer(
    llm_provider="openai",
    llm_model="gpt-4.1-mini",
    llm_api_key=os.environ["OPENAI_API_KEY"]
) as server:
    client = HindsightClient(base_url=server.url)

    # Retain a memory
    client.retain(bank_id="my-bank", content="Alice works at Google")

    # Recall memories
    results = client.recall(bank_id="my-bank", query="What does Alice do?")
    for r in results:
        print(r.text)

    # Reflect - generate response with disposition
    answer = client.reflect(bank_id="my-bank", query="Tell me about Alice")
    print(answer.text)
"""

SEED_001_SERVER = """
import os
from hindsight import HindsightServer, HindsightClient
with HindsightServer(
    llm_provider="openai",
    llm_model="gpt-4o-mini",
    llm_api_key=os.environ["OPENAI_API_KEY"],
) as server:
    client = HindsightClient(base_url=server.url)
    client.retain(bank_id="my-bank", content="Alice works at Google")
    results = client.recall(bank_id="my-bank", query="What does Alice do?")
    for r in results:
        print(r.text)
    answer = client.reflect(bank_id="my-bank", query="Tell me about Alice")
    print(answer.text)
# Server is stopped here
"""

SEED_001_EMBEDDED = """
from hindsight import HindsightEmbedded
import os
# Server starts automatically on first call
client = HindsightEmbedded(
    profile="myapp", # Profile for data isolation
    llm_provider="openai",
    llm_model="gpt-4o-mini",
    llm_api_key=os.environ["OPENAI_API_KEY"],
)
# Use immediately - no manual server management needed
client.retain(bank_id="my-bank", content="Alice works at Google")
results = client.recall(bank_id="my-bank", query="What does Alice do?")
# Server continues running (auto-stops after idle timeout)
# Or explicitly stop it:
client.close(stop_daemon=True)
"""

SEED_001_NAMESPACES = """
from hindsight import HindsightEmbedded
import os
embedded = HindsightEmbedded(
    profile="myapp",
    llm_provider="openai",
    llm_api_key=os.environ["OPENAI_API_KEY"],
)
# Core operations
embedded.retain(bank_id="test", content="Hello")
results = embedded.recall(bank_id="test", query="Hello")
# Bank management
embedded.banks.create(bank_id="test", name="Test Bank", mission="Help users")
embedded.banks.set_mission(bank_id="test", mission="Updated mission")
embedded.banks.delete(bank_id="test")
# Mental models
embedded.mental_models.create(
    bank_id="test",
    name="User Preferences",
    content="User prefers dark mode"
)
models = embedded.mental_models.list(bank_id="test")
# Directives
embedded.directives.create(
    bank_id="test",
    name="Response Style",
    content="Be concise and friendly"
)
directives = embedded.directives.list(bank_id="test")
# List memories
memories = embedded.memories.list(bank_id="test", type="world", limit=50)
"""

SEED_001_GOOD_AND_BAD = """
# ✅ GOOD - Uses API namespace (daemon restarts handled)
embedded.banks.create(bank_id="test", name="Test")
# ❌ BAD - Direct client access (daemon crashes NOT handled)
client = embedded.client
client.create_bank(bank_id="test", name="Test") # Fails if daemon crashed
"""


def run(*blocks: str, namespace: dict | None = None) -> tuple[str, dict]:
    namespace = {} if namespace is None else namespace
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        for block in blocks:
            exec(compile(block, "<seed>", "exec"), namespace)
    return output.getvalue(), namespace


@pytest.fixture
def stopped_trees(monkeypatch):
    """Every HindsightServer's process tree, captured just before it is stopped."""
    trees: list[list[psutil.Process]] = []
    original = server_module.HindsightServer.stop

    def stop(self):
        if self.pid is not None:
            root = psutil.Process(self.pid)
            trees.append([root, *root.children(recursive=True)])
        original(self)

    monkeypatch.setattr(server_module.HindsightServer, "stop", stop)
    return trees


@pytest.mark.slow
def test_the_all_in_one_server_blocks_run_and_leave_no_process_behind(scripted_env, sdk_home, stopped_trees):
    printed, namespace = run(SEED_000_ALL_IN_ONE)
    assert printed.splitlines()[0] == "Alice works at Google."
    assert printed.splitlines()[-1] == "Alice works at Google as far as I remember."
    server = namespace["server"]
    assert server.url.startswith("http://127.0.0.1:")

    # The same (default) profile: the second server finds the first one's memory too, as upstream's does.
    printed, _ = run(SEED_001_SERVER)
    assert printed.splitlines() == [
        "Alice works at Google.",
        "Alice works at Google.",
        "Alice works at Google as far as I remember.",
    ]

    # Both servers had a whole tree (database, broker, web server, worker) and none of it is left.
    assert len(stopped_trees) == 2
    for tree in stopped_trees:
        assert [p.pid for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
        assert len(tree) >= 5
    assert describe(processes_of(sdk_home)) == []
    # The provider/model pairs became litellm model strings, answered by the scripted provider.
    assert {"hindsight-test/openai/gpt-4.1-mini", "hindsight-test/openai/gpt-4o-mini"} <= recorded_models(scripted_env)
    assert logs_mention(sdk_home, FAKE_OPENAI_KEY) == []


@pytest.mark.slow
def test_the_embedded_blocks_run_as_written(scripted_env, sdk_home):
    try:
        _printed, namespace = run(SEED_001_EMBEDDED)
        assert [r.text for r in namespace["results"]] == ["Alice works at Google."]
        deadline = time.monotonic() + 60
        while processes_of(sdk_home) and time.monotonic() < deadline:  # close(stop_daemon=True) stopped it
            time.sleep(0.5)
        assert describe(processes_of(sdk_home)) == []

        _, namespace = run(SEED_001_NAMESPACES)
        assert [r.text for r in namespace["results"]] == ["The user said hello."]
        assert [m.name for m in namespace["models"].items] == ["User Preferences"]
        assert [d.name for d in namespace["directives"].items] == ["Response Style"]
        assert namespace["memories"].items == []  # the bank was deleted, then re-created empty by the model

        _, namespace = run(SEED_001_GOOD_AND_BAD, namespace=namespace)
        assert namespace["client"].get_bank_config("test")["bank_id"] == "test"
        assert "hindsight-test/openai/gpt-4o-mini" in recorded_models(scripted_env)
        assert logs_mention(sdk_home, FAKE_OPENAI_KEY) == []
    finally:
        HindsightEmbedded(profile="myapp").close(stop_daemon=True)
    assert describe(processes_of(sdk_home)) == []


def test_the_readme_shows_these_blocks_as_tested():
    """The README's examples are these seed blocks (compared as code: the formatter may re-wrap them)."""
    import ast
    import re

    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    shown = {ast.dump(ast.parse(block)) for block in re.findall(r"```python\n(.*?)```", readme, flags=re.S)}
    assert ast.dump(ast.parse(SEED_000_ALL_IN_ONE)) in shown
    assert ast.dump(ast.parse(SEED_001_EMBEDDED)) in shown
