"""Durable asynchronous operations: the operations table is the queue, the broker only a wake-up call.

Life of an operation:

1. ``submit`` writes the row in the caller's transaction and dispatches a Celery message on commit.
2. A worker ``claim``s it with one conditional UPDATE (pending, due, not cancelled, and no older unfinished operation
   with the same ``serialization_key``, so writes to one document apply in order) and holds a lease it renews from a
   ``Heartbeat`` thread.
3. The handler does its work and writes its result in one transaction that first ``fence``s the lease (still ours,
   same attempt) and marks the row completed, so a crash before commit changes nothing and a crash after commit
   leaves a completed operation: re-running can never duplicate facts.
4. Transient errors go back to pending with exponential backoff and jitter until ``max_attempts``; permanent ones end
   ``failed`` with a readable message.
5. ``reap`` (periodic) returns expired leases to pending (their worker died) and re-dispatches pending rows whose
   message was lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from hindsight_site.errors import Conflict
from memories.models import TERMINAL_STATUSES, Operation, OperationStatus

logger = logging.getLogger("hindsight.operations")

BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 300.0


class LeaseLost(Exception):
    """Another worker owns the operation now (our lease expired); our work must not be written."""


class OperationCancelled(Exception):
    """Cancellation was requested while the operation ran; it stopped between stages."""


class TransientOperationError(Exception):
    """A failure worth retrying later (provider overloaded, connection dropped)."""


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_seconds() -> int:
    return settings.HINDSIGHT_OPERATION_LEASE_SECONDS


def payload_fingerprint(operation_type: str, payload: Any) -> str:
    canonical = json.dumps([operation_type, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


PARENT_TYPES = frozenset({"batch_retain"})  # aggregate their children; never run themselves


def _update(filters: dict[str, Any], **fields) -> int:
    """QuerySet.update() skips auto_now fields; the reaper relies on updated_at, so set it every time."""
    return Operation.objects.filter(**filters).update(updated_at=timezone.now(), **fields)


# --- submitting and dispatching --------------------------------------------------------------------------------


def dispatch(operation_id, countdown: float | None = None) -> None:
    """Send the wake-up message. Losing it is harmless: the reaper re-dispatches pending work."""
    from memories.tasks import run_operation

    try:
        run_operation.apply_async(args=[str(operation_id)], countdown=countdown)
    except Exception:  # broker down: the row stays pending and the reaper will dispatch it
        logger.warning("Could not dispatch operation %s; the reaper will pick it up", operation_id, exc_info=True)


def submit(
    *,
    bank,
    operation_type: str,
    payload: dict[str, Any],
    operation_id=None,
    serialization_key: str = "",
    parent: Operation | None = None,
    dispatch_now: bool = True,
    fingerprint: dict[str, Any] | None = None,
) -> tuple[Operation, bool]:
    """Record an operation (in the caller's transaction) and dispatch it after commit.

    A client-chosen ``operation_id`` makes the submission idempotent: the same id with the same work returns the
    existing operation (``created`` False); the same id with different work raises Conflict. ``fingerprint`` is
    what identifies the work when it differs from ``payload`` (the request as sent, before server-side defaults).
    """
    fingerprint = payload_fingerprint(operation_type, payload if fingerprint is None else fingerprint)
    if operation_id is not None:
        existing = Operation.objects.filter(pk=operation_id).first()
        if existing is not None:
            if existing.bank_id != bank.pk or existing.payload_hash != fingerprint:
                raise Conflict(f"operation_id {operation_id} was already used for different work")
            return existing, False
    operation = Operation.objects.create(
        **({"id": operation_id} if operation_id is not None else {}),
        bank=bank,
        parent=parent,
        operation_type=operation_type,
        payload=payload,
        payload_hash=fingerprint,
        serialization_key=serialization_key,
        max_attempts=settings.HINDSIGHT_OPERATION_MAX_ATTEMPTS,
        progress={"stage": "queued", "at": timezone.now().isoformat()},
    )
    if dispatch_now:
        transaction.on_commit(lambda: dispatch(operation.pk))
    return operation, True


# --- claiming, heartbeats, fencing -----------------------------------------------------------------------------


def claim(operation_id, worker_id: str) -> Operation | None:
    """Take a due pending operation for this worker, or None (taken, not due, or waiting on an earlier one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE memories_operation AS op
            SET status = 'processing', worker_id = %(worker)s, attempts = op.attempts + 1,
                lease_expires_at = now() + make_interval(secs => %(lease)s), heartbeat_at = now(),
                started_at = coalesce(op.started_at, now()), updated_at = now(),
                progress = jsonb_build_object('stage', 'started', 'at', to_char(now() AT TIME ZONE 'UTC',
                                              'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
            WHERE op.id = %(id)s AND op.status = 'pending' AND NOT op.cancel_requested
              AND (op.next_attempt_at IS NULL OR op.next_attempt_at <= now())
              AND NOT EXISTS (
                  SELECT 1 FROM memories_operation AS earlier
                  WHERE op.serialization_key <> '' AND earlier.serialization_key = op.serialization_key
                    AND earlier.status IN ('pending', 'processing')
                    AND (earlier.created_at, earlier.id) < (op.created_at, op.id)
              )
            RETURNING op.id
            """,
            {"id": str(operation_id), "worker": worker_id, "lease": lease_seconds()},
        )
        row = cursor.fetchone()
    return Operation.objects.get(pk=row[0]) if row else None


class Heartbeat:
    """Renews the lease of a running operation from a background thread until stopped."""

    def __init__(self, operation: Operation, worker_id: str):
        self.operation_id = operation.pk
        self.worker_id = worker_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{operation.pk}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        interval = max(lease_seconds() / 3, 0.5)
        try:
            while not self._stop.wait(interval):
                renewed = _update(
                    {"pk": self.operation_id, "status": OperationStatus.PROCESSING, "worker_id": self.worker_id},
                    lease_expires_at=timezone.now() + timedelta(seconds=lease_seconds()),
                    heartbeat_at=timezone.now(),
                )
                if not renewed:
                    return
        except Exception:  # a heartbeat must never kill the worker; the lease simply lapses
            logger.warning("Heartbeat for operation %s failed", self.operation_id, exc_info=True)
        finally:
            connection.close()


def fence(operation: Operation, worker_id: str) -> Operation:
    """Inside the final write transaction: lock our operation row and prove we still own this attempt."""
    locked = Operation.objects.select_for_update().get(pk=operation.pk)
    if (
        locked.status != OperationStatus.PROCESSING
        or locked.worker_id != worker_id
        or locked.attempts != operation.attempts
    ):
        raise LeaseLost(f"operation {operation.pk} is no longer ours ({locked.status}, {locked.worker_id})")
    if locked.cancel_requested:
        raise OperationCancelled(f"operation {operation.pk} was cancelled")
    return locked


def mark_completed(operation: Operation, result: dict[str, Any]) -> None:
    """Inside the fenced transaction: the work and its completion commit together."""
    now = timezone.now()
    _update(
        {"pk": operation.pk},
        status=OperationStatus.COMPLETED,
        result=result,
        error_message="",
        completed_at=now,
        lease_expires_at=None,
        progress={"stage": "completed", "at": now.isoformat()},
    )
    if operation.parent_id:
        transaction.on_commit(lambda: refresh_parent(operation.parent_id))


def report_progress(operation: Operation, stage: str, processed: int | None = None, total: int | None = None) -> None:
    _update(
        {"pk": operation.pk, "status": OperationStatus.PROCESSING},
        progress={"stage": stage, "at": timezone.now().isoformat(), "processed": processed, "total": total},
    )
    if Operation.objects.filter(pk=operation.pk, cancel_requested=True).exists():
        raise OperationCancelled(f"operation {operation.pk} was cancelled")


def backoff_seconds(attempt: int) -> float:
    """Full jitter on an exponential ceiling: spreads retries of many operations that failed together."""
    return random.uniform(0, min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0)))  # noqa: S311


def record_failure(operation: Operation, worker_id: str, message: str, *, transient: bool) -> str:
    """After a failed attempt: back to pending with backoff (transient, attempts left) or failed. Returns status."""
    locked_filter = {"pk": operation.pk, "status": OperationStatus.PROCESSING, "worker_id": worker_id}
    now = timezone.now()
    if transient and operation.attempts < operation.max_attempts:
        delay = backoff_seconds(operation.attempts)
        updated = _update(
            locked_filter,
            status=OperationStatus.PENDING,
            worker_id="",
            lease_expires_at=None,
            next_attempt_at=now + timedelta(seconds=delay),
            error_message=message[:2000],
            progress={"stage": "retry_scheduled", "at": now.isoformat()},
        )
        if updated:
            dispatch(operation.pk, countdown=delay)
            return OperationStatus.PENDING
        return Operation.objects.get(pk=operation.pk).status
    if transient:
        message = f"gave up after {operation.attempts} attempts: {message}"
    _update(
        locked_filter,
        status=OperationStatus.FAILED,
        worker_id="",
        lease_expires_at=None,
        error_message=message[:2000],
        completed_at=now,
        progress={"stage": "failed", "at": now.isoformat()},
    )
    _after_finish(operation)
    return OperationStatus.FAILED


def mark_cancelled(operation: Operation) -> None:
    now = timezone.now()
    Operation.objects.filter(pk=operation.pk).exclude(status__in=TERMINAL_STATUSES).update(
        status=OperationStatus.CANCELLED,
        updated_at=now,
        worker_id="",
        lease_expires_at=None,
        completed_at=now,
        progress={"stage": "cancelled", "at": now.isoformat()},
    )
    _after_finish(operation)


def _after_finish(operation: Operation) -> None:
    if operation.parent_id:
        refresh_parent(operation.parent_id)
    dispatch_next_in_line(operation.serialization_key)


def dispatch_next_in_line(serialization_key: str) -> None:
    """Wake the oldest pending operation that was waiting behind a finished one with the same key."""
    if not serialization_key:
        return
    waiting = (
        Operation.objects.filter(serialization_key=serialization_key, status=OperationStatus.PENDING)
        .order_by("created_at", "id")
        .values_list("pk", flat=True)
        .first()
    )
    if waiting:
        dispatch(waiting)


def refresh_parent(parent_id) -> None:
    """A batch parent's status follows its children."""
    statuses = list(Operation.objects.filter(parent_id=parent_id).values_list("status", flat=True))
    if not statuses:
        return
    finished = sum(status in TERMINAL_STATUSES for status in statuses)
    if finished == len(statuses):
        if OperationStatus.FAILED in statuses:
            status = OperationStatus.FAILED
        elif all(s == OperationStatus.CANCELLED for s in statuses):
            status = OperationStatus.CANCELLED
        else:
            status = OperationStatus.COMPLETED
    elif any(s != OperationStatus.PENDING for s in statuses):
        status = OperationStatus.PROCESSING
    else:
        status = OperationStatus.PENDING
    now = timezone.now()
    failed = [s for s in statuses if s == OperationStatus.FAILED]
    _update(
        {"pk": parent_id},
        status=status,
        completed_at=now if status in TERMINAL_STATUSES else None,
        error_message=f"{len(failed)} of {len(statuses)} sub-batches failed" if failed else "",
        progress={"stage": status, "at": now.isoformat(), "processed": finished, "total": len(statuses)},
    )


# --- running ---------------------------------------------------------------------------------------------------

HANDLERS: dict[str, Callable[[Operation, str], dict[str, Any]]] = {}


def handler(operation_type: str):
    """Register the function that performs one type of operation: ``fn(operation, worker_id) -> None``.

    The handler must finish with ``fence`` + ``mark_completed`` inside its write transaction.
    """

    def register(fn):
        HANDLERS[operation_type] = fn
        return fn

    return register


def run(operation_id, worker_id: str | None = None) -> str | None:
    """Claim and perform one operation; return its resulting status, or None when it was not ours to run."""
    worker_id = worker_id or worker_identity()
    operation = claim(operation_id, worker_id)
    if operation is None:
        return None
    perform = HANDLERS.get(operation.operation_type)
    if perform is None:
        return record_failure(
            operation, worker_id, f"unknown operation type {operation.operation_type!r}", transient=False
        )
    from memories.extraction.types import ExtractionError

    try:
        with Heartbeat(operation, worker_id):
            perform(operation, worker_id)
    except LeaseLost:
        logger.warning("Lost the lease on operation %s; another worker took it over", operation.pk)
        return None
    except OperationCancelled:
        mark_cancelled(operation)
        return OperationStatus.CANCELLED
    except (TransientOperationError, ExtractionError) as exc:
        transient = getattr(exc, "transient", True)
        return record_failure(operation, worker_id, str(exc) or exc.__class__.__name__, transient=transient)
    except Exception as exc:
        if _is_transient_database_error(exc):
            return record_failure(operation, worker_id, f"database unavailable: {exc}", transient=True)
        logger.exception("Operation %s failed", operation.pk)
        return record_failure(operation, worker_id, f"{exc.__class__.__name__}: {exc}", transient=False)
    _after_finish(operation)
    return OperationStatus.COMPLETED


def _is_transient_database_error(exc: Exception) -> bool:
    from django.db import InterfaceError, OperationalError

    return isinstance(exc, (OperationalError, InterfaceError))


# --- control from the API --------------------------------------------------------------------------------------


def cancel(operation: Operation) -> str:
    """Pending: cancelled at once. Processing: asked to stop at its next stage. Finished: Conflict."""
    if operation.status in TERMINAL_STATUSES:
        raise Conflict(f"operation {operation.pk} is already {operation.status}")
    children = list(Operation.objects.filter(parent=operation))
    for child in children:
        if child.status not in TERMINAL_STATUSES:
            cancel(child)
    if children:
        refresh_parent(operation.pk)
        return "cancelled"
    cancelled = _update(
        {"pk": operation.pk, "status": OperationStatus.PENDING},
        status=OperationStatus.CANCELLED,
        completed_at=timezone.now(),
        cancel_requested=True,
    )
    if cancelled:
        _after_finish(operation)
        return "cancelled"
    _update({"pk": operation.pk}, cancel_requested=True)
    return "cancellation_requested"


def retry(operation: Operation) -> None:
    """Put a failed (or cancelled) operation back in the queue with fresh attempts."""
    if operation.status not in (OperationStatus.FAILED, OperationStatus.CANCELLED):
        raise Conflict(f"only failed or cancelled operations can be retried; this one is {operation.status}")
    targets = list(Operation.objects.filter(parent=operation).exclude(status=OperationStatus.COMPLETED)) or [operation]
    for target in targets:
        _update(
            {"pk": target.pk},
            status=OperationStatus.PENDING,
            attempts=0,
            error_message="",
            next_attempt_at=None,
            completed_at=None,
            cancel_requested=False,
            worker_id="",
            progress={"stage": "queued", "at": timezone.now().isoformat()},
        )
        dispatch(target.pk)
    if targets != [operation]:
        refresh_parent(operation.pk)


def delete(operation: Operation) -> None:
    if operation.status not in TERMINAL_STATUSES:
        raise Conflict(f"operation {operation.pk} is {operation.status}; cancel it before deleting the record")
    Operation.objects.filter(pk=operation.pk).delete()


# --- the reaper ------------------------------------------------------------------------------------------------


def reap() -> dict[str, int]:
    """Recover work from dead workers and lost messages. Safe to run anywhere, any number of times."""
    now = timezone.now()
    expired = list(
        Operation.objects.filter(status=OperationStatus.PROCESSING, lease_expires_at__lt=now).values_list(
            "pk", "attempts", "max_attempts"
        )
    )
    reclaimed = 0
    for operation_id, attempts, max_attempts in expired:
        still_expired = {"pk": operation_id, "status": OperationStatus.PROCESSING, "lease_expires_at__lt": now}
        if attempts >= max_attempts:
            updated = _update(
                still_expired,
                status=OperationStatus.FAILED,
                worker_id="",
                lease_expires_at=None,
                completed_at=now,
                error_message=f"its worker stopped responding {attempts} times",
            )
        else:
            updated = _update(
                still_expired, status=OperationStatus.PENDING, worker_id="", lease_expires_at=None, next_attempt_at=None
            )
        if updated:
            reclaimed += 1
            logger.warning("Reclaimed operation %s from a worker whose lease expired", operation_id)
            dispatch(operation_id)
    stale_before = now - timedelta(seconds=settings.HINDSIGHT_OPERATION_REDISPATCH_SECONDS)
    stale = list(
        Operation.objects.filter(status=OperationStatus.PENDING, updated_at__lt=stale_before)
        .exclude(next_attempt_at__gt=now)
        .exclude(operation_type__in=PARENT_TYPES)
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )
    if stale:
        Operation.objects.filter(pk__in=stale).update(updated_at=now)
        for operation_id in stale:
            dispatch(operation_id)
    return {"reclaimed": reclaimed, "redispatched": len(stale)}
