"""``HindsightEmbedded`` lifecycle: one daemon per profile, shared between processes, restarted after a crash,
stopped when idle, and profiles that never see each other's data. Slow: every start is a whole server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from hindsight import HindsightEmbedded, _launch
from hindsight.embedded import PORT_BASE, PORT_SPAN
from tests.sdk.conftest import describe, processes_of

pytestmark = pytest.mark.slow

SECOND_PROCESS = """
from hindsight import HindsightEmbedded
embedded = HindsightEmbedded(profile="life")
print(embedded.url)
print(embedded.daemon_pid)
print(",".join(sorted(b.bank_id for b in embedded.banks.list().banks)))
embedded.close()
"""


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _launch.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.25)
    return not _launch.alive(pid)


def test_one_daemon_per_profile_shared_restarted_after_a_kill_and_stopped_when_idle(scripted_env, sdk_home):
    embedded = HindsightEmbedded(profile="life", idle_timeout=8)
    other = HindsightEmbedded(profile="other-app")
    try:
        embedded.create_bank(bank_id="shared", name="Shared")
        url, pid = embedded.url, embedded.daemon_pid
        assert PORT_BASE <= int(url.rsplit(":", 1)[1]) < PORT_BASE + PORT_SPAN  # derived from the profile
        assert (sdk_home / "profiles" / "life" / "postgres").is_dir()

        # A second process using the same profile gets the same server, and the same data.
        second = subprocess.run(
            [sys.executable, "-c", SECOND_PROCESS], capture_output=True, text=True, timeout=120, env=dict(os.environ)
        )
        assert second.returncode == 0, second.stderr
        assert second.stdout.splitlines() == [url, str(pid), "shared"]

        # Another profile is another server with its own database: it does not see the bank.
        assert other.banks.list().banks == []
        assert other.url != url
        assert (sdk_home / "profiles" / "other-app" / "postgres").is_dir()
        other.close(stop_daemon=True)

        # kill -9 of the daemon: the next call notices (health check first) and starts it again; data survives.
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid, 10)
        assert [b.bank_id for b in embedded.banks.list().banks] == ["shared"]
        restarted = embedded.daemon_pid
        assert restarted is not None and restarted != pid

        # With no request for idle_timeout seconds the daemon stops by itself...
        assert wait_gone(restarted, 120), "the daemon did not stop when idle"
        daemon_log = (sdk_home / "profiles" / "life" / "logs" / "daemon.log").read_text()
        assert "No request for 8s (--idle-timeout); stopping" in daemon_log
        assert not embedded.is_running
        # ... and the next call starts it again.
        assert embedded.get_bank_config("shared")["bank_id"] == "shared"
        assert embedded.daemon_pid not in (None, restarted)
    finally:
        embedded.close(stop_daemon=True)
        other.close(stop_daemon=True)
    deadline = time.monotonic() + 30
    while processes_of(sdk_home) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert describe(processes_of(sdk_home)) == []
