"""Reflect, directives and mental models through the real hindsight-client 1.1.0, with and without an LLM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, database_url, free_port, wait_for_health

pytestmark = pytest.mark.django_db(transaction=True)


def test_reflect_and_directives_without_an_llm(run_contract_script, bank_id):
    out = run_contract_script("reflect_directives", bank_id)
    assert out["created"]["name"] == "Be concise" and out["created"]["priority"] == 5
    assert out["created"]["tags"] == ["finance"]
    assert out["listed"] == ["Be concise", "Finance"]
    assert out["listed_finance"] == ["Be concise", "Finance"]
    assert out["got"] == "Always answer briefly"
    assert out["updated_active"] is False
    assert out["text"].startswith("**Extractive answer**")
    assert any("Alice works at Google" in text for text in out["memories"])
    assert out["directives"] == ["Be concise"]
    assert out["tool_calls"] == []
    assert out["plain_based_on"] is None
    assert out["structured_output"] is None and "language model" in out["structured_output_error"]
    assert "Bob" in out["areflect"]
    assert out["deleted"] is True
    assert out["after_delete"] == []


def test_mental_models_with_a_real_worker(run_contract_script, workers, bank_id):
    workers("mental-models")
    out = run_contract_script("mental_models", bank_id)
    assert out["created"] == {"mental_model_id": "alice-career", "has_operation": True}
    assert "Alice works at Google" in out["content"]
    assert out["is_stale"] is False
    assert out["trigger_after_consolidation"] is True
    assert out["listed"] == [["alice-career", None]]
    assert out["listed_content"] == [out["content"]]
    assert out["stale_after_retain"] is True
    assert out["dry_run"] == {"outcome": "content_written", "has_diff": True, "would_persist": True}
    assert out["refresh_status"] == "pending"
    assert "DeepMind" in out["refreshed_content"]
    assert [h["previous_content"] for h in out["history"]] == [out["content"]]
    assert out["updated_name"] == "Career"
    assert out["cleared"] == ""
    assert out["deleted"] is True and out["after_delete"] == 0


def _agent_rules(query: str, times: int) -> list[dict]:
    rules = []
    for _ in range(times):
        rules.append({"match": query, "tool_calls": [{"name": "recall", "arguments": {"query": query}}], "times": 1})
        rules.append(
            {"match": query, "tool_calls": [{"name": "done", "arguments": {"answer": f"LLM: {query}"}}], "times": 1}
        )
    return rules


@pytest.fixture
def llm_api_server(django_db_setup, tmp_path):
    """A gunicorn whose reflect model is the scripted test provider, answering from a rule file."""
    from django.db import connection

    script = tmp_path / "llm-script.json"
    rules = [
        {"match": "Rules:", "response": {"violations": []}},
        {"match": "Answer:\n", "response": {"employer": "Google"}},
        *_agent_rules("Where does Alice work?", 3),
        *_agent_rules("What does Bob do?", 1),
    ]
    script.write_text(json.dumps(rules))
    record = tmp_path / "llm-calls.jsonl"
    port = free_port()
    env = dict(
        os.environ,
        DATABASE_URL=database_url(connection.settings_dict),
        HINDSIGHT_LLM_REFLECT_MODEL="hindsight-test/reflect",
        HINDSIGHT_TEST_LLM_SCRIPT=str(script),
        HINDSIGHT_TEST_LLM_RECORD=str(record),
    )
    log = open(Path(os.environ["HINDSIGHT_HOME"]) / "llm-api-server.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "hindsight_site.wsgi:application", "--bind", f"127.0.0.1:{port}"),
            *("--workers", "1", "--threads", "4", "--worker-class", "gthread"),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base_url, process)
        yield base_url, record
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_reflect_and_directives_with_an_llm(hindsight_client_python, llm_api_server, bank_id):
    base_url, record = llm_api_server
    script = REPO / "tests" / "contract" / "scripts" / "reflect_directives.py"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HINDSIGHT_"))}
    result = subprocess.run(
        [str(hindsight_client_python), str(script), base_url, bank_id],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["text"] == "LLM: Where does Alice work?"
    assert out["directives"] == ["Be concise"]
    assert out["tool_calls"] == ["recall"]
    assert out["usage_total"] > 0
    assert out["structured_output"] == {"employer": "Google"}
    assert out["structured_output_error"] is None
    assert out["areflect"] == "LLM: What does Bob do?"
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    systems = [m["content"] for c in calls for m in c["messages"] if m["role"] == "system"]
    assert any("Always answer briefly" in s for s in systems)  # the directive reached the prompt


def test_a_worker_with_an_llm_writes_the_mental_model_from_the_reflect_answer(
    api_server, workers, bank_id, tmp_path, monkeypatch
):
    import httpx

    from tests.conftest import wait_for

    script = tmp_path / "worker-llm.json"
    query = "What does Alice do for a living?"
    answer = "## Work\nAlice is a software engineer at Google."
    script.write_text(
        json.dumps(
            [
                {"match": query, "tool_calls": [{"name": "recall", "arguments": {"query": "Alice"}}], "times": 1},
                {"match": query, "tool_calls": [{"name": "done", "arguments": {"answer": answer}}]},
            ]
        )
    )
    monkeypatch.setenv("HINDSIGHT_LLM_REFLECT_MODEL", "hindsight-test/reflect")
    monkeypatch.setenv("HINDSIGHT_TEST_LLM_SCRIPT", str(script))
    workers("llm-refresh")
    base = f"{api_server}/v1/default/banks/{bank_id}"
    retained = httpx.post(f"{base}/memories", json={"items": [{"content": "Alice works at Google."}]}, timeout=60)
    assert retained.status_code == 200
    created = httpx.post(
        f"{base}/mental-models",
        json={"name": "Work", "source_query": query, "id": "work", "trigger": {"keep_trace": True}},
        timeout=60,
    )
    assert created.status_code == 200, created.text
    model = wait_for(
        lambda: (m := httpx.get(f"{base}/mental-models/work", timeout=30).json())["last_refreshed_at"] and m,
        120,
        "the worker to refresh the mental model",
    )
    assert model["content"] == answer
    assert model["is_stale"] is False
    assert [c["scope"] for c in model["reflect_response"]["trace"]["llm_calls"]] == ["agent_1", "agent_2"]
