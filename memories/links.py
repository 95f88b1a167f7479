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

import numpy as np
from django.db import connection

TEMPORAL_PER_UNIT = 5
TEMPORAL_WINDOW_HOURS = 24
SEMANTIC_PER_UNIT = 5
SEMANTIC_MIN_SIMILARITY = 0.7
SEMANTIC_MAX_SCAN_TUPLES = 4000
ENTITY_PER_UNIT_AND_ENTITY = 3


def _link_within_batch(cursor, bank_id: int, ids: list[uuid.UUID], vectors: Sequence[Sequence[float]] | None) -> None:
    """Semantic links among the new units themselves, from their vectors in memory (one matrix product)."""
    if not vectors or len(ids) < 2:
        return
    matrix = np.asarray(vectors, dtype=np.float32)
    similarity = matrix @ matrix.T
    np.fill_diagonal(similarity, -1.0)
    count = min(SEMANTIC_PER_UNIT, len(ids) - 1)
    nearest = np.argpartition(-similarity, count - 1, axis=1)[:, :count]
    pairs: dict[tuple[uuid.UUID, uuid.UUID], float] = {}
    for row, columns in enumerate(nearest):
        for column in columns:
            score = float(similarity[row, column])
            if score >= SEMANTIC_MIN_SIMILARITY:
                first, second = sorted((ids[row], ids[int(column)]))
                pairs[(first, second)] = min(score, 1.0)
    if not pairs:
        return
    keys = sorted(pairs)
    cursor.execute(
        """
        INSERT INTO memories_memorylink (bank_id, from_unit_id, to_unit_id, link_type, entity_id, weight, created_at)
        SELECT %s, p.a, p.b, 'semantic', NULL, p.w, now()
        FROM unnest(%s::uuid[], %s::uuid[], %s::float8[]) AS p(a, b, w)
        ON CONFLICT DO NOTHING
        """,
        [bank_id, [a for a, _ in keys], [b for _, b in keys], [pairs[k] for k in keys]],
    )


def link_new_units(
    *,
    bank_id: int,
    unit_ids: Sequence[uuid.UUID],
    causal_pairs: Sequence[tuple[uuid.UUID, uuid.UUID]] = (),
    vectors: Sequence[Sequence[float]] | None = None,
) -> None:
    """Create every kind of link for units just inserted (same transaction); ``vectors`` are theirs, in order."""
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
                -- Two index-ordered scans on (bank, event_time), one each way, instead of sorting the whole window.
                SELECT nearest.id, nearest.hours FROM (
                    (SELECT o.id, extract(epoch FROM n.event_time - o.event_time) / 3600.0 AS hours
                     FROM memories_memoryunit o
                     WHERE o.bank_id = %(bank)s AND o.id <> n.id AND o.fact_type <> 'observation'
                       AND o.event_time <= n.event_time
                       AND o.event_time >= n.event_time - make_interval(hours => %(window)s)
                     ORDER BY o.event_time DESC LIMIT %(per_unit)s)
                    UNION ALL
                    (SELECT o.id, extract(epoch FROM o.event_time - n.event_time) / 3600.0 AS hours
                     FROM memories_memoryunit o
                     WHERE o.bank_id = %(bank)s AND o.fact_type <> 'observation'
                       AND o.event_time > n.event_time
                       AND o.event_time <= n.event_time + make_interval(hours => %(window)s)
                     ORDER BY o.event_time ASC LIMIT %(per_unit)s)
                ) AS nearest
                ORDER BY nearest.hours, nearest.id
                LIMIT %(per_unit)s
            ) m
            WHERE n.id = ANY(%(ids)s) AND n.event_time IS NOT NULL
            ON CONFLICT DO NOTHING
            """,
            {"bank": bank_id, "ids": ids, "window": TEMPORAL_WINDOW_HOURS, "per_unit": TEMPORAL_PER_UNIT},
        )
        # Neighbours among the bank's existing units come from the HNSW index, never from an exact scan: an exact
        # scan costs (new units x bank size) distance computations. "bank_id + 0" keeps the planner off the bank's
        # btree and enable_seqscan=off off the heap, so only the (bounded, iterative) HNSW scan remains.
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute("SET LOCAL hnsw.ef_search = 40")
        cursor.execute("SET LOCAL hnsw.max_scan_tuples = %s", [SEMANTIC_MAX_SCAN_TUPLES])
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            """
            INSERT INTO memories_memorylink
                (bank_id, from_unit_id, to_unit_id, link_type, entity_id, weight, created_at)
            SELECT %(bank)s, least(n.id, m.id), greatest(n.id, m.id), 'semantic', NULL, least(m.similarity, 1.0), now()
            FROM memories_memoryunit n
            CROSS JOIN LATERAL (
                SELECT o.id, 1 - (o.embedding <=> n.embedding) AS similarity
                FROM memories_memoryunit o
                WHERE (o.bank_id + 0) = %(bank)s AND o.id <> ALL(%(ids)s)
                ORDER BY o.embedding <=> n.embedding
                LIMIT %(per_unit)s
            ) m
            WHERE n.id = ANY(%(ids)s) AND n.embedding IS NOT NULL AND m.similarity >= %(min)s
            ON CONFLICT DO NOTHING
            """,
            {"bank": bank_id, "ids": ids, "per_unit": SEMANTIC_PER_UNIT, "min": SEMANTIC_MIN_SIMILARITY},
        )
        cursor.execute("SET LOCAL enable_seqscan = on")
        _link_within_batch(cursor, bank_id, ids, vectors)
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
