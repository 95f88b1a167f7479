"""Reads of a bank's memories and operations, shaped as the contract's responses."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Count, QuerySet

from banks.models import Bank
from hindsight_site.api import iso
from hindsight_site.errors import NotFound
from memories.models import Operation


def get_operation(*, bank: Bank, operation_id: str) -> Operation:
    """An operation of this bank; another bank's operation id is reported as not found."""
    try:
        operation_uuid = uuid.UUID(str(operation_id))
    except ValueError:  # a malformed id cannot name an operation
        raise NotFound(f"Operation '{operation_id}' not found in bank '{bank.bank_id}'") from None
    try:
        return Operation.objects.get(bank=bank, pk=operation_uuid)
    except Operation.DoesNotExist:
        raise NotFound(f"Operation '{operation_id}' not found in bank '{bank.bank_id}'") from None


def _items_count(operation: Operation) -> int:
    payload = operation.payload or {}
    if "items" in payload:
        return len(payload["items"])
    return int(payload.get("items_count", 0))


def _document_id(operation: Operation) -> str | None:
    documents = {item.get("document_id") for item in (operation.payload or {}).get("items", [])}
    return documents.pop() if len(documents) == 1 else None


def _progress(operation: Operation) -> dict[str, Any] | None:
    progress = operation.progress or {}
    if not progress.get("stage"):
        return None
    return {
        "stage": progress["stage"],
        "at": progress.get("at") or iso(operation.updated_at),
        "processed": progress.get("processed"),
        "total": progress.get("total"),
        "detail": progress.get("detail"),
    }


def operation_list_item(operation: Operation) -> dict[str, Any]:
    return {
        "id": str(operation.pk),
        "operation_id": str(operation.pk),
        "task_type": operation.operation_type,
        "operation_type": operation.operation_type,
        "items_count": _items_count(operation),
        "document_id": _document_id(operation),
        "filename": None,
        "mental_model_id": _payload_mental_model_id(operation),
        "details": _refresh_details(operation),
        "created_at": iso(operation.created_at),
        "updated_at": iso(operation.updated_at),
        "status": operation.status,
        "error_message": operation.error_message or None,
        "retry_count": max(operation.attempts - 1, 0),
        "next_retry_at": iso(operation.next_attempt_at),
        "progress": _progress(operation),
    }


def list_operations(
    *, bank: Bank, status: str | None, operation_type: str | None, limit: int, offset: int, exclude_parents: bool
) -> tuple[list[dict[str, Any]], int]:
    operations: QuerySet[Operation] = Operation.objects.filter(bank=bank)
    if status:
        operations = operations.filter(status=status)
    if operation_type:
        operations = operations.filter(operation_type=operation_type)
    if exclude_parents:
        operations = operations.annotate(child_count=Count("children")).filter(child_count=0)
    total = operations.count()
    page = operations.order_by("-created_at", "-id")[offset : offset + limit]
    return [operation_list_item(operation) for operation in page], total


def _payload_mental_model_id(operation: Operation) -> str | None:
    if operation.operation_type != "refresh_mental_model" or not isinstance(operation.payload, dict):
        return None
    return operation.payload.get("mental_model_id")


def _refresh_details(operation: Operation) -> dict[str, Any] | None:
    """RefreshMentalModelOperationDetails, once a mental-model refresh has an outcome."""
    if operation.operation_type != "refresh_mental_model":
        return None
    outcome = (operation.result or {}).get("outcome")
    if operation.status == "failed":
        return {
            "operation_type": "refresh_mental_model",
            "outcome": "refresh_failed_error",
            "failure_reason": "unexpected_error",
        }
    if outcome in ("content_written", "content_unchanged"):
        return {"operation_type": "refresh_mental_model", "outcome": outcome, "failure_reason": None}
    return None


def operation_status(operation: Operation, *, include_payload: bool = False) -> dict[str, Any]:
    children = list(operation.children.order_by("created_at", "id"))
    return {
        "operation_id": str(operation.pk),
        "id": str(operation.pk),
        "status": operation.status,
        "operation_type": operation.operation_type,
        "task_type": operation.operation_type,
        "mental_model_id": _payload_mental_model_id(operation),
        "created_at": iso(operation.created_at),
        "updated_at": iso(operation.updated_at),
        "completed_at": iso(operation.completed_at),
        "error_message": operation.error_message or None,
        "retry_count": max(operation.attempts - 1, 0),
        "next_retry_at": iso(operation.next_attempt_at),
        "progress": _progress(operation),
        "result_metadata": operation.result or {},
        "details": _refresh_details(operation),
        "child_operations": [
            {
                "operation_id": str(child.pk),
                "status": child.status,
                "sub_batch_index": index,
                "items_count": _items_count(child),
                "error_message": child.error_message or None,
            }
            for index, child in enumerate(children)
        ],
        "task_payload": operation.payload if include_payload else None,
    }
