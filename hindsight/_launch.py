"""Starting and stopping ``manage.py serve`` from Python: the shared machinery of ``HindsightServer`` and
``HindsightEmbedded``.

The server is always a separate process tree (supervisor, PostgreSQL, Redis, gunicorn, Celery); this module builds
its environment (data folder, profile, LLM), spawns it, waits for ``/health`` and stops it with every descendant. It
imports nothing from Django: the server's code runs only in the child.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import psutil

#: Where the repository (and so ``hindsight_site``) lives: the server child runs from here.
REPO = Path(__file__).resolve().parent.parent
PROFILE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")

#: ``llm_provider`` → litellm's provider prefix. Providers that speak the OpenAI protocol at a base URL map to
#: ``openai``; ``none`` means no LLM (the offline extractor and extractive reflect).
PROVIDER_PREFIXES = {
    "openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gemini",
    "google": "gemini",
    "vertexai": "vertex_ai",
    "vertex_ai": "vertex_ai",
    "groq": "groq",
    "ollama": "ollama",
    "lmstudio": "lm_studio",
    "llamacpp": "openai",
    "vllm": "openai",
    "openai-compatible": "openai",
    "deepseek": "deepseek",
    "openrouter": "openrouter",
    "bedrock": "bedrock",
    "mistral": "mistral",
    "cohere": "cohere",
    "xai": "xai",
    "fireworks": "fireworks_ai",
    "together": "together_ai",
    "azure": "azure",
    "hindsight-test": "hindsight-test",
}
#: A provider's model when ``llm_model`` is not given (upstream's defaults where it has one).
DEFAULT_MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
    "google": "gemini-2.5-flash",
    "groq": "openai/gpt-oss-120b",
    "deepseek": "deepseek-chat",
    "ollama": "gemma3:12b",
    "hindsight-test": "default",
}
NO_LLM = frozenset({"none", "offline"})
#: Server variables an explicit ``llm_*`` argument replaces (so a stray one in the parent's environment cannot win).
LLM_VARIABLES = (
    "HINDSIGHT_LLM_MODEL",
    "HINDSIGHT_LLM_API_KEY",
    "HINDSIGHT_LLM_BASE_URL",
    "HINDSIGHT_LLM_RETAIN_MODEL",
    "HINDSIGHT_LLM_REFLECT_MODEL",
    "HINDSIGHT_LLM_CONSOLIDATION_MODEL",
)
LOG_LEVELS = {"critical": "CRITICAL", "error": "ERROR", "warning": "WARNING", "info": "INFO", "debug": "DEBUG"}


class ServerStartError(RuntimeError):
    """The server could not be started; the message says why (and ends with the log's last lines)."""


def litellm_model(provider: str | None, model: str | None) -> str | None:
    """The litellm model string for ``llm_provider`` + ``llm_model`` (None: no LLM, or the server's default).

    ``("openai", "gpt-4o-mini")`` → ``"openai/gpt-4o-mini"``; a model already carrying the provider's prefix is kept;
    with no provider the model is taken as a litellm string as it is.
    """
    if provider is None:
        return model or None
    key = provider.strip().lower()
    if key in NO_LLM:
        return None
    if key == "litellm":
        if not model:
            raise ValueError("llm_provider='litellm' needs llm_model (a litellm model string)")
        return model
    prefix = PROVIDER_PREFIXES.get(key, key)
    model = model or DEFAULT_MODELS.get(key)
    if not model:
        raise ValueError(f"llm_provider={provider!r} has no default model here: pass llm_model")
    return model if model.startswith(f"{prefix}/") else f"{prefix}/{model}"


def llm_environment(
    provider: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
) -> tuple[dict[str, str], bool]:
    """The server variables for these LLM arguments, and whether they replace the parent's LLM settings."""
    if provider is None and model is None and api_key is None and base_url is None:
        return {}, False
    env: dict[str, str] = {}
    litellm = litellm_model(provider, model)
    if litellm:
        env["HINDSIGHT_LLM_MODEL"] = litellm
        if api_key:
            env["HINDSIGHT_LLM_API_KEY"] = api_key
        if base_url:
            env["HINDSIGHT_LLM_BASE_URL"] = base_url
    elif provider is None and api_key:  # a key alone: the server's default model (OpenAI's small one)
        env["HINDSIGHT_LLM_API_KEY"] = api_key
    return env, True


def check_profile(profile: str) -> str:
    if not profile or len(profile) > 63 or not set(profile) <= PROFILE_CHARS or profile[0] in "-_":
        raise ValueError(f"invalid profile name {profile!r}: use lowercase letters, digits, '-' and '_'")
    return profile


def hindsight_home(home: str | os.PathLike | None = None) -> Path:
    """The data root: ``home``, else ``$HINDSIGHT_HOME``, else ``~/.hindsight`` (as the server decides it)."""
    return Path(home or os.environ.get("HINDSIGHT_HOME") or "~/.hindsight").expanduser().resolve()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def server_environment(
    *,
    home: Path,
    profile: str,
    llm: tuple[dict[str, str], bool],
    database_url: str | None = None,
    log_level: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The child's environment: the parent's, with the data folder, profile, database and LLM set explicitly."""
    env = {
        key: value
        for key, value in os.environ.items()
        # The embedded database and broker unless a database is given; the embed launcher's own variables are not
        # server settings (the server would warn about them).
        if key not in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
        and not key.startswith("HINDSIGHT_EMBED_")
    }
    llm_env, replace = llm
    if replace:
        for key in LLM_VARIABLES:
            env.pop(key, None)
    env.update(llm_env)
    if database_url and not database_url.startswith("pg0"):
        env["DATABASE_URL"] = database_url
    if log_level:
        level = LOG_LEVELS.get(log_level.lower())
        if level is None:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")
        env["HINDSIGHT_LOG_LEVEL"] = level
    env.update(
        {
            "HINDSIGHT_HOME": str(home),
            "HINDSIGHT_PROFILE": profile,
            "DJANGO_SETTINGS_MODULE": "hindsight_site.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def serve_command(*, profile: str, host: str, port: int, idle_timeout: float = 0, worker: bool = True) -> list[str]:
    argv = [sys.executable, "-m", "django", "serve", "--profile", profile, "--host", host, "--port", str(port)]
    if idle_timeout:
        argv += ["--idle-timeout", f"{idle_timeout:g}"]
    if not worker:
        argv.append("--no-worker")
    return argv


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def spawn(argv: list[str], env: Mapping[str, str], log: Path, *, die_with_parent: bool) -> subprocess.Popen:
    """Start the server detached in its own session (a terminal's Ctrl-C reaches only the caller), output to ``log``.

    ``die_with_parent``: the kernel stops it when this process dies (``HindsightServer``); a daemon that must outlive
    its launcher (``HindsightEmbedded``) does not ask for that.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as handle:
        return subprocess.Popen(
            argv,
            env=dict(env),
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )


def log_tail(path: Path, lines: int = 12) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """``GET /health`` answers 200 with a connected database."""
    try:
        response = httpx.get(f"{url}/health", timeout=httpx.Timeout(timeout, connect=1.0))
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def wait_healthy(url: str, process: subprocess.Popen | psutil.Process, log: Path, timeout: float) -> None:
    """Poll ``/health`` until it answers; fail early (with the log's end) if the server process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(process):
            code = process.poll() if isinstance(process, subprocess.Popen) else None
            raise ServerStartError(
                f"the server exited during start-up (code {code}); {log} ends with:\n{log_tail(log)}"
            )
        if is_healthy(url):
            return
        time.sleep(0.25)
    raise ServerStartError(
        f"the server did not answer {url}/health within {timeout:g}s; {log} ends with:\n{log_tail(log)}"
    )


def alive(process: subprocess.Popen | psutil.Process | int | None) -> bool:
    """Running and not a zombie (an exited child nobody reaped yet counts as gone)."""
    if process is None:
        return False
    if isinstance(process, subprocess.Popen):
        return process.poll() is None
    try:
        proc = process if isinstance(process, psutil.Process) else psutil.Process(process)
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_tree(pid: int, *, timeout: float = 60.0, popen: subprocess.Popen | None = None) -> None:
    """SIGTERM the supervisor (it stops its children in order), wait, then SIGKILL whatever of its tree is left."""
    try:
        root = psutil.Process(pid)
        descendants = root.children(recursive=True)
    except psutil.Error:
        return
    with contextlib.suppress(psutil.Error):
        root.terminate()
    deadline = time.monotonic() + timeout
    while alive(popen if popen is not None else root) and time.monotonic() < deadline:
        time.sleep(0.1)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(0.1)
    leftovers = [p for p in [root, *descendants] if alive(p)]
    for process in leftovers:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(leftovers, timeout=10)
    if popen is not None and popen.poll() is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(5)
