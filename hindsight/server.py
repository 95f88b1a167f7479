"""``HindsightServer``: a whole server (embedded database included) for the length of a ``with`` block."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from hindsight import _launch


class HindsightServer:
    """Start this project's server as a child process tree on a free port; stop it, every child included, on exit.

    ``with HindsightServer(llm_provider="openai", llm_model="gpt-4o-mini", llm_api_key=...) as server:`` then talk
    to ``server.url`` with ``HindsightClient``. The data lives in the profile's folder
    (``$HINDSIGHT_HOME/profiles/<profile>/``, ``default`` when not given), so a later server with the same profile
    finds it again. With no LLM arguments the server uses the environment's settings (or none: offline extraction
    and extractive reflect). ``db_url`` points at your own PostgreSQL instead of the embedded one (``"pg0"``, upstream's
    name for the embedded database, is accepted and means the same).
    """

    def __init__(
        self,
        llm_provider: str | None = None,
        llm_model: str | None = None,
        llm_api_key: str | None = None,
        llm_base_url: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        profile: str | None = None,
        db_url: str | None = None,
        log_level: str | None = None,
        mcp_enabled: bool = False,
        *,
        home: str | os.PathLike | None = None,
        worker: bool = True,
        startup_timeout: float = 180.0,
        env: dict[str, str] | None = None,
    ):
        self.host = host
        self.port = port
        self.profile = _launch.check_profile("default" if profile is None else profile)
        self.home = _launch.hindsight_home(home)
        self.startup_timeout = startup_timeout
        self.worker = worker
        self._env = _launch.server_environment(
            home=self.home,
            profile=self.profile,
            llm=_launch.llm_environment(llm_provider, llm_model, llm_api_key, llm_base_url),
            database_url=db_url,
            log_level=log_level,
            extra=env,
        )
        self.log = self.home / "profiles" / self.profile / "logs" / "server.out"
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not started")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104 - a comparison
        return f"http://{host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The supervisor's process id while running."""
        return self._process.pid if self._process is not None else None

    @property
    def is_running(self) -> bool:
        return self._process is not None and _launch.alive(self._process) and _launch.is_healthy(self.url)

    def start(self) -> HindsightServer:
        if self._process is not None and _launch.alive(self._process):
            return self
        if self.port is None or self.port == 0:
            self.port = _launch.free_port(self.host if self.host not in ("", "0.0.0.0") else "127.0.0.1")  # noqa: S104
        argv = _launch.serve_command(profile=self.profile, host=self.host, port=self.port, worker=self.worker)
        self._process = _launch.spawn(argv, self._env, self.log, die_with_parent=True)
        try:
            _launch.wait_healthy(self.url, self._process, self.log, self.startup_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and every process it started (idempotent)."""
        process, self._process = self._process, None
        if process is not None:
            _launch.stop_tree(process.pid, popen=process)

    def __enter__(self) -> HindsightServer:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self._process is not None else "stopped"
        return f"HindsightServer(profile={self.profile!r}, {state})"


#: Upstream's other name for the class.
Server = HindsightServer


def start_server(timeout: float = 180.0, **kwargs: Any) -> HindsightServer:
    """Start a ``HindsightServer`` and return it once healthy; call ``stop()`` when done."""
    return HindsightServer(startup_timeout=timeout, **kwargs).start()


__all__ = ["HindsightServer", "Server", "start_server"]
