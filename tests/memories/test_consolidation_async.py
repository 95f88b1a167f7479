"""Consolidation end to end: the API server, real Celery workers with a scripted consolidation model (a JSON script
file, since the model answers in the worker's process), the real database."""

from __future__ import annotations

import json
from itertools import pairwise

import httpx
import pytest

from memories.models import MemoryUnit, Operation
from tests.conftest import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EMPTY = {"creates": [], "updates": [], "deletes": []}


@pytest.fixture
def consolidation_model(tmp_path, monkeypatch):
    """Workers started after this see a consolidation model answering from ``rules`` (retain stays offline)."""

    def script(rules: list[dict]) -> None:
        path = tmp_path / "consolidation-script.json"
        path.write_text(json.dumps(rules))
        monkeypatch.setenv("HINDSIGHT_TEST_LLM_SCRIPT", str(path))
        monkeypatch.setenv("HINDSIGHT_LLM_CONSOLIDATION_MODEL", "hindsight-test/consolidation")
        monkeypatch.delenv("HINDSIGHT_LLM_MODEL", raising=False)

    return script


def finished_consolidations(bank_id: str, count: int):
    def check():
        runs = list(
            Operation.objects.filter(bank__bank_id=bank_id, operation_type="consolidation").order_by("started_at")
        )
        done = [run for run in runs if run.status in ("completed", "failed", "cancelled")]
        return runs if len(done) >= count and len(done) == len(runs) else None

    return check


def test_an_async_retain_queues_consolidation_and_a_worker_builds_observations(
    api_server, workers, bank_id, consolidation_model
):
    consolidation_model(
        [
            {
                "match": "Alice drinks green tea",
                "response": {
                    "creates": [{"text": "Alice is a tea drinker.", "source_facts": ["F1"], "reason": "durable"}],
                    "updates": [],
                    "deletes": [],
                },
                "usage": {"prompt_tokens": 200, "completion_tokens": 20},
            },
            {"match": None, "response": EMPTY},
        ]
    )
    workers("consolidator")
    body = {"items": [{"content": "Alice drinks green tea every morning."}], "async": True}
    response = httpx.post(f"{api_server}/v1/default/banks/{bank_id}/memories", json=body, timeout=60)
    assert response.status_code == 200

    [run] = wait_for(finished_consolidations(bank_id, 1), 120, "the consolidation queued by retain")
    assert run.status == "completed", run.error_message
    assert run.result["usage"]["input_tokens"] == 200
    assert run.result["observations_created"] == 1
    [fact] = MemoryUnit.objects.filter(bank__bank_id=bank_id, fact_type="world")
    [observation] = MemoryUnit.objects.filter(bank__bank_id=bank_id, fact_type="observation")
    assert observation.source_memory_ids == [fact.id]
    fact.refresh_from_db()
    assert fact.consolidated_at is not None

    recall = httpx.post(
        f"{api_server}/v1/default/banks/{bank_id}/memories/recall",
        json={"query": "What does Alice drink?", "types": ["observation"]},
        timeout=60,
    ).json()
    assert [(r["type"], r["text"]) for r in recall["results"]] == [("observation", "Alice is a tea drinker.")]
    status = httpx.get(f"{api_server}/v1/default/banks/{bank_id}/operations/{run.pk}", timeout=30).json()
    assert status["operation_type"] == "consolidation"
    assert status["result_metadata"]["usage"]["input_tokens"] == 200


def test_consolidation_runs_of_one_bank_never_overlap(api_server, workers, bank_id, consolidation_model):
    consolidation_model([{"match": None, "response": EMPTY}])
    for tag in ("a", "b", "c"):
        body = {"items": [{"content": f"Alice works on project {tag}.", "tags": [tag]}]}
        assert httpx.post(f"{api_server}/v1/default/banks/{bank_id}/memories", json=body, timeout=60).is_success
    ids = []
    for tag in ("a", "b", "c"):
        answer = httpx.post(
            f"{api_server}/v1/default/banks/{bank_id}/consolidate", json={"observation_scopes": [[tag]]}, timeout=30
        ).json()
        assert answer["deduplicated"] is False
        ids.append(answer["operation_id"])
    workers("one")
    workers("two")

    runs = wait_for(finished_consolidations(bank_id, 3), 180, "three consolidation runs")
    assert sorted(str(run.pk) for run in runs) == sorted(ids)
    assert all(run.status == "completed" for run in runs), [run.error_message for run in runs]
    for earlier, later in pairwise(runs):
        assert later.started_at >= earlier.completed_at  # serialized per bank: never two at once
    assert [run.result["facts_consolidated"] for run in runs] == [1, 1, 1]
    assert not MemoryUnit.objects.filter(bank__bank_id=bank_id, fact_type="world", consolidated_at=None).exists()
