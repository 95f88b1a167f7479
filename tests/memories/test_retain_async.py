"""Async retain end to end: the API server, a real Celery worker on the embedded Redis broker, the real database.

Includes the crash test: a worker killed with SIGKILL in the middle of a retain loses nothing, and once another
worker runs the operation completes with exactly the facts a clean run produces.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from memories.models import MemoryUnit, Operation
from tests.conftest import wait_for

# Transactional: the server and workers commit data, which is flushed after each test.
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def operation_status(api_server: str, bank_id: str, operation_id: str) -> dict:
    response = httpx.get(f"{api_server}/v1/default/banks/{bank_id}/operations/{operation_id}", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def items_for(count: int, sentences: int = 12) -> list[dict]:
    topics = ["Paris", "Berlin", "Lisbon", "Oslo", "Kyoto", "Lima", "Cairo", "Quito"]
    return [
        {
            "content": " ".join(
                f"Person{i} visited {topics[(i + j) % len(topics)]} with Friend{j} on day {j} and enjoyed it."
                for j in range(sentences)
            ),
            "document_id": f"doc-{i}",
            "timestamp": "2024-03-01T10:00:00Z",
        }
        for i in range(count)
    ]


def test_async_retain_runs_on_a_worker_and_is_idempotent_by_operation_id(api_server, workers, bank_id):
    workers("steady")
    operation_id = str(uuid.uuid4())
    body = {"items": items_for(3, sentences=3), "async": True, "operation_id": operation_id}
    response = httpx.post(f"{api_server}/v1/default/banks/{bank_id}/memories", json=body, timeout=60)
    assert response.status_code == 200
    assert response.json()["async"] is True
    assert response.json()["operation_id"] == operation_id

    status = wait_for(
        lambda: (s := operation_status(api_server, bank_id, operation_id))["status"] == "completed" and s,
        120,
        "the operation to complete",
    )
    assert status["result_metadata"]["units_created"] == MemoryUnit.objects.filter(bank__bank_id=bank_id).count() > 0
    listed = httpx.get(f"{api_server}/v1/default/banks/{bank_id}/operations", timeout=30).json()
    assert [op["id"] for op in listed["operations"]] == [operation_id]
    assert listed["operations"][0]["items_count"] == 3

    again = httpx.post(f"{api_server}/v1/default/banks/{bank_id}/memories", json=body, timeout=60)
    assert again.json()["operation_id"] == operation_id
    assert Operation.objects.filter(bank__bank_id=bank_id).count() == 1
    different = {**body, "items": items_for(1, sentences=1)}
    conflict = httpx.post(f"{api_server}/v1/default/banks/{bank_id}/memories", json=different, timeout=60)
    assert conflict.status_code == 409
    assert "already used" in conflict.json()["detail"]


def test_a_large_async_retain_is_split_into_sub_batches(api_server, workers, bank_id):
    workers("batches")
    body = {"items": items_for(60, sentences=1), "async": True}
    operation_id = httpx.post(f"{api_server}/v1/default/banks/{bank_id}/memories", json=body, timeout=60).json()[
        "operation_id"
    ]
    status = wait_for(
        lambda: (s := operation_status(api_server, bank_id, operation_id))["status"] == "completed" and s,
        180,
        "the batch to complete",
    )
    assert status["operation_type"] == "batch_retain"
    assert [child["items_count"] for child in status["child_operations"]] == [50, 10]
    assert {child["status"] for child in status["child_operations"]} == {"completed"}
    assert MemoryUnit.objects.filter(bank__bank_id=bank_id).count() == 60


def test_a_worker_killed_mid_retain_loses_nothing_and_duplicates_nothing(api_server, workers, bank_id):
    items = items_for(40)
    clean = httpx.post(f"{api_server}/v1/default/banks/{bank_id}-clean/memories", json={"items": items}, timeout=300)
    assert clean.status_code == 200, clean.text
    clean_texts = sorted(MemoryUnit.objects.filter(bank__bank_id=f"{bank_id}-clean").values_list("text", flat=True))

    doomed = workers("doomed")
    operation_id = httpx.post(
        f"{api_server}/v1/default/banks/{bank_id}/memories", json={"items": items, "async": True}, timeout=60
    ).json()["operation_id"]
    wait_for(lambda: operation_status(api_server, bank_id, operation_id)["status"] == "processing", 120, "processing")
    doomed.kill()

    killed = Operation.objects.get(pk=operation_id)
    assert killed.status == "processing"
    assert MemoryUnit.objects.filter(bank__bank_id=bank_id).count() == 0  # nothing half-written

    workers("rescuer")
    wait_for(
        lambda: operation_status(api_server, bank_id, operation_id)["status"] == "completed",
        180,
        "the reclaimed operation to complete",
    )
    finished = Operation.objects.get(pk=operation_id)
    assert finished.attempts == 2
    texts = sorted(MemoryUnit.objects.filter(bank__bank_id=bank_id).values_list("text", flat=True))
    assert len(texts) == len(clean_texts) > 0
    assert texts == clean_texts


def test_cancelling_a_pending_operation_stops_it_and_the_record_can_be_deleted(api_server, bank_id):
    # No worker runs here, so the operation stays pending.
    operation_id = httpx.post(
        f"{api_server}/v1/default/banks/{bank_id}/memories",
        json={"items": items_for(1, sentences=1), "async": True},
        timeout=60,
    ).json()["operation_id"]
    base = f"{api_server}/v1/default/banks/{bank_id}/operations/{operation_id}"
    assert httpx.post(f"{base}/retry", timeout=30).status_code == 409
    assert httpx.delete(f"{base}/delete", timeout=30).status_code == 409
    cancelled = httpx.delete(base, timeout=30)
    assert cancelled.json() == {"success": True, "message": "Operation cancelled", "operation_id": operation_id}
    assert operation_status(api_server, bank_id, operation_id)["status"] == "cancelled"
    assert httpx.delete(f"{base}/delete", timeout=30).json()["success"] is True
    assert httpx.get(base, timeout=30).status_code == 404
