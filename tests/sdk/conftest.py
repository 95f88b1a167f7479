"""Shared set-up for the ``hindsight`` package tests: a private data folder, the scripted LLM, and a sweep that
proves no server process outlives a test module.

Servers started here are whole process trees (supervisor, PostgreSQL, Redis, gunicorn, Celery), so they inherit an
environment where every LLM call, whatever model the code names (``openai/gpt-4o-mini`` in the seeds), is answered
by the scripted ``hindsight-test`` provider from a rule file, and recorded.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import psutil
import pytest

from tests.factories import fact

FAKE_OPENAI_KEY = "sk-test-not-a-real-key-5f1e2d3c4b5a"


def agent(query: str, answer: str) -> list[dict]:
    """The reflect agent's two turns for ``query``: one recall, then the answer."""
    return [
        {"match": query, "tool_calls": [{"name": "recall", "arguments": {"query": query}}], "times": 1},
        {"match": query, "tool_calls": [{"name": "done", "arguments": {"answer": answer}}], "times": 1},
    ]


RULES = [
    {"match": "Text:\nAlice works at Google", "response": {"facts": [fact("Alice works at Google.", who="Alice")]}},
    {"match": "Text:\nHello", "response": {"facts": [fact("The user said hello.")]}},
    {"match": "NEW FACTS", "response": {"creates": [], "updates": [], "deletes": []}},
    {"match": "Rules:", "response": {"violations": []}},
    *agent("Tell me about Alice", "Alice works at Google as far as I remember."),
    *agent("Tell me about Alice", "Alice works at Google as far as I remember."),
    *agent("User prefers dark mode", "The user prefers dark mode."),
]


def processes_of(home: Path) -> list[psutil.Process]:
    """Every live process whose environment points at this data folder (servers, databases, workers)."""
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.environ().get("HINDSIGHT_HOME") == str(home) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def describe(processes: list[psutil.Process]) -> list[str]:
    out = []
    for process in processes:
        try:
            out.append(f"{process.pid}: {' '.join(process.cmdline())[:100]}")
        except psutil.Error:
            continue
    return out


@pytest.fixture(scope="module")
def sdk_home(tmp_path_factory) -> Path:
    """A data folder for this module's servers; a module that leaves a server running fails here."""
    home = tmp_path_factory.mktemp("sdk-home").resolve()
    yield home
    leftovers = processes_of(home)
    for process in leftovers:
        with contextlib.suppress(psutil.Error):
            process.kill()
    assert describe(leftovers) == [], "a server process outlived its test module"


@pytest.fixture
def scripted_env(sdk_home, monkeypatch):
    """Environment for servers started from this test: private home, scripted LLM for every model, a call record."""
    script = sdk_home / "llm-script.json"
    script.write_text(json.dumps(RULES))
    record = sdk_home / "llm-calls.jsonl"
    monkeypatch.setenv("HINDSIGHT_HOME", str(sdk_home))
    monkeypatch.setenv("HINDSIGHT_TEST_LLM_INTERCEPT", "1")
    monkeypatch.setenv("HINDSIGHT_TEST_LLM_SCRIPT", str(script))
    monkeypatch.setenv("HINDSIGHT_TEST_LLM_RECORD", str(record))
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_OPENAI_KEY)
    monkeypatch.setenv("HINDSIGHT_WEB_WORKERS", "1")
    monkeypatch.setenv("HINDSIGHT_WORKER_CONCURRENCY", "1")
    for name in ("HINDSIGHT_PROFILE", "DATABASE_URL", "CELERY_BROKER_URL", "HINDSIGHT_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    return record


def recorded_models(record: Path) -> set[str]:
    if not record.exists():
        return set()
    return {json.loads(line)["model"] for line in record.read_text().splitlines() if line.strip()}


def logs_mention(home: Path, secret: str) -> list[str]:
    """Files under ``home`` that contain ``secret`` (keys must never be logged)."""
    hits = []
    for path in home.glob("profiles/*/logs/*"):
        if path.is_file():
            try:
                if secret in path.read_text(errors="ignore"):
                    hits.append(str(path))
            except OSError:
                continue
    return hits
