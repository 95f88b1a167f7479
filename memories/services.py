"""Writes to a bank's memories: retain (documents, chunks, facts, entities, links), sync or as an operation.

Retain runs in three phases so that nothing is half-written and no transaction is held open during model calls:

1. plan: group items by document, chunk them, and compare chunk hashes with what is stored (unchanged chunks keep
   their facts; in ``append`` mode everything is new);
2. extract and embed the new chunks (LLM or offline extractor; local or API embeddings), outside any transaction;
3. write everything in one transaction: replaced chunks go (the database cascades their units and links), new
   chunks, units, entity mentions, co-occurrences and links come in, and an async operation is fenced and marked
   completed in the same commit. A large request is written in two parts in that one transaction, the second part
   embedded while the first is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Iterable
from concurrent import futures
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from banks.models import Bank
from banks.selectors import resolved_config
from hindsight_site import metrics
from hindsight_site.errors import Conflict
from hindsight_site.threads import ProcessThreadPool
from memories import bulk, consolidation, links, operations
from memories import entities as entity_service
from memories.chunking import ChunkSpec, chunk_content
from memories.extraction import get_extractor
from memories.extraction.types import (
    ChunkInput,
    ExtractedEntity,
    ExtractedFact,
    ExtractionSettings,
    TokenUsage,
)
from memories.models import Chunk, Document, EntityKind, MemoryUnit, Operation, UnitEntity

logger = logging.getLogger("hindsight.retain")

SUB_BATCH_ITEMS = 50
_PLAN_ATTEMPTS = 3


@dataclass
class RetainItem:
    """One validated item of a retain request (timestamps already resolved: None means "no date")."""

    content: str
    timestamp: datetime | None = None
    context: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    document_id: str | None = None
    entities: list[dict[str, str | None]] = field(default_factory=list)
    resolve_entities: bool = True
    tags: list[str] = field(default_factory=list)
    observation_scopes: Any = None
    update_mode: str = "replace"
    # The request gave no timestamp, so ``timestamp`` is the time it arrived: a resend of the same request (same
    # operation_id) must not count as different work because the clock moved.
    timestamp_defaulted: bool = False

    def to_payload(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "context": self.context,
            "metadata": self.metadata,
            "document_id": self.document_id,
            "entities": self.entities,
            "resolve_entities": self.resolve_entities,
            "tags": self.tags,
            "observation_scopes": self.observation_scopes,
            "update_mode": self.update_mode,
            "timestamp_defaulted": self.timestamp_defaulted,
        }

    def as_sent(self) -> dict[str, Any]:
        """The item as the client sent it, for idempotency: no arrival time, no generated document id."""
        payload = self.to_payload()
        if self.timestamp_defaulted:
            payload["timestamp"] = None
        return payload

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> RetainItem:
        timestamp = datetime.fromisoformat(data["timestamp"]) if data.get("timestamp") else None
        return cls(**{**data, "timestamp": timestamp})


@dataclass
class RetainOutcome:
    items_count: int
    units_created: int
    document_ids: list[str]
    usage: TokenUsage


@dataclass
class _ChunkPlan:
    index: int
    spec: ChunkSpec
    item: RetainItem
    content_hash: str
    reuse_id: uuid.UUID | None = None  # an unchanged stored chunk that keeps its facts
    new_id: uuid.UUID | None = None
    facts: list[ExtractedFact] = field(default_factory=list)
    vectors: Any = field(default_factory=list)  # one row per fact (a float32 matrix from the local model)


@dataclass
class _DocumentPlan:
    document_id: str
    items: list[RetainItem]
    mode: str
    chunks: list[_ChunkPlan]
    snapshot: dict[int, str]  # chunk index -> hash as stored when planned; re-checked under the row lock
    text: str


class _StalePlan(Exception):
    """The document changed between planning and writing; plan again."""


def _group_by_document(items: list[RetainItem]) -> list[tuple[str, list[RetainItem]]]:
    groups: dict[str, list[RetainItem]] = {}
    for item in items:
        document_id = item.document_id or f"auto-{uuid.uuid4()}"
        item.document_id = document_id
        groups.setdefault(document_id, []).append(item)
    return list(groups.items())


def _settings_fingerprint(settings: ExtractionSettings, extractor_name: str) -> str:
    return json.dumps(
        [
            extractor_name,
            settings.mode,
            settings.retain_mission,
            settings.custom_instructions,
            settings.entity_labels,
            settings.entities_allow_free_form,
        ],
        sort_keys=True,
        default=str,
    )


def _stored_chunks(bank: Bank, document_id: str) -> dict[int, tuple[uuid.UUID, str]]:
    return {
        index: (chunk_id, content_hash)
        for chunk_id, index, content_hash in Chunk.objects.filter(
            document__bank=bank, document__document_id=document_id
        ).values_list("id", "chunk_index", "content_hash")
    }


def _plan(
    bank: Bank, items: list[RetainItem], config: dict[str, Any], fingerprint: str, force: bool = False
) -> list[_DocumentPlan]:
    plans = []
    size = config["retain_chunk_size"]
    structured = config.get("retain_structured_chunk_size") or size
    for document_id, group in _group_by_document(items):
        mode = "append" if all(item.update_mode == "append" for item in group) else "replace"
        stored = _stored_chunks(bank, document_id)
        offset = max(stored, default=-1) + 1 if mode == "append" else 0
        chunks: list[_ChunkPlan] = []
        for item in group:
            stamp = item.timestamp.isoformat() if item.timestamp else "unset"
            for spec in chunk_content(item.content, size=size, structured_size=structured):
                index = offset + len(chunks)
                content_hash = spec.content_hash(
                    item.context, stamp, json.dumps(item.metadata, sort_keys=True), fingerprint
                )
                reuse = None
                if not force and mode == "replace" and index in stored and stored[index][1] == content_hash:
                    reuse = stored[index][0]
                chunks.append(_ChunkPlan(index, spec, item, content_hash, reuse))
        plans.append(
            _DocumentPlan(
                document_id=document_id,
                items=group,
                mode=mode,
                chunks=chunks,
                snapshot={index: content_hash for index, (_, content_hash) in stored.items()},
                text="\n\n".join(item.content for item in group),
            )
        )
    return plans


def _finish_fact(fact: ExtractedFact, item: RetainItem) -> ExtractedFact:
    """Merge what the caller said about the item into each fact: entities, tags, metadata."""
    known = {entity.name.lower() for entity in fact.entities}
    for given in item.entities:
        name = (given.get("text") or "").strip()
        if name and name.lower() not in known:
            fact.entities.append(ExtractedEntity(name=name, entity_type=given.get("type")))
            known.add(name.lower())
    fact.tags = list(dict.fromkeys([*fact.tags, *item.tags]))
    fact.metadata = {str(k): str(v) for k, v in {**fact.metadata, **item.metadata}.items()}
    return fact


def _extract(plans: list[_DocumentPlan], settings: ExtractionSettings, extractor, operation) -> TokenUsage:
    usage = TokenUsage()
    pending = [chunk for plan in plans for chunk in plan.chunks if chunk.reuse_id is None]
    for done, chunk in enumerate(pending):
        if operation is not None and done and done % 20 == 0:
            operations.report_progress(operation, "extracting", done, len(pending))
        result = extractor.extract(
            ChunkInput(
                text=chunk.spec.text,
                chunk_index=chunk.index,
                chunk_count=len(pending),
                context=chunk.item.context,
                event_date=chunk.item.timestamp,
                metadata=chunk.item.metadata,
                turns=chunk.spec.turns,
            ),
            settings,
        )
        usage.add(result.usage)
        chunk.facts = [_finish_fact(fact, chunk.item) for fact in result.facts if fact.text.strip()]
    return usage


def _embed(plans: list[_DocumentPlan], provider) -> None:
    chunks = [chunk for plan in plans for chunk in plan.chunks if chunk.facts]
    texts = [fact.text for chunk in chunks for fact in chunk.facts]
    if not texts:
        return
    # The local model hands back its float32 matrix as is: no detour through 192,000 Python floats per 500 facts.
    embed = getattr(provider, "embed_documents_array", None) or provider.embed_documents
    vectors = embed(texts)
    start = 0
    for chunk in chunks:
        chunk.vectors = vectors[start : start + len(chunk.facts)]
        start += len(chunk.facts)


# A request with at least this many new facts over at least two documents is written in two parts, the second
# embedded while the first is written; smaller ones gain nothing worth a thread hand-off.
PIPELINE_MIN_FACTS = 64
# Threads that embed a request's next part while its request thread writes.
_ahead_pool = ProcessThreadPool(lambda: 4, "embed-ahead")


def _split_for_pipeline(plans: list[_DocumentPlan]) -> list[list[_DocumentPlan]]:
    """The documents in one part, or in two parts of about the same number of new facts (a document is never
    split: each is written whole, under its row lock)."""
    counts = [sum(len(chunk.facts) for chunk in plan.chunks if chunk.reuse_id is None) for plan in plans]
    total = sum(counts)
    if total < PIPELINE_MIN_FACTS or len(plans) < 2:
        return [plans]
    running, cut = 0, len(plans)
    for index, count in enumerate(counts):
        running += count
        if 2 * running >= total:
            cut = index + 1
            break
    return [plans[:cut], plans[cut:]] if cut < len(plans) else [plans]


@metrics.timed("retain")
def retain_items(
    *,
    bank: Bank,
    items: list[RetainItem],
    operation: Operation | None = None,
    worker_id: str | None = None,
    force: bool = False,
) -> RetainOutcome:
    """Retain ``items`` into ``bank``. Extraction and embedding happen before the one write transaction (a large
    request's second part is embedded while its first part is written, in that transaction).

    ``force`` (reprocessing) extracts every chunk again, even those whose text and settings are unchanged.

    With ``operation`` (an async retain being run by ``worker_id``), the write transaction first fences the
    operation's lease and marks it completed in the same commit.
    """
    from memories.embeddings import check_same_model, get_embedding_provider

    config = resolved_config(bank)
    settings = ExtractionSettings.from_config(config)
    extractor = get_extractor(settings.mode)
    provider = get_embedding_provider(bank.embedding_model)
    check_same_model(bank.embedding_model, provider)
    fingerprint = _settings_fingerprint(settings, extractor.name)

    for attempt in range(_PLAN_ATTEMPTS):
        plans = _plan(bank, [RetainItem(**vars(item)) for item in items], config, fingerprint, force)
        usage = _extract(plans, settings, extractor, operation)
        parts = _split_for_pipeline(plans)
        _embed(parts[0], provider)
        if operation is not None:
            operations.report_progress(operation, "writing", len(items), len(items))
        try:
            with transaction.atomic():
                if operation is not None:
                    operation = operations.fence(operation, worker_id)
                written = _Written()
                for index, part in enumerate(parts):
                    # The next part is embedded (model, no database) while this one's units go in (PostgreSQL's
                    # work): the two halves of a large request keep both cores busy instead of taking turns.
                    ahead = (
                        _ahead_pool.get().submit(_embed, parts[index + 1], provider) if index + 1 < len(parts) else None
                    )
                    try:
                        _write_units(bank, part, provider.model_id, config, written)
                    except BaseException:
                        if ahead is not None:
                            futures.wait([ahead])  # never leave it working on plans that are being given up
                        raise
                    if ahead is not None:
                        ahead.result()  # an embedding failure fails the request, and the transaction rolls back
                # Entities, co-occurrences and links once for all parts: each of those statements takes its row
                # locks in one sorted pass, which is what keeps concurrent retains free of deadlocks.
                units_created = _write_entities_and_links(bank, written)
                if units_created:
                    consolidation.schedule_after_retain(bank=bank, config=config)
                outcome = RetainOutcome(len(items), units_created, [p.document_id for p in plans], usage)
                if operation is not None:
                    operations.mark_completed(
                        operation,
                        {"items_count": len(items), "units_created": units_created, "usage": usage.as_dict()},
                    )
            return outcome
        except _StalePlan:
            logger.info("Document changed while retaining into %s; planning again (%d)", bank.bank_id, attempt + 1)
    raise Conflict("the document kept changing while it was being retained; try again")


@dataclass
class _Written:
    """What the parts of one retain wrote so far, for the entities and links written after the last part."""

    now: datetime = field(default_factory=timezone.now)
    new_units: list[MemoryUnit] = field(default_factory=list)
    unit_facts: list[tuple[MemoryUnit, ExtractedFact]] = field(default_factory=list)
    causal_pairs: list[tuple[uuid.UUID, uuid.UUID]] = field(default_factory=list)
    touched_entities: set[uuid.UUID] = field(default_factory=set)  # entities that lost facts to replaced chunks
    created_documents: int = 0


def _write_units(bank: Bank, plans: list[_DocumentPlan], model_id: str, config: dict[str, Any], written: _Written):
    """Documents, replaced and new chunks, and the new units of these plans (one ``COPY``)."""
    now = written.now
    Bank.objects.filter(pk=bank.pk, embedding_model="").update(embedding_model=model_id)
    touched_entities = written.touched_entities
    new_units: list[MemoryUnit] = []
    unit_facts = written.unit_facts
    causal_pairs = written.causal_pairs

    for plan in plans:
        document, created = _lock_document(bank, plan.document_id)
        written.created_documents += created
        stored = {c.chunk_index: (c.id, c.content_hash) for c in Chunk.objects.filter(document=document)}
        if {index: content_hash for index, (_, content_hash) in stored.items()} != plan.snapshot:
            raise _StalePlan
        if plan.mode == "replace":
            kept = {chunk.reuse_id for chunk in plan.chunks if chunk.reuse_id}
            stale = [chunk_id for chunk_id, _ in stored.values() if chunk_id not in kept]
            touched_entities |= _delete_chunks(bank, stale)
            text = plan.text
        else:
            text = f"{document.original_text}\n\n{plan.text}" if document.original_text else plan.text
        _update_document(document, plan, text, config, now)

        new_chunks = [chunk for chunk in plan.chunks if chunk.reuse_id is None]
        for chunk in new_chunks:
            chunk.new_id = uuid.uuid4()
        Chunk.objects.bulk_create(
            [
                Chunk(
                    id=chunk.new_id,
                    bank=bank,
                    document=document,
                    chunk_index=chunk.index,
                    text=chunk.spec.text,
                    content_hash=chunk.content_hash,
                )
                for chunk in new_chunks
            ]
        )
        for chunk in new_chunks:
            chunk_units = []
            for fact, vector in zip(chunk.facts, chunk.vectors, strict=True):
                unit = MemoryUnit(
                    id=uuid.uuid4(),
                    bank=bank,
                    document=document,
                    chunk_id=chunk.new_id,
                    text=fact.text,
                    fact_type=fact.fact_type,
                    fact_kind=fact.fact_kind,
                    embedding=vector,
                    embedding_model=model_id,
                    context=chunk.item.context,
                    occurred_start=fact.occurred_start,
                    occurred_end=fact.occurred_end or fact.occurred_start,
                    mentioned_at=chunk.item.timestamp,
                    metadata=fact.metadata,
                    tags=fact.tags,
                    observation_scopes=chunk.item.observation_scopes,
                    text_signals=" ".join(entity.name for entity in fact.entities),
                )
                chunk_units.append(unit)
                unit_facts.append((unit, fact))
            for unit, fact in zip(chunk_units, chunk.facts, strict=True):
                causal_pairs.extend(
                    (unit.id, chunk_units[cause].id)
                    for cause in fact.caused_by
                    if 0 <= cause < len(chunk_units) and chunk_units[cause] is not unit
                )
            new_units.extend(chunk_units)

    bulk.copy_insert(new_units)
    written.new_units.extend(new_units)


def _write_entities_and_links(bank: Bank, written: _Written) -> int:
    """Entity mentions, co-occurrences, links and counts for every unit the parts wrote; returns how many."""
    new_units = written.new_units
    groups, latest = _attach_entities(bank, written.unit_facts)
    links.link_new_units(
        bank_id=bank.pk,
        unit_ids=[unit.id for unit in new_units],
        causal_pairs=written.causal_pairs,
        vectors=[unit.embedding for unit in new_units],
    )
    # Rows that every retain into the bank updates (pair counts, entity counts, the bank) come last, just before the
    # commit: a writer holding them through its links (the longest statement) made the next writer wait that long.
    entity_service.add_cooccurrences(bank_id=bank.pk, groups=groups, when=latest)
    entity_service.count_new_mentions(
        unit_ids=[unit.id for unit in new_units], entity_ids=[entity for group in groups for entity in group]
    )
    # Entities that lost facts to replaced chunks are recounted in full (after the new facts are counted, so the
    # recount is the last word).
    entity_service.refresh_entity_stats(entity_ids=written.touched_entities)
    updates = {"last_write_at": written.now}
    if written.created_documents:
        updates["last_document_at"] = written.now
    Bank.objects.filter(pk=bank.pk).update(**updates)
    return len(new_units)


def _lock_document(bank: Bank, document_id: str) -> tuple[Document, bool]:
    try:
        with transaction.atomic():
            return Document.objects.select_for_update().get_or_create(bank=bank, document_id=document_id)
    except IntegrityError:  # created concurrently by another writer: lock theirs
        return Document.objects.select_for_update().get(bank=bank, document_id=document_id), False


def _update_document(document: Document, plan: _DocumentPlan, text: str, config, now: datetime) -> None:
    first = plan.items[0]
    document.original_text = text if config.get("store_document_text", True) else None
    document.content_hash = hashlib.sha256(text.encode()).hexdigest()
    tags = list(document.tags) if plan.mode == "append" else []
    document.tags = list(dict.fromkeys([*tags, *(tag for item in plan.items for tag in item.tags)]))
    document.metadata = {**(document.metadata if plan.mode == "append" else {}), **first.metadata}
    document.retain_params = {
        "context": first.context,
        "timestamp": first.timestamp.isoformat() if first.timestamp else None,
        "update_mode": plan.mode,
        "items": len(plan.items),
    }
    document.updated_at = now
    document.save()


def _delete_chunks(bank: Bank, chunk_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Delete replaced chunks (the database cascades their units, mentions and links); return touched entities.

    Observations derived from the deleted facts go too (their other facts are re-consolidated): lineage never
    points at nothing."""
    if not chunk_ids:
        return set()
    unit_ids = list(MemoryUnit.objects.filter(chunk_id__in=chunk_ids).values_list("id", flat=True))
    consolidation.clear_observations_for_sources(bank=bank, unit_ids=unit_ids)
    touched = set(UnitEntity.objects.filter(unit_id__in=unit_ids).values_list("entity_id", flat=True))
    entity_service.remove_cooccurrences_of_units(unit_ids=unit_ids)
    Chunk.objects.filter(id__in=chunk_ids).delete()
    return touched


def _attach_entities(
    bank: Bank, unit_facts: list[tuple[MemoryUnit, ExtractedFact]]
) -> tuple[list[list[uuid.UUID]], datetime | None]:
    """Resolve the facts' entities and write the mention rows; returns each fact's entity ids (for the
    co-occurrence counts) and the latest time among the facts."""
    mentions = []
    for unit, fact in unit_facts:
        names = tuple(entity.name for entity in fact.entities)
        for entity in fact.entities:
            mentions.append(
                entity_service.Mention(
                    name=entity.name,
                    kind=EntityKind.LABEL if entity.kind == "label" else EntityKind.REGULAR,
                    entity_type=entity.entity_type,
                    resolve=entity.kind != "label",
                    when=unit.occurred_start or unit.mentioned_at,
                    co_mentions=names,
                )
            )
    if not mentions:
        return [], None
    resolved = entity_service.resolve_mentions(bank_id=bank.pk, mentions=mentions)
    rows = []
    groups = []
    for unit, fact in unit_facts:
        ids = {
            resolved[key]
            for entity in fact.entities
            if (key := entity_service.normalize_name(entity.name).lower()) in resolved
        }
        rows.extend(UnitEntity(unit_id=unit.id, entity_id=entity_id) for entity_id in sorted(ids))
        groups.append(sorted(ids))
    UnitEntity.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
    latest = max(
        (u.occurred_start or u.mentioned_at for u, _ in unit_facts if u.occurred_start or u.mentioned_at), default=None
    )
    return groups, latest


# --- async retain ------------------------------------------------------------------------------------------------


def submit_retain(*, bank: Bank, items: list[RetainItem], operation_id: uuid.UUID | None = None) -> Operation:
    """Record an async retain (in the caller's transaction). Large requests become a parent with sub-batches.

    Items of one document always travel together, and each sub-batch that writes a single document is ordered
    behind earlier unfinished work on that document.
    """
    as_sent = {"items": [item.as_sent() for item in items]}  # before documents get generated ids
    groups = _group_by_document(items)
    batches: list[list[RetainItem]] = []
    current: list[RetainItem] = []
    for _, group in groups:
        if current and len(current) + len(group) > SUB_BATCH_ITEMS:
            batches.append(current)
            current = []
        current.extend(group)
    if current:
        batches.append(current)

    payload = {"items": [item.to_payload() for item in items]}
    if len(batches) == 1:
        operation, _ = operations.submit(
            bank=bank,
            operation_type="retain",
            payload=payload,
            operation_id=operation_id,
            serialization_key=_serialization_key(bank, batches[0]),
            fingerprint=as_sent,
        )
        return operation
    parent, created = operations.submit(
        bank=bank,
        operation_type="batch_retain",
        payload={"items_count": len(items), "sub_batches": len(batches)},
        operation_id=operation_id,
        dispatch_now=False,
        fingerprint=as_sent,
    )
    if created:
        for batch in batches:
            operations.submit(
                bank=bank,
                operation_type="retain",
                payload={"items": [item.to_payload() for item in batch]},
                serialization_key=_serialization_key(bank, batch),
                parent=parent,
            )
    return parent


def _serialization_key(bank: Bank, items: Iterable[RetainItem]) -> str:
    document_ids = {item.document_id for item in items}
    return f"document:{bank.pk}:{document_ids.pop()}" if len(document_ids) == 1 else ""


@operations.handler("retain")
def run_retain_operation(operation: Operation, worker_id: str) -> None:
    items = [RetainItem.from_payload(item) for item in operation.payload["items"]]
    retain_items(bank=operation.bank, items=items, operation=operation, worker_id=worker_id)


def submit_reprocess(*, bank: Bank, item: RetainItem) -> Operation:
    """Record a reprocess of one document (in the caller's transaction), ordered behind other work on it."""
    operation, _ = operations.submit(
        bank=bank,
        operation_type="reprocess",
        payload={"items": [item.to_payload()], "document_id": item.document_id},
        serialization_key=_serialization_key(bank, [item]),
    )
    return operation


@operations.handler("reprocess")
def run_reprocess_operation(operation: Operation, worker_id: str) -> None:
    items = [RetainItem.from_payload(item) for item in operation.payload["items"]]
    retain_items(bank=operation.bank, items=items, operation=operation, worker_id=worker_id, force=True)


# --- dry-run extraction -------------------------------------------------------------------------------------------

DRY_RUN_OVERRIDES = (
    "retain_mission",
    "retain_extraction_mode",
    "retain_custom_instructions",
    "retain_chunk_size",
    "entity_labels",
    "entities_allow_free_form",
)


def dry_run_extract(
    *,
    config: dict[str, Any],
    content: str,
    context: str = "",
    timestamp: datetime | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What retain would extract from ``content`` under ``config`` (plus validated ``overrides``), storing nothing:
    chunking and extraction only; no embeddings, entity resolution, links or writes. A DryRunExtractionResult."""
    from banks import config_registry

    cleaned = config_registry.validate_updates({k: v for k, v in (overrides or {}).items() if v is not None})
    config = {**config, **cleaned}
    settings = ExtractionSettings.from_config(config)
    extractor = get_extractor(settings.mode)
    size = config["retain_chunk_size"]
    specs = chunk_content(content, size=size, structured_size=config.get("retain_structured_chunk_size") or size)
    usage = TokenUsage()
    facts: list[dict[str, Any]] = []
    chunks: list[dict[str, Any]] = []
    for index, spec in enumerate(specs):
        result = extractor.extract(
            ChunkInput(
                text=spec.text,
                chunk_index=index,
                chunk_count=len(specs),
                context=context,
                event_date=timestamp,
                turns=spec.turns,
            ),
            settings,
        )
        usage.add(result.usage)
        kept = [fact for fact in result.facts if fact.text.strip()]
        chunks.append({"text": spec.text, "fact_count": len(kept)})
        facts.extend(
            {
                "text": fact.text,
                "fact_type": fact.fact_type,
                "occurred_start": fact.occurred_start.isoformat() if fact.occurred_start else None,
                "occurred_end": (fact.occurred_end or fact.occurred_start).isoformat()
                if (fact.occurred_end or fact.occurred_start)
                else None,
                "entities": [entity.name for entity in fact.entities],
                "chunk_index": index,
                "attachments": [],
            }
            for fact in kept
        )
    return {"facts": facts, "chunks": chunks, "usage": usage.as_dict()}
