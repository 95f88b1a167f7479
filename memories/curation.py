"""Writes that change or remove what a bank already remembers: curate one memory, delete memories and documents,
retag a document, queue its reprocessing.

Every function runs in one transaction and keeps the derived data true in the same commit:

* entity mention counts and first/last seen are recounted for every entity a change touched, and co-occurrence
  counts are taken back before the units that contributed them go;
* links are deleted with their units by PostgreSQL (``ON DELETE CASCADE``); a curated unit loses its links and is
  linked again from its new text, times and entities;
* an observation resting only on removed facts is removed; one that also rests on other facts keeps them and
  drops the removed ids from its lineage. A curated fact drops the observations built on it and is queued for
  consolidation again.

Nothing removed here can come back through recall: units are deleted (or, when invalidated, filtered out by every
recall channel's ``state = 'valid'`` clause).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from banks.models import Bank
from hindsight_site.errors import BadRequest, NotFound
from memories import entities as entity_service
from memories import links
from memories.models import Document, Entity, EntityCooccurrence, MemoryLink, MemoryUnit, Operation, UnitEntity

CURATABLE_TYPES = ("world", "experience")
UNSET: Any = object()  # "leave unchanged", distinct from None ("clear")


# --- removing units -----------------------------------------------------------------------------------------------


def _prune_observations(*, bank: Bank, removed_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Observations of ``bank`` built on ``removed_ids``: those left with no source are returned (to be deleted with
    the rest); the others keep their remaining sources. Call inside the write transaction."""
    if not removed_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT id FROM memories_memoryunit
            WHERE bank_id = %s AND fact_type = 'observation' AND source_memory_ids && %s::uuid[]
              AND source_memory_ids <@ %s::uuid[]
            """,
            [bank.pk, list(removed_ids), list(removed_ids)],
        )
        orphaned = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            """
            UPDATE memories_memoryunit
            SET source_memory_ids = ARRAY(SELECT s FROM unnest(source_memory_ids) AS s WHERE s <> ALL(%s::uuid[])),
                proof_count = GREATEST(1, LEAST(proof_count, cardinality(ARRAY(
                    SELECT s FROM unnest(source_memory_ids) AS s WHERE s <> ALL(%s::uuid[]))))),
                updated_at = now()
            WHERE bank_id = %s AND fact_type = 'observation' AND source_memory_ids && %s::uuid[]
              AND NOT (source_memory_ids <@ %s::uuid[])
            """,
            [list(removed_ids), list(removed_ids), bank.pk, list(removed_ids), list(removed_ids)],
        )
    return orphaned


def _delete_units(*, bank: Bank, unit_ids: Sequence[uuid.UUID]) -> int:
    """Delete these units of ``bank`` and the observations left without sources; fix entity and pair counts.

    Returns how many units went. Call inside the write transaction.
    """
    ids = list(MemoryUnit.objects.filter(bank=bank, pk__in=list(unit_ids)).values_list("pk", flat=True))
    if not ids:
        return 0
    ids.extend(_prune_observations(bank=bank, removed_ids=ids))
    touched = set(UnitEntity.objects.filter(unit_id__in=ids).values_list("entity_id", flat=True))
    entity_service.remove_cooccurrences_of_units(unit_ids=ids)
    deleted, _ = MemoryUnit.objects.filter(bank=bank, pk__in=ids).delete()
    entity_service.refresh_entity_stats(entity_ids=touched)
    Bank.objects.filter(pk=bank.pk).update(last_write_at=timezone.now())
    return deleted


def delete_memory(*, bank: Bank, unit: MemoryUnit) -> int:
    """Delete one memory (fact or observation) with its links and mentions; returns the number of units removed
    (more than one when observations rested on it alone)."""
    with transaction.atomic():
        return _delete_units(bank=bank, unit_ids=[unit.pk])


def clear_memories(*, bank: Bank, fact_type: str | None = None) -> int:
    """Delete the bank's memories, or only those of ``fact_type``; returns how many units went.

    A full clear also removes documents, chunks and entities (nothing refers to them any more); the bank, its
    configuration, directives, mental models and operation records stay.
    """
    with transaction.atomic():
        if fact_type is None:
            count = MemoryUnit.objects.filter(bank=bank).count()
            # PostgreSQL cascades each statement to units, mentions, links and pairs; no rows are fetched.
            MemoryUnit.objects.filter(bank=bank).delete()
            EntityCooccurrence.objects.filter(bank=bank).delete()
            Entity.objects.filter(bank=bank).delete()
            Document.objects.filter(bank=bank).delete()
            Bank.objects.filter(pk=bank.pk).update(last_write_at=timezone.now())
            return count
        ids = list(MemoryUnit.objects.filter(bank=bank, fact_type=fact_type).values_list("pk", flat=True))
        return _delete_units(bank=bank, unit_ids=ids)


# --- documents ----------------------------------------------------------------------------------------------------


def delete_document(*, bank: Bank, document: Document) -> int:
    """Delete a document, its chunks and every unit extracted from it (with links, mentions and the observations
    resting only on them); returns the number of units removed."""
    with transaction.atomic():
        locked = Document.objects.select_for_update().filter(pk=document.pk).first()
        if locked is None:  # deleted concurrently: nothing left to do
            return 0
        ids = list(MemoryUnit.objects.filter(bank=bank, document=locked).values_list("pk", flat=True))
        deleted = _delete_units(bank=bank, unit_ids=ids)
        Document.objects.filter(pk=locked.pk).delete()  # chunks go with it (database cascade)
        return deleted


def _requeue_consolidation(*, bank: Bank, unit_ids: Sequence[uuid.UUID]) -> int:
    """Drop the observations built on these units and queue their sources for consolidation again.

    Sources of a dropped observation that are not among ``unit_ids`` are queued too, so what the observation said
    about them is rebuilt. Returns how many observations were dropped.
    """
    if not unit_ids:
        return 0
    observations = MemoryUnit.objects.filter(
        bank=bank, fact_type="observation", source_memory_ids__overlap=list(unit_ids)
    )
    co_sources = {source for sources in observations.values_list("source_memory_ids", flat=True) for source in sources}
    dropped = _delete_units(bank=bank, unit_ids=list(observations.values_list("pk", flat=True)))
    MemoryUnit.objects.filter(bank=bank, pk__in=[*unit_ids, *co_sources], state="valid").exclude(
        fact_type="observation"
    ).update(consolidated_at=None, consolidation_failed_at=None)
    return dropped


def update_document(*, bank: Bank, document: Document, tags: Any = UNSET, observation_scopes: Any = UNSET) -> Document:
    """Replace a document's tags (on it and on every unit from it) and/or its observation scopes.

    A unit keeps the tags it did not get from the document (entity-label tags); a change that moves tags or scopes
    drops the observations built on the document's units and queues those units for consolidation again.
    """
    with transaction.atomic():
        locked = Document.objects.select_for_update().filter(pk=document.pk).first()
        if locked is None:  # deleted concurrently
            raise NotFound(f"Document '{document.document_id}' not found in bank '{bank.bank_id}'")
        document = locked
        changed = False
        units = MemoryUnit.objects.filter(bank=bank, document=document).exclude(fact_type="observation")
        if tags is not UNSET:
            new_tags = list(dict.fromkeys(tags))
            old_tags = set(document.tags or [])
            if set(new_tags) != old_tags:
                changed = True
                with connection.cursor() as cursor:
                    cursor.execute(
                        """
                        UPDATE memories_memoryunit
                        SET tags = ARRAY(
                                SELECT DISTINCT t FROM unnest(
                                    ARRAY(SELECT x FROM unnest(tags) AS x WHERE x <> ALL(%s::varchar[]))
                                    || %s::varchar[]) AS t
                                ORDER BY t),
                            updated_at = now()
                        WHERE bank_id = %s AND document_id = %s AND fact_type <> 'observation'
                        """,
                        [sorted(old_tags), new_tags, bank.pk, document.pk],
                    )
            document.tags = new_tags
        if observation_scopes is not UNSET:
            params = dict(document.retain_params or {})
            if params.get("observation_scopes") != observation_scopes:
                changed = True
                units.update(observation_scopes=observation_scopes, updated_at=timezone.now())
            params["observation_scopes"] = observation_scopes
            document.retain_params = params
        document.save()
        if changed:
            _requeue_consolidation(bank=bank, unit_ids=list(units.values_list("pk", flat=True)))
            Bank.objects.filter(pk=bank.pk).update(last_write_at=timezone.now())
        return document


def reprocess_document(*, bank: Bank, document: Document) -> Operation:
    """Queue a re-run of retain on the document's stored text under the bank's current settings (an operation).

    Every chunk is extracted again, even unchanged ones. Refused when the text was not stored
    (``store_document_text`` off).
    """
    from memories.services import RetainItem, submit_reprocess

    if document.original_text is None:
        raise BadRequest(
            f"document '{document.document_id}' has no stored text to reprocess (store_document_text was off)"
        )
    params = document.retain_params or {}
    timestamp = params.get("timestamp")
    item = RetainItem(
        content=document.original_text,
        timestamp=datetime.fromisoformat(timestamp) if timestamp else None,
        context=params.get("context") or "",
        metadata={str(k): str(v) for k, v in (document.metadata or {}).items()},
        document_id=document.document_id,
        tags=list(document.tags or []),
        observation_scopes=params.get("observation_scopes"),
    )
    with transaction.atomic():
        return submit_reprocess(bank=bank, item=item)


# --- curating one memory ------------------------------------------------------------------------------------------


@dataclass
class MemoryEdit:
    """A validated UpdateMemoryRequest: ``UNSET`` leaves a field alone; for dates and context ``None`` clears."""

    text: Any = UNSET
    context: Any = UNSET
    occurred_start: Any = UNSET
    occurred_end: Any = UNSET
    mentioned_at: Any = UNSET
    fact_type: Any = UNSET
    entities: Any = UNSET  # list of names
    resolve_entities: bool = True
    state: Any = UNSET  # "valid" | "invalidated"
    reason: Any = UNSET

    def changes_content(self) -> bool:
        return any(
            value is not UNSET
            for value in (
                self.text,
                self.context,
                self.occurred_start,
                self.occurred_end,
                self.mentioned_at,
                self.fact_type,
                self.entities,
            )
        )


def _replace_entities(*, bank: Bank, unit: MemoryUnit, names: list[str], resolve: bool) -> set[uuid.UUID]:
    """Detach the unit's entities and attach ``names`` instead; returns every entity touched (old and new).

    Pair counts are the caller's: it takes the unit's back before and adds them after (valid units only)."""
    old = set(UnitEntity.objects.filter(unit=unit).values_list("entity_id", flat=True))
    UnitEntity.objects.filter(unit=unit).delete()
    names = [name for name in dict.fromkeys(entity_service.normalize_name(n) for n in names) if name]
    if not names:
        return old
    when = unit.occurred_start or unit.mentioned_at
    resolved = entity_service.resolve_mentions(
        bank_id=bank.pk,
        mentions=[entity_service.Mention(name=n, resolve=resolve, when=when, co_mentions=tuple(names)) for n in names],
    )
    new = sorted({resolved[name.lower()] for name in names if name.lower() in resolved})
    UnitEntity.objects.bulk_create([UnitEntity(unit=unit, entity_id=e) for e in new], ignore_conflicts=True)
    unit.text_signals = " ".join(
        Entity.objects.filter(pk__in=new).order_by("canonical_name").values_list("canonical_name", flat=True)
    )
    return old | set(new)


def update_memory(*, bank: Bank, unit: MemoryUnit, edit: MemoryEdit) -> MemoryUnit:
    """Curate one fact: edit its text, context, dates, type or entities, or invalidate / restore it.

    A new text is embedded before the transaction (no model call holds locks). In one transaction the unit is
    updated, its links are rebuilt from what it now says, entity counts are recounted, and the observations built
    on it are dropped and it is queued for consolidation again. An invalidated fact keeps its row for audit but
    loses its links and observations and leaves recall; restoring it links it again.
    """
    from memories.embeddings import check_same_model, get_embedding_provider

    if unit.fact_type not in CURATABLE_TYPES:
        raise BadRequest("only world and experience facts can be curated; observations are derived from them")
    vector, model_id = None, None
    if edit.text is not UNSET:
        provider = get_embedding_provider(bank.embedding_model)
        check_same_model(bank.embedding_model, provider)
        vector = provider.embed_documents([edit.text])[0]
        model_id = provider.model_id

    now = timezone.now()
    with transaction.atomic():
        locked = MemoryUnit.objects.select_for_update().filter(pk=unit.pk, bank=bank).first()
        if locked is None:  # deleted while the new text was being embedded
            raise NotFound(f"Memory '{unit.pk}' not found in bank '{bank.bank_id}'")
        unit = locked
        touched: set[uuid.UUID] = set()
        if edit.text is not UNSET:
            unit.text, unit.embedding, unit.embedding_model = edit.text, vector, model_id
        if edit.context is not UNSET:
            unit.context = edit.context or ""
        for name in ("occurred_start", "occurred_end", "mentioned_at"):
            value = getattr(edit, name)
            if value is not UNSET:
                setattr(unit, name, value)
        moved_start_only = edit.occurred_start is not UNSET and edit.occurred_end is UNSET
        if moved_start_only and unit.occurred_start and unit.occurred_end and unit.occurred_end < unit.occurred_start:
            unit.occurred_end = unit.occurred_start  # a one-point event moved later: its end moves with it
        if unit.occurred_start and unit.occurred_end and unit.occurred_end < unit.occurred_start:
            raise BadRequest("occurred_end must not be before occurred_start")
        if edit.fact_type is not UNSET:
            unit.fact_type = edit.fact_type
        if edit.changes_content():
            unit.edited_at = now
        was_valid = unit.state == "valid"
        if edit.state == "invalidated":
            if was_valid:
                unit.invalidated_at = now
            unit.state = "invalidated"
            unit.invalidation_reason = edit.reason or ""
        elif edit.state == "valid":
            unit.state, unit.invalidation_reason, unit.invalidated_at = "valid", "", None
        elif edit.reason is not UNSET and unit.state == "invalidated":
            unit.invalidation_reason = edit.reason or ""
        if unit.state == "valid":  # queued for consolidation again; an invalidated fact is not consolidated
            unit.consolidated_at = None
            unit.consolidation_failed_at = None
        # Pair counts follow valid facts only: take the unit's back before it changes, add them again after.
        if was_valid:
            entity_service.remove_cooccurrences_of_units(unit_ids=[unit.pk])
        if edit.entities is not UNSET:
            touched |= _replace_entities(bank=bank, unit=unit, names=edit.entities, resolve=edit.resolve_entities)
        if unit.state == "valid":
            current = sorted(UnitEntity.objects.filter(unit=unit).values_list("entity_id", flat=True))
            entity_service.add_cooccurrences(
                bank_id=bank.pk, groups=[current], when=unit.occurred_start or unit.mentioned_at
            )
        unit.save()
        _requeue_consolidation(bank=bank, unit_ids=[unit.pk])
        MemoryLink.objects.filter(bank=bank, from_unit=unit).delete()
        MemoryLink.objects.filter(bank=bank, to_unit=unit).delete()
        if unit.state == "valid":
            links.link_new_units(
                bank_id=bank.pk, unit_ids=[unit.pk], vectors=[unit.embedding] if unit.embedding is not None else None
            )
        touched |= set(UnitEntity.objects.filter(unit=unit).values_list("entity_id", flat=True))
        entity_service.refresh_entity_stats(entity_ids=touched)
        Bank.objects.filter(pk=bank.pk).update(last_write_at=now)
        return unit
