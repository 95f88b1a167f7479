"""``serve`` and API keys: beyond loopback it refuses to start without a key unless told it runs open.

Starts whole servers (a fresh embedded PostgreSQL), so slow; CI runs it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.conftest import REPO, free_port, wait_for_health
from tests.site.test_serve import _env

pytestmark = pytest.mark.slow


def _serve(home, name: str, port: int, *args: str) -> tuple[subprocess.Popen, object]:
    log = home / f"serve-{name}.out"
    argv = [sys.executable, "manage.py", "serve", "--profile", "keys", "--host", "0.0.0.0", "--port", str(port)]
    with open(log, "ab") as handle:
        process = subprocess.Popen(
            [*argv, *args],
            cwd=REPO,
            env={**_env(home), "HINDSIGHT_WEB_WORKERS": "1"},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


def _wait_banner(process, log) -> str:
    wait_for_health(f"http://127.0.0.1:{process.args[process.args.index('--port') + 1]}", process, timeout=120)
    deadline = time.monotonic() + 30
    while "Press Ctrl-C to stop." not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    return log.read_text()


def _stop(process) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(90)


def test_serve_beyond_loopback_needs_a_key_or_an_explicit_allow_open(tmp_path):
    port = free_port()
    refused, log = _serve(tmp_path, "refused", port)
    try:
        assert refused.wait(180) != 0
    finally:
        _stop(refused)
    output = log.read_text()
    refusal = [line for line in output.splitlines() if "refusing to serve the API on 0.0.0.0" in line]
    assert len(refusal) == 1 and "--allow-open" in refusal[0] and "apikey create" in refusal[0]
    assert "Press Ctrl-C" not in output

    open_server, log = _serve(tmp_path, "open", port, "--allow-open")
    try:
        banner = _wait_banner(open_server, log)
        assert "API keys       none: the API is OPEN to anyone who reaches 0.0.0.0 (--allow-open)" in banner
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/v1/default/banks", timeout=30).status_code == 200
        created = httpx.post(f"{base}/v1/admin/api-keys", json={"name": "ops"}, timeout=30)
        assert created.status_code == 201
        key = created.json()["key"]
        # Every web worker sees the new key at once: keys live in the database, not in process memory.
        for _ in range(4):
            assert httpx.get(f"{base}/v1/default/banks", timeout=30).status_code == 401
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{base}/v1/default/banks", headers=headers, timeout=30).status_code == 200
    finally:
        _stop(open_server)

    keyed, log = _serve(tmp_path, "keyed", port)
    try:
        banner = _wait_banner(keyed, log)
        assert "API keys       required (1 active" in banner
        assert httpx.get(f"http://127.0.0.1:{port}/v1/default/banks", timeout=30).status_code == 401
        logs = [log, *(tmp_path / "profiles").rglob("*.log")]
        assert len(logs) > 2 and all(key not in path.read_text(errors="replace") for path in logs)
    finally:
        _stop(keyed)
