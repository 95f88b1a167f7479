"""An in-process copy of a large bank for recall: the four channels answered from memory instead of by PostgreSQL.

Recall on a bank of 100,000 memories spends most of its time in PostgreSQL (an HNSW probe, a full-text pass over
hundreds of matching rows, a graph walk, a temporal scan, then writing each result's JSON), plus the round trips.
A bank above ``HINDSIGHT_RECALL_INDEX_MIN_UNITS`` is therefore copied, once, into each web process that recalls from
it: unit vectors and an HNSW graph over them (usearch, int8), each unit's lexemes as postings, its times, token count
and links, its entities, and its result JSON without scores. The channels then mirror the SQL ones (same filters,
scores, tie-breaks and depth), so fused results are the ones PostgreSQL would give, save that the HNSW graphs differ.

Coherence: the copy is of one PostgreSQL snapshot. Triggers log, per bank, every transaction that changes what recall
reads (migration 0007). Before each use, one query asks whether a transaction that snapshot did not see has since
committed a change to the bank; if so the copy is dropped, that recall reads PostgreSQL, and a new copy is built in
the background once 20 times the last build's duration has passed since it began (or
``HINDSIGHT_RECALL_INDEX_REBUILD_SECONDS`` if that is shorter), per bank and process. A copy is never updated in
place: a bank written to all the time is mostly recalled from PostgreSQL.

Recalls filtered by tags are answered by PostgreSQL (the tag semantics live in SQL), as are banks where some valid
unit has no embedding of the bank's dimension.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, connections, transaction

logger = logging.getLogger(__name__)

LINK_TYPES = ("entity", "caused_by", "semantic", "temporal")
# Rows of a channel's candidates scored exactly before the HNSW index is asked: below this, a filtered semantic
# search scans the allowed rows instead.
EXACT_SEMANTIC_ROWS = 20_000
ENTITY_UNITS_KEPT = 51
SIMILARITY_SLICE = 1024  # the graph's 50 newest units of an entity, plus the seed itself


@dataclass
class BankIndex:
    bank_pk: int
    snapshot: str  # pg_snapshot of the transaction that read the bank
    ids: list[str]  # row -> unit id, rows in id (text) order: a row number breaks ties as the id does in SQL
    row_of: dict[str, int]
    vectors: np.ndarray  # (rows, dim) float32, unit length
    ann: Any  # usearch Index whose keys are rows
    fact_types: np.ndarray  # (rows,) int8 code into type_names
    type_names: list[str]
    happened: np.ndarray  # epoch seconds of coalesce(event_time, created_at)
    lengths: np.ndarray  # characters of text
    tokens: np.ndarray  # token count of text
    event_time: np.ndarray  # epoch seconds, NaN when NULL
    occurred_start: np.ndarray
    occurred_end: np.ndarray
    postings: dict[str, np.ndarray]  # lexeme -> rows containing it
    sizes: np.ndarray  # lexemes per row (length(search_vector))
    link_start: np.ndarray  # CSR over rows, both directions: neighbours and weight * link factor
    link_to: np.ndarray
    link_weight: np.ndarray
    link_factor: np.ndarray
    row_entities: list[tuple[int, ...]]  # row -> positions into entity arrays
    entity_mentions: np.ndarray  # mention_count per entity position
    entity_units: list[np.ndarray]  # entity position -> its newest units' rows (-1: not in the copy), newest first
    entity_position: dict[str, int]  # entity id -> position; positions run in recall's entity order
    entity_names: list[str]
    entity_keys: list[str]  # position -> entity id
    heads: list[str]  # each row's RecallResult JSON without its scores and closing brace
    chunk_ids: list[str | None]
    source_ids: list[tuple[str, ...]]
    entity_ids: list[tuple[str, ...] | None]
    ann_lock: threading.Lock = field(default_factory=threading.Lock)
    built_at: float = field(default_factory=time.monotonic)
    used_at: float = field(default_factory=time.monotonic)

    @property
    def size(self) -> int:
        return len(self.ids)

    def facts(self, rows: list[int]) -> dict[str, tuple[float, int, int]]:
        """What fusion and the budget need of each row (as recall's SQL channels report it), by unit id."""
        rows = np.unique(np.array(rows, dtype=np.int64))
        ids = self.ids
        return {
            ids[row]: fact
            for row, fact in zip(
                rows.tolist(),
                zip(self.happened[rows].tolist(), self.lengths[rows].tolist(), self.tokens[rows].tolist(), strict=True),
                strict=True,
            )
        }

    # --- channels: each returns (row, score) best first ----------------------------------------------------------

    def type_mask(self, types: list[str]) -> np.ndarray | None:
        if not types:
            return None
        codes = [self.type_names.index(t) for t in types if t in self.type_names]
        return np.isin(self.fact_types, np.array(codes, dtype=np.int8))

    def semantic(self, query: np.ndarray, depth: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
        allowed = self.size if mask is None else int(mask.sum())
        if allowed == 0 or depth <= 0:
            return []
        if allowed <= EXACT_SEMANTIC_ROWS:
            rows = np.arange(self.size) if mask is None else np.flatnonzero(mask)
            return self._best(rows, self.similarities(rows, query), depth)
        # An HNSW probe deep enough that the filter still leaves ``depth`` rows (as pgvector's iterative scan does);
        # a filter too selective for that is answered by the exact scan.
        wanted = min(self.size, depth * max(1, math.ceil(2 * self.size / allowed)) if mask is not None else depth)
        with self.ann_lock:  # one search at a time: the binding's searches share per-thread scratch space
            rows = np.asarray(self.ann.search(query, wanted, exact=False).keys, dtype=np.int64)
        if mask is not None:
            rows = rows[mask[rows]]
            if len(rows) < min(depth, allowed):
                rows = np.flatnonzero(mask)
        return self._best(rows, self.similarities(rows, query), depth)

    @staticmethod
    def _best(rows: np.ndarray, scores: np.ndarray, depth: int) -> list[tuple[int, float]]:
        if len(rows) > depth:
            keep = np.argpartition(-scores, depth - 1)[:depth]
            rows, scores = rows[keep], scores[keep]
        order = np.lexsort((rows, -scores))
        return [(int(rows[i]), float(scores[i])) for i in order]

    def keyword(
        self, terms: list[tuple[str, float]], informative: list[str], depth: int, mask: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """The SQL keyword channel: rows with every term first (by size, then id), then rows with any informative
        term by the summed weight of the terms they hold (then size, then id)."""
        empty = np.empty(0, dtype=np.int32)
        lists = [self.postings.get(lexeme, empty) for lexeme, _ in terms]
        held = np.zeros(self.size, dtype=np.int16)  # how many of the terms each row holds
        scores = np.zeros(self.size)  # the summed weight of those terms
        for (_, weight), rows in zip(terms, lists, strict=True):
            held[rows] += 1
            scores[rows] += weight
        every = held == len(terms)
        if mask is not None:
            every &= mask
        total = float(sum(weight for _, weight in terms))
        hits = [(row, total) for row in self._first(np.flatnonzero(every), None, depth).tolist()]
        if len(hits) >= depth or not informative or len(terms) == 1:
            return hits
        wanted = set(informative)
        anyone = np.zeros(self.size, dtype=bool)
        for (lexeme, _), rows in zip(terms, lists, strict=True):
            if lexeme in wanted:
                anyone[rows] = True
        anyone &= ~every
        if mask is not None:
            anyone &= mask
        chosen = self._first(np.flatnonzero(anyone), scores, depth - len(hits))
        hits.extend((row, float(scores[row])) for row in chosen.tolist())
        return hits

    def _first(self, rows: np.ndarray, scores: np.ndarray | None, count: int) -> np.ndarray:
        """The ``count`` rows first by score (highest), then size (fewest lexemes), then id: without sorting them
        all (a common word can match most of a bank)."""
        if count <= 0:
            return rows[:0]
        if len(rows) > count:
            tie_key = self.sizes[rows].astype(np.int64) * (self.size + 1) + rows  # size, then row (= id) order
            if scores is None:
                rows = rows[np.argpartition(tie_key, count - 1)[:count]]
            else:
                values = scores[rows]
                kth = np.partition(values, len(values) - count)[len(values) - count]
                above, tied = rows[values > kth], rows[values == kth]
                room = count - len(above)
                if len(tied) > room:
                    tied = tied[np.argpartition(tie_key[values == kth], room - 1)[:room]]
                rows = np.concatenate([above, tied])
        if scores is None:
            return rows[np.lexsort((rows, self.sizes[rows]))]
        return rows[np.lexsort((rows, self.sizes[rows], -scores[rows]))]

    def graph(
        self, seeds: list[tuple[int, float]], depth: int, mask: np.ndarray | None, factors: dict[str, float]
    ) -> list[tuple[int, float]]:
        """One hop from the seeds over links (weight times the link type's factor) and shared entities (the seed's
        score over 1 + ln(mentions), to an entity's newest units); the best activation per row, seeds left out."""
        best: dict[int, float] = {}
        factor_of = np.array([factors.get(name, 0.0) for name in LINK_TYPES])
        seed_rows = {row for row, _ in seeds}
        for row, score in seeds:
            start, end = self.link_start[row], self.link_start[row + 1]
            neighbours = self.link_to[start:end]
            activation = score * self.link_weight[start:end] * factor_of[self.link_factor[start:end]]
            for other, value in zip(neighbours.tolist(), activation.tolist(), strict=True):
                if value > best.get(other, -1.0):
                    best[other] = value
            for entity in self.row_entities[row]:
                value = score / (1 + math.log(max(float(self.entity_mentions[entity]), 1.0)))
                kept = 0
                for other in self.entity_units[entity].tolist():
                    if other == row:
                        continue
                    kept += 1
                    if kept > ENTITY_UNITS_KEPT - 1:
                        break
                    if other >= 0 and value > best.get(other, -1.0):
                        best[other] = value
        from memories.recall import GRAPH_MIN_ACTIVATION

        reached = [
            (row, value)
            for row, value in best.items()
            if value >= GRAPH_MIN_ACTIVATION and row not in seed_rows and (mask is None or mask[row])
        ]
        reached.sort(key=lambda hit: (-hit[1], hit[0]))
        return reached[:depth]

    def temporal(self, query: np.ndarray, ranges, depth: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
        inside = np.zeros(self.size, dtype=bool)
        for r in ranges:
            start, end = r.start.timestamp(), r.end.timestamp()
            with np.errstate(invalid="ignore"):
                inside |= (self.event_time >= start) & (self.event_time <= end)
                inside |= (self.occurred_start <= end) & (self.occurred_end >= start)
        if mask is not None:
            inside &= mask
        rows = np.flatnonzero(inside)
        if len(rows) == 0:
            return []
        return self._best(rows, self.similarities(rows, query), depth)

    def similarities(self, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Cosine similarity of these rows to the query. Gathering many rows' vectors costs more than the product
        (a fresh 40 MB array faults in page by page): a quarter of the bank or more is scored whole and then picked,
        fewer rows are gathered in slices of 1,024."""
        if len(rows) * 4 >= self.size:
            return (self.vectors @ query)[rows]
        if len(rows) <= SIMILARITY_SLICE:
            return self.vectors[rows] @ query
        return np.concatenate(
            [self.vectors[rows[i : i + SIMILARITY_SLICE]] @ query for i in range(0, len(rows), SIMILARITY_SLICE)]
        )

    @property
    def has_observations(self) -> bool:
        return "observation" in self.type_names

    def entities_in_order(self, entity_ids: list[str]) -> list[tuple[str, str]]:
        """(id, name) of these entities, most mentioned first, then by name: as recall's SQL lists them."""
        positions = sorted(self.entity_position[e] for e in set(entity_ids) if e in self.entity_position)
        return [(self.entity_keys[p], self.entity_names[p]) for p in positions]

    def results(self, unit_ids: list, final: dict, semantic: dict, keyword: dict, reranker: dict) -> list:
        """Each unit's result (as ``recall._result_rows`` writes it), in this order."""
        from memories.recall import _Row

        row_of, heads, chunk_ids, source_ids, entity_ids = (
            self.row_of,
            self.heads,
            self.chunk_ids,
            self.source_ids,
            self.entity_ids,
        )
        out = []
        for unit_id in unit_ids:
            row = row_of[unit_id]
            payload = (
                f'{heads[row]}, "scores" : {{"final" : {_number(final.get(unit_id, 0.0))}, '
                f'"reranker" : {_number(reranker.get(unit_id))}, "semantic" : {_number(semantic.get(unit_id))}, '
                f'"keyword" : {_number(keyword.get(unit_id))}}}}}'
            )
            out.append(_Row(unit_id, "", chunk_ids[row], source_ids[row], entity_ids[row], payload))
        return out


def _number(value) -> str:
    """A score as PostgreSQL writes ``round(x::numeric, 6)`` into JSON (or null)."""
    if value is None:
        return "null"
    text = f"{value:.6f}"
    return "0.000000" if text == "-0.000000" else text


# --- the copies this process holds ----------------------------------------------------------------------------------

# Copies are built only where recall serves requests: hindsight_site/wsgi.py turns this on in web processes. A Celery
# worker (reflect's mental-model refreshes) or a management command recalls from PostgreSQL instead of spending
# seconds and hundreds of MiB on a copy it would use a few times.
BUILDS_ENABLED = False
# A copy unused this long is dropped (its bank deleted, or no longer recalled from).
IDLE_SECONDS = 3600

_lock = threading.Lock()
_indexes: dict[int, BankIndex] = {}
_building: set[int] = set()
_build_started: dict[int, float] = {}
_build_took: dict[int, float] = {}  # seconds the bank's last build took
# A stale copy is rebuilt once this many build-times have passed since the last build began (so rebuilding a bank that
# keeps changing costs at most about 1/20 of a core per process), and never less than HINDSIGHT_RECALL_INDEX_
# REBUILD_SECONDS apart: a 1,000-memory bank (under a second to build) can be rebuilt within seconds of a write, a
# 100,000-memory one (about 20 s) at most every 5 minutes.
REBUILD_COST_FACTOR = 20

_FRESH_SQL = """
    SELECT NOT EXISTS (
        SELECT 1 FROM memories_bankchange
        WHERE bank_id = %(bank)s AND xid >= pg_snapshot_xmin(%(snapshot)s::pg_snapshot)
          AND NOT pg_visible_in_snapshot(xid, %(snapshot)s::pg_snapshot)
    ) AND NOT EXISTS (
        -- pruning removed change rows this snapshot might need (see prune_changes)
        SELECT 1 FROM memories_bankchange WHERE bank_id = 0 AND xid > pg_snapshot_xmin(%(snapshot)s::pg_snapshot)
    )
"""


def enabled() -> bool:
    return settings.HINDSIGHT_RECALL_INDEX_MAX_UNITS > 0


def current(bank_pk: int, *, eligible: bool, text: str | None = None) -> tuple[BankIndex | None, list[str] | None]:
    """This process's copy of the bank if it is up to date (one query asks), else None; an ``eligible`` (large enough)
    bank without a copy, or with a stale one, gets one built in the background (in web processes).

    With ``text``, that one query also returns its lexemes (``to_tsvector``), which the keyword channel needs next:
    one round trip instead of two."""
    if not enabled():
        return None, None
    _drop_idle()
    index = _indexes.get(bank_pk)
    if index is not None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT ({_FRESH_SQL}), tsvector_to_array(to_tsvector('english', %(text)s))",
                {"bank": bank_pk, "snapshot": index.snapshot, "text": text or ""},
            )
            fresh, lexemes = cursor.fetchone()
        if fresh:
            index.used_at = time.monotonic()
            return index, (lexemes if text is not None else None)
        with _lock:
            if _indexes.get(bank_pk) is index:
                del _indexes[bank_pk]
    if eligible and BUILDS_ENABLED:
        _start_build(bank_pk)
    return None, None


def _drop_idle() -> None:
    now = time.monotonic()
    for bank_pk, index in list(_indexes.items()):
        if now - index.used_at > IDLE_SECONDS:
            with _lock:
                if _indexes.get(bank_pk) is index:
                    del _indexes[bank_pk]


def _start_build(bank_pk: int) -> None:
    with _lock:
        last = _build_started.get(bank_pk)
        wait = min(settings.HINDSIGHT_RECALL_INDEX_REBUILD_SECONDS, REBUILD_COST_FACTOR * _build_took.get(bank_pk, 0.0))
        if bank_pk in _building or (last is not None and time.monotonic() - last < wait):
            return
        _building.add(bank_pk)
        _build_started[bank_pk] = time.monotonic()
    threading.Thread(target=_build_thread, args=(bank_pk,), name=f"recall-index-{bank_pk}", daemon=True).start()


def _build_thread(bank_pk: int) -> None:
    started = time.monotonic()
    try:
        index = build(bank_pk)
        if index is not None:
            install(index)
    except Exception:
        logger.exception("Building the recall index of bank %s failed; recall reads PostgreSQL", bank_pk)
    finally:
        with _lock:
            _building.discard(bank_pk)
            _build_took[bank_pk] = time.monotonic() - started
        connections.close_all()
        _return_freed_memory()


def _return_freed_memory() -> None:
    """Hand the build's freed temporaries (rows read, lists of postings) back to the OS: glibc keeps them in its arenas
    otherwise, 90-160 MiB of resident memory after copying a bank of 100,000 memories. No-op on other C libraries."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def install(index: BankIndex) -> None:
    """Hold ``index``, dropping the least recently used copies beyond ``HINDSIGHT_RECALL_INDEX_MAX_UNITS``."""
    with _lock:
        _indexes[index.bank_pk] = index
        held = sorted(_indexes.values(), key=lambda i: i.used_at, reverse=True)
        total = 0
        for other in held:
            total += other.size
            if total > settings.HINDSIGHT_RECALL_INDEX_MAX_UNITS and other is not index:
                del _indexes[other.bank_pk]


def forget(bank_pk: int | None = None) -> None:
    """Drop this process's copies (of one bank, or all) and the build rate limit: for tests and the shell."""
    with _lock:
        if bank_pk is None:
            _indexes.clear()
            _build_started.clear()
            _build_took.clear()
        else:
            _indexes.pop(bank_pk, None)
            _build_started.pop(bank_pk, None)
            _build_took.pop(bank_pk, None)


def building(bank_pk: int) -> bool:
    return bank_pk in _building


# --- the change log -------------------------------------------------------------------------------------------------

CHANGES_KEPT = 100_000


def prune_changes(keep: int = CHANGES_KEPT) -> int:
    """Once the change log holds more than ``keep`` rows, delete those every running snapshot has seen.

    A copy built before the pruning might have needed a deleted row, so the pruning leaves its horizon behind (as
    bank 0) and copies older than it count as stale: each is rebuilt once, which is why the log is trimmed only
    when long. Returns how many rows were deleted."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM memories_bankchange")
        if cursor.fetchone()[0] <= keep:
            return 0
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
        horizon = cursor.fetchone()[0]
        cursor.execute("DELETE FROM memories_bankchange WHERE bank_id = 0 OR xid < %s::xid8", [horizon])
        deleted = cursor.rowcount
        cursor.execute("INSERT INTO memories_bankchange (bank_id, xid) VALUES (0, %s::xid8)", [horizon])
    logger.info("Pruned %s rows of the recall change log", deleted)
    return deleted


# --- building a copy ------------------------------------------------------------------------------------------------

_ROWS = """
    CREATE TEMPORARY TABLE recall_index_rows ON COMMIT DROP AS
    SELECT id, (row_number() OVER (ORDER BY id::text) - 1)::int4 AS n
    FROM memories_memoryunit WHERE bank_id = %s AND state = 'valid'
"""


def build(bank_pk: int) -> BankIndex | None:
    """Read the bank's valid units (in one REPEATABLE READ snapshot) into a new copy; None when the bank cannot be
    copied (a valid unit without an embedding of the bank's dimension, or nothing to copy)."""
    from usearch.index import Index

    from memories.recall import LINK_TYPE_FACTORS, _iso_sql, count_tokens

    started = time.perf_counter()
    nested = connection.in_atomic_block
    with connection.cursor() as outer:
        raw = outer.cursor
        pg = raw.connection
        if nested:
            # Inside a transaction (a test, a shell in atomic()): a copy of what that transaction sees, read in a
            # savepoint that is rolled back.
            raw.execute("SAVEPOINT recall_index_build")
        else:
            pg.autocommit = False
        try:
            if not nested:
                raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            raw.execute("SELECT pg_current_snapshot()::text")
            snapshot = raw.fetchone()[0]
            raw.execute("DROP TABLE IF EXISTS recall_index_rows")
            raw.execute(_ROWS, [bank_pk])
            raw.execute(
                """
                SELECT count(*), count(u.embedding), min(vector_dims(u.embedding)), max(vector_dims(u.embedding))
                FROM recall_index_rows r JOIN memories_memoryunit u ON u.id = r.id
                """
            )
            count, embedded, low, high = raw.fetchone()
            if count == 0 or embedded != count or low != high:
                logger.info("Bank %s is not copied for recall: %s units, %s with embeddings", bank_pk, count, embedded)
                return None
            dim = int(low)
            raw.execute("ANALYZE recall_index_rows")

            units = _copy_rows(
                raw,
                """
                SELECT u.embedding,
                       extract(epoch FROM coalesce(u.event_time, u.created_at))::float8,
                       coalesce(extract(epoch FROM u.event_time)::float8, 'NaN'),
                       coalesce(extract(epoch FROM u.occurred_start)::float8, 'NaN'),
                       coalesce(extract(epoch FROM u.occurred_end)::float8, 'NaN'),
                       length(u.text)::int4, coalesce(u.token_count, -1)::int4,
                       coalesce(length(u.search_vector), 0)::int4
                FROM recall_index_rows r JOIN memories_memoryunit u ON u.id = r.id ORDER BY r.n
                """,
                [
                    ("embedding", f">i2,>i2,>{dim}f4"),
                    ("happened", ">f8"),
                    ("event_time", ">f8"),
                    ("occurred_start", ">f8"),
                    ("occurred_end", ">f8"),
                    ("length", ">i4"),
                    ("tokens", ">i4"),
                    ("size", ">i4"),
                ],
            )
            raw.execute(
                f"""
                SELECT u.id::text, u.fact_type, tsvector_to_array(u.search_vector), u.text, u.chunk_id::text,
                       u.source_memory_ids::text[], names.ids, json_build_object(
                    'id', u.id,
                    'text', u.text,
                    'type', u.fact_type,
                    'entities', coalesce(names.names, '[]'),
                    'context', nullif(u.context, ''),
                    'occurred_start', {_iso_sql("u.occurred_start")},
                    'occurred_end', {_iso_sql("u.occurred_end")},
                    'mentioned_at', {_iso_sql("u.mentioned_at")},
                    'document_id', d.document_id,
                    'metadata', coalesce(u.metadata, '{{}}'),
                    'chunk_id', u.chunk_id,
                    'tags', to_json(u.tags),
                    'source_fact_ids',
                        CASE WHEN cardinality(u.source_memory_ids) > 0 THEN to_json(u.source_memory_ids) END
                )::text
                FROM recall_index_rows r JOIN memories_memoryunit u ON u.id = r.id
                LEFT JOIN memories_document d ON d.id = u.document_id
                LEFT JOIN (
                    SELECT ue.unit_id, json_agg(e.canonical_name ORDER BY e.canonical_name) AS names,
                           array_agg(e.id::text) AS ids
                    FROM recall_index_rows r JOIN memories_unitentity ue ON ue.unit_id = r.id
                    JOIN memories_entity e ON e.id = ue.entity_id
                    GROUP BY ue.unit_id
                ) names ON names.unit_id = u.id
                ORDER BY r.n
                """.replace("%%", "%")
            )
            described = raw.fetchall()

            factor_codes = " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(LINK_TYPES))
            links = _copy_rows(
                raw,
                f"""
                SELECT a.n, b.n, (CASE l.link_type {factor_codes} ELSE -1 END)::int4, l.weight::float8
                FROM memories_memorylink l
                JOIN recall_index_rows a ON a.id = l.from_unit_id JOIN recall_index_rows b ON b.id = l.to_unit_id
                WHERE l.bank_id = %s
                """,
                [("from", ">i4"), ("to", ">i4"), ("type", ">i4"), ("weight", ">f8")],
                [bank_pk],
            )
            # In the order recall lists entities (most mentioned first, then by name in the database's collation).
            raw.execute(
                "SELECT id::text, mention_count, canonical_name FROM memories_entity WHERE bank_id = %s"
                " ORDER BY mention_count DESC, canonical_name",
                [bank_pk],
            )
            entities = raw.fetchall()
            raw.execute(
                """
                SELECT entity_id::text, array_agg(coalesce(r.n, -1) ORDER BY ue.id DESC)
                FROM (
                    SELECT ue.*, row_number() OVER (PARTITION BY ue.entity_id ORDER BY ue.id DESC) AS k
                    FROM memories_unitentity ue JOIN memories_entity e ON e.id = ue.entity_id
                    WHERE e.bank_id = %s
                ) ue LEFT JOIN recall_index_rows r ON r.id = ue.unit_id
                WHERE ue.k <= %s
                GROUP BY entity_id
                """,
                [bank_pk, ENTITY_UNITS_KEPT],
            )
            entity_units = dict(raw.fetchall())
        finally:
            if nested:
                raw.execute("ROLLBACK TO SAVEPOINT recall_index_build")
                raw.execute("RELEASE SAVEPOINT recall_index_build")
            else:
                pg.rollback()
                pg.autocommit = True
    read = time.perf_counter() - started

    vectors = np.ascontiguousarray(units["embedding"]["f2"], dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors /= np.where(norms > 0, norms, 1.0)
    ids = [row[0] for row in described]
    type_names = sorted({row[1] for row in described})
    tokens = units["tokens"].astype(np.int32)
    for row in np.flatnonzero(tokens < 0):
        tokens[row] = count_tokens(described[row][3])

    postings_lists: dict[str, list[int]] = {}
    for row, (_, _, lexemes, *_rest) in enumerate(described):
        for lexeme in lexemes or ():
            postings_lists.setdefault(lexeme, []).append(row)
    postings = {lexeme: np.array(rows, dtype=np.int32) for lexeme, rows in postings_lists.items()}

    # Links both ways, grouped by the row they leave from (CSR).
    known = links["type"] >= 0
    origin = np.concatenate([links["from"][known], links["to"][known]]).astype(np.int64)
    target = np.concatenate([links["to"][known], links["from"][known]]).astype(np.int32)
    weight = np.tile(links["weight"][known].astype(np.float64), 2)
    kind = np.tile(links["type"][known].astype(np.int8), 2)
    order = np.argsort(origin, kind="stable")
    link_start = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(np.bincount(origin, minlength=len(ids)), out=link_start[1:])

    entity_position = {entity_id: position for position, (entity_id, _, _) in enumerate(entities)}
    shared: dict = {}  # one string object per chunk and entity id, however many units name it
    row_entities = [tuple(entity_position[e] for e in (row[6] or ()) if e in entity_position) for row in described]
    ann = Index(ndim=dim, metric="cos", dtype="i8", connectivity=16, expansion_add=64, expansion_search=64)
    ann.add(np.arange(len(ids)), vectors, threads=1)

    index = BankIndex(
        bank_pk=bank_pk,
        snapshot=snapshot,
        ids=ids,
        row_of={unit_id: row for row, unit_id in enumerate(ids)},
        vectors=vectors,
        ann=ann,
        fact_types=np.array([type_names.index(row[1]) for row in described], dtype=np.int8),
        type_names=type_names,
        happened=units["happened"].astype(np.float64),
        lengths=units["length"].astype(np.int32),
        tokens=tokens,
        event_time=units["event_time"].astype(np.float64),
        occurred_start=units["occurred_start"].astype(np.float64),
        occurred_end=units["occurred_end"].astype(np.float64),
        postings=postings,
        sizes=units["size"].astype(np.int32),
        link_start=link_start,
        link_to=target[order],
        link_weight=weight[order],
        link_factor=kind[order],
        row_entities=row_entities,
        entity_mentions=np.array([count for _, count, _ in entities], dtype=np.float64),
        entity_units=[np.array(entity_units.get(entity_id, []), dtype=np.int64) for entity_id, _, _ in entities],
        entity_position=entity_position,
        entity_names=[name for _, _, name in entities],
        entity_keys=[shared.setdefault(entity_id, entity_id) for entity_id, _, _ in entities],
        heads=[row[7][:-1] for row in described],
        chunk_ids=[shared.setdefault(row[4], row[4]) for row in described],
        source_ids=[tuple(row[5]) if row[5] else () for row in described],
        entity_ids=[tuple(shared.setdefault(e, e) for e in row[6]) if row[6] else None for row in described],
    )
    _ = LINK_TYPE_FACTORS  # the factors are applied per query (recall passes them), not stored
    logger.info(
        "Recall index of bank %s: %s units, %s links, read in %.1f s, built in %.1f s",
        bank_pk,
        len(ids),
        len(links),
        read,
        time.perf_counter() - started,
    )
    return index


def _copy_rows(cursor, sql: str, fields: list[tuple[str, str]], params=None) -> np.ndarray:
    """Rows of fixed-width, non-NULL columns read by a binary COPY straight into a numpy record array."""
    layout = []
    for name, dtype in fields:
        layout += [(f"{name}_length", ">i4"), (name, np.dtype(dtype))]
    record = np.dtype([("fields", ">i2"), *layout])
    with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)", params) as copy:
        data = b"".join(bytes(block) for block in copy)
    body = data[19:-2]  # the 19-byte header (signature, flags, extension length) and the -1 trailer
    if len(body) % record.itemsize:
        raise ValueError("the binary COPY rows are not of the expected fixed width")
    return np.frombuffer(body, dtype=record)
