"""Reads of directives and mental models: scoped lists, single rows by client id, staleness, API payloads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Max, Q, QuerySet

from banks.models import Bank
from directives.models import Directive, MentalModel, MentalModelHistory
from hindsight_site.api import iso
from hindsight_site.errors import BadRequest, NotFound
from memories.models import MemoryUnit
from memories.tags import TagFilterError, tag_filter

MENTAL_MODEL_DETAILS = ("metadata", "content", "full")


# --- directives ---------------------------------------------------------------------------------------------------


def list_directives(
    *, bank: Bank, tags: list[str] | None, tags_match: str, active_only: bool, limit: int, offset: int
) -> tuple[list[Directive], int]:
    """Directives of the bank in priority order. With ``tags``, tagged directives must match them (untagged ones
    are global and always listed); without, every directive is listed."""
    queryset = Directive.objects.filter(bank=bank)
    if active_only:
        queryset = queryset.filter(is_active=True)
    if tags:
        try:
            queryset = queryset.filter(tag_filter(tags, tags_match) | Q(tags=[]))
        except TagFilterError as exc:
            raise BadRequest(str(exc)) from None
    queryset = queryset.order_by("-priority", "created_at", "id")
    return list(queryset[offset : offset + limit]), queryset.count()


def applicable_directives(
    *, bank: Bank, tags: list[str] | None, tags_match: str, apply_all: bool = False
) -> list[Directive]:
    """The active directives a reflect in this scope must follow, highest priority first.

    Untagged directives always apply; a tagged one applies only when the request's tags match it (same modes as
    memories). With no request tags only the untagged ones apply, unless ``apply_all``.
    """
    queryset = Directive.objects.filter(bank=bank, is_active=True)
    if not apply_all:
        scope = Q(tags=[])
        if tags:
            try:
                scope |= tag_filter(tags, tags_match)
            except TagFilterError as exc:
                raise BadRequest(str(exc)) from None
        queryset = queryset.filter(scope)
    return list(queryset.order_by("-priority", "created_at", "id"))


def get_directive(*, bank: Bank, directive_id: str) -> Directive:
    try:
        key = uuid.UUID(str(directive_id))
    except ValueError:
        raise NotFound(f"Directive '{directive_id}' not found") from None
    directive = Directive.objects.filter(bank=bank, pk=key).first()
    if directive is None:
        raise NotFound(f"Directive '{directive_id}' not found")
    return directive


def directive_payload(directive: Directive) -> dict[str, Any]:
    return {
        "id": str(directive.pk),
        "bank_id": directive.bank.bank_id,
        "name": directive.name,
        "content": directive.content,
        "priority": directive.priority,
        "is_active": directive.is_active,
        "tags": list(directive.tags),
        "created_at": iso(directive.created_at),
        "updated_at": iso(directive.updated_at),
    }


# --- mental models ------------------------------------------------------------------------------------------------


def get_mental_model(*, bank: Bank, mental_model_id: str) -> MentalModel:
    model = MentalModel.objects.filter(bank=bank, mental_model_id=mental_model_id).first()
    if model is None:
        raise NotFound(f"Mental model '{mental_model_id}' not found")
    return model


def list_mental_models(
    *, bank: Bank, tags: list[str] | None, tags_match: str, limit: int, offset: int
) -> tuple[list[MentalModel], int]:
    queryset: QuerySet[MentalModel] = MentalModel.objects.filter(bank=bank).select_related("bank")
    if tags:
        try:
            queryset = queryset.filter(tag_filter(tags, tags_match))
        except TagFilterError as exc:
            raise BadRequest(str(exc)) from None
    queryset = queryset.order_by("created_at", "id")
    return list(queryset[offset : offset + limit]), queryset.count()


def refresh_scope(model: MentalModel) -> dict[str, Any]:
    """How a refresh of this model filters memories: its tags (``all_strict`` by default, so a tagged model never
    reads another scope's memories), the trigger's overrides and fact types."""
    trigger = model.trigger or {}
    tags = list(model.tags) or None
    tags_match = trigger.get("tags_match") or ("all_strict" if tags else "any")
    return {
        "tags": tags,
        "tags_match": tags_match,
        "tag_groups": trigger.get("tag_groups") or None,
        "fact_types": trigger.get("fact_types") or None,
        "exclude_mental_models": bool(trigger.get("exclude_mental_models")),
        "exclude_mental_model_ids": sorted({model.mental_model_id, *(trigger.get("exclude_mental_model_ids") or [])}),
    }


def _scope_units(model: MentalModel) -> QuerySet[MemoryUnit]:
    scope = refresh_scope(model)
    queryset = MemoryUnit.objects.filter(bank_id=model.bank_id, state="valid")
    if scope["fact_types"]:
        queryset = queryset.filter(fact_type__in=scope["fact_types"])
    if scope["tags"]:
        queryset = queryset.filter(tag_filter(scope["tags"], scope["tags_match"]))
    return queryset


def newest_memory_in_scope(model: MentalModel) -> datetime | None:
    """The freshness watermark a refresh records: when the newest memory in the model's scope was written."""
    return _scope_units(model).aggregate(newest=Max("updated_at"))["newest"]


def is_stale(model: MentalModel) -> bool:
    """True when memories in the model's scope were written after the content was generated (or it never was and
    there are memories to write it from)."""
    return staleness([model])[model.pk]


def staleness(models: list[MentalModel]) -> dict[int, bool]:
    """``is_stale`` for many models with one query per distinct scope (most models of a bank share one), not one
    per model."""
    newest_by_scope: dict[str, datetime | None] = {}
    stale = {}
    for model in models:
        scope = refresh_scope(model)
        key = repr((scope["tags"], scope["tags_match"], scope["fact_types"]))
        if key not in newest_by_scope:
            newest_by_scope[key] = newest_memory_in_scope(model)
        newest = newest_by_scope[key]
        seen = model.last_memory_seen_at
        stale[model.pk] = newest is not None and (seen is None or newest > seen)
    return stale


def mental_model_payload(
    model: MentalModel, *, detail: str = "full", bank_id: str | None = None, stale: bool | None = None
) -> dict[str, Any]:
    """The contract's MentalModelResponse; ``detail`` opts into content (``content``) and the stored reflect
    response (``full``)."""
    trigger = {"refresh_after_consolidation": False, "mode": "full", **(model.trigger or {})}
    with_content = detail in ("content", "full")
    return {
        "id": model.mental_model_id,
        "bank_id": bank_id or model.bank.bank_id,
        "name": model.name,
        "source_query": model.source_query,
        "content": model.content if with_content else None,
        "tags": list(model.tags),
        "max_tokens": model.max_tokens,
        "trigger": trigger,
        "last_refreshed_at": iso(model.last_refreshed_at),
        "last_memory_seen_at": iso(model.last_memory_seen_at),
        "last_refresh_failed_at": iso(model.last_refresh_failed_at),
        # Every refresh here is a full one (no delta mode), so the two times are the same.
        "last_full_refreshed_at": iso(model.last_refreshed_at),
        "created_at": iso(model.created_at),
        "is_knowledge_page": False,
        "reflect_response": model.reflect_response if detail == "full" else None,
        "is_stale": is_stale(model) if stale is None else stale,
    }


def history_payload(model: MentalModel, *, limit: int = 50) -> list[dict[str, Any]]:
    rows = MentalModelHistory.objects.filter(mental_model=model).order_by("-changed_at", "-id")[:limit]
    return [
        {"previous_content": row.content, "source_query": row.source_query, "changed_at": iso(row.changed_at)}
        for row in rows
    ]


def latest_refresh(model: MentalModel):
    """The model's most recent refresh operation (``memories.models.Operation``), or None."""
    from memories.models import Operation

    return (
        Operation.objects.filter(
            bank_id=model.bank_id,
            operation_type="refresh_mental_model",
            payload__mental_model_id=model.mental_model_id,
        )
        .order_by("-created_at", "-id")
        .first()
    )
