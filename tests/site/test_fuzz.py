"""schemathesis against our committed openapi.json, over HTTP against the session's gunicorn: no 5xx (a 501 that
names a feature we do not offer excepted) and no response that violates the document.

Every generated request is pinned to one throw-away bank (``fuzz-<hex>``) seeded with a document, memories, an
entity, a directive, a mental model and an operation, whose ids are pinned too, so cases reach real objects instead
of 404s, and no other test's data can be touched; the bank is deleted afterwards.

CI runs a bounded, derandomized run (the fuzzing phase, a few cases per operation, the same cases every time).
A longer local run:

    HINDSIGHT_FUZZ_EXAMPLES=100 HINDSIGHT_FUZZ_PHASES=examples,coverage,fuzzing,stateful \\
        scripts/test tests/site/test_fuzz.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXAMPLES = int(os.environ.get("HINDSIGHT_FUZZ_EXAMPLES", "5"))
PHASES = os.environ.get("HINDSIGHT_FUZZ_PHASES", "fuzzing")


def _seed_bank(base: str, bank_id: str) -> dict[str, str]:
    """Create the bank's objects through the API; return the path parameters to pin."""
    api = f"{base}/v1/default/banks/{bank_id}"
    with httpx.Client(timeout=120) as http:
        http.put(api, json={"name": "Fuzz"}).raise_for_status()
        http.post(
            f"{api}/memories",
            json={
                "items": [
                    {
                        "content": "Alice works at Google in Paris. Bob met Alice in Lyon last week.",
                        "document_id": "fuzz-doc",
                        "tags": ["fuzz"],
                    }
                ]
            },
        ).raise_for_status()
        operation = http.post(
            f"{api}/memories", json={"items": [{"content": "Carol likes tea."}], "async": True}
        ).json()["operation_id"]
        memory = http.get(f"{api}/memories/list").json()["items"][0]["id"]
        entity = http.get(f"{api}/entities").json()["items"][0]["id"]
        chunk = http.get(f"{api}/documents/fuzz-doc/chunks").json()["items"][0]["chunk_id"]
        directive = http.post(f"{api}/directives", json={"name": "Polite", "content": "Be polite."}).json()["id"]
        model = http.post(f"{api}/mental-models", json={"name": "Alice", "source_query": "Who is Alice?"}).json()[
            "mental_model_id"
        ]
    return {
        "bank_id": bank_id,
        "document_id": "fuzz-doc",
        "memory_id": memory,
        "entity_id": entity,
        "chunk_id": chunk,
        "directive_id": directive,
        "mental_model_id": model,
        "operation_id": operation,
    }


def _config(path: Path, parameters: dict[str, str]) -> Path:
    lines = [
        "# Written by tests/site/test_fuzz.py for one run.",
        "[checks.not_a_server_error]",
        "# 501 is the deliberate answer for a feature this server says it does not offer; every other 5xx fails.",
        'expected-statuses = ["2xx", "3xx", "4xx", "501"]',
        "",
        "[parameters]",
        *(f'"path.{name}" = "{value}"' for name, value in parameters.items()),
        "",
    ]
    path.write_text("\n".join(lines))
    return path


def _command(base_url: str, config: Path, reports: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        str(REPO / "openapi.json"),
        "--url",
        base_url,
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--phases",
        PHASES,
        "--max-examples",
        str(EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(reports),
    ]


def test_schemathesis_finds_no_server_error_and_no_schema_violation(api_server, tmp_path):
    bank_id = f"fuzz-{uuid.uuid4().hex[:10]}"
    try:
        config = _config(tmp_path / "schemathesis.toml", _seed_bank(api_server, bank_id))
        generated = 0
        # Deletions run last, in their own pass: a deleted bank or document would turn every later case into a 404.
        for selection in (["--exclude-method", "DELETE"], ["--include-method", "DELETE"]):
            result = subprocess.run(
                [*_command(api_server, config, tmp_path), *selection],
                capture_output=True,
                text=True,
                timeout=1800,
                cwd=tmp_path,
            )
            assert result.returncode == 0, f"schemathesis failed:\n{result.stdout[-20000:]}\n{result.stderr[-5000:]}"
            print(result.stdout[-1200:])  # the summary, for `pytest -s`
            found = re.search(r"(\d+) generated", result.stdout)
            generated += int(found.group(1)) if found else 0
        assert generated >= 150  # it really ran cases
    finally:
        httpx.delete(f"{api_server}/v1/default/banks/{bank_id}", timeout=120)
