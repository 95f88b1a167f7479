"""``manage.py serve`` end to end: embedded services, migrations, gunicorn and a worker, and a clean stop.

These start whole servers (a fresh embedded PostgreSQL per profile), so they are marked slow; CI runs them.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import REPO, free_port, wait_for_health

pytestmark = pytest.mark.slow


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HINDSIGHT_", "DATABASE_URL", "CELERY_"))}
    env.update(HINDSIGHT_HOME=str(home), HINDSIGHT_WEB_WORKERS="1", HINDSIGHT_WORKER_CONCURRENCY="1")
    return env


class Server:
    def __init__(self, home: Path, profile: str, port: int, extra_env: dict[str, str] | None = None):
        self.home, self.profile, self.port = home, profile, port
        self.extra_env = extra_env or {}
        self.url = f"http://127.0.0.1:{port}"
        self.log = home / f"serve-{profile}.out"
        self.process: subprocess.Popen | None = None

    def start(self) -> Server:
        home_log = open(self.log, "ab")  # noqa: SIM115 - the child keeps writing after this returns
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--profile", self.profile, "--port", str(self.port)],
            cwd=REPO,
            env={**_env(self.home), **self.extra_env},
            stdout=home_log,
            stderr=subprocess.STDOUT,
        )
        home_log.close()
        try:
            wait_for_health(self.url, self.process, timeout=120)
        except RuntimeError:
            raise AssertionError(self.log.read_text()) from None
        # The supervisor prints its banner right after its own health check succeeds.
        deadline = time.monotonic() + 30
        while "Press Ctrl-C to stop." not in self.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        return self

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.process.send_signal(sig)
        return self.process.wait(90)


def _sign_in(base_url: str, username: str, password: str) -> httpx.Response:
    """Sign in through the control plane's form (CSRF included); return the page it lands on."""
    browser = httpx.Client(base_url=base_url, timeout=30, follow_redirects=True)
    browser.get("/login/")
    form = {"username": username, "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
    return browser.post("/login/", data=form, headers={"Referer": f"{base_url}/login/"})


def _processes_using(home: Path) -> list[str]:
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(home) in cmdline:
            found.append(f"{process.info['pid']}: {cmdline[:120]}")
    return found


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve-home")


@pytest.fixture
def servers():
    """Start servers through this; whatever a test asserts, every server it started is stopped afterwards."""
    started: list[Server] = []

    def start(home: Path, profile: str, **env) -> Server:
        server = Server(home, profile, free_port(), extra_env=env)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        if server.process is not None and server.process.poll() is None:
            server.stop(signal.SIGTERM)


def test_serve_runs_everything_stops_cleanly_and_keeps_banks_across_restarts(home, servers):
    server = servers(home, "alpha", HINDSIGHT_TYPO_SETING="1")
    banner = server.log.read_text()
    for expected in ("/v1/default/banks", "/admin/", "Control plane", "embedded PostgreSQL", "Press Ctrl-C"):
        assert expected in banner
    assert "warning: HINDSIGHT_TYPO_SETING is set but is not a setting this server reads" in banner
    # First start, no user yet: the superuser 'admin' is created and its generated password printed once.
    password = re.search(r"Sign in +user 'admin', password (\S+)  \(shown once\)", banner)
    assert password, banner
    landed = _sign_in(server.url, "admin", password.group(1))
    assert landed.status_code == 200 and str(landed.url).endswith("/banks/")
    assert "Memory banks" in landed.text

    names = {" ".join(p.cmdline()) for p in server.descendants()}
    assert any("gunicorn" in name for name in names)
    assert any("celery" in name and "worker" in name for name in names)
    assert any("celery" in name and " beat" in name for name in names)
    assert any("postgres" in name for name in names)
    if os.geteuid() == 0:  # PostgreSQL refuses root: it must run as the dedicated unprivileged user
        postgres_users = {p.username() for p in server.descendants() if p.name() == "postgres"}
        assert postgres_users == {"hindsight"}
    assert any("redis-server" in name for name in names)
    children = server.descendants()

    api = httpx.Client(base_url=server.url, timeout=30)
    assert api.put("/v1/default/banks/kept", json={"name": "Kept"}).status_code == 200
    assert api.patch("/v1/default/banks/kept/config", json={"updates": {"retain_chunk_size": 1234}}).status_code == 200
    assert api.get("/health").json()["database_kind"] == "embedded"
    # The worker's retain shows on the web server's /metrics: both write to the profile's multiprocess folder.
    operation_id = api.post(
        "/v1/default/banks/kept/memories", json={"items": [{"content": "Ada likes tea."}], "async": True}
    ).json()["operation_id"]
    deadline = time.monotonic() + 120
    while api.get(f"/v1/default/banks/kept/operations/{operation_id}").json()["status"] != "completed":
        assert time.monotonic() < deadline, "the async retain never completed"
        time.sleep(0.5)
    scraped = api.get("/metrics").text
    assert 'hindsight_operation_duration_seconds_count{operation="retain",outcome="ok"} 1.0' in scraped

    assert server.stop(signal.SIGINT) == 0
    assert "Stopped." in server.log.read_text()
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, [p.pid for p in alive]
    assert _processes_using(home) == []

    restarted = servers(home, "alpha")
    restarted_children = restarted.descendants()
    assert restarted.log.read_text().count("Sign in  ") == 1  # the password is never printed again
    config = httpx.get(f"{restarted.url}/v1/default/banks/kept/config", timeout=30).json()
    assert config["overrides"] == {"retain_chunk_size": 1234}
    assert [b["bank_id"] for b in httpx.get(f"{restarted.url}/v1/default/banks").json()["banks"]] == ["kept"]
    assert restarted.stop(signal.SIGTERM) == 0
    # The supervisor itself waits for every descendant, so nothing is left the moment it has exited.
    assert [p.pid for p in restarted_children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    assert _processes_using(home) == []


def test_killing_the_supervisor_leaves_no_orphan_processes(home, servers):
    server = servers(home, "killed")
    children = server.descendants()
    assert len(children) >= 4
    server.process.kill()
    server.process.wait(10)
    _gone, alive = psutil.wait_procs(children, timeout=60)
    assert [" ".join(p.cmdline())[:80] for p in alive] == []
    # Nor anything forked after we looked (a worker's late children, the scheduler).
    deadline = time.monotonic() + 30
    while _processes_using(home / "profiles" / "killed") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_using(home / "profiles" / "killed") == []

    again = servers(home, "killed")  # the stale lock, socket and postmaster.pid do not block a new start
    assert httpx.get(f"{again.url}/health", timeout=30).status_code == 200


def test_two_profiles_run_side_by_side_without_sharing_data(home, servers):
    first = servers(home, "one")
    second = servers(home, "two", HINDSIGHT_ADMIN_PASSWORD="from-the-environment-42")
    assert "Sign in        user 'admin', password from HINDSIGHT_ADMIN_PASSWORD" in second.log.read_text()
    assert "from-the-environment-42" not in second.log.read_text()
    assert "Memory banks" in _sign_in(second.url, "admin", "from-the-environment-42").text
    httpx.put(f"{first.url}/v1/default/banks/only-in-one", json={}, timeout=30).raise_for_status()
    assert httpx.get(f"{second.url}/v1/default/banks/only-in-one/config", timeout=30).status_code == 404
    assert httpx.get(f"{first.url}/v1/default/banks/only-in-one/config", timeout=30).status_code == 200
    assert (home / "profiles" / "one" / "postgres").is_dir()
    assert (home / "profiles" / "two" / "postgres").is_dir()

    again = subprocess.run(
        [sys.executable, "manage.py", "serve", "--profile", "one", "--port", str(free_port())],
        cwd=REPO,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode != 0
    assert "profile 'one' is already being served" in again.stderr
    assert first.stop() == 0
    assert second.stop() == 0


def test_a_taken_port_is_reported_in_one_line(home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "manage.py", "serve", "--profile", "busy", "--port", str(port)],
            cwd=REPO,
            env=_env(home),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"CommandError: port {port} on 127.0.0.1 is already in use; choose another with --port"
    ]
    assert time.monotonic() - started < 30
    assert _processes_using(home / "profiles" / "busy") == []


def test_an_unwritable_data_folder_is_reported_in_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = subprocess.run(
        [sys.executable, "manage.py", "serve", "--port", str(free_port())],
        cwd=REPO,
        env=_env(blocker / "home"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "is not writable" in lines[0]
