"""Recall: four retrieval channels over one bank, fused by reciprocal rank, filled to a token budget.

* semantic: cosine distance on the query's embedding. Small banks scan their own rows exactly (through the bank's
  btree); large banks use the global HNSW index with pgvector's iterative scan, so bank and tag filters never starve
  the result list.
* keyword: PostgreSQL full text, any query term may match (OR), ranked by ``ts_rank_cd``; stop-word-only queries match
  nothing instead of failing, very long queries are cut to their first terms.
* graph: from the best semantic and keyword hits, one hop over stored links (temporal, semantic, entity, caused_by)
  and over shared entities, so "where does Alice's manager live?" reaches the manager's facts that never name Alice.
* temporal: time expressions in the query ("last week", "in May 2023", "two days before …") resolved against the
  query timestamp into ranges; memories whose time falls inside rank by similarity to the query.

Every channel query carries the bank (and type and tag) filter itself, so no channel can see another bank.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from banks.models import Bank
from banks.selectors import resolved_config
from hindsight_site import metrics
from hindsight_site.api import iso
from hindsight_site.errors import BadRequest
from memories.models import Chunk
from memories.temporal import TimeRange, find_time_expressions

logger = logging.getLogger(__name__)

FACT_TYPES = ("world", "experience", "observation")
RRF_K = 20
# Measured on LoCoMo (bench/locomo_recall.py, categories 1-4): with K = 60 (the usual constant, which rewards
# agreement deep in every list) fused lost R@5 to semantic alone (session 0.815 vs 0.830, turn 0.510 vs 0.518); with
# K = 20 the top of each list counts more and fused beats every channel at every k (session 0.860/0.926/0.960, turn
# 0.556/0.638/0.746 for R@5/10/20). The graph only supplements the direct channels: 0.05 measured a little better than
# 0.15 (turn R@5 0.556 vs 0.548). Keyword 0.7: once the keyword channel scored every match instead of a bounded pool
# (keyword session R@5 0.786 -> 0.867), its weight of 0.2 left fused below it at session R@5 (0.862); swept at K = 20,
# keyword 0.2 / 0.4 / 0.7 / 1.0 gave fused session 0.862/0.874/0.872/0.878 R@5 and turn 0.559/0.573/0.587/0.597 R@5,
# 0.642/0.658/0.688/0.675 R@10, 0.749/0.763/0.759/0.751 R@20: 0.7 is best or within noise of it at every k.
CHANNEL_WEIGHTS = {"semantic": 1.0, "keyword": 0.7, "temporal": 1.0, "graph": 0.05}
# Below this cosine similarity a memory is unrelated to the query (all-MiniLM-L6-v2 puts unrelated sentences around
# 0.0-0.15); without a floor the semantic channel "finds" every memory of a small bank.
SEMANTIC_MIN_SIMILARITY = 0.2
# Reaching a memory only by a weak link (said at the same time as a seed) is not evidence enough.
GRAPH_MIN_ACTIVATION = 0.45
EXACT_SCAN_MAX_UNITS = 20_000
MAX_QUERY_TOKENS = 500
KEYWORD_MAX_CHARS = 2_000
# Matching rows a keyword pass scores at most; terms contained in more than ~1/6 of all memories (idf below this)
# are left out of the any-term pass.
KEYWORD_POOL = 1_000
KEYWORD_MIN_IDF = 1.6
GRAPH_SEEDS = 3
# How much one hop along each kind of link says about relevance: sharing an entity or a cause says a lot, being
# said at the same time says little (every fact of one conversation is linked in time).
LINK_TYPE_FACTORS = {"entity": 1.0, "caused_by": 1.0, "semantic": 0.7, "temporal": 0.4}
GRAPH_UNITS_PER_ENTITY = 50
RECENCY_BOOST = 0.02
TIME_MATCH_BOOST = 0.1
_bank_sizes: dict[int, tuple[int, float]] = {}


@dataclass
class RecallQuery:
    query: str
    types: list[str] = field(default_factory=list)  # empty: every type
    budget: str = "mid"
    max_tokens: int = 4096
    query_timestamp: datetime | None = None
    include_entities: int | None = 500  # max tokens, None: off
    include_chunks: int | None = None
    include_source_facts: int | None = None
    tags: list[str] = field(default_factory=list)
    tags_match: str = "any"
    tag_groups: list[Any] | None = None
    trace: bool = False
    min_scores: dict[str, float] = field(default_factory=dict)
    temporal_window: tuple[datetime, datetime] | None = None


# --- token counting -----------------------------------------------------------------------------------------------

_encoder = None


def count_tokens(text: str) -> int:
    """A real token count (tiktoken cl100k, from the copy litellm ships, so nothing is downloaded)."""
    global _encoder
    if _encoder is None:
        # Found without importing litellm: a bare import of it fetches a price map from the network.
        spec = importlib.util.find_spec("litellm")
        if spec is not None and spec.submodule_search_locations:
            tokenizers = Path(spec.submodule_search_locations[0]) / "litellm_core_utils" / "tokenizers"
            os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(tokenizers))
        import tiktoken

        _encoder = tiktoken.get_encoding("cl100k_base")
    return len(_encoder.encode(text, disallowed_special=()))


# --- filters ------------------------------------------------------------------------------------------------------


def _filters(bank: Bank, query: RecallQuery, *, large: bool, alias: str = "u") -> tuple[str, list[Any]]:
    """The WHERE clause every channel shares: this bank, valid memories, the asked types and tags."""
    from memories.tags import TagFilterError, fuzzy_tag_resolver, tag_filter_sql, tag_groups_filter_sql

    # "bank_id + 0" on large banks keeps the planner on the HNSW index instead of an exact scan of the bank.
    bank_column = f"({alias}.bank_id + 0)" if large else f"{alias}.bank_id"
    clauses = [f"{bank_column} = %s", f"{alias}.state = 'valid'"]
    params: list[Any] = [bank.pk]
    if query.types:
        clauses.append(f"{alias}.fact_type = ANY(%s)")
        params.append(list(query.types))
    tag_sql, tag_params = tag_filter_sql(query.tags or None, query.tags_match, column=f"{alias}.tags")
    clauses.append(tag_sql)
    params.extend(tag_params)
    if query.tag_groups:
        try:
            groups_sql, groups_params = tag_groups_filter_sql(
                query.tag_groups, column=f"{alias}.tags", resolve_fuzzy=fuzzy_tag_resolver(bank)
            )
        except TagFilterError as exc:
            raise BadRequest(f"tag_groups: {exc}") from None
        clauses.append(groups_sql)
        params.extend(groups_params)
    return " AND ".join(clauses), params


def _bank_size(bank: Bank) -> int:
    """The bank's unit count, counted only as far as choosing a plan needs, cached 30 s."""
    cached = _bank_sizes.get(bank.pk)
    if cached and time.monotonic() - cached[1] < 30:
        return cached[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM memories_memoryunit WHERE bank_id = %s LIMIT %s) t",
            [bank.pk, max(EXACT_SCAN_MAX_UNITS, settings.HINDSIGHT_RECALL_INDEX_MIN_UNITS) + 1],
        )
        size = cursor.fetchone()[0]
    _bank_sizes[bank.pk] = (size, time.monotonic())
    return size


def _is_large(bank: Bank) -> bool:
    return _bank_size(bank) > EXACT_SCAN_MAX_UNITS


def _vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{value:.7g}" for value in vector) + "]"


# --- channels -----------------------------------------------------------------------------------------------------


# Every channel returns (id, score) hits and records, per memory it found, what fusion and the budget fill need: when
# it happened (epoch seconds, for the recency boost), its length in characters (to size the final read) and its
# token count (NULL on rows older than the column: then the final read counts).
_FACT_COLUMNS = {
    "happened": "extract(epoch FROM coalesce(u.event_time, u.created_at))::float8",
    "length": "length(u.text)",
    "tokens": "u.token_count",
}
_FACTS = ", ".join(_FACT_COLUMNS.values())
_FACTS_NAMED = ", ".join(f"{expression} AS {name}" for name, expression in _FACT_COLUMNS.items())
Hits = list[tuple[Any, float]]


def _collect(rows, facts: dict) -> Hits:
    hits = []
    for row in rows:
        hits.append((row[0], float(row[1] or 0.0)))
        facts[row[0]] = (row[2], row[3], row[4])
    return hits


def _semantic(cursor, where: str, params: list, vector: str, depth: int, large: bool, facts: dict) -> Hits:
    if large:
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute("SET LOCAL hnsw.ef_search = %s", [max(40, min(depth, 1000))])
        cursor.execute("SET LOCAL enable_seqscan = off")
    cursor.execute(
        f"""
        SELECT u.id::text, 1 - (u.embedding <=> %s::vector) AS similarity, {_FACTS}
        FROM memories_memoryunit u
        WHERE {where} AND u.embedding IS NOT NULL
        ORDER BY u.embedding <=> %s::vector
        LIMIT %s
        """,
        [vector, *params, vector, depth],
    )
    hits = _collect(cursor.fetchall(), facts)
    if large:
        cursor.execute("SET LOCAL enable_seqscan = on")
    return hits


_term_stats: dict[str, Any] = {"at": -1e9, "freqs": {}, "floor": 0.0002, "rows": 0.0}
TERM_STATS_SECONDS = 300
# Statistics missing (nothing analyzed yet): asked again this soon, not after TERM_STATS_SECONDS.
TERM_STATS_MISSING_SECONDS = 10
_STATS_SQL = """
    SELECT unnest(most_common_elems::text::text[]), unnest(most_common_elem_freqs)
    FROM pg_stats WHERE tablename = 'memories_memoryunit' AND attname = 'search_vector'
"""


_ANALYZE_SQL = "ANALYZE memories_memoryunit"
# Statistics describing a table since changed by more than this share of its rows are refreshed before use.
TERM_STATS_STALE_SHARE = 0.2


def _lexeme_frequencies(cursor) -> dict[str, float]:
    cursor.execute(_STATS_SQL)
    return {lexeme: freq for lexeme, freq in cursor.fetchall() if lexeme is not None}


def _read_term_stats(cursor) -> dict[str, float]:
    """Lexeme frequencies from the planner's statistics.

    When the table has rows but no statistics, or more than a fifth of it changed since they were taken (a bank
    filled or doubled in the minute before autovacuum looks again), the table is analyzed now, once, by whichever
    process gets the lock: idf from a tenth of the data ranks the keyword channel worse (measured on LoCoMo), and
    without statistics every term would weigh the same."""
    freqs = _lexeme_frequencies(cursor)
    cursor.execute(
        "SELECT n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables WHERE relid = 'memories_memoryunit'::regclass"
    )
    changed, live = cursor.fetchone() or (0, 0)
    stale = changed > max(KEYWORD_POOL, TERM_STATS_STALE_SHARE * live)
    if freqs and not stale:
        return freqs
    cursor.execute("SELECT EXISTS (SELECT 1 FROM memories_memoryunit)")
    if not cursor.fetchone()[0]:
        return freqs
    cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext('memories_memoryunit.search_vector stats'))")
    if cursor.fetchone()[0]:
        try:
            # In a savepoint: a refusal (a standby, a statement timeout, no right to analyze) must not fail recall.
            with transaction.atomic():
                cursor.execute(_ANALYZE_SQL)  # the whole table: only that resets n_mod_since_analyze
        except DatabaseError as exc:
            logger.warning("Could not refresh the keyword statistics (%s); using the ones there are", exc)
            return freqs
        freqs = _lexeme_frequencies(cursor)
    return freqs


def _term_weights(cursor, text: str, lexemes: list[str] | None = None) -> list[tuple[str, float]]:
    """The query's lexemes, each weighted by its inverse document frequency (BM25's idf, binary term frequency).

    Frequencies come from the planner's statistics of the search vector (``pg_stats.most_common_elems``, refreshed by
    ANALYZE), read at most every few minutes per process: global rather than per bank, and a lexeme absent from them
    is rarer than the rarest listed.
    """
    if time.monotonic() - _term_stats["at"] > TERM_STATS_SECONDS:
        freqs = _read_term_stats(cursor)
        cursor.execute("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'memories_memoryunit'::regclass")
        rows = float(cursor.fetchone()[0])
        fresh_at = time.monotonic() - (0 if freqs else TERM_STATS_SECONDS - TERM_STATS_MISSING_SECONDS)
        _term_stats.update(at=fresh_at, freqs=freqs, floor=min(freqs.values(), default=0.0004) / 2, rows=rows)
    if lexemes is None:  # else already read with the query that checked the in-process copy
        cursor.execute("SELECT tsvector_to_array(to_tsvector('english', %s))", [text])
        lexemes = cursor.fetchone()[0]
    freqs, floor = _term_stats["freqs"], _term_stats["floor"]
    weights = []
    for lexeme in lexemes:
        freq = freqs.get(lexeme, floor)
        weights.append((lexeme, math.log(1 + (1 - freq) / max(freq, 1e-6))))
    return weights


def _keyword_terms(cursor, text: str, lexemes: list[str] | None = None) -> tuple[list[tuple[str, float]], list[str]]:
    """The query's weighted lexemes, and those informative enough for the any-term pass."""
    terms = _term_weights(cursor, text[:KEYWORD_MAX_CHARS], lexemes)
    # A common term is left out of the any-term pass only where it is also common in absolute numbers (more matches
    # than a pool scores): in a small store every term is worth reading.
    rows, freqs, floor = _term_stats["rows"], _term_stats["freqs"], _term_stats["floor"]
    informative = [t for t, w in terms if w >= KEYWORD_MIN_IDF or freqs.get(t, floor) * rows <= KEYWORD_POOL]
    return terms, informative


def _keyword(cursor, where: str, params: list, text: str, depth: int, facts: dict, bounded: bool = False) -> Hits:
    """Full-text matches scored like BM25 with binary term frequency: the sum of the idf of the query terms a memory
    contains, ties to the shorter memory (so a long fact repeating a name does not win every question naming that
    person). Memories with every term are read first; then memories with any informative term (terms that a large
    share of all memories contain are dropped from that pass: they say little and match half the bank).

    Every matching row is scored, except in a large bank read from PostgreSQL (``bounded``: its in-process copy is
    missing or stale), where each pass scores at most twice the depth (``KEYWORD_POOL`` at most) matching rows, so a
    common word costs a bounded read; which rows those are is the planner's choice, so the best can be missed
    (measured on LoCoMo: keyword session R@5 0.786 bounded against 0.866 scoring every match).
    """
    terms, informative = _keyword_terms(cursor, text)
    if not terms:
        return []
    lexemes, weights = [t for t, _ in terms], [w for _, w in terms]
    sql = f"""
        WITH terms AS MATERIALIZED (
            SELECT quote_literal(t)::tsquery AS q, w FROM unnest(%s::text[], %s::float8[]) AS x(t, w)
        )
        SELECT pool.id, pool.score, pool.happened, pool.length, pool.tokens
        FROM (
            SELECT u.id::text AS id, (SELECT sum(w) FROM terms WHERE u.search_vector @@ terms.q) AS score,
                   length(u.search_vector) AS size, {_FACTS_NAMED}
            FROM memories_memoryunit u
            WHERE {where}
              AND u.search_vector @@ (SELECT string_agg(quote_literal(t), %s)::tsquery FROM unnest(%s::text[]) t)
            LIMIT %s
        ) pool
        ORDER BY pool.score DESC, pool.size, pool.id
        LIMIT %s
    """
    pool = max(depth, min(2 * depth, KEYWORD_POOL)) if bounded else None  # LIMIT NULL: every row
    cursor.execute(sql, [lexemes, weights, *params, " & ", lexemes, pool, depth])
    hits = _collect(cursor.fetchall(), facts)
    if len(hits) >= depth or not informative or len(terms) == 1:
        return hits
    cursor.execute(sql, [lexemes, weights, *params, " | ", informative, pool, depth])
    seen = {unit_id for unit_id, _ in hits}
    hits.extend(hit for hit in _collect(cursor.fetchall(), facts) if hit[0] not in seen)
    return hits[:depth]


def _graph(cursor, where: str, params: list, seeds: Hits, depth: int, facts: dict) -> Hits:
    if not seeds:
        return []
    ids = [seed for seed, _ in seeds]
    cursor.execute(
        f"""
        WITH seeds AS (SELECT * FROM unnest(%s::uuid[], %s::float8[]) AS s(id, score)),
        factors AS (SELECT * FROM unnest(%s::text[], %s::float8[]) AS f(link_type, factor)),
        -- Activation spreads one hop from the few best hits; the channel reports what they reach, not themselves
        -- (the other channels already rank those).
        reached AS (
            SELECT l.to_unit_id AS id, s.score * l.weight * f.factor AS score
            FROM seeds s JOIN memories_memorylink l ON l.from_unit_id = s.id JOIN factors f USING (link_type)
            UNION ALL
            SELECT l.from_unit_id, s.score * l.weight * f.factor
            FROM seeds s JOIN memories_memorylink l ON l.to_unit_id = s.id JOIN factors f USING (link_type)
            UNION ALL
            -- Facts sharing an entity with a seed; a rare entity says more than one mentioned everywhere.
            SELECT other.unit_id, s.score / (1 + ln(greatest(e.mention_count, 1)))
            FROM seeds s
            JOIN memories_unitentity mine ON mine.unit_id = s.id
            JOIN memories_entity e ON e.id = mine.entity_id
            CROSS JOIN LATERAL (
                SELECT o.unit_id FROM memories_unitentity o
                WHERE o.entity_id = mine.entity_id AND o.unit_id <> s.id ORDER BY o.id DESC LIMIT %s
            ) other
        )
        SELECT r.id::text, max(r.score) AS score, {_FACTS}
        FROM reached r JOIN memories_memoryunit u ON u.id = r.id
        WHERE {where} AND r.id <> ALL(%s::uuid[])
        GROUP BY r.id, u.id
        HAVING max(r.score) >= %s
        ORDER BY score DESC, r.id
        LIMIT %s
        """,
        [
            _pg_array(ids),
            _pg_array(score for _, score in seeds),
            list(LINK_TYPE_FACTORS),
            list(LINK_TYPE_FACTORS.values()),
            GRAPH_UNITS_PER_ENTITY,
            *params,
            _pg_array(ids),
            GRAPH_MIN_ACTIVATION,
            depth,
        ],
    )
    return _collect(cursor.fetchall(), facts)


def _temporal(cursor, where: str, params: list, vector: str, ranges: list[TimeRange], depth: int, facts: dict) -> Hits:
    if not ranges:
        return []
    windows = " OR ".join(
        "((u.event_time >= %s AND u.event_time <= %s) OR (u.occurred_start <= %s AND u.occurred_end >= %s))"
        for _ in ranges
    )
    window_params = [value for r in ranges for value in (r.start, r.end, r.end, r.start)]
    cursor.execute(
        f"""
        SELECT u.id::text, 1 - (u.embedding <=> %s::vector) AS similarity, {_FACTS}
        FROM memories_memoryunit u
        WHERE {where} AND ({windows})
        ORDER BY u.embedding <=> %s::vector
        LIMIT %s
        """,
        [vector, *params, *window_params, vector, depth],
    )
    return _collect(cursor.fetchall(), facts)


# --- the whole recall ---------------------------------------------------------------------------------------------


def _depth(config: dict[str, Any], query: RecallQuery) -> int:
    if config.get("recall_budget_function") == "adaptive":
        fraction = config[f"recall_budget_adaptive_{query.budget}"]
        return int(min(max(query.max_tokens * fraction, config["recall_budget_min"]), config["recall_budget_max"]))
    return int(config[f"recall_budget_fixed_{query.budget}"])


def _fuse(channels: dict[str, list[tuple[Any, float]]]) -> dict[Any, float]:
    """Weighted reciprocal-rank fusion: each channel adds weight / (K + rank) for every memory it found."""
    fused: dict[Any, float] = {}
    for name, hits in channels.items():
        weight = CHANNEL_WEIGHTS.get(name, 1.0)
        for rank, (unit_id, _) in enumerate(hits, start=1):
            fused[unit_id] = fused.get(unit_id, 0.0) + weight / (RRF_K + rank)
    return fused


@dataclass
class _Outcome:
    """One recall's answer: each result as the JSON text PostgreSQL wrote for it, and the rest of the response."""

    results: list[str]
    rest: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    read_from: str = "database"

    def server_timing(self) -> str:
        """The stage timings as an HTTP ``Server-Timing`` header value (milliseconds), and what answered the channels
        (``read;desc=memory`` or ``database``): a client sees where the time went without asking for the trace."""
        stages = [f"{name};dur={seconds * 1000:.2f}" for name, seconds in self.timings.items()]
        return ", ".join([*stages, f"read;desc={self.read_from}"])

    def as_dict(self) -> dict[str, Any]:
        return {"results": json.loads("[" + ",".join(self.results) + "]"), **self.rest}

    def as_json(self) -> bytes:
        rest = json.dumps(self.rest, ensure_ascii=False, separators=(",", ":"), default=str)
        return ('{"results":[' + ",".join(self.results) + "]" + ("," + rest[1:] if len(rest) > 2 else "}")).encode()


def recall(*, bank: Bank, query: RecallQuery) -> dict[str, Any]:
    """Recall memories of ``bank`` for ``query``: a RecallResponse dict (results, entities, chunks, trace)."""
    return _recall(bank, query).as_dict()


def recall_json(*, bank: Bank, query: RecallQuery) -> tuple[bytes, str]:
    """The same RecallResponse as UTF-8 JSON, without turning every result into Python objects and back (the API's
    path: each result's JSON is written beforehand and passed through), and its ``Server-Timing`` header value."""
    outcome = _recall(bank, query)
    return outcome.as_json(), outcome.server_timing()


def _channels_from_database(bank, query, config, vector, ranges, depth, large, channels, facts, timings) -> None:
    vector = _vector_literal(vector)
    with transaction.atomic(), connection.cursor() as cursor:
        where, params = _filters(bank, query, large=large)
        tick = time.perf_counter()
        channels["semantic"] = _semantic(cursor, where, params, vector, depth, large, facts)
        timings["semantic"] = time.perf_counter() - tick
        exact_where, exact_params = _filters(bank, query, large=False)
        if config.get("enable_text_search", True):
            tick = time.perf_counter()
            channels["keyword"] = _keyword(cursor, exact_where, exact_params, query.query, depth, facts, bounded=large)
            timings["keyword"] = time.perf_counter() - tick
        if config.get("enable_graph_retrieval", True):
            tick = time.perf_counter()
            seeds = sorted(_fuse(channels).items(), key=lambda kv: -kv[1])[:GRAPH_SEEDS]
            top = max((score for _, score in seeds), default=1.0)
            channels["graph"] = _graph(
                cursor, exact_where, exact_params, [(unit, score / top) for unit, score in seeds], depth, facts
            )
            timings["graph"] = time.perf_counter() - tick
        if ranges:
            tick = time.perf_counter()
            channels["temporal"] = _temporal(cursor, exact_where, exact_params, vector, ranges, depth, facts)
            timings["temporal"] = time.perf_counter() - tick


def _channels_from_index(index, bank, query, config, vector, ranges, depth, channels, facts, timings, lexemes) -> None:
    """The same four channels, answered by this process's copy of the bank (``memories.recall_index``)."""
    import numpy as np

    query_vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(query_vector))
    query_vector /= norm if norm > 0 else 1.0
    mask = index.type_mask(query.types)
    found: dict[str, list[tuple[int, float]]] = {}

    tick = time.perf_counter()
    found["semantic"] = index.semantic(query_vector, depth, mask)
    timings["semantic"] = time.perf_counter() - tick
    if config.get("enable_text_search", True):
        tick = time.perf_counter()
        with connection.cursor() as cursor:
            terms, informative = _keyword_terms(cursor, query.query, lexemes)
        found["keyword"] = index.keyword(terms, informative, depth, mask) if terms else []
        timings["keyword"] = time.perf_counter() - tick
    ids = index.ids
    for name, hits in found.items():
        channels[name] = [(ids[row], score) for row, score in hits]
    if config.get("enable_graph_retrieval", True):
        tick = time.perf_counter()
        seeds = sorted(_fuse(channels).items(), key=lambda kv: -kv[1])[:GRAPH_SEEDS]
        top = max((score for _, score in seeds), default=1.0)
        row_of = index.row_of
        found["graph"] = index.graph(
            [(row_of[unit], score / top) for unit, score in seeds], depth, mask, LINK_TYPE_FACTORS
        )
        channels["graph"] = [(ids[row], score) for row, score in found["graph"]]
        timings["graph"] = time.perf_counter() - tick
    if ranges:
        tick = time.perf_counter()
        found["temporal"] = index.temporal(query_vector, ranges, depth, mask)
        channels["temporal"] = [(ids[row], score) for row, score in found["temporal"]]
        timings["temporal"] = time.perf_counter() - tick
    facts.update(index.facts([row for hits in found.values() for row, _ in hits]))


@metrics.timed("recall")
def _recall(bank: Bank, query: RecallQuery) -> _Outcome:
    started = time.perf_counter()
    if count_tokens(query.query) > MAX_QUERY_TOKENS:
        raise BadRequest(f"query is longer than {MAX_QUERY_TOKENS} tokens; shorten it")
    config = resolved_config(bank)
    depth = _depth(config, query)
    reference = query.query_timestamp or timezone.now()
    timings: dict[str, float] = {}

    from memories.embeddings import get_embedding_provider

    # Embedding the query on another thread while PostgreSQL ran the keyword channel was measured slower: the
    # keyword channel took the embedding's time longer (its thread holds the GIL the waiting query needs back).
    tick = time.perf_counter()
    vector = get_embedding_provider(bank.embedding_model).embed_query(query.query)
    timings["query_embedding"] = time.perf_counter() - tick

    ranges: list[TimeRange] = []
    if config.get("enable_temporal_retrieval", True):
        if query.temporal_window:
            start, end = query.temporal_window
            ranges = [TimeRange(start=start, end=end, text="temporal_window", precise=False)]
        else:
            ranges = find_time_expressions(query.query, reference)

    channels: dict[str, Hits] = {}
    facts: dict[Any, tuple[float | None, int]] = {}
    index, lexemes = None, None
    # Tag filters (tags_match "exact" with no tags means untagged only) are SQL's to apply.
    if not query.tags and not query.tag_groups and query.tags_match != "exact":
        from memories import recall_index

        index, lexemes = recall_index.current(
            bank.pk,
            eligible=_bank_size(bank) >= settings.HINDSIGHT_RECALL_INDEX_MIN_UNITS,
            text=query.query[:KEYWORD_MAX_CHARS],
        )
    large = _is_large(bank)
    if index is not None:
        _channels_from_index(index, bank, query, config, vector, ranges, depth, channels, facts, timings, lexemes)
    else:
        _channels_from_database(bank, query, config, vector, ranges, depth, large, channels, facts, timings)

    floors = query.min_scores
    semantic_scores = dict(channels.get("semantic", []))
    keyword_scores = dict(channels.get("keyword", []))
    semantic_floor = floors.get("semantic", SEMANTIC_MIN_SIMILARITY)
    channels["semantic"] = [hit for hit in channels["semantic"] if hit[1] >= semantic_floor]
    if floors.get("keyword") is not None and "keyword" in channels:
        channels["keyword"] = [hit for hit in channels["keyword"] if hit[1] >= floors["keyword"]]

    tick = time.perf_counter()
    fused = _fuse(channels)
    now = reference.timestamp()
    temporal_ids = {unit_id for unit_id, _ in channels.get("temporal", [])}
    final: dict[Any, float] = {}
    for unit_id, score in fused.items():
        happened = facts[unit_id][0]
        age_days = max((now - happened) / 86400, 0.0) if happened is not None else 365.0
        recency = math.exp(-age_days / 365.0)
        boost = 1.0 + RECENCY_BOOST * recency + (TIME_MATCH_BOOST if unit_id in temporal_ids else 0.0)
        final[unit_id] = score * boost
    ordered = sorted(final, key=lambda unit_id: (-final[unit_id], unit_id))
    if floors.get("final") is not None:
        ordered = [unit_id for unit_id in ordered if final[unit_id] >= floors["final"]]
    timings["fusion"] = time.perf_counter() - tick

    reranker_scores: dict[Any, float] = {}
    reranking: dict[str, Any] | None = None
    if ordered and config.get("enable_reranking", True):
        from memories.rerank import get_reranker

        reranker = get_reranker()
        if reranker is not None:
            tick = time.perf_counter()
            ordered, reranker_scores, reranking = _rerank(bank, reranker, query.query, ordered, final)
            timings["rerank"] = time.perf_counter() - tick

    tick = time.perf_counter()
    chosen, used = _fill(
        bank, ordered, final, semantic_scores, keyword_scores, facts, query.max_tokens, reranker_scores, index
    )
    timings["results"] = time.perf_counter() - tick
    tick = time.perf_counter()
    rest: dict[str, Any] = {"entities": None, "chunks": None, "source_facts": None}
    if query.include_entities is not None:
        entity_ids = list(dict.fromkeys(e for row in chosen for e in (row.entity_ids or ())))
        if index is not None and not index.has_observations:  # names and order from the copy, nothing to read
            rest["entities"] = _entities_map(
                bank, query, entity_ids, query.include_entities, listed=index.entities_in_order(entity_ids)
            )
        else:
            rest["entities"] = _entities_map(bank, query, entity_ids, query.include_entities)
    if query.include_chunks is not None:
        rest["chunks"] = _chunks_map(bank, chosen, query.include_chunks)
    if query.include_source_facts is not None:
        rest["source_facts"], rest["source_facts_truncated"] = _source_facts(bank, chosen, query.include_source_facts)
    timings["includes"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started
    if query.trace:
        rest["trace"] = {
            "query": query.query,
            "budget": query.budget,
            "candidate_depth": depth,
            "vector_search": "hnsw" if large else "exact",
            # "memory": this process's copy of the bank answered the channels (memories.recall_index)
            "read_from": "memory" if index is not None else "database",
            "time_ranges": [{"start": r.start.isoformat(), "end": r.end.isoformat(), "text": r.text} for r in ranges],
            "channels": {
                name: {"count": len(hits), "ids": [str(i) for i, _ in hits[:20]]} for name, hits in channels.items()
            },
            "timings_ms": {name: round(seconds * 1000, 2) for name, seconds in timings.items()},
            "tokens_used": used,
            "reranker": reranking,
            "result_channels": _result_channels(channels, [row.id for row in chosen]),
        }
    return _Outcome([row.payload for row in chosen], rest, timings, "memory" if index is not None else "database")


def _rerank(bank: Bank, reranker, text: str, ordered: list, final: dict) -> tuple[list, dict, dict[str, Any]]:
    """Reorder the first ``HINDSIGHT_RERANKER_MAX_CANDIDATES`` candidates by the reranker's scores (ties keep the
    fused order); the rest follow in fused order. On a reranker failure the fused order stands and the trace says
    why."""

    from memories.rerank import RerankError

    head = ordered[: settings.HINDSIGHT_RERANKER_MAX_CANDIDATES]
    note: dict[str, Any] = {"provider": reranker.provider, "model": reranker.model, "candidates": len(head)}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id::text, text FROM memories_memoryunit WHERE bank_id = %s AND id = ANY(%s::uuid[])",
            [bank.pk, _pg_array(head)],
        )
        texts = dict(cursor.fetchall())
    head = [unit_id for unit_id in head if unit_id in texts]
    try:
        scores = reranker.score(text, [texts[unit_id] for unit_id in head])
    except RerankError as exc:
        note["error"] = str(exc)
        return ordered, {}, note
    by_id = dict(zip(head, scores, strict=True))
    position = {unit_id: index for index, unit_id in enumerate(head)}
    reranked = sorted(head, key=lambda unit_id: (-by_id[unit_id], position[unit_id]))
    chosen = set(head)
    return reranked + [unit_id for unit_id in ordered if unit_id not in chosen], by_id, note


def _result_channels(channels: dict[str, list[tuple[Any, float]]], result_ids: list[str]) -> dict[str, dict]:
    """For each returned result, the rank (1-based) and raw score it had in every channel that found it."""
    wanted = set(result_ids)
    found: dict[str, dict] = {result_id: {} for result_id in result_ids}
    for name, hits in channels.items():
        for rank, (unit_id, score) in enumerate(hits, start=1):
            if str(unit_id) in wanted:
                found[str(unit_id)][name] = {"rank": rank, "score": round(float(score), 6)}
    return found


# --- results: written by PostgreSQL ---------------------------------------------------------------------------------


@dataclass
class _Row:
    id: Any
    text: str
    chunk_id: Any
    source_ids: list
    entity_ids: list | None
    payload: str  # the RecallResult as JSON


def _iso_sql(column: str) -> str:
    """SQL writing a timestamptz exactly as Python's ``datetime.isoformat()`` does for UTC (or NULL)."""
    return (
        f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        f" || CASE WHEN date_part('microseconds', {column})::bigint %% 1000000 <> 0"
        f" THEN to_char({column} AT TIME ZONE 'UTC', '.US') ELSE '' END || '+00:00'"
    )


_RESULT_SQL = f"""
    SELECT u.id::text, u.text, u.chunk_id, u.source_memory_ids::text[], names.ids, json_build_object(
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
        'source_fact_ids', CASE WHEN cardinality(u.source_memory_ids) > 0 THEN to_json(u.source_memory_ids) END,
        'scores', json_build_object(
            'final', round(o.final::numeric, 6), 'reranker', round(o.reranker::numeric, 6),
            'semantic', round(o.semantic::numeric, 6), 'keyword', round(o.keyword::numeric, 6))
    )::text
    FROM unnest(%s::uuid[], %s::float8[], %s::float8[], %s::float8[], %s::float8[])
        WITH ORDINALITY AS o(id, final, reranker, semantic, keyword, n)
    JOIN memories_memoryunit u ON u.id = o.id
    LEFT JOIN memories_document d ON d.id = u.document_id
    LEFT JOIN (
        SELECT ue.unit_id, json_agg(e.canonical_name ORDER BY e.canonical_name) AS names, array_agg(e.id::text) AS ids
        FROM memories_unitentity ue JOIN memories_entity e ON e.id = ue.entity_id
        WHERE ue.unit_id = ANY(%s::uuid[])
        GROUP BY ue.unit_id
    ) names ON names.unit_id = u.id
    WHERE u.bank_id = %s
    ORDER BY o.n
"""


def _pg_array(values) -> str:
    """A PostgreSQL array literal of ids (as text) or numbers, for a ``%s::uuid[]`` / ``%s::float8[]`` parameter:
    much cheaper than adapting a Python list of UUIDs element by element."""
    return "{" + ",".join(["NULL" if v is None else str(v) for v in values]) + "}"


def _result_rows(
    bank_id: int,
    unit_ids: list,
    final: dict[Any, float] | None = None,
    semantic: dict[Any, float] | None = None,
    keyword: dict[Any, float] | None = None,
    reranker: dict[Any, float] | None = None,
) -> list[_Row]:
    """The RecallResult of each of these units of the bank, in this order, written by one query."""
    if not unit_ids:
        return []
    final, semantic, keyword, reranker = final or {}, semantic or {}, keyword or {}, reranker or {}
    ids = "{" + ",".join(str(u) for u in unit_ids) + "}"
    with connection.cursor() as cursor:
        cursor.execute(
            _RESULT_SQL,
            [
                ids,
                _pg_array([final.get(u, 0.0) for u in unit_ids]),
                _pg_array([reranker.get(u) for u in unit_ids]),
                _pg_array([semantic.get(u) for u in unit_ids]),
                _pg_array([keyword.get(u) for u in unit_ids]),
                ids,
                bank_id,
            ],
        )
        return [_Row(*row) for row in cursor.fetchall()]


# About four characters per cl100k token in English; reads are sized with this and a margin, then counted exactly.
_CHARS_PER_TOKEN = 4


def _fill(bank: Bank, ordered: list, final, semantic, keyword, facts, max_tokens: int, reranker=None, index=None):
    """The best memories that fit ``max_tokens`` (a real token count), stopping at the first that does not fit.

    With every candidate's stored token count the choice is made before reading anything, and one query writes
    exactly the chosen results. Rows without a count (older than the column) are read in slices sized by their
    length and counted here."""
    if index is not None:  # every count is known, and every result written beforehand
        chosen_ids, used = [], 0
        for unit_id in ordered:
            tokens = facts[unit_id][2]
            if used + tokens > max_tokens:
                break
            used += tokens
            chosen_ids.append(unit_id)
        return index.results(chosen_ids, final, semantic or {}, keyword or {}, reranker or {}), used
    chosen_ids: list = []
    used = 0
    for unit_id in ordered:
        tokens = facts[unit_id][2]
        if tokens is None:
            break
        if used + tokens > max_tokens:
            return _result_rows(bank.pk, chosen_ids, final, semantic, keyword, reranker), used
        used += tokens
        chosen_ids.append(unit_id)
    chosen = _result_rows(bank.pk, chosen_ids, final, semantic, keyword, reranker)
    position = len(chosen_ids)
    while position < len(ordered) and used < max_tokens:
        room = (max_tokens - used) * _CHARS_PER_TOKEN * 1.25 + 200
        end, chars = position, 0
        while end < len(ordered) and chars < room:
            chars += facts[ordered[end]][1] or 0
            end += 1
        end = max(end, min(len(ordered), position + 8))
        for row in _result_rows(bank.pk, ordered[position:end], final, semantic, keyword, reranker):
            cost = count_tokens(row.text)
            if used + cost > max_tokens:
                return chosen, used
            used += cost
            chosen.append(row)
        position = end
    return chosen, used


def _entities_map(
    bank: Bank, query: RecallQuery, entity_ids: list, max_tokens: int, listed: list | None = None
) -> dict[str, dict]:
    """The entities the results mention (most mentioned first), each with the bank's observations about it (those
    resting on facts that mention it, most proven first), within ``max_tokens``. ``listed``: those entities already
    in that order, in a bank without observations (from the in-process copy)."""
    if not entity_ids:
        return {}
    if listed is not None:
        return _entity_entries(listed, {}, max_tokens)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT e.id, e.canonical_name FROM memories_entity e
            WHERE e.bank_id = %s AND e.id = ANY(%s::uuid[])
            ORDER BY e.mention_count DESC, e.canonical_name
            """,
            [bank.pk, _pg_array(entity_ids)],
        )
        entities = cursor.fetchall()
        observations: dict[Any, list[tuple[str, Any]]] = {}
        if entities:
            from dataclasses import replace

            where, params = _filters(bank, replace(query, types=["observation"]), large=False, alias="o")
            cursor.execute(
                f"""
                SELECT ue.entity_id, o.text, o.mentioned_at
                FROM memories_memoryunit o
                JOIN memories_unitentity ue ON ue.unit_id = ANY(o.source_memory_ids)
                WHERE {where} AND ue.entity_id = ANY(%s::uuid[])
                GROUP BY ue.entity_id, o.id
                ORDER BY o.proof_count DESC, o.updated_at DESC, o.id
                """,
                [*params, [entity_id for entity_id, _ in entities]],
            )
            for entity_id, text, mentioned_at in cursor.fetchall():
                observations.setdefault(entity_id, []).append((text, mentioned_at))
    return _entity_entries(entities, observations, max_tokens)


def _entity_entries(entities: list, observations: dict, max_tokens: int) -> dict[str, dict]:
    out: dict[str, dict] = {}
    used = 0
    for entity_id, name in entities:
        used += _name_tokens(name)
        if used > max_tokens:
            break
        notes = []
        for text, mentioned_at in observations.get(entity_id, ())[:ENTITY_OBSERVATIONS_MAX]:
            cost = count_tokens(text)
            if used + cost > max_tokens:
                break
            used += cost
            notes.append({"text": text, "mentioned_at": iso(mentioned_at)})
        out[name] = {"entity_id": str(entity_id), "canonical_name": name, "observations": notes}
    return out


ENTITY_OBSERVATIONS_MAX = 5


@lru_cache(maxsize=4096)
def _name_tokens(name: str) -> int:
    return count_tokens(name)


def _chunks_map(bank: Bank, rows: list[_Row], max_tokens: int) -> dict[str, dict]:
    chunk_ids = list(dict.fromkeys(str(row.chunk_id) for row in rows if row.chunk_id))
    chunks = {str(c.id): c for c in Chunk.objects.filter(bank=bank, id__in=chunk_ids)}
    out: dict[str, dict] = {}
    remaining = max_tokens
    for chunk_id in chunk_ids:
        chunk = chunks.get(chunk_id)
        if chunk is None or remaining <= 0:
            continue
        text, truncated = chunk.text, False
        tokens = count_tokens(text)
        if tokens > remaining:
            text = text[: max(1, len(text) * remaining // tokens)]
            truncated = True
            tokens = remaining
        remaining -= tokens
        out[chunk_id] = {"id": chunk_id, "text": text, "chunk_index": chunk.chunk_index, "truncated": truncated}
    return out


def _source_facts(bank: Bank, rows: list[_Row], max_tokens: int) -> tuple[dict[str, dict], bool]:
    wanted = list(dict.fromkeys(i for row in rows for i in (row.source_ids or [])))
    out, used, truncated = {}, 0, False
    for row in _result_rows(bank.pk, wanted):
        used += count_tokens(row.text)
        if used > max_tokens:
            truncated = True
            break
        out[str(row.id)] = json.loads(row.payload)
    return out, truncated
