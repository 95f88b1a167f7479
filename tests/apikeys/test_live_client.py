"""The real ``hindsight-client`` 1.1.0 (its own venv) with ``api_key=`` against a live server that requires keys.

The session server (tests/conftest.py) shares the test database, so the test is transactional: the keys made here
are committed, and flushed afterwards so the rest of the suite finds the server open again.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import uuid
from pathlib import Path

import httpx
import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from hindsight_client import Hindsight
    from hindsight_client_api.exceptions import ApiException

    base, key, mine, theirs = sys.argv[1:5]
    out = {}

    def status(call):
        try:
            call()
        except ApiException as exc:
            return exc.status
        except Exception as exc:  # the hand-written aiohttp calls raise ClientResponseError
            return getattr(exc, "status", repr(exc))
        return 200

    with Hindsight(base_url=base, api_key=key) as client:
        client.retain(bank_id=mine, content="Alice works at Google in Paris.")
        out["recall"] = [r.text for r in client.recall(bank_id=mine, query="Where does Alice work?").results]
        out["reflect"] = bool(client.reflect(bank_id=mine, query="Where does Alice work?").text)
        out["config"] = client.get_bank_config(mine)["bank_id"]
        out["version"] = client.get_version().api_version
        out["theirs_recall"] = status(lambda: client.recall(bank_id=theirs, query="Alice"))
        out["theirs_list"] = status(lambda: client.list_memories(bank_id=theirs))
        out["theirs_retain"] = status(lambda: client.retain(bank_id=theirs, content="Mallory was here."))
        out["theirs_config"] = status(lambda: client.get_bank_config(theirs))
    with Hindsight(base_url=base) as client:
        out["no_key"] = status(lambda: client.recall(bank_id=mine, query="Alice"))
        out["no_key_version"] = client.get_version().api_version
    with Hindsight(base_url=base, api_key=key + "x") as client:
        out["wrong_key"] = status(lambda: client.recall(bank_id=mine, query="Alice"))
    print(json.dumps(out))
    """
)


@pytest.fixture
def live_keys(api_server):
    """Keys committed to the session server's database (the transactional test flushes them afterwards)."""
    from apikeys import services
    from apikeys.models import ApiKey

    def make(**scope) -> str:
        return services.create_api_key(name=f"live-{uuid.uuid4().hex[:6]}", **scope)[1]

    yield make
    ApiKey.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_the_real_client_works_with_its_key_and_is_refused_elsewhere(
    api_server, hindsight_client_python, live_keys, tmp_path
):
    mine, theirs = f"mine-{uuid.uuid4().hex[:8]}", f"theirs-{uuid.uuid4().hex[:8]}"
    admin = live_keys()
    headers = {"Authorization": f"Bearer {admin}"}
    created = httpx.put(f"{api_server}/v1/default/banks/{theirs}", json={}, headers=headers)
    assert created.status_code == 200
    raw = live_keys(banks=[mine])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HINDSIGHT_"))}
    result = subprocess.run(
        [str(hindsight_client_python), "-c", SCRIPT, api_server, raw, mine, theirs],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,  # not the repository, whose own hindsight_client package would shadow the real one
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert any("Google" in text for text in out["recall"]) and out["reflect"] is True
    assert out["config"] == mine and out["version"] == "1.1.0"
    assert out["theirs_recall"] == out["theirs_list"] == out["theirs_retain"] == out["theirs_config"] == 404
    assert out["no_key"] == 401 and out["wrong_key"] == 401
    assert out["no_key_version"] == "1.1.0"  # probes stay open

    from memories.models import MemoryUnit

    assert not MemoryUnit.objects.filter(bank__bank_id=theirs).exists()
    log = Path(os.environ["HINDSIGHT_HOME"]) / "api-server.log"
    assert raw not in log.read_text(errors="replace")
