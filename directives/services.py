"""Writes of directives and mental models, and the mental-model refresh operation.

A mental model's content is written only by a refresh: an operation (``refresh_mental_model``) that runs reflect over
the model's ``source_query`` in its scope, then, in one fenced transaction, keeps the old content in the history,
stores the new one with its freshness watermark (the newest in-scope memory seen before reflect started, so a
memory written during the refresh still makes the model stale) and completes the operation.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from banks.models import Bank
from directives import selectors
from directives.models import Directive, MentalModel, MentalModelHistory
from hindsight_site.errors import BadRequest, Conflict, Unavailable
from memories import operations
from memories.models import Operation

HISTORY_LIMIT = 50
MENTAL_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")
REFRESH_OPERATION = "refresh_mental_model"


# --- directives -----------------------------------------------------------------------------------------------------


def create_directive(
    *, bank: Bank, name: str, content: str, priority: int = 0, is_active: bool = True, tags: list[str] | None = None
) -> Directive:
    return Directive.objects.create(
        bank=bank, name=name, content=content, priority=priority, is_active=is_active, tags=list(tags or [])
    )


def update_directive(*, directive: Directive, changes: dict[str, Any]) -> Directive:
    """Apply the given fields (name, content, priority, is_active, tags); absent or null fields stay as they are."""
    for key in ("name", "content", "priority", "is_active", "tags"):
        if changes.get(key) is not None:
            setattr(directive, key, list(changes[key]) if key == "tags" else changes[key])
    directive.save()
    return directive


def delete_directive(*, directive: Directive) -> None:
    directive.delete()


# --- mental models --------------------------------------------------------------------------------------------------


def _serialization_key(bank: Bank, mental_model_id: str) -> str:
    return f"mental_model:{bank.pk}:{mental_model_id}"


def submit_refresh(*, model: MentalModel) -> Operation:
    """Queue a refresh (in the caller's transaction); refreshes of one model run in order."""
    operation, _ = operations.submit(
        bank=model.bank,
        operation_type=REFRESH_OPERATION,
        payload={"mental_model_id": model.mental_model_id, "requested_at": timezone.now().isoformat()},
        serialization_key=_serialization_key(model.bank, model.mental_model_id),
    )
    return operation


@transaction.atomic
def create_mental_model(
    *,
    bank: Bank,
    name: str,
    source_query: str,
    mental_model_id: str | None = None,
    tags: list[str] | None = None,
    max_tokens: int = 2048,
    trigger: dict | None = None,
) -> tuple[MentalModel, Operation]:
    """Create the model (empty content) and queue the refresh that writes its content."""
    if mental_model_id is None:
        mental_model_id = uuid.uuid4().hex
    elif not MENTAL_MODEL_ID.match(mental_model_id):
        raise BadRequest("id must be lowercase letters, digits, '-' or '_' (at most 128 characters)")
    if MentalModel.objects.filter(bank=bank, mental_model_id=mental_model_id).exists():
        raise Conflict(f"Mental model '{mental_model_id}' already exists")
    try:
        with transaction.atomic():
            model = MentalModel.objects.create(
                bank=bank,
                mental_model_id=mental_model_id,
                name=name,
                source_query=source_query,
                tags=list(tags or []),
                max_tokens=max_tokens,
                trigger=dict(trigger or {}),
            )
    except IntegrityError:
        raise Conflict(f"Mental model '{mental_model_id}' already exists") from None
    return model, submit_refresh(model=model)


def _keep_history(model: MentalModel) -> None:
    """Record the current content before it is replaced, keeping the newest ``HISTORY_LIMIT`` entries."""
    if not model.content:
        return
    MentalModelHistory.objects.create(mental_model=model, content=model.content, source_query=model.source_query)
    stale = MentalModelHistory.objects.filter(mental_model=model).order_by("-changed_at", "-id")[HISTORY_LIMIT:]
    MentalModelHistory.objects.filter(pk__in=list(stale.values_list("pk", flat=True))).delete()


@transaction.atomic
def update_mental_model(*, model: MentalModel, changes: dict[str, Any]) -> MentalModel:
    """Apply name, source_query, max_tokens, tags, trigger (null: unchanged). A changed source query or scope makes
    the content stale, so a refresh is queued."""
    rescope = False
    for key in ("name", "source_query", "max_tokens", "tags", "trigger"):
        value = changes.get(key)
        if value is None:
            continue
        if key == "tags":
            value = list(value)
        if key in ("source_query", "tags", "trigger") and value != getattr(model, key):
            rescope = True
        setattr(model, key, value)
    model.save()
    if rescope:
        submit_refresh(model=model)
    return model


def delete_mental_model(*, model: MentalModel) -> None:
    model.delete()


@transaction.atomic
def clear_mental_model(*, model: MentalModel) -> MentalModel:
    """Blank the content (kept in the history) so the next refresh starts from nothing."""
    _keep_history(model)
    model.content = ""
    model.structured_content = None
    model.reflect_response = None
    model.last_memory_seen_at = None
    model.save()
    return model


def reflect_request_for(model: MentalModel, *, include_tool_output: bool = False):
    """The reflect a refresh runs: the model's source query in the model's scope, never reading itself."""
    from directives.reflect import ReflectRequest

    trigger = model.trigger or {}
    scope = selectors.refresh_scope(model)
    budget = trigger.get("budget") if trigger.get("budget") in ("low", "mid", "high") else "mid"
    return ReflectRequest(
        query=model.source_query,
        budget=budget,
        max_tokens=model.max_tokens,
        include_facts=True,
        include_tool_calls=True,
        include_tool_output=include_tool_output,
        response_schema=trigger.get("response_schema") or None,
        tags=scope["tags"],
        tags_match=scope["tags_match"],
        tag_groups=scope["tag_groups"],
        fact_types=scope["fact_types"],
        exclude_mental_models=scope["exclude_mental_models"],
        exclude_mental_model_ids=scope["exclude_mental_model_ids"],
        observations_max_tokens=trigger.get("reflect_search_observations_max_tokens"),
    )


def _embedding(model: MentalModel, content: str) -> tuple[list[float] | None, str]:
    from memories.embeddings import get_embedding_provider

    provider = get_embedding_provider(model.bank.embedding_model)
    text = f"{model.name}\n{model.source_query}\n{content[:2000]}"
    return provider.embed_documents([text])[0], provider.model_id


@operations.handler(REFRESH_OPERATION)
def run_refresh_operation(operation: Operation, worker_id: str) -> None:
    """Regenerate a mental model's content with reflect; the new content and the completion commit together."""
    from directives.reflect import reflect

    mental_model_id = operation.payload.get("mental_model_id")
    model = (
        MentalModel.objects.select_related("bank")
        .filter(bank_id=operation.bank_id, mental_model_id=mental_model_id)
        .first()
    )
    if model is None:  # deleted meanwhile: nothing to refresh
        with transaction.atomic():
            operations.fence(operation, worker_id)
            operations.mark_completed(operation, {"mental_model_id": mental_model_id, "outcome": "model_deleted"})
        return
    watermark = selectors.newest_memory_in_scope(model)
    operations.report_progress(operation, "reflecting")
    try:
        response = reflect(bank=model.bank, request=reflect_request_for(model))
    except Unavailable as exc:  # the provider is overloaded or unreachable: worth another attempt later
        MentalModel.objects.filter(pk=model.pk).update(last_refresh_failed_at=timezone.now())
        raise operations.TransientOperationError(exc.detail) from None
    except Exception:
        MentalModel.objects.filter(pk=model.pk).update(last_refresh_failed_at=timezone.now())
        raise
    content = response["text"].strip()
    if not (model.trigger or {}).get("keep_trace"):
        response = {**response, "trace": None}  # the trace is kept only when the trigger asks (keep_trace)
    vector, model_id = _embedding(model, content)
    with transaction.atomic():
        operations.fence(operation, worker_id)
        model = MentalModel.objects.select_for_update().get(pk=model.pk)
        outcome = "content_unchanged" if content == model.content else "content_written"
        if outcome == "content_written":
            _keep_history(model)
        now = timezone.now()
        model.content = content
        model.reflect_response = response
        model.structured_content = response.get("structured_output")
        model.embedding = vector
        model.embedding_model = model_id
        model.last_refreshed_at = now
        model.last_refreshed_source_query = model.source_query
        model.last_memory_seen_at = watermark
        model.last_refresh_failed_at = None
        model.save()
        operations.mark_completed(
            operation,
            {"mental_model_id": model.mental_model_id, "outcome": outcome, "usage": response.get("usage")},
        )


def refresh_mental_models_after_consolidation(*, bank: Bank) -> list[Operation]:
    """Queue a refresh of every model of ``bank`` whose trigger asks for one after consolidation (the
    consolidation task calls this when a run changed observations). Models whose last refresh failed are skipped:
    an automatic retry on every consolidation would fail the same way; an explicit refresh clears the flag."""
    queued = []
    with transaction.atomic():
        for model in MentalModel.objects.filter(bank=bank, last_refresh_failed_at__isnull=True).select_related("bank"):
            if (model.trigger or {}).get("refresh_after_consolidation"):
                queued.append(submit_refresh(model=model))
    return queued
