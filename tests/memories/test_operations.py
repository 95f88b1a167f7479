"""The durable operation machinery against the real database (the broker is replaced by a recorder here; the
end-to-end tests in test_retain_async.py use a real worker)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from banks.models import Bank
from hindsight_site.errors import Conflict
from memories import operations
from memories.models import Operation, OperationStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatched(monkeypatch):
    sent = []
    monkeypatch.setattr(
        operations, "dispatch", lambda operation_id, countdown=None: sent.append((operation_id, countdown))
    )
    return sent


@pytest.fixture
def bank():
    return Bank.objects.create(bank_id="ops")


def submit(bank, key="", payload=None, **kwargs):
    operation, _ = operations.submit(
        bank=bank, operation_type="test", payload=payload or {"n": 1}, serialization_key=key, **kwargs
    )
    return operation


def test_submit_dispatches_only_after_commit(bank, django_capture_on_commit_callbacks, dispatched):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        operation = submit(bank)
    assert dispatched == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert dispatched == [(operation.pk, None)]
    assert operation.status == OperationStatus.PENDING


def test_a_reused_operation_id_returns_the_same_operation_or_conflicts(bank, dispatched):
    first = submit(bank, operation_id="11111111-1111-1111-1111-111111111111")
    again, created = operations.submit(
        bank=bank, operation_type="test", payload={"n": 1}, operation_id="11111111-1111-1111-1111-111111111111"
    )
    assert (str(again.pk), created) == (str(first.pk), False)
    with pytest.raises(Conflict, match="already used for different work"):
        operations.submit(
            bank=bank, operation_type="test", payload={"n": 2}, operation_id="11111111-1111-1111-1111-111111111111"
        )


def test_claim_takes_a_pending_operation_once(bank, dispatched):
    operation = submit(bank)
    claimed = operations.claim(operation.pk, "worker-a")
    assert claimed.status == OperationStatus.PROCESSING
    assert claimed.worker_id == "worker-a"
    assert claimed.attempts == 1
    assert claimed.lease_expires_at > timezone.now()
    assert operations.claim(operation.pk, "worker-b") is None


def test_work_on_one_document_is_claimed_in_order(bank, dispatched):
    first = submit(bank, key="document:1:a")
    second = submit(bank, key="document:1:a")
    other = submit(bank, key="document:1:b")
    assert operations.claim(second.pk, "w") is None
    assert operations.claim(other.pk, "w") is not None
    claimed = operations.claim(first.pk, "w")
    operations.mark_completed(claimed, {})
    assert operations.claim(second.pk, "w") is not None


def test_an_operation_waiting_for_its_backoff_is_not_claimed(bank, dispatched):
    operation = submit(bank)
    Operation.objects.filter(pk=operation.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert operations.claim(operation.pk, "w") is None


def test_fence_refuses_a_worker_whose_lease_was_taken_over(bank, dispatched):
    operation = submit(bank)
    mine = operations.claim(operation.pk, "worker-a")
    Operation.objects.filter(pk=operation.pk).update(status="pending", worker_id="")
    theirs = operations.claim(operation.pk, "worker-b")
    with pytest.raises(operations.LeaseLost):
        operations.fence(mine, "worker-a")
    assert operations.fence(theirs, "worker-b").worker_id == "worker-b"


def test_transient_failures_back_off_then_give_up(bank, dispatched, settings):
    operation = submit(bank)
    Operation.objects.filter(pk=operation.pk).update(max_attempts=2)
    claimed = operations.claim(operation.pk, "w")
    assert operations.record_failure(claimed, "w", "provider overloaded", transient=True) == "pending"
    waiting = Operation.objects.get(pk=operation.pk)
    assert waiting.next_attempt_at > timezone.now() - timedelta(seconds=1)
    assert waiting.error_message == "provider overloaded"
    assert dispatched[-1][0] == operation.pk and dispatched[-1][1] is not None
    Operation.objects.filter(pk=operation.pk).update(next_attempt_at=None)
    claimed = operations.claim(operation.pk, "w")
    assert operations.record_failure(claimed, "w", "provider overloaded", transient=True) == "failed"
    failed = Operation.objects.get(pk=operation.pk)
    assert failed.error_message == "gave up after 2 attempts: provider overloaded"
    assert failed.completed_at is not None


def test_backoff_is_bounded_and_grows():
    assert all(0 <= operations.backoff_seconds(1) <= 2 for _ in range(50))
    assert all(0 <= operations.backoff_seconds(30) <= operations.BACKOFF_MAX_SECONDS for _ in range(50))
    assert max(operations.backoff_seconds(6) for _ in range(200)) > 2


def test_a_permanent_failure_ends_failed_with_a_readable_message(bank, dispatched):
    claimed = operations.claim(submit(bank).pk, "w")
    assert operations.record_failure(claimed, "w", "bad input: no text", transient=False) == "failed"
    assert Operation.objects.get(pk=claimed.pk).error_message == "bad input: no text"


def test_the_reaper_reclaims_expired_leases_and_redispatches_lost_messages(bank, dispatched, settings):
    dead = operations.claim(submit(bank).pk, "dead-worker")
    Operation.objects.filter(pk=dead.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    exhausted = operations.claim(submit(bank).pk, "dead-worker")
    Operation.objects.filter(pk=exhausted.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1), max_attempts=1
    )
    lost = submit(bank)
    Operation.objects.filter(pk=lost.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    fresh = submit(bank)

    report = operations.reap()

    assert report == {"reclaimed": 2, "redispatched": 1}
    assert Operation.objects.get(pk=dead.pk).status == OperationStatus.PENDING
    assert Operation.objects.get(pk=exhausted.pk).status == OperationStatus.FAILED
    assert "stopped responding" in Operation.objects.get(pk=exhausted.pk).error_message
    assert {operation_id for operation_id, _ in dispatched} >= {dead.pk, lost.pk}
    assert fresh.pk not in {operation_id for operation_id, _ in dispatched}


def test_cancel_retry_and_delete_follow_the_status(bank, dispatched):
    pending = submit(bank)
    assert operations.cancel(pending) == "cancelled"
    assert Operation.objects.get(pk=pending.pk).status == OperationStatus.CANCELLED
    running = operations.claim(submit(bank).pk, "w")
    assert operations.cancel(running) == "cancellation_requested"
    assert Operation.objects.get(pk=running.pk).cancel_requested
    with pytest.raises(operations.OperationCancelled):
        operations.report_progress(running, "extracting")
    with pytest.raises(Conflict):
        operations.delete(running)
    with pytest.raises(Conflict):
        operations.retry(running)

    failed = operations.claim(submit(bank).pk, "w")
    operations.record_failure(failed, "w", "boom", transient=False)
    operations.retry(Operation.objects.get(pk=failed.pk))
    again = Operation.objects.get(pk=failed.pk)
    assert (again.status, again.attempts, again.error_message) == ("pending", 0, "")
    with pytest.raises(Conflict):
        operations.cancel(Operation.objects.get(pk=pending.pk))
    operations.delete(Operation.objects.get(pk=pending.pk))
    assert not Operation.objects.filter(pk=pending.pk).exists()


def test_run_completes_retries_or_fails_through_registered_handlers(bank, dispatched):
    calls = []

    @operations.handler("test-ok")
    def ok(operation, worker_id):
        calls.append(operation.pk)
        operations.fence(operation, worker_id)
        operations.mark_completed(operation, {"done": True})

    @operations.handler("test-flaky")
    def flaky(operation, worker_id):
        raise operations.TransientOperationError("rate limited")

    @operations.handler("test-broken")
    def broken(operation, worker_id):
        raise ValueError("cannot parse")

    results = {}
    for kind in ("test-ok", "test-flaky", "test-broken"):
        operation, _ = operations.submit(bank=bank, operation_type=kind, payload={})
        results[kind] = (operations.run(operation.pk, "w"), Operation.objects.get(pk=operation.pk))
    assert results["test-ok"][0] == "completed"
    assert results["test-ok"][1].result == {"done": True}
    assert results["test-flaky"][0] == "pending"
    assert results["test-flaky"][1].error_message == "rate limited"
    assert results["test-broken"][0] == "failed"
    assert results["test-broken"][1].error_message == "ValueError: cannot parse"
    assert operations.run(results["test-ok"][1].pk, "w") is None  # finished work is never run twice
