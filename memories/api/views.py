"""Retain and operations routes of the contract."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from banks import selectors as bank_selectors
from banks import services as bank_services
from banks.models import Bank
from hindsight_site.api.parsing import parse_query
from memories import operations, selectors, services
from memories.api.serializers import (
    OperationDetailQuerySerializer,
    OperationListQuerySerializer,
    parse_recall_request,
    parse_retain_request,
)
from memories.api.wire_serializers import (
    CancelOperationResponseSerializer,
    DeleteOperationResponseSerializer,
    OperationsListResponseSerializer,
    OperationStatusResponseSerializer,
    RecallRequestSerializer,
    RecallResponseSerializer,
    RetainRequestSerializer,
    RetainResponseSerializer,
    RetryOperationResponseSerializer,
)


class RetainView(APIView):
    @extend_schema(operation_id="retain_memories", request=RetainRequestSerializer, responses=RetainResponseSerializer)
    def post(self, request, bank_id: str):
        items, run_async, operation_id = parse_retain_request(request.data, now=timezone.now())
        bank = bank_services.get_or_create_bank(bank_id=bank_id)
        if run_async:
            with transaction.atomic():
                operation = services.submit_retain(bank=bank, items=items, operation_id=operation_id)
            return Response(
                {
                    "success": True,
                    "bank_id": bank.bank_id,
                    "items_count": len(items),
                    "async": True,
                    "operation_id": str(operation.pk),
                    "operation_ids": None,
                    "usage": None,
                }
            )
        outcome = services.retain_items(bank=bank, items=items)
        return Response(
            {
                "success": True,
                "bank_id": bank.bank_id,
                "items_count": outcome.items_count,
                "async": False,
                "operation_id": None,
                "operation_ids": None,
                "usage": outcome.usage.as_dict(),
            }
        )


class RecallView(APIView):
    read_only_safe = True  # a read that uses POST

    @extend_schema(operation_id="recall_memories", request=RecallRequestSerializer, responses=RecallResponseSerializer)
    def post(self, request, bank_id: str):
        from memories.recall import recall_json

        query = parse_recall_request(request.data, now=timezone.now())
        bank = Bank.objects.filter(bank_id=bank_id).first()
        if bank is None:  # nothing retained yet: nothing to recall (reads never create banks)
            return Response({"results": [], "entities": None, "chunks": None, "source_facts": None})
        # The results' JSON is written beforehand and passed through (recall's hot path), not re-rendered.
        body, timing = recall_json(bank=bank, query=query)
        return HttpResponse(body, content_type="application/json", headers={"Server-Timing": timing})


class OperationListView(APIView):
    @extend_schema(
        operation_id="list_operations",
        parameters=[OperationListQuerySerializer],
        responses=OperationsListResponseSerializer,
    )
    def get(self, request, bank_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        query = parse_query(request, OperationListQuerySerializer)
        items, total = selectors.list_operations(
            bank=bank,
            status=query.get("status") or None,
            operation_type=query.get("type") or None,
            limit=query["limit"],
            offset=query["offset"],
            exclude_parents=query["exclude_parents"],
        )
        return Response(
            {
                "bank_id": bank.bank_id,
                "total": total,
                "limit": query["limit"],
                "offset": query["offset"],
                "operations": items,
            }
        )


class OperationDetailView(APIView):
    @extend_schema(
        operation_id="get_operation_status",
        parameters=[OperationDetailQuerySerializer],
        responses=OperationStatusResponseSerializer,
    )
    def get(self, request, bank_id: str, operation_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        query = parse_query(request, OperationDetailQuerySerializer)
        operation = selectors.get_operation(bank=bank, operation_id=operation_id)
        return Response(selectors.operation_status(operation, include_payload=query["include_payload"]))

    @extend_schema(operation_id="cancel_operation", responses={200: CancelOperationResponseSerializer})
    def delete(self, request, bank_id: str, operation_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        operation = selectors.get_operation(bank=bank, operation_id=operation_id)
        outcome = operations.cancel(operation)
        message = (
            "Operation cancelled" if outcome == "cancelled" else "Cancellation requested; it stops at its next stage"
        )
        return Response({"success": True, "message": message, "operation_id": str(operation.pk)})


class OperationRetryView(APIView):
    @extend_schema(operation_id="retry_operation", request=None, responses=RetryOperationResponseSerializer)
    def post(self, request, bank_id: str, operation_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        operation = selectors.get_operation(bank=bank, operation_id=operation_id)
        operations.retry(operation)
        return Response({"success": True, "message": "Operation queued again", "operation_id": str(operation.pk)})


class OperationDeleteView(APIView):
    @extend_schema(operation_id="delete_operation", responses={200: DeleteOperationResponseSerializer})
    def delete(self, request, bank_id: str, operation_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        operation = selectors.get_operation(bank=bank, operation_id=operation_id)
        operations.delete(operation)
        return Response({"success": True, "message": "Operation record deleted", "operation_id": str(operation.pk)})
