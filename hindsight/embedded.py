"""``HindsightEmbedded``: a background server per profile, started on first use and shared between processes.

The daemon is ``manage.py serve --profile <profile> --idle-timeout <n>`` started detached, so it outlives the
Python process that started it; any other process using the same profile finds it through the profile's
``serve.lock`` (which the server writes as ``pid N, URL``) and reuses it. It stops itself after ``idle_timeout``
seconds without a request. Every call first checks ``/health``; a daemon that died (killed, idled out) is started
again, under a file lock so that two processes never start two.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import inspect
import logging
import os
import re
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import psutil

from hindsight import _launch
from hindsight_client import Hindsight, namespaces

logger = logging.getLogger(__name__)

#: Seconds without a request after which a daemon stops (``HINDSIGHT_EMBED_DAEMON_IDLE_TIMEOUT`` overrides; 0 = never).
DEFAULT_IDLE_TIMEOUT = 300.0
PORT_BASE, PORT_SPAN = 8889, 1000
_SERVE_LOCK_RE = re.compile(r"^pid (\d+), (http://\S+)$")
_NAMESPACES = {
    "banks": namespaces.Banks,
    "memories": namespaces.Memories,
    "memory": namespaces.Memory,
    "directives": namespaces.Directives,
    "mental_models": namespaces.MentalModels,
    "documents": namespaces.Documents,
    "operations": namespaces.Operations,
    "entities": namespaces.Entities,
    "monitoring": namespaces.Monitoring,
}


def profile_port(profile: str) -> int:
    """The port a profile's daemon prefers: 8889 + sha256(profile) % 1000, as upstream derives it."""
    return PORT_BASE + int(hashlib.sha256(profile.encode()).hexdigest(), 16) % PORT_SPAN


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None


class DaemonManager:
    """Finds, starts and stops the daemon of one profile (shared by every process using that profile)."""

    def __init__(
        self,
        profile: str,
        *,
        home: Path,
        env: dict[str, str],
        idle_timeout: float,
        port: int | None = None,
        startup_timeout: float = 180.0,
    ):
        self.profile = profile
        self.root = home / "profiles" / profile
        self.env = env
        self.idle_timeout = idle_timeout
        self.port = port
        self.startup_timeout = startup_timeout
        self.log = self.root / "logs" / "daemon.log"

    # --- finding -----------------------------------------------------------------------------------------------------

    def running(self) -> tuple[int, str] | None:
        """``(pid, url)`` of this profile's healthy server (started by anyone: a daemon or a hand-run ``serve``)."""
        found = self._recorded()
        if found and _launch.alive(found[0]) and _launch.is_healthy(found[1]):
            return found
        return None

    def _recorded(self) -> tuple[int, str] | None:
        try:
            text = (self.root / "serve.lock").read_text().strip()
        except OSError:
            return None
        match = _SERVE_LOCK_RE.match(text)
        return (int(match.group(1)), match.group(2)) if match else None

    # --- starting and stopping -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self):
        """Only one process at a time decides whether to start this profile's daemon."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "daemon.lock", "a+") as handle:
            deadline = time.monotonic() + self.startup_timeout + 60
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise _launch.ServerStartError(
                            f"another process has been starting profile '{self.profile}' for too long"
                        ) from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def ensure_running(self) -> str:
        """The URL of a healthy daemon for this profile, starting one if none runs."""
        with self._locked():
            found = self.running()
            if found:
                return found[1]
            self._stop_recorded()  # a hung server of this profile (alive, not answering) holds the profile lock
            port = self._pick_port()
            url = f"http://127.0.0.1:{port}"
            argv = _launch.serve_command(
                profile=self.profile, host="127.0.0.1", port=port, idle_timeout=self.idle_timeout
            )
            process = _launch.spawn(argv, self.env, self.log, die_with_parent=False)
            try:
                _launch.wait_healthy(url, process, self.log, self.startup_timeout)
            except BaseException:
                _launch.stop_tree(process.pid, popen=process, timeout=30)
                raise
            logger.info("started the Hindsight daemon for profile %r at %s (pid %d)", self.profile, url, process.pid)
            return url

    def _pick_port(self) -> int:
        if self.port:
            if not _launch.port_is_free(self.port):
                raise _launch.ServerStartError(f"port {self.port} is already in use")
            return self.port
        first = profile_port(self.profile)
        for offset in range(PORT_SPAN):
            port = PORT_BASE + (first - PORT_BASE + offset) % PORT_SPAN
            if _launch.port_is_free(port):
                return port
        return _launch.free_port()

    def _stop_recorded(self) -> bool:
        found = self._recorded()
        if not found or not _launch.alive(found[0]) or not self._is_our_server(found[0]):
            return False
        _launch.stop_tree(found[0])
        return True

    def _is_our_server(self, pid: int) -> bool:
        try:
            cmdline = psutil.Process(pid).cmdline()
        except psutil.Error:
            return False
        return "serve" in cmdline and self.profile in cmdline

    def stop(self) -> bool:
        """Stop this profile's server if it runs; True when one was stopped."""
        with self._locked():
            return self._stop_recorded()


class _GuardedNamespace:
    """A namespace of the client whose every call first makes sure the daemon is up (restarting it if it died)."""

    def __init__(self, owner: HindsightEmbedded, name: str):
        self._owner = owner
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        target = getattr(_NAMESPACES[self._name], attr, None)
        if target is None:
            raise AttributeError(f"the {self._name} namespace has no attribute {attr!r}")
        return self._owner._guard(lambda client: getattr(getattr(client, self._name), attr), target)

    def __repr__(self) -> str:
        return f"<{self._name} of {self._owner!r}>"


class HindsightEmbedded:
    """A client whose server is managed for you: a background daemon per ``profile``.

    The daemon starts on first use (its own data folder ``$HINDSIGHT_HOME/profiles/<profile>/`` and a port derived
    from the profile), is reused by every process using the same profile, stops itself after ``idle_timeout``
    seconds without a request (default 300; ``HINDSIGHT_EMBED_DAEMON_IDLE_TIMEOUT``; 0 = never) and is started again
    by the next call if it died. Methods (``retain``, ``recall``, ...) and namespaces (``banks``, ``directives``,
    ``mental_models``, ``memories``, ...) are the client's; ``client`` is the bare client, which skips the health
    check. ``close(stop_daemon=True)`` also stops the daemon.

    LLM arguments map onto the server's settings (``llm_provider="openai", llm_model="gpt-4o-mini"`` →
    ``openai/gpt-4o-mini``); they apply when this call starts the daemon (a running one keeps its settings).
    """

    def __init__(
        self,
        profile: str = "default",
        llm_provider: str | None = None,
        llm_api_key: str | None = None,
        llm_model: str | None = None,
        llm_base_url: str | None = None,
        database_url: str | None = None,
        idle_timeout: float | None = None,
        log_level: str | None = None,
        ui: bool = False,
        ui_port: int | None = None,
        ui_hostname: str = "0.0.0.0",  # noqa: S104 - upstream's signature; unused (the UI is served by the API)
        *,
        home: str | os.PathLike | None = None,
        port: int | None = None,
        timeout: float = 300.0,
        startup_timeout: float | None = None,
        env: dict[str, str] | None = None,
    ):
        self.profile = _launch.check_profile(profile)
        if idle_timeout is None:
            idle_timeout = _env_float("HINDSIGHT_EMBED_DAEMON_IDLE_TIMEOUT", DEFAULT_IDLE_TIMEOUT)
        if idle_timeout < 0:
            raise ValueError("idle_timeout must be 0 (never) or a positive number of seconds")
        if startup_timeout is None:
            startup_timeout = _env_float("HINDSIGHT_EMBED_DAEMON_STARTUP_TIMEOUT", 180.0)
        if ui:
            warnings.warn(
                "ui=True: this server has no separate UI process; its control plane is served at the daemon's URL",
                stacklevel=2,
            )
        home_path = _launch.hindsight_home(home)
        server_env = _launch.server_environment(
            home=home_path,
            profile=self.profile,
            llm=_launch.llm_environment(llm_provider, llm_model, llm_api_key, llm_base_url),
            database_url=database_url,
            log_level=log_level,
            extra=env,
        )
        self._manager = DaemonManager(
            self.profile,
            home=home_path,
            env=server_env,
            idle_timeout=idle_timeout,
            port=port,
            startup_timeout=startup_timeout,
        )
        self._timeout = timeout
        self._client: Hindsight | None = None
        self._url: str | None = None
        self._lock = threading.RLock()

    # --- lifecycle ---------------------------------------------------------------------------------------------------

    def _ensure_started(self) -> Hindsight:
        with self._lock:
            if self._client is not None and self._url and _launch.is_healthy(self._url):
                return self._client
            if self._client is not None:
                logger.warning("the Hindsight daemon at %s is no longer responsive; restarting it", self._url)
                self._client.close()
                self._client = None
            self._url = self._manager.ensure_running()
            self._client = Hindsight(base_url=self._url, timeout=self._timeout)
            return self._client

    def _guard(self, resolve, target: Any) -> Any:
        """Wrap a client callable so that each call checks (and if need be restarts) the daemon first."""
        if not callable(target):
            return resolve(self._ensure_started())
        if inspect.iscoroutinefunction(target):

            @functools.wraps(target)
            async def call_async(*args, **kwargs):
                client = await asyncio.to_thread(self._ensure_started)
                return await resolve(client)(*args, **kwargs)

            return call_async

        @functools.wraps(target)
        def call(*args, **kwargs):
            return resolve(self._ensure_started())(*args, **kwargs)

        return call

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in _NAMESPACES:
            return _GuardedNamespace(self, name)
        target = getattr(Hindsight, name, None)
        if target is None:
            raise AttributeError(f"'HindsightEmbedded' object has no attribute {name!r}")
        return self._guard(lambda client: getattr(client, name), target)

    @property
    def client(self) -> Hindsight:
        """The underlying client (the daemon is started if needed; later calls through it skip the health check)."""
        return self._ensure_started()

    @property
    def url(self) -> str:
        """The daemon's URL (starting it if needed)."""
        self._ensure_started()
        assert self._url is not None
        return self._url

    @property
    def is_running(self) -> bool:
        return self._manager.running() is not None

    @property
    def daemon_pid(self) -> int | None:
        """Process id of the profile's server supervisor while it runs (no request is made: it is not activity)."""
        found = self._manager._recorded()
        return found[0] if found and _launch.alive(found[0]) else None

    def close(self, stop_daemon: bool = False) -> None:
        """Close the client; with ``stop_daemon=True`` also stop the profile's daemon (for every process using it)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if stop_daemon:
                self._manager.stop()
                self._url = None

    def __enter__(self) -> HindsightEmbedded:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HindsightEmbedded(profile={self.profile!r})"


__all__ = ["DaemonManager", "HindsightEmbedded", "profile_port"]
