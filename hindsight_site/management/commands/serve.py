"""``python manage.py serve``: everything the server needs, in one command.

Starts the embedded PostgreSQL and Redis when ``DATABASE_URL`` / ``CELERY_BROKER_URL`` are unset, applies
migrations, runs gunicorn and a Celery worker as child processes, prints where everything is, and on Ctrl-C or
SIGTERM stops the children and then the services it started, in that order. Children run in their own sessions
(the terminal's Ctrl-C reaches only this supervisor, which stops them in order) and die with it if it is killed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from hindsight_site.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedServiceError, die_with_parent, log_tail
from hindsight_site.env import PROFILE_RE
from hindsight_site.metrics import MULTIPROC_ENV
from hindsight_site.paths import ProfilePaths

BASE_DIR = Path(settings.BASE_DIR)


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path
    stop_timeout: float


def _connect_host(host: str) -> str:
    """Where a local client reaches a server bound to ``host``."""
    if host in ("0.0.0.0", ""):  # noqa: S104 - a comparison, not a bind
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _check_port_free(host: str, port: int) -> int:
    """Bind like gunicorn will (SO_REUSEADDR) to prove the address is free; return the port (a free one for 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CommandError(f"port {port} on {host} is already in use; choose another with --port") from None
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        return probe.getsockname()[1]


def _check_writable(folder: Path) -> None:
    probe = folder / f".write-test-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CommandError(f"the data folder {folder} is not writable ({reason}); set HINDSIGHT_HOME") from None


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _still_running(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait up to ``timeout`` for these processes to end; a zombie (ended, not yet reaped) counts as ended."""

    def running(process: psutil.Process) -> bool:
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + timeout
    alive = [p for p in processes if running(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if running(p)]
    return alive


def _manage(env: dict[str, str], argv: list[str], *, failure: str) -> str:
    """Run one management command in a child process with the children's environment (so it sees the same database
    as gunicorn and the worker); its standard output, or a CommandError naming its last line of output."""
    result = subprocess.run(
        [sys.executable, "-m", "django", *argv], env=env, cwd=BASE_DIR, capture_output=True, text=True
    )
    if result.returncode != 0:
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        raise CommandError(f"{failure}: {last[0]}")
    return result.stdout


class Command(BaseCommand):
    help = "Run the memory server: embedded database and broker if needed, migrations, web server and worker."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.HINDSIGHT_HOST, help="Address to listen on (127.0.0.1).")
        parser.add_argument(
            "--port", type=int, default=settings.HINDSIGHT_PORT, help="Port to listen on (8888; 0 picks a free one)."
        )
        parser.add_argument("--profile", default=settings.HINDSIGHT_PROFILE, help="Profile: its own data and database.")
        parser.add_argument("--no-worker", action="store_true", help="Do not start a Celery worker here.")
        parser.add_argument(
            "--idle-timeout",
            type=float,
            default=0,
            help="Stop after this many seconds without an HTTP request (0, the default: never).",
        )
        parser.add_argument(
            "--allow-open",
            action="store_true",
            default=settings.HINDSIGHT_ALLOW_OPEN,
            help="Serve the API without API keys even beyond loopback (HINDSIGHT_ALLOW_OPEN=true).",
        )

    def handle(self, *args, **options):
        profile = options["profile"]
        if not PROFILE_RE.match(profile):
            raise CommandError(f"invalid profile name {profile!r}: use lowercase letters, digits, '-' and '_'")
        host, port = options["host"], options["port"]
        if not 0 <= port <= 65535:
            raise CommandError(f"invalid port {port}")
        paths = ProfilePaths(settings.HINDSIGHT_HOME, profile)

        _check_writable(paths.root)
        lock = self._lock_profile(paths)
        port = _check_port_free(host, port)
        self._ensure_secret_key(paths)
        for name in settings.HINDSIGHT_UNKNOWN_VARIABLES:
            self.stderr.write(f"warning: {name} is set but is not a setting this server reads (a typo?)")

        self.services: list = []
        self.children: list[Child] = []
        try:
            self._start_services(paths)
            env = self._child_env(paths, host, port)
            if options["allow_open"]:
                env["HINDSIGHT_ALLOW_OPEN"] = "true"
            self._migrate(env, paths)
            self._api_access = self._check_api_access(env, host, options["allow_open"])
            first_user = self._create_first_superuser(env)
            self._start_web(env, paths, host, port)
            if not options["no_worker"]:
                self._start_worker(env, paths, profile)
            base_url = f"http://{_url_host(_connect_host(host))}:{port}"
            lock.write(f"pid {os.getpid()}, {base_url}\n")
            lock.flush()
            self._wait_healthy(base_url)
            self._print_banner(base_url, paths, profile, first_user)
            code = self._supervise(paths, idle_timeout=options["idle_timeout"])
        except BaseException:
            self._shutdown()
            raise
        self._shutdown()
        self.stdout.write("Stopped.")
        if code:
            sys.exit(code)

    # --- preparation ------------------------------------------------------------------------------------------

    def _lock_profile(self, paths: ProfilePaths):
        lock = open(paths.serve_lock, "a+")  # noqa: SIM115 - held open (and locked) for the process lifetime
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise CommandError(f"profile '{paths.profile}' is already being served ({holder})") from None
        lock.seek(0)
        lock.truncate()
        self._lock_file = lock  # held open (and so locked) until this process exits
        return lock

    def _ensure_secret_key(self, paths: ProfilePaths) -> None:
        if os.environ.get("HINDSIGHT_SECRET_KEY") or paths.secret_key_file.exists():
            return
        fd = os.open(paths.secret_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))

    def _start_services(self, paths: ProfilePaths) -> None:
        try:
            if settings.HINDSIGHT_EMBEDDED_DATABASE:
                self.stdout.write("Starting the embedded PostgreSQL…")
                postgres = EmbeddedPostgres(paths, os_user=settings.HINDSIGHT_EMBEDDED_DB_USER)
                self.services.append(postgres)
                postgres.start()
            if settings.HINDSIGHT_EMBEDDED_BROKER:
                redis = EmbeddedRedis(paths)
                self.services.append(redis)
                redis.start()
        except EmbeddedServiceError as exc:
            raise CommandError(str(exc)) from None

    def _child_env(self, paths: ProfilePaths, host: str, port: int) -> dict[str, str]:
        env = dict(os.environ)
        if not env.get(MULTIPROC_ENV):
            # One folder where web and worker processes leave their counters, so /metrics sums them; last run's
            # files would double-count, so it starts empty.
            shutil.rmtree(paths.metrics, ignore_errors=True)
            paths.metrics.mkdir(parents=True)
            env[MULTIPROC_ENV] = str(paths.metrics)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "hindsight_site.settings",
                "HINDSIGHT_HOME": str(paths.home),
                "HINDSIGHT_PROFILE": paths.profile,
                "HINDSIGHT_HOST": host,
                "HINDSIGHT_PORT": str(port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _migrate(self, env: dict[str, str], paths: ProfilePaths) -> None:
        self.stdout.write("Applying migrations…")
        _manage(env, ["migrate", "--noinput"], failure="migrations failed")

    def _check_api_access(self, env: dict[str, str], host: str, allow_open: bool) -> str:
        """How the API is protected, for the banner; refuses to serve it open beyond loopback unless told to."""
        from apikeys.selectors import is_loopback

        count = int(_manage(env, ["apikey", "count"], failure="could not count the API keys").split()[-1])
        if count:
            return f"required ({count} active; clients send 'Authorization: Bearer <key>')"
        if is_loopback(host):
            return "none yet: the API is open on loopback ('manage.py apikey create --name NAME' adds one)"
        if allow_open:
            return f"none: the API is OPEN to anyone who reaches {host} (--allow-open)"
        raise CommandError(
            f"refusing to serve the API on {host} without an API key: create one with "
            "'manage.py apikey create --name NAME', or pass --allow-open (HINDSIGHT_ALLOW_OPEN=true) to run it open"
        )

    def _create_first_superuser(self, env: dict[str, str]) -> dict:
        """The control plane's first sign-in when the database has no user (see create_first_superuser)."""
        output = _manage(env, ["create_first_superuser"], failure="creating the first superuser failed")
        return json.loads(output.strip().splitlines()[-1])

    def _spawn(self, name: str, argv: list[str], env: dict[str, str], log: Path, stop_timeout: float) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as handle:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=BASE_DIR,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self.children.append(Child(name, process, log, stop_timeout))

    def _start_web(self, env: dict[str, str], paths: ProfilePaths, host: str, port: int) -> None:
        self._spawn(
            "web server",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "hindsight_site.wsgi:application",
                "--bind",
                f"{_url_host(host)}:{port}",
                "--workers",
                str(settings.HINDSIGHT_WEB_WORKERS),
                "--threads",
                str(settings.HINDSIGHT_WEB_THREADS),
                "--worker-class",
                "gthread",
                "--timeout",
                "300",
                "--graceful-timeout",
                "20",
                "--keep-alive",
                "30",
                "--access-logfile",
                str(paths.logs / "access.log"),
                "--error-logfile",
                "-",
            ],
            env,
            paths.logs / "web.log",
            stop_timeout=30,
        )

    def _start_worker(self, env: dict[str, str], paths: ProfilePaths, profile: str) -> None:
        self._spawn(
            "worker",
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
                str(settings.HINDSIGHT_WORKER_CONCURRENCY),
                "--hostname",
                f"hindsight-{profile}@%h",
            ],
            env,
            paths.logs / "worker.log",
            stop_timeout=60,
        )
        # Beat (the operations reaper's clock) runs as its own child rather than embedded in the worker: an embedded
        # beat is a grandchild that would not notice this supervisor being killed.
        self._spawn(
            "scheduler",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "hindsight_site",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(paths.root / "celerybeat-schedule"),
            ],
            env,
            paths.logs / "beat.log",
            stop_timeout=20,
        )

    def _wait_healthy(self, base_url: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._raise_if_a_child_died()
            try:
                health_url = f"{base_url}/health"
                with urllib.request.urlopen(health_url, timeout=2) as response:  # noqa: S310 - our own http URL
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise CommandError(f"the server did not answer {base_url}/health within {timeout:.0f}s")

    def _raise_if_a_child_died(self) -> None:
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise CommandError(
                    f"the {child.name} exited unexpectedly (code {code}); its log ({child.log}) ends with:\n"
                    f"{log_tail(child.log)}"
                )

    def _print_banner(self, base_url: str, paths: ProfilePaths, profile: str, first_user: dict) -> None:
        database = (
            f"embedded PostgreSQL in {paths.postgres_data}"
            if settings.HINDSIGHT_EMBEDDED_DATABASE
            else f"external PostgreSQL ({settings.DATABASES['default']['HOST'] or 'local socket'})"
        )
        broker = "embedded Redis" if settings.HINDSIGHT_EMBEDDED_BROKER else "external broker (CELERY_BROKER_URL)"
        lines = [
            f"Hindsight is running — profile '{profile}', data in {paths.root}",
            f"  API            {base_url}/v1/default/banks",
            f"  Control plane  {base_url}/  (sign in with a Django user)",
            f"  Admin          {base_url}/admin/",
            f"  Health         {base_url}/health  (liveness {base_url}/health/live)",
            f"  Metrics        {base_url}/metrics  (Prometheus)",
            f"  API docs       {base_url}/docs  (OpenAPI document {base_url}/openapi.json)",
            f"  API keys       {self._api_access}",
            f"  Database       {database}",
            f"  Broker         {broker}",
            f"  Logs           {paths.logs}",
            "Press Ctrl-C to stop.",
        ]
        if first_user.get("created"):
            password = first_user["password"] or "from HINDSIGHT_ADMIN_PASSWORD"
            # Shown once, on the start that created the user; change it in the admin.
            lines.insert(3, f"  Sign in        user '{first_user['username']}', password {password}  (shown once)")
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    # --- running and stopping ---------------------------------------------------------------------------------

    def _supervise(self, paths: ProfilePaths, idle_timeout: float = 0) -> int:
        stop = {"signal": None}

        def request_stop(signum, frame):
            stop["signal"] = signum

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        # Activity = gunicorn's access log growing (one line per request, health probes included): the supervisor
        # needs no hook into the web workers to know when the server was last used.
        access_log = paths.logs / "access.log"
        last_size, last_activity = _file_size(access_log), time.monotonic()
        while stop["signal"] is None:
            if idle_timeout > 0:
                size = _file_size(access_log)
                if size != last_size:
                    last_size, last_activity = size, time.monotonic()
                elif time.monotonic() - last_activity >= idle_timeout:
                    self.stdout.write(f"No request for {idle_timeout:g}s (--idle-timeout); stopping…")
                    return 0
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    self.stderr.write(
                        f"The {child.name} exited unexpectedly (code {code}); stopping. See {child.log}:\n"
                        f"{log_tail(child.log)}"
                    )
                    return 1
            time.sleep(0.3)
        self.stdout.write("Stopping…")
        return 0

    def _shutdown(self) -> None:
        # Ignore further Ctrl-C while stopping: an orderly stop protects the database.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # Everything we started, grandchildren included (gunicorn and Celery workers, beat, pool processes), so that
        # none outlives us even when its own parent exits first.
        try:
            descendants = psutil.Process().children(recursive=True)
        except psutil.Error:
            descendants = []
        for child in getattr(self, "children", []):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        for child in getattr(self, "children", []):
            try:
                child.process.wait(child.stop_timeout)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait(5)
            # Each child leads its own process group (start_new_session): sweep the group, so a process it forked
            # late (a pool worker during boot, say) cannot outlive it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
        for service in reversed(getattr(self, "services", [])):
            service.stop()
        alive = _still_running(descendants, timeout=15)
        for straggler in alive:
            straggler.kill()
        _still_running(alive, timeout=5)
