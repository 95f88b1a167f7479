"""Reads of a bank's memories and operations, shaped as the contract's responses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Length

from banks.models import Bank
from hindsight_site.api import iso
from hindsight_site.errors import NotFound
from memories.models import (
    Chunk,
    Document,
    Entity,
    EntityCooccurrence,
    MemoryLink,
    MemoryUnit,
    Operation,
    UnitEntity,
)
from memories.tags import tag_filter, tag_groups_filter


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


# --- memories, documents, chunks, entities, tags and statistics (the data routes) ---------------------------------
#
# Every read takes the bank it reads from and filters by it first: an id from another bank is "not found", never a
# leak. List reads fetch one page with its related rows in a fixed number of queries, whatever the page size.

MEMORY_TIME_FIELDS = ("created_at", "updated_at", "mentioned_at", "occurred_start", "occurred_end")
DOCUMENT_TIME_FIELDS = ("created_at", "updated_at")
# Columns nobody lists: vectors are large and the search vector is derived.
_UNIT_HEAVY_COLUMNS = ("embedding", "search_vector", "text_signals")


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def get_memory_unit(*, bank: Bank, memory_id: str, for_update: bool = False) -> MemoryUnit:
    """A memory unit of this bank; a malformed id or another bank's id is reported as not found."""
    unit_id = _uuid_or_none(memory_id)
    units = MemoryUnit.objects.filter(bank=bank, pk=unit_id)
    if for_update:
        units = units.select_for_update()
    unit = units.first() if unit_id is not None else None
    if unit is None:
        raise NotFound(f"Memory '{memory_id}' not found in bank '{bank.bank_id}'")
    return unit


def _entity_names_prefetch() -> Prefetch:
    return Prefetch("entities", queryset=Entity.objects.only("id", "canonical_name").order_by("canonical_name"))


def memory_list_item(unit: MemoryUnit) -> dict[str, Any]:
    """A MemoryUnitListItem: ``entities`` is one comma-separated string, ``metadata`` values are strings."""
    names = [entity.canonical_name for entity in unit.entities.all()]
    return {
        "id": str(unit.pk),
        "text": unit.text,
        "context": unit.context or "",
        "date": iso(unit.occurred_start or unit.mentioned_at) or "",
        "fact_type": unit.fact_type,
        "document_id": unit.document.document_id if unit.document_id else None,
        "mentioned_at": iso(unit.mentioned_at),
        "occurred_start": iso(unit.occurred_start),
        "occurred_end": iso(unit.occurred_end),
        "entities": ", ".join(names),
        "chunk_id": str(unit.chunk_id) if unit.chunk_id else None,
        "proof_count": unit.proof_count,
        "tags": list(unit.tags or []),
        "metadata": {str(k): str(v) for k, v in (unit.metadata or {}).items()},
        "consolidated_at": iso(unit.consolidated_at),
        "consolidation_failed_at": iso(unit.consolidation_failed_at),
        "state": unit.state,
        "invalidation_reason": unit.invalidation_reason or None,
        "invalidated_at": iso(unit.invalidated_at),
        "edited_at": iso(unit.edited_at),
        "updated_at": iso(unit.updated_at),
        "source_memory_ids": [str(source) for source in unit.source_memory_ids or []],
    }


def memory_detail(unit: MemoryUnit, *, bank: Bank) -> dict[str, Any]:
    """GET/PATCH ``memories/{id}``: the list item plus ``type`` and the entity names as a list (the contract
    declares an open object; ``history`` is deprecated upstream and always empty)."""
    item = memory_list_item(unit)
    return {
        **item,
        "type": unit.fact_type,
        "entities": [entity.canonical_name for entity in unit.entities.all()],
        "bank_id": bank.bank_id,
        "observation_scopes": unit.observation_scopes,
        "created_at": iso(unit.created_at),
        "history": [],
    }


def load_memory_detail(*, bank: Bank, memory_id: str) -> dict[str, Any]:
    unit_id = _uuid_or_none(memory_id)
    unit = (
        MemoryUnit.objects.filter(bank=bank, pk=unit_id)
        .select_related("document")
        .defer(*_UNIT_HEAVY_COLUMNS, "document__original_text")
        .prefetch_related(_entity_names_prefetch())
        .first()
        if unit_id is not None
        else None
    )
    if unit is None:
        raise NotFound(f"Memory '{memory_id}' not found in bank '{bank.bank_id}'")
    return memory_detail(unit, bank=bank)


@dataclass
class MemoryListFilters:
    fact_type: str | None = None
    q: str | None = None
    consolidation_state: str | None = None
    state: str | None = "valid"
    document_id: str | None = None
    entity_id: uuid.UUID | None = None
    tags: list[str] | None = None
    tags_match: str = "any"
    time_field: str | None = None
    start: datetime | None = None
    end: datetime | None = None


def list_memory_units(
    *, bank: Bank, filters: MemoryListFilters, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of the bank's memory units (ListMemoryUnitsResponse items) and the total matching count.

    Most recent first by ``mentioned_at`` then ``created_at``, or by ``time_field`` (rows without it excluded).
    Three queries: count, page (with its documents), entity names of the page.
    """
    units: QuerySet[MemoryUnit] = MemoryUnit.objects.filter(bank=bank)
    if filters.fact_type:
        units = units.filter(fact_type=filters.fact_type)
    if filters.state:
        units = units.filter(state=filters.state)
    if filters.q:
        units = units.filter(Q(text__icontains=filters.q) | Q(context__icontains=filters.q))
    if filters.consolidation_state == "failed":
        units = units.filter(consolidation_failed_at__isnull=False)
    elif filters.consolidation_state == "pending":
        units = units.filter(
            consolidated_at__isnull=True, consolidation_failed_at__isnull=True, fact_type__in=["world", "experience"]
        )
    elif filters.consolidation_state == "done":
        units = units.filter(consolidated_at__isnull=False)
    if filters.document_id:
        units = units.filter(document__document_id=filters.document_id)
    if filters.entity_id:
        units = units.filter(
            pk__in=UnitEntity.objects.filter(entity_id=filters.entity_id, entity__bank=bank).values("unit_id")
        )
    units = units.filter(tag_filter(filters.tags, filters.tags_match))
    time_field = filters.time_field or ("created_at" if filters.start or filters.end else None)
    if time_field:
        units = units.filter(**{f"{time_field}__isnull": False})
        if filters.start:
            units = units.filter(**{f"{time_field}__gte": filters.start})
        if filters.end:
            units = units.filter(**{f"{time_field}__lt": filters.end})
        ordering = [F(time_field).desc(), F("id").desc()]
    else:
        ordering = [F("mentioned_at").desc(nulls_last=True), F("created_at").desc(), F("id").desc()]
    total = units.count()
    if limit == 0:
        return [], total
    page = (
        units.select_related("document")
        .defer(*_UNIT_HEAVY_COLUMNS, "document__original_text")
        .prefetch_related(_entity_names_prefetch())
        .order_by(*ordering)[offset : offset + limit]
    )
    return [memory_list_item(unit) for unit in page], total


# --- documents and chunks -----------------------------------------------------------------------------------------


def get_document(*, bank: Bank, document_id: str) -> Document:
    # PostgreSQL text cannot hold NUL, so no stored document has one in its id.
    document = None if "\x00" in document_id else Document.objects.filter(bank=bank, document_id=document_id).first()
    if document is None:
        raise NotFound(f"Document '{document_id}' not found in bank '{bank.bank_id}'")
    return document


def _unit_count_subquery() -> Subquery:
    return Subquery(
        MemoryUnit.objects.filter(document=OuterRef("pk"))
        .order_by()
        .values("document")
        .annotate(n=Count("pk"))
        .values("n"),
        output_field=IntegerField(),
    )


def document_detail(*, bank: Bank, document_id: str) -> dict[str, Any]:
    """DocumentResponse: the document with its text, unit count and the count per fact type."""
    document = get_document(bank=bank, document_id=document_id)
    by_type = dict(
        MemoryUnit.objects.filter(document=document)
        .order_by()
        .values("fact_type")
        .annotate(n=Count("pk"))
        .values_list("fact_type", "n")
    )
    params = document.retain_params or {}
    return {
        "id": document.document_id,
        "bank_id": bank.bank_id,
        "original_text": document.original_text,
        "content_hash": document.content_hash,
        "created_at": iso(document.created_at),
        "updated_at": iso(document.updated_at),
        "memory_unit_count": sum(by_type.values()),
        "nodes_by_fact_type": by_type,
        "tags": list(document.tags or []),
        "document_metadata": document.metadata or {},
        "retain_params": params or None,
        "observation_scopes": params.get("observation_scopes"),
        "attachments": None,
    }


def list_documents(
    *,
    bank: Bank,
    q: str | None,
    tags: list[str] | None,
    tags_match: str,
    time_field: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the bank's documents without their text (DocumentListItem), newest write first, in two queries.

    ``q`` matches the document id or text, case-insensitively; ``matched_fields`` says which.
    """
    documents: QuerySet[Document] = Document.objects.filter(bank=bank)
    if q:
        documents = documents.filter(Q(document_id__icontains=q) | Q(original_text__icontains=q))
    documents = documents.filter(tag_filter(tags, tags_match))
    axis = time_field or "updated_at"
    if start:
        documents = documents.filter(**{f"{axis}__gte": start})
    if end:
        documents = documents.filter(**{f"{axis}__lt": end})
    total = documents.count()
    if limit == 0:
        return [], total
    annotations: dict[str, Any] = {
        "unit_count": Coalesce(_unit_count_subquery(), Value(0)),
        "text_length": Coalesce(Length("original_text"), Value(0)),
    }
    if q:
        annotations["text_matches"] = ExpressionWrapper(Q(original_text__icontains=q), BooleanField())
    page = documents.defer("original_text").annotate(**annotations).order_by(F(axis).desc(), "-id")
    page = page[offset : offset + limit]
    items = []
    for document in page:
        matched = []
        if q and q.lower() in document.document_id.lower():
            matched.append("id")
        if q and document.text_matches:
            matched.append("original_text")
        items.append(
            {
                "id": document.document_id,
                "bank_id": bank.bank_id,
                "content_hash": document.content_hash,
                "created_at": iso(document.created_at),
                "updated_at": iso(document.updated_at),
                "text_length": document.text_length,
                "memory_unit_count": document.unit_count,
                "retain_params": document.retain_params or None,
                "document_metadata": document.metadata or {},
                "tags": list(document.tags or []),
                "matched_fields": matched,
            }
        )
    return items, total


def chunk_payload(chunk: Chunk) -> dict[str, Any]:
    """ChunkResponse; expects ``document`` and ``bank`` loaded with the chunk (select_related)."""
    return {
        "chunk_id": str(chunk.pk),
        "document_id": chunk.document.document_id,
        "bank_id": chunk.bank.bank_id,
        "chunk_index": chunk.chunk_index,
        "chunk_text": chunk.text,
        "created_at": iso(chunk.created_at),
    }


def list_document_chunks(*, bank: Bank, document_id: str, limit: int, offset: int) -> tuple[list[dict], int]:
    document = get_document(bank=bank, document_id=document_id)
    chunks = Chunk.objects.filter(bank=bank, document=document)
    total = chunks.count()
    page = chunks.select_related("document", "bank").defer("document__original_text").order_by("chunk_index")
    return [chunk_payload(chunk) for chunk in page[offset : offset + limit]], total


def get_chunk(*, chunk_id: str, banks: QuerySet[Bank] | None = None) -> Chunk:
    """A chunk by its id alone (``GET /v1/default/chunks/{chunk_id}``), limited to ``banks`` when given.

    The route names no bank, so the caller's bank scope (an API key's banks) must be passed here: a chunk outside
    it is "not found", exactly like an id that does not exist.
    """
    chunk_uuid = _uuid_or_none(chunk_id)
    chunks = Chunk.objects.filter(pk=chunk_uuid).select_related("document", "bank").defer("document__original_text")
    if banks is not None:
        chunks = chunks.filter(bank__in=banks)
    chunk = chunks.first() if chunk_uuid is not None else None
    if chunk is None:
        raise NotFound(f"Chunk '{chunk_id}' not found")
    return chunk


def document_history(*, bank: Bank, document_id: str, limit: int, offset: int) -> tuple[list[dict], int]:
    """DocumentHistoryResponse items, rebuilt from the bank's operations that wrote this document.

    Only asynchronous work is recorded (a synchronous retain leaves no operation), as upstream documents.
    """
    get_document(bank=bank, document_id=document_id)
    operations = (
        Operation.objects.filter(bank=bank, operation_type__in=["retain", "reprocess"])
        .filter(Q(payload__items__contains=[{"document_id": document_id}]) | Q(payload__document_id=document_id))
        .order_by("-created_at", "-id")
    )
    total = operations.count()
    items = []
    for operation in operations[offset : offset + limit]:
        result = operation.result or {}
        if operation.operation_type == "reprocess":
            kind = "reprocess"
        else:
            modes = {
                item.get("update_mode")
                for item in (operation.payload or {}).get("items", [])
                if item.get("document_id") == document_id
            }
            kind = "append" if modes == {"append"} else "retain"
        items.append(
            {
                "document_id": document_id,
                "kind": kind,
                "created_at": iso(operation.created_at),
                "operation_id": str(operation.pk),
                "fact_id": None,
                "facts_added": int(result.get("units_created", 0)),
                "facts_removed": int(result.get("units_removed", 0)),
                "observations_created": {"count": 0, "ids": []},
                "observations_updated": {"count": 0, "ids": []},
                "observations_removed": {"count": 0, "ids": []},
            }
        )
    return items, total


# --- entities and graphs ------------------------------------------------------------------------------------------


def _unit_tag_q(tags: list[str] | None, tags_match: str, tag_groups: list | None, *, prefix: str = "") -> Q | None:
    """The tag condition on memory units (through ``prefix``), or None when the request has no tag filter."""
    if not tags and not tag_groups and tags_match != "exact":
        return None
    condition = tag_filter(tags, tags_match, field=f"{prefix}tags")
    if tag_groups:
        condition &= tag_groups_filter(tag_groups, field=f"{prefix}tags")
    return condition


def entity_list_item(entity: Entity, *, mention_count: int | None = None) -> dict[str, Any]:
    return {
        "id": str(entity.pk),
        "canonical_name": entity.canonical_name,
        "mention_count": entity.mention_count if mention_count is None else mention_count,
        "first_seen": iso(entity.first_seen),
        "last_seen": iso(entity.last_seen),
        "metadata": entity.metadata or {},
    }


def _entities_with_tag_counts(bank: Bank, unit_q: Q) -> QuerySet[Entity]:
    """The bank's entities mentioned by matching units, with mentions and dates over those units only."""
    mention = Q(unit_entities__unit__bank=bank, unit_entities__unit__state="valid") & unit_q
    when = Coalesce("unit_entities__unit__event_time", "unit_entities__unit__created_at")
    return (
        Entity.objects.filter(bank=bank)
        .annotate(
            tagged_mentions=Count("unit_entities", filter=mention),
            tagged_first=Min(when, filter=mention),
            tagged_last=Max(when, filter=mention),
        )
        .filter(tagged_mentions__gt=0)
    )


def list_entities(
    *,
    bank: Bank,
    q: str | None,
    tags: list[str] | None,
    tags_match: str,
    tag_groups: list | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the bank's entities, most mentioned first (two queries)."""
    unit_q = _unit_tag_q(tags, tags_match, tag_groups, prefix="unit_entities__unit__")
    if unit_q is None:
        # An entity mentioned only by invalidated facts has no mentions left to list.
        entities = Entity.objects.filter(bank=bank, mention_count__gt=0)
        order = ["-mention_count", "canonical_name", "id"]
    else:
        entities = _entities_with_tag_counts(bank, unit_q)
        order = ["-tagged_mentions", "canonical_name", "id"]
    if q:
        entities = entities.filter(canonical_name__icontains=q)
    total = entities.count()
    if limit == 0:
        return [], total
    items = []
    for entity in entities.order_by(*order)[offset : offset + limit]:
        if unit_q is not None:
            entity.first_seen, entity.last_seen = entity.tagged_first, entity.tagged_last
        items.append(entity_list_item(entity, mention_count=getattr(entity, "tagged_mentions", None)))
    return items, total


def entity_detail(
    *, bank: Bank, entity_id: str, tags: list[str] | None, tags_match: str, tag_groups: list | None
) -> dict[str, Any]:
    """EntityDetailResponse: the entity and the observations that mention it (newest first, at most 50)."""
    entity_uuid = _uuid_or_none(entity_id)
    unit_q = _unit_tag_q(tags, tags_match, tag_groups, prefix="unit_entities__unit__")
    entities = Entity.objects.filter(bank=bank) if unit_q is None else _entities_with_tag_counts(bank, unit_q)
    entity = entities.filter(pk=entity_uuid).first() if entity_uuid is not None else None
    if entity is None:
        raise NotFound(f"Entity '{entity_id}' not found in bank '{bank.bank_id}'")
    mention_count = None
    if unit_q is not None:
        entity.first_seen, entity.last_seen = entity.tagged_first, entity.tagged_last
        mention_count = entity.tagged_mentions
    observations = (
        MemoryUnit.objects.filter(bank=bank, fact_type="observation", state="valid", unit_entities__entity=entity)
        .only("text", "mentioned_at", "created_at")
        .order_by("-created_at")[:50]
    )
    return {
        **entity_list_item(entity, mention_count=mention_count),
        "observations": [
            {"text": unit.text, "mentioned_at": iso(unit.mentioned_at or unit.created_at)} for unit in observations
        ],
    }


def entity_graph(
    *,
    bank: Bank,
    limit: int,
    min_count: int,
    tags: list[str] | None,
    tags_match: str,
    tag_groups: list | None,
) -> dict[str, Any]:
    """EntityGraphResponse: the strongest co-occurrence edges (at most ``limit``) and the entities they join.

    Without a tag filter the stored pair counts are read; with one, pairs are counted from the matching units.
    """
    unit_q = _unit_tag_q(tags, tags_match, tag_groups, prefix="")
    if unit_q is None:
        pairs = EntityCooccurrence.objects.filter(bank=bank, count__gte=max(min_count, 1))
        total_edges = pairs.count()
        rows = [
            (pair.entity_1_id, pair.entity_2_id, pair.count, pair.last_cooccurred)
            for pair in pairs.order_by("-count", "entity_1_id", "entity_2_id")[:limit]
        ]
        mention_counts = None
    else:
        units = MemoryUnit.objects.filter(bank=bank, state="valid").filter(unit_q).values("pk")
        mentions = UnitEntity.objects.filter(unit__in=units)
        counted = (
            mentions.filter(unit__unit_entities__entity_id__gt=F("entity_id"))
            .values("entity_id", "unit__unit_entities__entity_id")
            .annotate(n=Count("unit_id"), last=Max(Coalesce("unit__event_time", "unit__created_at")))
            .filter(n__gte=max(min_count, 1))
        )
        total_edges = counted.count()
        rows = [
            (row["entity_id"], row["unit__unit_entities__entity_id"], row["n"], row["last"])
            for row in counted.order_by("-n", "entity_id", "unit__unit_entities__entity_id")[:limit]
        ]
        mention_counts = dict(mentions.values("entity_id").annotate(n=Count("pk")).values_list("entity_id", "n"))
    entity_ids = {entity_id for first, second, _, _ in rows for entity_id in (first, second)}
    entities = {entity.pk: entity for entity in Entity.objects.filter(bank=bank, pk__in=entity_ids)}
    nodes = [
        {
            "data": {
                "id": str(entity.pk),
                "label": entity.canonical_name,
                "mentionCount": entity.mention_count if mention_counts is None else mention_counts.get(entity.pk, 0),
                "color": None,
            }
        }
        for entity in sorted(entities.values(), key=lambda e: (-e.mention_count, e.canonical_name))
    ]
    edges = [
        {
            "data": {
                "id": f"{first}-{second}",
                "source": str(first),
                "target": str(second),
                "linkType": "cooccurrence",
                "weight": count,
                "color": None,
                "lineStyle": None,
                "lastCooccurred": iso(last),
            }
        }
        for first, second, count, last in rows
    ]
    total_entities = (
        Entity.objects.filter(bank=bank, mention_count__gt=0).count()
        if mention_counts is None
        else sum(1 for count in mention_counts.values() if count)
    )
    return {
        "nodes": nodes,
        "edges": edges,
        "total_entities": total_entities,
        "total_edges": total_edges,
        "limit": limit,
    }


def memory_graph(
    *,
    bank: Bank,
    fact_type: str | None,
    limit: int,
    q: str | None,
    tags: list[str] | None,
    tags_match: str,
    document_id: str | None,
    chunk_id: uuid.UUID | None,
) -> dict[str, Any]:
    """GraphDataResponse: up to ``limit`` of the newest matching valid units, the links among them, a table view."""
    units: QuerySet[MemoryUnit] = MemoryUnit.objects.filter(bank=bank, state="valid")
    if fact_type:
        units = units.filter(fact_type=fact_type)
    if q:
        units = units.filter(Q(text__icontains=q) | Q(context__icontains=q))
    units = units.filter(tag_filter(tags, tags_match))
    if document_id:
        units = units.filter(document__document_id=document_id)
    if chunk_id:
        units = units.filter(chunk_id=chunk_id)
    total = units.count()
    page = list(
        units.select_related("document")
        .defer(*_UNIT_HEAVY_COLUMNS, "document__original_text")
        .prefetch_related(_entity_names_prefetch())
        .order_by("-created_at", "-id")[:limit]
    )
    ids = [unit.pk for unit in page]
    links = (
        MemoryLink.objects.filter(bank=bank, from_unit_id__in=ids, to_unit_id__in=ids)
        .select_related("entity")
        .only("from_unit_id", "to_unit_id", "link_type", "weight", "entity__canonical_name")
        .order_by("from_unit_id", "to_unit_id", "link_type")
    )
    nodes, rows = [], []
    for unit in page:
        names = [entity.canonical_name for entity in unit.entities.all()]
        date = iso(unit.occurred_start or unit.mentioned_at)
        nodes.append(
            {
                "data": {
                    "id": str(unit.pk),
                    "label": unit.text if len(unit.text) <= 60 else unit.text[:57] + "...",
                    "text": unit.text,
                    "date": date or "",
                    "context": unit.context or "",
                    "entities": ", ".join(names) or "None",
                    "color": None,
                    "fact_type": unit.fact_type,
                }
            }
        )
        rows.append(
            {
                "id": str(unit.pk),
                "text": unit.text,
                "context": unit.context or "N/A",
                "occurred_start": iso(unit.occurred_start),
                "occurred_end": iso(unit.occurred_end),
                "mentioned_at": iso(unit.mentioned_at),
                "date": date,
                "entities": ", ".join(names) or "None",
                "document_id": unit.document.document_id if unit.document_id else None,
                "chunk_id": str(unit.chunk_id) if unit.chunk_id else None,
                "fact_type": unit.fact_type,
                "tags": list(unit.tags or []),
                "created_at": iso(unit.created_at),
                "proof_count": unit.proof_count,
            }
        )
    edges = [
        {
            "data": {
                "id": f"{link.from_unit_id}-{link.to_unit_id}-{link.link_type}",
                "source": str(link.from_unit_id),
                "target": str(link.to_unit_id),
                "linkType": link.link_type,
                "weight": float(link.weight),
                "entityName": link.entity.canonical_name if link.entity_id else "",
                "color": None,
                "lineStyle": None,
            }
        }
        for link in links
    ]
    return {"nodes": nodes, "edges": edges, "table_rows": rows, "total_units": total, "limit": limit}


# --- tags, statistics, time series ---------------------------------------------------------------------------------


def _wildcard_pattern(q: str) -> str:
    """A ``*`` wildcard pattern as an ILIKE pattern (``%`` and ``_`` taken literally); no ``*`` means "contains"."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%") if "*" in q else f"%{escaped}%"


def list_tags(*, bank: Bank, q: str | None, source: str, limit: int, offset: int) -> tuple[list[dict], int]:
    """The bank's distinct tags with how many memories (or mental models) carry each, most used first."""
    if source == "mental_models":
        from directives.models import MentalModel

        table = connection.ops.quote_name(MentalModel._meta.db_table)
    else:
        table = connection.ops.quote_name(MemoryUnit._meta.db_table)
    where, params = "t.bank_id = %s", [bank.pk]
    if q:
        where += " AND tag ILIKE %s"
        params.append(_wildcard_pattern(q))
    base = f"FROM {table} t CROSS JOIN LATERAL unnest(t.tags) AS tag WHERE {where}"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(DISTINCT tag) {base}", params)
        total = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT tag, count(*) {base} GROUP BY tag ORDER BY count(*) DESC, tag LIMIT %s OFFSET %s",
            [*params, limit, offset],
        )
        items = [{"tag": tag, "count": count} for tag, count in cursor.fetchall()]
    return items, total


def unit_counts_by_type(*, bank: Bank) -> dict[str, int]:
    """How many memory units of each fact type the bank holds (types it has none of are absent), in one query."""
    return dict(
        MemoryUnit.objects.filter(bank=bank)
        .order_by()
        .values("fact_type")
        .annotate(n=Count("pk"))
        .values_list("fact_type", "n")
    )


def bank_stats(*, bank: Bank) -> dict[str, Any]:
    """BankStatsResponse: counts of memories, links, documents and operations, computed fresh (a few aggregates)."""
    nodes = unit_counts_by_type(bank=bank)
    breakdown: dict[str, dict[str, int]] = {}
    links_by_type: dict[str, int] = {}
    links_by_fact_type: dict[str, int] = {}
    for fact_type, link_type, count in (
        MemoryLink.objects.filter(bank=bank)
        .order_by()
        .values("from_unit__fact_type", "link_type")
        .annotate(n=Count("pk"))
        .values_list("from_unit__fact_type", "link_type", "n")
    ):
        breakdown.setdefault(fact_type, {})[link_type] = count
        links_by_type[link_type] = links_by_type.get(link_type, 0) + count
        links_by_fact_type[fact_type] = links_by_fact_type.get(fact_type, 0) + count
    operations = dict(
        Operation.objects.filter(bank=bank)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    sources = MemoryUnit.objects.filter(bank=bank, fact_type__in=["world", "experience"], state="valid")
    consolidation = sources.aggregate(
        pending=Count("pk", filter=Q(consolidated_at__isnull=True, consolidation_failed_at__isnull=True)),
        failed=Count("pk", filter=Q(consolidation_failed_at__isnull=False)),
        last_consolidated=Max("consolidated_at"),
    )
    last_write = MemoryUnit.objects.filter(bank=bank).aggregate(last=Max("updated_at"))["last"]
    return {
        "bank_id": bank.bank_id,
        "total_nodes": sum(nodes.values()),
        "total_links": sum(links_by_type.values()),
        "total_documents": Document.objects.filter(bank=bank).count(),
        "nodes_by_fact_type": nodes,
        "links_by_link_type": links_by_type,
        "links_by_fact_type": links_by_fact_type,
        "links_breakdown": breakdown,
        "pending_operations": operations.get("pending", 0) + operations.get("processing", 0),
        "failed_operations": operations.get("failed", 0),
        "operations_by_status": operations,
        "last_consolidated_at": iso(consolidation["last_consolidated"]),
        "last_memory_write_at": iso(last_write),
        "pending_consolidation": consolidation["pending"],
        "failed_consolidation": consolidation["failed"],
        "total_observations": nodes.get("observation", 0),
    }


# period -> (length, bucket granularity, bucket step)
TIMESERIES_PERIODS = {
    "1h": (timedelta(hours=1), "minute", "1 minute"),
    "12h": (timedelta(hours=12), "hour", "1 hour"),
    "1d": (timedelta(days=1), "hour", "1 hour"),
    "7d": (timedelta(days=7), "day", "1 day"),
    "30d": (timedelta(days=30), "day", "1 day"),
    "90d": (timedelta(days=90), "day", "1 day"),
}
TIMESERIES_FIELDS = ("created_at", "mentioned_at", "occurred_start")


def memories_timeseries(*, bank: Bank, period: str, time_field: str, now: datetime) -> dict[str, Any]:
    """MemoriesTimeseriesResponse: counts per bucket and fact type over ``period`` up to ``now``, every bucket
    present (zeros included). Rows without ``time_field`` fall back to their ``created_at``."""
    length, trunc, step = TIMESERIES_PERIODS[period]
    column = time_field if time_field in TIMESERIES_FIELDS else "created_at"
    moment = f"coalesce(u.{column}, u.created_at)" if column != "created_at" else "u.created_at"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH buckets AS (
                SELECT generate_series(
                    date_trunc(%(trunc)s, %(start)s::timestamptz AT TIME ZONE 'UTC'),
                    date_trunc(%(trunc)s, %(now)s::timestamptz AT TIME ZONE 'UTC'),
                    %(step)s::interval
                ) AS bucket
            ),
            counted AS (
                SELECT date_trunc(%(trunc)s, {moment} AT TIME ZONE 'UTC') AS bucket, u.fact_type, count(*) AS n
                FROM memories_memoryunit u
                WHERE u.bank_id = %(bank)s AND {moment} >= %(start)s AND {moment} <= %(now)s
                GROUP BY 1, 2
            )
            SELECT b.bucket, c.fact_type, coalesce(c.n, 0)
            FROM buckets b LEFT JOIN counted c ON c.bucket = b.bucket
            ORDER BY b.bucket
            """,  # noqa: S608 - the column comes from a fixed list, never from the request
            {"trunc": trunc, "start": now - length, "now": now, "step": step, "bank": bank.pk},
        )
        buckets: dict[datetime, dict[str, Any]] = {}
        for bucket, fact_type, count in cursor.fetchall():
            stamp = bucket.replace(tzinfo=UTC)
            row = buckets.setdefault(stamp, {"time": stamp.isoformat(), "world": 0, "experience": 0, "observation": 0})
            if fact_type in ("world", "experience", "observation"):
                row[fact_type] = count
    return {
        "bank_id": bank.bank_id,
        "period": period,
        "trunc": trunc,
        "time_field": column,
        "buckets": list(buckets.values()),
    }


# --- the control plane's detail panels -----------------------------------------------------------------------------

MEMORY_LINKS_SHOWN = 30


def memory_surroundings(*, bank: Bank, memory: dict[str, Any], link_limit: int = MEMORY_LINKS_SHOWN) -> dict[str, Any]:
    """What a memory's detail panel shows around ``memory`` (a ``memory_detail`` dict): its source chunk, its
    strongest links to other memories of the bank, the facts an observation rests on and the observations built on a
    fact. Four queries, whatever the memory."""
    unit_id = _uuid_or_none(memory["id"])
    chunk = None
    if memory.get("chunk_id"):
        chunk = (
            Chunk.objects.filter(bank=bank, pk=_uuid_or_none(memory["chunk_id"]))
            .only("id", "chunk_index", "text")
            .first()
        )
    link_rows = (
        MemoryLink.objects.filter(bank=bank)
        .filter(Q(from_unit_id=unit_id) | Q(to_unit_id=unit_id))
        .select_related("entity", "from_unit", "to_unit")
        .only(
            "link_type",
            "weight",
            "from_unit_id",
            "to_unit_id",
            "entity__canonical_name",
            "from_unit__text",
            "from_unit__fact_type",
            "to_unit__text",
            "to_unit__fact_type",
        )
        .order_by("-weight", "link_type", "id")[:link_limit]
    )
    links = []
    for link in link_rows:
        other = link.to_unit if link.from_unit_id == unit_id else link.from_unit
        links.append(
            {
                "link_type": link.link_type,
                "weight": float(link.weight),
                "entity": link.entity.canonical_name if link.entity_id else None,
                "memory_id": str(other.pk),
                "text": other.text,
                "fact_type": other.fact_type,
            }
        )
    source_ids = [_uuid_or_none(source) for source in memory.get("source_memory_ids") or []]
    sources = list(
        MemoryUnit.objects.filter(bank=bank, pk__in=[s for s in source_ids if s])
        .only("id", "text", "fact_type")
        .order_by("created_at", "id")[:link_limit]
    )
    observations = list(
        MemoryUnit.objects.filter(bank=bank, fact_type="observation", source_memory_ids__contains=[unit_id])
        .only("id", "text")
        .order_by("-created_at", "-id")[:link_limit]
    )
    return {
        "chunk": {"id": str(chunk.pk), "index": chunk.chunk_index, "text": chunk.text} if chunk else None,
        "links": links,
        "sources": [{"id": str(u.pk), "text": u.text, "fact_type": u.fact_type} for u in sources],
        "observations": [{"id": str(u.pk), "text": u.text} for u in observations],
    }


def cooccurring_entities(*, bank: Bank, entity_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The entities mentioned most often together with this one (stored pair counts), in one query."""
    entity_uuid = _uuid_or_none(entity_id)
    pairs = (
        EntityCooccurrence.objects.filter(bank=bank)
        .filter(Q(entity_1_id=entity_uuid) | Q(entity_2_id=entity_uuid))
        .select_related("entity_1", "entity_2")
        .only("count", "last_cooccurred", "entity_1__canonical_name", "entity_2__canonical_name")
        .order_by("-count", "id")[:limit]
    )
    items = []
    for pair in pairs:
        other = pair.entity_2 if pair.entity_1_id == entity_uuid else pair.entity_1
        items.append(
            {
                "id": str(other.pk),
                "canonical_name": other.canonical_name,
                "count": pair.count,
                "last_cooccurred": iso(pair.last_cooccurred),
            }
        )
    return items
