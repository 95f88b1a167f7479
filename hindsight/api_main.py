"""``hindsight-api``: upstream's server command line, running this server, so that upstream's launcher
(``hindsight-all``'s ``HindsightEmbedded`` / ``hindsight-embed``) can start it.

It accepts upstream's options (``--host``, ``--port``, ``--log-level``, ``--idle-timeout``; the others are accepted
and ignored) and its main ``HINDSIGHT_API_*`` variables: ``HINDSIGHT_API_HOST`` / ``_PORT``,
``HINDSIGHT_API_LLM_PROVIDER`` / ``_MODEL`` / ``_API_KEY`` / ``_BASE_URL``, ``HINDSIGHT_API_LOG_LEVEL`` and
``HINDSIGHT_API_DATABASE_URL`` (``pg0`` / ``pg0://<name>`` select the embedded database of profile ``<name>``; a
``postgresql://`` URL is used as it is). It runs ``manage.py serve`` as its child and forwards SIGINT/SIGTERM, so its
own command line (which upstream's launcher looks for) stays ``hindsight-api``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

from hindsight import _launch

#: Upstream variables translated here (and so not passed on, where the server would warn about unknown names).
TRANSLATED = (
    "HINDSIGHT_API_HOST",
    "HINDSIGHT_API_PORT",
    "HINDSIGHT_API_LOG_LEVEL",
    "HINDSIGHT_API_DATABASE_URL",
    "HINDSIGHT_API_LLM_PROVIDER",
    "HINDSIGHT_API_LLM_MODEL",
    "HINDSIGHT_API_LLM_API_KEY",
    "HINDSIGHT_API_LLM_BASE_URL",
    "HINDSIGHT_API_DAEMON_LOG",
    "HINDSIGHT_API_WORKERS",
    "HINDSIGHT_API_MCP_ENABLED",
    "HINDSIGHT_API_EMBEDDINGS_PROVIDER",
    "HINDSIGHT_API_RERANKER_PROVIDER",
)


def profile_for(database_url: str | None) -> tuple[str, str | None]:
    """``(profile, DATABASE_URL)`` for upstream's database setting."""
    if not database_url or database_url == "pg0":
        return "hindsight", None
    if database_url.startswith("pg0://"):
        name = database_url[len("pg0://") :].split("?", 1)[0].split(":", 1)[0].lower()
        name = re.sub(r"[^a-z0-9_-]", "-", name).strip("-_") or "hindsight"
        return name[:63], None
    return "hindsight", re.sub(r"^postgresql\+\w+://", "postgresql://", database_url)


def child_environment(environ: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The server's environment for upstream's variables, and the profile to serve."""
    profile, database_url = profile_for(environ.get("HINDSIGHT_API_DATABASE_URL"))
    llm = _launch.llm_environment(
        environ.get("HINDSIGHT_API_LLM_PROVIDER"),
        environ.get("HINDSIGHT_API_LLM_MODEL"),
        environ.get("HINDSIGHT_API_LLM_API_KEY"),
        environ.get("HINDSIGHT_API_LLM_BASE_URL"),
    )
    env = {k: v for k, v in environ.items() if k not in TRANSLATED}
    if llm[1]:
        for key in _launch.LLM_VARIABLES:
            env.pop(key, None)
        env.update(llm[0])
    if database_url:
        env["DATABASE_URL"] = database_url
    level = (environ.get("HINDSIGHT_API_LOG_LEVEL") or "").lower()
    if level in _launch.LOG_LEVELS:
        env["HINDSIGHT_LOG_LEVEL"] = _launch.LOG_LEVELS[level]
    env["DJANGO_SETTINGS_MODULE"] = "hindsight_site.settings"
    return env, profile


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hindsight-api", description="Run the Hindsight-compatible server.")
    # Upstream binds 0.0.0.0; this server refuses to serve without API keys beyond loopback unless told to, and the
    # launcher always connects to 127.0.0.1, so loopback is the default here.
    parser.add_argument("--host", default=os.environ.get("HINDSIGHT_API_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("HINDSIGHT_API_PORT", "8888")))
    parser.add_argument("--log-level", choices=[*_launch.LOG_LEVELS, "trace"])
    parser.add_argument("--idle-timeout", type=float, default=0, help="Stop after this many idle seconds (0: never).")
    for flag in ("--reload", "--access-log", "--no-access-log", "--proxy-headers", "--daemon"):
        parser.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    for option in ("--workers", "--forwarded-allow-ips", "--ssl-keyfile", "--ssl-certfile"):
        parser.add_argument(option, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env, profile = child_environment(os.environ)
    if args.log_level:
        env["HINDSIGHT_LOG_LEVEL"] = _launch.LOG_LEVELS.get(args.log_level, "DEBUG")
    command = _launch.serve_command(profile=profile, host=args.host, port=args.port, idle_timeout=args.idle_timeout)
    # Dies with this process (upstream's launcher stops us by pid; the server must not outlive that).
    child = subprocess.Popen(command, env=env, cwd=_launch.REPO, preexec_fn=_launch._die_with_parent)

    def forward(signum, frame):
        child.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
