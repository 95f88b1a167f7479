"""Loaded with ``-p tests.bootstrap`` before Django settings are imported.

It points the test run at its own data folder and profile (never a developer's ``~/.hindsight``), keeps every
library offline, and starts the embedded PostgreSQL and Redis for the session when no ``DATABASE_URL`` /
``CELERY_BROKER_URL`` is given; they are stopped after pytest-django has dropped the test database.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("HINDSIGHT_HOME", str(REPO / ".hindsight-test"))
os.environ.setdefault("HINDSIGHT_PROFILE", "test")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_services: list = []


def pytest_sessionstart(session: pytest.Session) -> None:
    from hindsight_site.embedded import EmbeddedPostgres, EmbeddedRedis
    from hindsight_site.paths import ProfilePaths

    paths = ProfilePaths(Path(os.environ["HINDSIGHT_HOME"]), os.environ["HINDSIGHT_PROFILE"])
    if not os.environ.get("DATABASE_URL"):
        postgres = EmbeddedPostgres(paths, os_user=os.environ.get("HINDSIGHT_EMBEDDED_DB_USER", "hindsight"))
        postgres.start()
        _services.append(postgres)
    if not os.environ.get("CELERY_BROKER_URL"):
        redis = EmbeddedRedis(paths)
        redis.start()
        _services.append(redis)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    while _services:
        _services.pop().stop()
