"""Entity resolution and entity statistics, run inside the retain write transaction.

A mention resolves to an existing entity of the bank when the names match case-insensitively, or when a trigram
candidate scores above ``MERGE_THRESHOLD`` on name similarity (0.5), overlap with the entities it is mentioned
beside (0.3) and closeness in time to the candidate's last mention (0.2); otherwise a new entity is created.
Label entities (``key:value``) and mentions the caller asked not to resolve only ever match exactly.
"""

from __future__ import annotations

import difflib
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models.functions import Lower

from memories.models import Entity, EntityKind

MERGE_THRESHOLD = 0.6
TRIGRAM_MIN_SIMILARITY = 0.3
TIME_WINDOW_DAYS = 7.0
_SPACES = re.compile(r"\s+")


ENTITY_NAME_MAX_CHARS = Entity._meta.get_field("canonical_name").max_length


def normalize_name(name: str) -> str:
    return _SPACES.sub(" ", name).strip(" \t\n\"'.,;:!?()[]{}")


@dataclass
class Mention:
    name: str
    kind: str = EntityKind.REGULAR
    entity_type: str | None = None
    resolve: bool = True  # False: only an exact (case-insensitive) match may be reused
    when: datetime | None = None
    co_mentions: tuple[str, ...] = ()  # other names in the same fact


def _score(name: str, candidate: str, overlap: float, days_apart: float | None) -> float:
    similarity = difflib.SequenceMatcher(None, name.lower(), candidate.lower()).ratio()
    closeness = 0.0 if days_apart is None else max(0.0, 1.0 - days_apart / TIME_WINDOW_DAYS)
    return 0.5 * similarity + 0.3 * overlap + 0.2 * closeness


def _candidates(bank_id: int, names: Sequence[str]) -> dict[str, list[tuple[uuid.UUID, str, datetime | None]]]:
    """Trigram-similar regular entities for each name (one query for all names)."""
    if not names:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL pg_trgm.similarity_threshold = %s", [TRIGRAM_MIN_SIMILARITY])
        cursor.execute(
            """
            SELECT q.name, e.id, e.canonical_name, e.last_seen
            FROM unnest(%s::text[]) AS q(name)
            CROSS JOIN LATERAL (
                SELECT id, canonical_name, last_seen
                FROM memories_entity
                WHERE bank_id = %s AND kind = 'regular' AND lower(canonical_name) %% lower(q.name)
                ORDER BY similarity(lower(canonical_name), lower(q.name)) DESC
                LIMIT 10
            ) e
            """,
            [list(names), bank_id],
        )
        found: dict[str, list] = {}
        for name, entity_id, canonical, last_seen in cursor.fetchall():
            found.setdefault(name, []).append((entity_id, canonical, last_seen))
    return found


def _cooccurring_names(bank_id: int, entity_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    ids = list(set(entity_ids))
    if not ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.entity_1_id, c.entity_2_id, lower(e1.canonical_name), lower(e2.canonical_name)
            FROM memories_entitycooccurrence c
            JOIN memories_entity e1 ON e1.id = c.entity_1_id
            JOIN memories_entity e2 ON e2.id = c.entity_2_id
            WHERE c.bank_id = %s AND (c.entity_1_id = ANY(%s) OR c.entity_2_id = ANY(%s))
            """,
            [bank_id, ids, ids],
        )
        names: dict[uuid.UUID, set[str]] = {}
        for first, second, first_name, second_name in cursor.fetchall():
            names.setdefault(first, set()).add(second_name)
            names.setdefault(second, set()).add(first_name)
    return names


def resolve_mentions(*, bank_id: int, mentions: Sequence[Mention]) -> dict[str, uuid.UUID]:
    """Map each mention's lower-cased name to an entity id of the bank, creating entities as needed.

    Call inside the write transaction. New entities are inserted with ON CONFLICT DO NOTHING on the bank's
    case-insensitive unique name, so concurrent retains into one bank never create duplicates.
    """
    by_key: dict[str, Mention] = {}
    for mention in mentions:
        name = normalize_name(mention.name)
        # Longer than any name (a capitalised paragraph, a model's runaway output) and than the column: not kept.
        if not name or len(name) > ENTITY_NAME_MAX_CHARS:
            continue
        key = name.lower()
        if key not in by_key:
            by_key[key] = Mention(name, mention.kind, mention.entity_type, mention.resolve, mention.when, ())
        merged = by_key[key]
        merged.resolve = merged.resolve and mention.resolve
        merged.co_mentions = tuple(dict.fromkeys(merged.co_mentions + mention.co_mentions))
        if mention.when and (merged.when is None or mention.when > merged.when):
            merged.when = mention.when
    if not by_key:
        return {}

    resolved = _existing(bank_id, list(by_key))

    fuzzy = [m for key, m in by_key.items() if key not in resolved and m.resolve and m.kind == EntityKind.REGULAR]
    candidates = _candidates(bank_id, [m.name for m in fuzzy])
    neighbour_names = _cooccurring_names(
        bank_id, (entity_id for options in candidates.values() for entity_id, _, _ in options)
    )
    for mention in fuzzy:
        best: tuple[float, uuid.UUID] | None = None
        others = {normalize_name(n).lower() for n in mention.co_mentions} - {mention.name.lower()}
        for entity_id, canonical, last_seen in candidates.get(mention.name, []):
            overlap = len(others & neighbour_names.get(entity_id, set())) / len(others) if others else 0.0
            days = None
            if mention.when and last_seen:
                days = abs((mention.when - last_seen).total_seconds()) / 86400
            score = _score(mention.name, canonical, overlap, days)
            if score > MERGE_THRESHOLD and (best is None or score > best[0]):
                best = (score, entity_id)
        if best is not None:
            resolved[mention.name.lower()] = best[1]

    missing = [m for key, m in by_key.items() if key not in resolved]
    if missing:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO memories_entity (id, bank_id, canonical_name, kind, mention_count, metadata, created_at)
                SELECT gen_random_uuid(), %s, n.name, n.kind, 0,
                       CASE WHEN n.etype IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('type', n.etype) END, now()
                FROM unnest(%s::text[], %s::text[], %s::text[]) AS n(name, kind, etype)
                ON CONFLICT (lower(canonical_name), bank_id) DO NOTHING
                """,
                [
                    bank_id,
                    [m.name for m in missing],
                    [m.kind for m in missing],
                    [m.entity_type for m in missing],
                ],
            )
        resolved.update(_existing(bank_id, [m.name.lower() for m in missing]))
    return resolved


def _existing(bank_id: int, lowered_names: list[str]) -> dict[str, uuid.UUID]:
    """Entities of the bank whose lower-cased name is one of these (served by the unique name index)."""
    rows = (
        Entity.objects.annotate(lowered=Lower("canonical_name"))
        .filter(bank_id=bank_id, lowered__in=lowered_names)
        .values_list("lowered", "id")
    )
    return dict(rows)


def add_cooccurrences(*, bank_id: int, groups: Iterable[Sequence[uuid.UUID]], when: datetime | None) -> None:
    """Count each pair of entities mentioned in the same fact (smaller id first), in sorted order."""
    counts: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    for group in groups:
        ids = sorted(set(group))
        for i, first in enumerate(ids):
            for second in ids[i + 1 :]:
                counts[(first, second)] = counts.get((first, second), 0) + 1
    if not counts:
        return
    pairs = sorted(counts)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO memories_entitycooccurrence (bank_id, entity_1_id, entity_2_id, count, last_cooccurred)
            SELECT %s, p.a, p.b, p.n, %s FROM unnest(%s::uuid[], %s::uuid[], %s::int[]) AS p(a, b, n)
            ON CONFLICT (entity_1_id, entity_2_id) DO UPDATE
            SET count = memories_entitycooccurrence.count + EXCLUDED.count,
                last_cooccurred = GREATEST(memories_entitycooccurrence.last_cooccurred, EXCLUDED.last_cooccurred)
            """,
            [bank_id, when, [a for a, _ in pairs], [b for _, b in pairs], [counts[p] for p in pairs]],
        )


def remove_cooccurrences_of_units(*, unit_ids: Sequence[uuid.UUID]) -> None:
    """Before units are deleted (or invalidated): take back the pair counts their facts contributed. Only valid
    units count: an invalidated fact's pairs were taken back when it was invalidated."""
    if not unit_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH pairs AS (
                SELECT a.entity_id AS first, b.entity_id AS second, count(*) AS n
                FROM memories_unitentity a
                JOIN memories_unitentity b ON a.unit_id = b.unit_id AND a.entity_id < b.entity_id
                JOIN memories_memoryunit u ON u.id = a.unit_id AND u.state = 'valid'
                WHERE a.unit_id = ANY(%s)
                GROUP BY 1, 2
            )
            UPDATE memories_entitycooccurrence c SET count = GREATEST(c.count - pairs.n, 0)
            FROM pairs WHERE c.entity_1_id = pairs.first AND c.entity_2_id = pairs.second
            """,
            [list(unit_ids)],
        )
        cursor.execute("DELETE FROM memories_entitycooccurrence WHERE count = 0")


def _lock_entities(cursor, entity_ids: Sequence[uuid.UUID]) -> None:
    """Row locks on these entities in id order, before an UPDATE of them: concurrent writers touching the same
    entities then queue instead of deadlocking (an UPDATE locks rows in whatever order its plan meets them)."""
    cursor.execute("SELECT id FROM memories_entity WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE", [entity_ids])


def count_new_mentions(*, unit_ids: Sequence[uuid.UUID], entity_ids: Iterable[uuid.UUID]) -> None:
    """Add the mentions of these just-written (valid) units to their entities' counts and first/last seen;
    ``entity_ids`` are the entities those units mention.

    Retain only adds units, so this costs what the new units cost; recounting every unit of each touched entity
    (``refresh_entity_stats``) grew with the bank (about 100 ms a request at 100,000 units, where every request
    mentions the same few people)."""
    entities = sorted(set(entity_ids))
    if not unit_ids or not entities:
        return
    ids = "{" + ",".join(str(unit_id) for unit_id in unit_ids) + "}"
    with connection.cursor() as cursor:
        _lock_entities(cursor, entities)
        cursor.execute(
            """
            UPDATE memories_entity e
            SET mention_count = e.mention_count + s.n, first_seen = least(e.first_seen, s.first_seen),
                last_seen = greatest(e.last_seen, s.last_seen)
            FROM (
                SELECT ue.entity_id, count(*) AS n,
                       min(coalesce(u.event_time, u.created_at)) AS first_seen,
                       max(coalesce(u.event_time, u.created_at)) AS last_seen
                FROM memories_unitentity ue JOIN memories_memoryunit u ON u.id = ue.unit_id
                WHERE ue.unit_id = ANY(%s::uuid[]) AND u.state = 'valid'
                GROUP BY ue.entity_id
            ) s
            WHERE e.id = s.entity_id
            """,
            [ids],
        )


def refresh_entity_stats(*, entity_ids: Iterable[uuid.UUID]) -> None:
    """Recount mentions and first/last seen for these entities from their valid units (an invalidated fact keeps
    its mention rows, so restoring it is lossless, but no longer counts); drop entities left with no unit at all."""
    ids = sorted(set(entity_ids))
    if not ids:
        return
    with connection.cursor() as cursor:
        _lock_entities(cursor, ids)
        cursor.execute(
            """
            UPDATE memories_entity e
            SET mention_count = coalesce(s.n, 0), first_seen = coalesce(s.first_seen, e.first_seen),
                last_seen = coalesce(s.last_seen, e.last_seen)
            FROM unnest(%s::uuid[]) AS wanted(id)
            LEFT JOIN (
                SELECT ue.entity_id, count(*) AS n,
                       min(coalesce(u.event_time, u.created_at)) AS first_seen,
                       max(coalesce(u.event_time, u.created_at)) AS last_seen
                FROM memories_unitentity ue JOIN memories_memoryunit u ON u.id = ue.unit_id
                WHERE ue.entity_id = ANY(%s) AND u.state = 'valid'
                GROUP BY ue.entity_id
            ) s ON s.entity_id = wanted.id
            WHERE e.id = wanted.id
            """,
            [ids, ids],
        )
        cursor.execute(
            """
            DELETE FROM memories_entity e
            WHERE e.id = ANY(%s) AND NOT EXISTS (SELECT 1 FROM memories_unitentity ue WHERE ue.entity_id = e.id)
            """,
            [ids],
        )
