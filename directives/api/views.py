"""Reflect, directive and mental-model routes of the contract: thin adapters over services and selectors."""

from __future__ import annotations

import difflib

from django.db import transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from banks import selectors as bank_selectors
from banks import services as bank_services
from banks.api.serializers import DeleteResponseSerializer
from banks.models import Bank
from directives import selectors, services
from directives.api.serializers import (
    AsyncOperationSubmitResponseSerializer,
    CreateDirectiveRequestSerializer,
    CreateMentalModelRequestSerializer,
    CreateMentalModelResponseSerializer,
    DirectiveListQuerySerializer,
    DirectiveListResponseSerializer,
    DirectiveResponseSerializer,
    MentalModelDetailQuerySerializer,
    MentalModelHistoryEntrySerializer,
    MentalModelListQuerySerializer,
    MentalModelListResponseSerializer,
    MentalModelResponseSerializer,
    PromptPreviewRequestSerializer,
    PromptPreviewResponseSerializer,
    ReflectRequestSerializer,
    ReflectResponseSerializer,
    RefreshMentalModelRequestSerializer,
    UpdateDirectiveRequestSerializer,
    UpdateMentalModelRequestSerializer,
    to_reflect_request,
)
from hindsight_site.api.parsing import parse_body, parse_query
from hindsight_site.errors import DomainError

TAGS_PARAMETER = OpenApiParameter("tags", str, many=True, required=False, description="Filter by tags (repeated).")


def _query_tags(request) -> list[str] | None:
    tags = [t for t in request.query_params.getlist("tags") if t.strip()]
    return tags or None


class ReflectView(APIView):
    read_only_safe = True  # a read that uses POST

    @extend_schema(operation_id="reflect", request=ReflectRequestSerializer, responses=ReflectResponseSerializer)
    def post(self, request, bank_id: str):
        from directives.reflect import reflect

        reflect_request = to_reflect_request(parse_body(request, ReflectRequestSerializer))
        bank = Bank.objects.filter(bank_id=bank_id).first()  # reads never create banks
        return Response(reflect(bank=bank, request=reflect_request))


# --- directives -----------------------------------------------------------------------------------------------------


class DirectiveListView(APIView):
    @extend_schema(
        operation_id="list_directives",
        parameters=[DirectiveListQuerySerializer, TAGS_PARAMETER],
        responses=DirectiveListResponseSerializer,
    )
    def get(self, request, bank_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        query = parse_query(request, DirectiveListQuerySerializer)
        items, total = selectors.list_directives(
            bank=bank,
            tags=_query_tags(request),
            tags_match=query["tags_match"],
            active_only=query["active_only"],
            limit=query["limit"],
            offset=query["offset"],
        )
        return Response(
            {
                "items": [selectors.directive_payload(d) for d in items],
                "total": total,
                "limit": query["limit"],
                "offset": query["offset"],
            }
        )

    @extend_schema(
        operation_id="create_directive",
        request=CreateDirectiveRequestSerializer,
        responses=DirectiveResponseSerializer,
    )
    def post(self, request, bank_id: str):
        data = parse_body(request, CreateDirectiveRequestSerializer)
        with transaction.atomic():
            bank = bank_services.get_or_create_bank(bank_id=bank_id)
            directive = services.create_directive(
                bank=bank,
                name=data["name"],
                content=data["content"],
                priority=data["priority"],
                is_active=data["is_active"],
                tags=list(dict.fromkeys(data.get("tags") or [])),
            )
        return Response(selectors.directive_payload(directive))


class DirectiveDetailView(APIView):
    @extend_schema(operation_id="get_directive", responses=DirectiveResponseSerializer)
    def get(self, request, bank_id: str, directive_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        return Response(selectors.directive_payload(selectors.get_directive(bank=bank, directive_id=directive_id)))

    @extend_schema(
        operation_id="update_directive",
        request=UpdateDirectiveRequestSerializer,
        responses=DirectiveResponseSerializer,
    )
    def patch(self, request, bank_id: str, directive_id: str):
        data = parse_body(request, UpdateDirectiveRequestSerializer)
        bank = bank_selectors.get_bank(bank_id=bank_id)
        directive = selectors.get_directive(bank=bank, directive_id=directive_id)
        if data.get("tags") is not None:
            data["tags"] = list(dict.fromkeys(data["tags"]))
        directive = services.update_directive(directive=directive, changes=data)
        return Response(selectors.directive_payload(directive))

    @extend_schema(operation_id="delete_directive", responses={200: DeleteResponseSerializer})
    def delete(self, request, bank_id: str, directive_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        directive = selectors.get_directive(bank=bank, directive_id=directive_id)
        services.delete_directive(directive=directive)
        return Response({"success": True, "message": f"Directive '{directive_id}' deleted", "deleted_count": 1})


# --- mental models --------------------------------------------------------------------------------------------------


class MentalModelListView(APIView):
    @extend_schema(
        operation_id="list_mental_models",
        parameters=[MentalModelListQuerySerializer, TAGS_PARAMETER],
        responses=MentalModelListResponseSerializer,
    )
    def get(self, request, bank_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        query = parse_query(request, MentalModelListQuerySerializer)
        items, total = selectors.list_mental_models(
            bank=bank,
            tags=_query_tags(request),
            tags_match=query["tags_match"],
            limit=query["limit"],
            offset=query["offset"],
        )
        stale = selectors.staleness(items)
        return Response(
            {
                "items": [selectors.mental_model_payload(m, detail=query["detail"], stale=stale[m.pk]) for m in items],
                "total": total,
                "limit": query["limit"],
                "offset": query["offset"],
            }
        )

    @extend_schema(
        operation_id="create_mental_model",
        request=CreateMentalModelRequestSerializer,
        responses=CreateMentalModelResponseSerializer,
    )
    def post(self, request, bank_id: str):
        data = parse_body(request, CreateMentalModelRequestSerializer)
        with transaction.atomic():
            bank = bank_services.get_or_create_bank(bank_id=bank_id)
            model, operation = services.create_mental_model(
                bank=bank,
                name=data["name"],
                source_query=data["source_query"],
                mental_model_id=data.get("id"),
                tags=list(dict.fromkeys(data.get("tags") or [])),
                max_tokens=data.get("max_tokens") or 2048,
                trigger=data.get("trigger") or {},
            )
        return Response({"mental_model_id": model.mental_model_id, "operation_id": str(operation.pk)})


class MentalModelDetailView(APIView):
    @extend_schema(
        operation_id="get_mental_model",
        parameters=[MentalModelDetailQuerySerializer],
        responses=MentalModelResponseSerializer,
    )
    def get(self, request, bank_id: str, mental_model_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        query = parse_query(request, MentalModelDetailQuerySerializer)
        model = selectors.get_mental_model(bank=bank, mental_model_id=mental_model_id)
        return Response(selectors.mental_model_payload(model, detail=query["detail"]))

    @extend_schema(
        operation_id="update_mental_model",
        request=UpdateMentalModelRequestSerializer,
        responses=MentalModelResponseSerializer,
    )
    def patch(self, request, bank_id: str, mental_model_id: str):
        data = parse_body(request, UpdateMentalModelRequestSerializer)
        bank = bank_selectors.get_bank(bank_id=bank_id)
        model = selectors.get_mental_model(bank=bank, mental_model_id=mental_model_id)
        if data.get("tags") is not None:
            data["tags"] = list(dict.fromkeys(data["tags"]))
        model = services.update_mental_model(model=model, changes=data)
        return Response(selectors.mental_model_payload(model))

    @extend_schema(operation_id="delete_mental_model", responses={200: DeleteResponseSerializer})
    def delete(self, request, bank_id: str, mental_model_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        model = selectors.get_mental_model(bank=bank, mental_model_id=mental_model_id)
        services.delete_mental_model(model=model)
        return Response({"success": True, "message": f"Mental model '{mental_model_id}' deleted", "deleted_count": 1})


class MentalModelHistoryView(APIView):
    @extend_schema(
        operation_id="get_mental_model_history", responses={200: MentalModelHistoryEntrySerializer(many=True)}
    )
    def get(self, request, bank_id: str, mental_model_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        model = selectors.get_mental_model(bank=bank, mental_model_id=mental_model_id)
        return Response(selectors.history_payload(model))


class MentalModelRefreshView(APIView):
    @extend_schema(
        operation_id="refresh_mental_model",
        request=RefreshMentalModelRequestSerializer,
        responses=AsyncOperationSubmitResponseSerializer,
    )
    def post(self, request, bank_id: str, mental_model_id: str):
        if request.data:  # the SDK sends {"mode": "full"} or no body at all
            parse_body(request, RefreshMentalModelRequestSerializer)
        bank = bank_selectors.get_bank(bank_id=bank_id)
        model = selectors.get_mental_model(bank=bank, mental_model_id=mental_model_id)
        with transaction.atomic():
            operation = services.submit_refresh(model=model)
        return Response({"operation_id": str(operation.pk), "status": operation.status})


class MentalModelClearView(APIView):
    @extend_schema(operation_id="clear_mental_model", request=None, responses=MentalModelResponseSerializer)
    def post(self, request, bank_id: str, mental_model_id: str):
        bank = bank_selectors.get_bank(bank_id=bank_id)
        model = selectors.get_mental_model(bank=bank, mental_model_id=mental_model_id)
        return Response(selectors.mental_model_payload(services.clear_mental_model(model=model)))


class MentalModelDryRunRefreshView(APIView):
    read_only_safe = True  # runs reflect and stores nothing

    @extend_schema(operation_id="dry_run_refresh_mental_model", request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, bank_id: str, mental_model_id: str):
        from directives.reflect import reflect

        bank = bank_selectors.get_bank(bank_id=bank_id)
        model = selectors.get_mental_model(bank=bank, mental_model_id=mental_model_id)
        started = timezone.now()
        watermark = selectors.newest_memory_in_scope(model)
        reflect_request = services.reflect_request_for(model, include_tool_output=True)
        response = reflect(bank=bank, request=reflect_request)
        candidate = response["text"].strip()
        current = model.content or ""
        diff = "".join(
            difflib.unified_diff(
                current.splitlines(keepends=True), candidate.splitlines(keepends=True), "current", "preview"
            )
        )
        outcome = "content_unchanged" if candidate == current else "content_written"
        scope = selectors.refresh_scope(model)
        retrieved: dict[str, int] = {}
        for fact in (response.get("based_on") or {}).get("memories", []):
            retrieved[fact.get("type") or "world"] = retrieved.get(fact.get("type") or "world", 0) + 1
        trace = {
            "recorded_at": started.isoformat(),
            "effective_mode": "full",
            "mode_fallback_reason": None,
            "outcome": outcome,
            "tool_calls": [
                {
                    "tool": call["tool"],
                    "reason": (call.get("input") or {}).get("reason"),
                    "input": call.get("input") or {},
                    "output": call.get("output"),
                    "updated_at": None,
                    "result_count": None,
                    "duration_ms": call["duration_ms"],
                    "iteration": call["iteration"],
                }
                for call in (response.get("trace") or {}).get("tool_calls", [])
            ],
            "llm_calls": (response.get("trace") or {}).get("llm_calls", []),
            "delta_operations": None,
            "retraction": None,
            "usage": response.get("usage"),
            "duration_ms": int((timezone.now() - started).total_seconds() * 1000),
            "warnings": [],
        }
        return Response(
            {
                "mental_model_id": model.mental_model_id,
                "name": model.name,
                "requested_mode": "full",
                "effective_mode": "full",
                "mode_fallback_reason": None,
                "outcome": outcome,
                "would_persist": outcome == "content_written",
                "scope": scope,
                "window": {
                    "created_after": None,
                    "created_before": started.isoformat(),
                    "watermark": watermark.isoformat() if watermark else None,
                },
                "facts": {"retrieved": retrieved, "used": retrieved},
                "based_on": {"memories": (response.get("based_on") or {}).get("memories", [])},
                "current_content": current,
                "candidate_content": candidate,
                "preview_content": candidate,
                "diff": diff,
                "delta_operations": None,
                "retraction": None,
                "trace": trace,
                "usage": response.get("usage"),
                "duration_ms": trace["duration_ms"],
                "warnings": [],
            }
        )


class NotImplementedYet(DomainError):
    status_code = 501


class PromptPreviewView(APIView):
    read_only_safe = True  # renders prompts, stores nothing

    @extend_schema(
        operation_id="preview_prompt",
        request=PromptPreviewRequestSerializer,
        responses=PromptPreviewResponseSerializer,
    )
    def post(self, request, bank_id: str):
        from directives.reflect import preview

        data = parse_body(request, PromptPreviewRequestSerializer) if request.data else {"operation": "retain"}
        bank = bank_selectors.get_bank(bank_id=bank_id)
        if data["operation"] != "reflect":
            raise NotImplementedYet(f"Prompt preview is implemented for reflect only, not {data['operation']}")
        return Response(preview(bank=bank))
