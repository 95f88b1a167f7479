"""Links between memory units, written in the retain transaction right after the new units.

Each kind is one set-based statement over all the new units, capped per unit so a bank's link count grows linearly:

* temporal: the nearest units in time within a day, weight ``max(0.3, 1 - hours/24)``;
* semantic: the nearest units by cosine (HNSW), kept when similarity >= ``SEMANTIC_MIN_SIMILARITY``;
* entity: the most recent units mentioning the same entity;
* caused_by: from the extractor's causal relations (effect -> cause).

Symmetric links are stored once, smaller unit id first; graph retrieval walks them both ways.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from django.db import connection

TEMPORAL_PER_UNIT = 5
TEMPORAL_WINDOW_HOURS = 24
SEMANTIC_PER_UNIT = 5
SEMANTIC_MIN_SIMILARITY = 0.7
ENTITY_PER_UNIT_AND_ENTITY = 3


def link_new_units(
    *, bank_id: int, unit_ids: Sequence[uuid.UUID], causal_pairs: Sequence[tuple[uuid.UUID, uuid.UUID]] = ()
) -> None:
    """Create every kind of link for units just inserted (same transaction)."""
    ids = list(unit_ids)
    if not ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO memories_memorylink
                (bank_id, from_unit_id, to_unit_id, link_type, entity_id, weight, created_at)
            SELECT %(bank)s, least(n.id, m.id), greatest(n.id, m.id), 'temporal', NULL,
                   greatest(0.3, 1 - m.hours / %(window)s), now()
            FROM memories_memoryunit n
            CROSS JOIN LATERAL (
                SELECT o.id, abs(extract(epoch FROM o.event_time - n.event_time)) / 3600.0 AS hours
                FROM memories_memoryunit o
                WHERE o.bank_id = %(bank)s AND o.id <> n.id AND o.fact_type <> 'observation'
                  AND o.event_time BETWEEN n.event_time - make_interval(hours => %(window)s)
                                       AND n.event_time + make_interval(hours => %(window)s)
                ORDER BY abs(extract(epoch FROM o.event_time - n.event_time)), o.id
                LIMIT %(per_unit)s
            ) m
            WHERE n.id = ANY(%(ids)s) AND n.event_time IS NOT NULL
            ON CONFLICT DO NOTHING
            """,
            {"bank": bank_id, "ids": ids, "window": TEMPORAL_WINDOW_HOURS, "per_unit": TEMPORAL_PER_UNIT},
        )
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute("SET LOCAL hnsw.ef_search = 40")
        cursor.execute(
            """
            INSERT INTO memories_memorylink
                (bank_id, from_unit_id, to_unit_id, link_type, entity_id, weight, created_at)
            SELECT %(bank)s, least(n.id, m.id), greatest(n.id, m.id), 'semantic', NULL, least(m.similarity, 1.0), now()
            FROM memories_memoryunit n
            CROSS JOIN LATERAL (
                SELECT o.id, 1 - (o.embedding <=> n.embedding) AS similarity
                FROM memories_memoryunit o
                WHERE o.bank_id = %(bank)s AND o.id <> n.id AND o.embedding IS NOT NULL
                ORDER BY o.embedding <=> n.embedding
                LIMIT %(per_unit)s
            ) m
            WHERE n.id = ANY(%(ids)s) AND n.embedding IS NOT NULL AND m.similarity >= %(min)s
            ON CONFLICT DO NOTHING
            """,
            {"bank": bank_id, "ids": ids, "per_unit": SEMANTIC_PER_UNIT, "min": SEMANTIC_MIN_SIMILARITY},
        )
        cursor.execute(
            """
            INSERT INTO memories_memorylink
                (bank_id, from_unit_id, to_unit_id, link_type, entity_id, weight, created_at)
            SELECT %(bank)s, least(n.unit_id, m.unit_id), greatest(n.unit_id, m.unit_id), 'entity', n.entity_id, 1.0,
                   now()
            FROM memories_unitentity n
            CROSS JOIN LATERAL (
                SELECT o.unit_id FROM memories_unitentity o
                WHERE o.entity_id = n.entity_id AND o.unit_id <> n.unit_id
                ORDER BY o.id DESC
                LIMIT %(per_entity)s
            ) m
            WHERE n.unit_id = ANY(%(ids)s)
            ON CONFLICT DO NOTHING
            """,
            {"bank": bank_id, "ids": ids, "per_entity": ENTITY_PER_UNIT_AND_ENTITY},
        )
        if causal_pairs:
            cursor.execute(
                """
                INSERT INTO memories_memorylink
                    (bank_id, from_unit_id, to_unit_id, link_type, entity_id, weight, created_at)
                SELECT %s, p.effect, p.cause, 'caused_by', NULL, 1.0, now()
                FROM unnest(%s::uuid[], %s::uuid[]) AS p(effect, cause)
                WHERE p.effect <> p.cause
                ON CONFLICT DO NOTHING
                """,
                [bank_id, [e for e, _ in causal_pairs], [c for _, c in causal_pairs]],
            )
