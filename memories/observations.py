"""The observation routes' services and reads: clear, recover, scopes and history. The consolidation run itself
lives in ``memories.consolidation``."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connection, transaction

from banks.models import Bank
from banks.selectors import resolved_config
from hindsight_site import llm
from hindsight_site.api import iso
from hindsight_site.errors import NotFound
from memories import consolidation
from memories.models import FactType, MemoryUnit, ObservationHistory


def get_memory(*, bank: Bank, memory_id: str) -> MemoryUnit:
    """A memory unit of this bank; another bank's id (or a malformed one) is not found."""
    try:
        unit_id = uuid.UUID(str(memory_id))
    except ValueError:
        raise NotFound(f"Memory '{memory_id}' not found in bank '{bank.bank_id}'") from None
    unit = MemoryUnit.objects.filter(bank=bank, pk=unit_id).first()
    if unit is None:
        raise NotFound(f"Memory '{memory_id}' not found in bank '{bank.bank_id}'")
    return unit


def _consolidates(bank: Bank) -> bool:
    return bool(resolved_config(bank).get("enable_observations", True)) and llm.llm_configured("consolidation")


# --- writes ------------------------------------------------------------------------------------------------------


def clear_observations(*, bank: Bank) -> int:
    """Delete every observation of the bank and send all its facts back to the consolidation backlog, so the next
    run rebuilds observations from scratch. Returns how many observations were deleted."""
    with transaction.atomic():
        deleted = MemoryUnit.objects.filter(bank=bank, fact_type=FactType.OBSERVATION).count()
        MemoryUnit.objects.filter(bank=bank, fact_type=FactType.OBSERVATION).delete()
        MemoryUnit.objects.filter(bank=bank, consolidated_at__isnull=False).exclude(
            fact_type=FactType.OBSERVATION
        ).update(consolidated_at=None)
    return deleted


def clear_memory_observations(*, bank: Bank, memory_id: str) -> int:
    """Delete the observations derived from one memory, send it (and their other facts) back to the backlog and
    queue a run to consolidate them afresh. Returns how many observations were deleted."""
    with transaction.atomic():
        unit = get_memory(bank=bank, memory_id=memory_id)
        deleted = consolidation.clear_observations_for_sources(bank=bank, unit_ids=[unit.pk])
        if unit.fact_type != FactType.OBSERVATION:
            MemoryUnit.objects.filter(pk=unit.pk).update(consolidated_at=None, consolidation_failed_at=None)
        if _consolidates(bank):
            consolidation.schedule_consolidation(bank=bank)
    return deleted


def recover_consolidation(*, bank: Bank) -> int:
    """Clear the failure mark of facts consolidation gave up on, so the next run tries them again (a run is queued
    when a model is configured). Observations are untouched. Returns how many facts were reset."""
    with transaction.atomic():
        retried = MemoryUnit.objects.filter(bank=bank, consolidation_failed_at__isnull=False).update(
            consolidation_failed_at=None, consolidated_at=None
        )
        if retried and _consolidates(bank):
            consolidation.schedule_consolidation(bank=bank)
    return retried


# --- reads -------------------------------------------------------------------------------------------------------


def observation_scopes(*, bank: Bank, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Distinct observation scopes (sorted tag sets) with their observation counts, most populous first."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH scopes AS (
                SELECT coalesce((SELECT array_agg(DISTINCT t ORDER BY t) FROM unnest(u.tags) AS t), '{}') AS tags,
                       count(*) AS n
                FROM memories_memoryunit u
                WHERE u.bank_id = %s AND u.fact_type = 'observation'
                GROUP BY 1
            )
            SELECT tags, n, count(*) OVER () FROM scopes ORDER BY n DESC, tags LIMIT %s OFFSET %s
            """,
            [bank.pk, limit, offset],
        )
        rows = cursor.fetchall()
    if not rows and offset:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT count(DISTINCT coalesce((SELECT array_agg(DISTINCT t ORDER BY t) FROM unnest(u.tags) t), '{}'))
                FROM memories_memoryunit u WHERE u.bank_id = %s AND u.fact_type = 'observation'
                """,
                [bank.pk],
            )
            total = cursor.fetchone()[0]
    else:
        total = rows[0][2] if rows else 0
    return [{"tags": list(tags), "count": count} for tags, count, _ in rows], total


def observation_history(*, bank: Bank, memory_id: str) -> list[dict[str, Any]]:
    """Every change of an observation, oldest first, each with the facts it brought in resolved to their text (a
    fact deleted since is listed with ``text`` null). A fact has no history: an empty list."""
    unit = get_memory(bank=bank, memory_id=memory_id)
    changes = list(ObservationHistory.objects.filter(observation=unit).order_by("created_at", "id"))
    fact_ids = {fact_id for change in changes for fact_id in change.source_memory_ids}
    facts = {
        row["id"]: row
        for row in MemoryUnit.objects.filter(bank=bank, pk__in=fact_ids).values(
            "id", "text", "fact_type", "occurred_start", "mentioned_at", "state"
        )
    }

    def fact(fact_id: uuid.UUID) -> dict[str, Any]:
        row = facts.get(fact_id)
        return {
            "id": str(fact_id),
            "text": row["text"] if row else None,
            "type": row["fact_type"] if row else None,
            "occurred_start": iso(row["occurred_start"]) if row else None,
            "mentioned_at": iso(row["mentioned_at"]) if row else None,
            "state": row["state"] if row else "deleted",
        }

    return [
        {
            "changed_at": iso(change.created_at),
            "action": change.action,
            "text": change.text,
            "previous_text": change.previous_text or None,
            "reason": change.reason or None,
            "source_facts": [fact(fact_id) for fact_id in change.source_memory_ids],
            "operation_id": str(change.operation_id) if change.operation_id else None,
        }
        for change in changes
    ]
