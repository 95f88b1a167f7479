"""Shared fixtures: one API server per session (real gunicorn on the test database) and the real SDK's venv."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("HINDSIGHT_TEST_CACHE", "~/.cache/hindsight-tests")).expanduser()
HINDSIGHT_CLIENT_VERSION = "1.1.0"
# The LoCoMo benchmark data lives in ../shared beside the repository (non-commercial licence: never copied in).
LOCOMO = REPO.parent / "shared" / "data" / "locomo" / "locomo-dev.json"


def require_locomo() -> Path:
    """The LoCoMo file; skipped locally when absent, but a failure in CI, where shared/ is always beside the clone."""
    if not LOCOMO.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{LOCOMO} is missing; CI must run with shared/ beside the repository")
        pytest.skip(f"{LOCOMO} is not beside the repository")
    return LOCOMO


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    """A URL for the database Django is connected to (the test database during tests)."""
    user = urllib.parse.quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{urllib.parse.quote(password)}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or ""
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    query = {k: v for k, v in (settings_dict.get("OPTIONS") or {}).items() if isinstance(v, str)}
    if host.startswith("/"):
        query["host"] = host
        host = ""
    suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
    return f"postgresql://{auth}{host}{port}/{settings_dict['NAME']}{suffix}"


def wait_for_health(base_url: str, process: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base_url} did not become healthy in {timeout}s")


@pytest.fixture(scope="session")
def api_server(django_db_setup, django_db_blocker):
    """A real gunicorn serving the app against the session's test database; yields its base URL.

    Data written through it is committed, so tests that use it pick unique bank ids.
    """
    from django.db import connection

    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url(connection.settings_dict), PYTHONUNBUFFERED="1")
    log_path = Path(os.environ["HINDSIGHT_HOME"]) / "api-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "hindsight_site.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                "8",
                "--worker-class",
                "gthread",
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
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def hindsight_client_python() -> Path:
    """Python of a separate venv holding the real ``hindsight-client`` from PyPI (its import name clashes with ours).

    Cached under ~/.cache/hindsight-tests between runs; built once, under a file lock.
    """
    venv = CACHE / f"hindsight-client-{HINDSIGHT_CLIENT_VERSION}"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", f"hindsight-client=={HINDSIGHT_CLIENT_VERSION}"],
                check=True,
            )
            marker.touch()
    return python


@pytest.fixture
def run_contract_script(hindsight_client_python, api_server):
    """Run ``tests/contract/scripts/<name>.py BASE_URL ARGS…`` with the real SDK; return its JSON output."""

    def run(name: str, *args: str) -> dict:
        script = REPO / "tests" / "contract" / "scripts" / f"{name}.py"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "HINDSIGHT_"))}
        result = subprocess.run(
            [str(hindsight_client_python), str(script), api_server, *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
        return json.loads(result.stdout.strip().splitlines()[-1])

    return run


def wait_for(check, timeout: float, what: str):
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Worker:
    """A Celery worker (with beat, for the reaper) in its own process group, so it can be killed whole."""

    def __init__(self, name: str):
        from django.db import connection

        self.log = Path(os.environ["HINDSIGHT_HOME"]) / f"worker-{name}.log"
        env = dict(
            os.environ,
            DATABASE_URL=database_url(connection.settings_dict),
            HINDSIGHT_OPERATION_LEASE_SECONDS="3",
            HINDSIGHT_REAPER_INTERVAL_SECONDS="1",
            HINDSIGHT_OPERATION_REDISPATCH_SECONDS="2",
        )
        schedule = Path(os.environ["HINDSIGHT_HOME"]) / f"beat-{name}-{uuid.uuid4().hex[:6]}"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "hindsight_site",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "1",
                    "--hostname",
                    f"{name}-{uuid.uuid4().hex[:6]}@%h",
                    "--beat",
                    "--schedule",
                    str(schedule),
                ],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def workers(django_db_setup):
    """Start real Celery workers on the test database; every one is stopped after the test."""
    started: list[Worker] = []

    def start(name: str) -> Worker:
        worker = Worker(name)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def bank_id() -> str:
    return f"bank-{uuid.uuid4().hex[:12]}"
