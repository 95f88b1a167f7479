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
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from banks.models import Bank
from banks.selectors import resolved_config
from hindsight_site import metrics
from hindsight_site.api import iso
from hindsight_site.errors import BadRequest
from memories.models import Chunk, Entity, MemoryUnit
from memories.temporal import TimeRange, find_time_expressions

FACT_TYPES = ("world", "experience", "observation")
RRF_K = 60
# Measured on LoCoMo (bench/locomo_recall.py): keyword ranks are coarse (many ties) and the graph only supplements the
# direct channels, so both count less than a semantic or temporal hit.
CHANNEL_WEIGHTS = {"semantic": 1.0, "keyword": 0.2, "temporal": 1.0, "graph": 0.15}
# Below this cosine similarity a memory is unrelated to the query (all-MiniLM-L6-v2 puts unrelated sentences around
# 0.0-0.15); without a floor the semantic channel "finds" every memory of a small bank.
SEMANTIC_MIN_SIMILARITY = 0.2
# Reaching a memory only by a weak link (said at the same time as a seed) is not evidence enough.
GRAPH_MIN_ACTIVATION = 0.45
EXACT_SCAN_MAX_UNITS = 20_000
MAX_QUERY_TOKENS = 500
KEYWORD_MAX_CHARS = 2_000
KEYWORD_ANY_TERM_SAMPLE = 2_000
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


def _is_large(bank: Bank) -> bool:
    cached = _bank_sizes.get(bank.pk)
    if cached and time.monotonic() - cached[1] < 30:
        return cached[0] > EXACT_SCAN_MAX_UNITS
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM memories_memoryunit WHERE bank_id = %s LIMIT %s) t",
            [bank.pk, EXACT_SCAN_MAX_UNITS + 1],
        )
        size = cursor.fetchone()[0]
    _bank_sizes[bank.pk] = (size, time.monotonic())
    return size > EXACT_SCAN_MAX_UNITS


def _vector_literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{value:.7g}" for value in vector) + "]"


# --- channels -----------------------------------------------------------------------------------------------------


def _semantic(cursor, where: str, params: list, vector: str, depth: int, large: bool) -> list[tuple[Any, float]]:
    if large:
        cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        cursor.execute("SET LOCAL hnsw.ef_search = %s", [max(40, min(depth, 1000))])
        cursor.execute("SET LOCAL enable_seqscan = off")
    cursor.execute(
        f"""
        SELECT u.id, 1 - (u.embedding <=> %s::vector) AS similarity
        FROM memories_memoryunit u
        WHERE {where} AND u.embedding IS NOT NULL
        ORDER BY u.embedding <=> %s::vector
        LIMIT %s
        """,
        [vector, *params, vector, depth],
    )
    rows = cursor.fetchall()
    if large:
        cursor.execute("SET LOCAL enable_seqscan = on")
    return [(row[0], float(row[1])) for row in rows]


def _keyword(cursor, where: str, params: list, text: str, depth: int) -> list[tuple[Any, float]]:
    """Memories containing every query term first (few rows, the best matches), then any term.

    Ranking every memory that shares one common word with the query (a name in a large bank) would cost hundreds of
    milliseconds, so the any-term pass ranks a bounded sample of its matches.
    """
    text = text[:KEYWORD_MAX_CHARS]
    cursor.execute(
        f"""
        SELECT u.id, ts_rank_cd(u.search_vector, q.query, 1) AS rank
        FROM memories_memoryunit u, (SELECT plainto_tsquery('english', %s) AS query) q
        WHERE {where} AND u.search_vector @@ q.query
        ORDER BY rank DESC, u.id
        LIMIT %s
        """,
        [text, *params, depth],
    )
    hits = [(row[0], float(row[1])) for row in cursor.fetchall()]
    if len(hits) >= depth:
        return hits
    cursor.execute(
        f"""
        SELECT sample.id, ts_rank_cd(sample.search_vector, sample.query, 1) AS rank
        FROM (
            SELECT u.id, u.search_vector, q.query
            FROM memories_memoryunit u,
                 (SELECT replace(plainto_tsquery('english', %s)::text, '&', '|')::tsquery AS query) q
            WHERE {where} AND u.search_vector @@ q.query
            LIMIT %s
        ) sample
        ORDER BY rank DESC, sample.id
        LIMIT %s
        """,
        [text, *params, KEYWORD_ANY_TERM_SAMPLE, depth],
    )
    seen = {unit_id for unit_id, _ in hits}
    hits.extend((row[0], float(row[1])) for row in cursor.fetchall() if row[0] not in seen)
    return hits[:depth]


def _graph(cursor, where: str, params: list, seeds: list[tuple[Any, float]], depth: int) -> list[tuple[Any, float]]:
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
        SELECT r.id, max(r.score) AS score
        FROM reached r JOIN memories_memoryunit u ON u.id = r.id
        WHERE {where} AND r.id <> ALL(%s::uuid[])
        GROUP BY r.id
        HAVING max(r.score) >= %s
        ORDER BY score DESC, r.id
        LIMIT %s
        """,
        [
            ids,
            [score for _, score in seeds],
            list(LINK_TYPE_FACTORS),
            list(LINK_TYPE_FACTORS.values()),
            GRAPH_UNITS_PER_ENTITY,
            *params,
            ids,
            GRAPH_MIN_ACTIVATION,
            depth,
        ],
    )
    return [(row[0], float(row[1])) for row in cursor.fetchall()]


def _temporal(
    cursor, where: str, params: list, vector: str, ranges: list[TimeRange], depth: int
) -> list[tuple[Any, float]]:
    if not ranges:
        return []
    windows = " OR ".join(
        "((u.event_time >= %s AND u.event_time <= %s) OR (u.occurred_start <= %s AND u.occurred_end >= %s))"
        for _ in ranges
    )
    window_params = [value for r in ranges for value in (r.start, r.end, r.end, r.start)]
    cursor.execute(
        f"""
        SELECT u.id, 1 - (u.embedding <=> %s::vector) AS similarity
        FROM memories_memoryunit u
        WHERE {where} AND ({windows})
        ORDER BY u.embedding <=> %s::vector
        LIMIT %s
        """,
        [vector, *params, *window_params, vector, depth],
    )
    return [(row[0], float(row[1] or 0.0)) for row in cursor.fetchall()]


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


@metrics.timed("recall")
def recall(*, bank: Bank, query: RecallQuery) -> dict[str, Any]:
    """Recall memories of ``bank`` for ``query``: a RecallResponse dict (results, entities, chunks, trace)."""
    started = time.perf_counter()
    if count_tokens(query.query) > MAX_QUERY_TOKENS:
        raise BadRequest(f"query is longer than {MAX_QUERY_TOKENS} tokens; shorten it")
    config = resolved_config(bank)
    depth = _depth(config, query)
    reference = query.query_timestamp or timezone.now()
    timings: dict[str, float] = {}

    from memories.embeddings import get_embedding_provider

    tick = time.perf_counter()
    vector = _vector_literal(get_embedding_provider().embed_query(query.query))
    timings["query_embedding"] = time.perf_counter() - tick

    ranges: list[TimeRange] = []
    if config.get("enable_temporal_retrieval", True):
        if query.temporal_window:
            start, end = query.temporal_window
            ranges = [TimeRange(start=start, end=end, text="temporal_window", precise=False)]
        else:
            ranges = find_time_expressions(query.query, reference)

    channels: dict[str, list[tuple[Any, float]]] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        large = _is_large(bank)
        where, params = _filters(bank, query, large=large)
        tick = time.perf_counter()
        channels["semantic"] = _semantic(cursor, where, params, vector, depth, large)
        timings["semantic"] = time.perf_counter() - tick
        exact_where, exact_params = _filters(bank, query, large=False)
        if config.get("enable_text_search", True):
            tick = time.perf_counter()
            channels["keyword"] = _keyword(cursor, exact_where, exact_params, query.query, depth)
            timings["keyword"] = time.perf_counter() - tick
        if config.get("enable_graph_retrieval", True):
            tick = time.perf_counter()
            seeds = sorted(_fuse(channels).items(), key=lambda kv: -kv[1])[:GRAPH_SEEDS]
            top = max((score for _, score in seeds), default=1.0)
            channels["graph"] = _graph(
                cursor, exact_where, exact_params, [(unit, score / top) for unit, score in seeds], depth
            )
            timings["graph"] = time.perf_counter() - tick
        if ranges:
            tick = time.perf_counter()
            channels["temporal"] = _temporal(cursor, exact_where, exact_params, vector, ranges, depth)
            timings["temporal"] = time.perf_counter() - tick

    floors = query.min_scores
    semantic_scores = dict(channels.get("semantic", []))
    keyword_scores = dict(channels.get("keyword", []))
    semantic_floor = floors.get("semantic", SEMANTIC_MIN_SIMILARITY)
    channels["semantic"] = [hit for hit in channels["semantic"] if hit[1] >= semantic_floor]
    if floors.get("keyword") is not None and "keyword" in channels:
        channels["keyword"] = [hit for hit in channels["keyword"] if hit[1] >= floors["keyword"]]

    tick = time.perf_counter()
    fused = _fuse(channels)
    # Rank from a light read (no vectors); full rows are loaded only for the results that fit the budget.
    light = {
        row[0]: row[1:]
        for row in MemoryUnit.objects.filter(pk__in=list(fused), bank=bank).values_list(
            "id", "event_time", "created_at", "text"
        )
    }
    temporal_ids = {unit_id for unit_id, _ in channels.get("temporal", [])}
    final: dict[Any, float] = {}
    for unit_id, score in fused.items():
        if unit_id not in light:
            continue
        event_time, created_at, _ = light[unit_id]
        when = event_time or created_at
        age_days = max((reference - when).total_seconds() / 86400, 0.0) if when else 365.0
        recency = math.exp(-age_days / 365.0)
        boost = 1.0 + RECENCY_BOOST * recency + (TIME_MATCH_BOOST if unit_id in temporal_ids else 0.0)
        final[unit_id] = score * boost
    ordered = sorted(final, key=lambda unit_id: (-final[unit_id], str(unit_id)))
    if floors.get("final") is not None:
        ordered = [unit_id for unit_id in ordered if final[unit_id] >= floors["final"]]
    timings["fusion"] = time.perf_counter() - tick

    tick = time.perf_counter()
    chosen, used = [], 0
    for unit_id in ordered:
        cost = count_tokens(light[unit_id][2])
        if used + cost > query.max_tokens:
            break
        used += cost
        chosen.append(unit_id)
    rows = _result_rows(chosen)
    results = [
        _result_from_row(rows[u], final[u], semantic_scores.get(u), keyword_scores.get(u)) for u in chosen if u in rows
    ]
    response: dict[str, Any] = {"results": results, "entities": None, "chunks": None, "source_facts": None}
    if query.include_entities is not None:
        response["entities"] = _entities_map(bank, results, query.include_entities)
    if query.include_chunks is not None:
        response["chunks"] = _chunks_map(bank, results, query.include_chunks)
    if query.include_source_facts is not None:
        response["source_facts"], response["source_facts_truncated"] = _source_facts(
            bank, results, query.include_source_facts
        )
    timings["results"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started
    if query.trace:
        response["trace"] = {
            "query": query.query,
            "budget": query.budget,
            "candidate_depth": depth,
            "vector_search": "hnsw" if large else "exact",
            "time_ranges": [{"start": r.start.isoformat(), "end": r.end.isoformat(), "text": r.text} for r in ranges],
            "channels": {
                name: {"count": len(hits), "ids": [str(i) for i, _ in hits[:20]]} for name, hits in channels.items()
            },
            "timings_ms": {name: round(seconds * 1000, 2) for name, seconds in timings.items()},
            "tokens_used": used,
            "result_channels": _result_channels(channels, [result["id"] for result in results]),
        }
    return response


def _result_channels(channels: dict[str, list[tuple[Any, float]]], result_ids: list[str]) -> dict[str, dict]:
    """For each returned result, the rank (1-based) and raw score it had in every channel that found it."""
    wanted = set(result_ids)
    found: dict[str, dict] = {result_id: {} for result_id in result_ids}
    for name, hits in channels.items():
        for rank, (unit_id, score) in enumerate(hits, start=1):
            if str(unit_id) in wanted:
                found[str(unit_id)][name] = {"rank": rank, "score": round(float(score), 6)}
    return found


_RESULT_COLUMNS = (
    "id",
    "text",
    "fact_type",
    "context",
    "occurred_start",
    "occurred_end",
    "mentioned_at",
    "document_id",
    "metadata",
    "chunk_id",
    "tags",
    "source_memory_ids",
    "entities",
)


def _result_rows(unit_ids: list, *, bank_id: int | None = None) -> dict[Any, dict[str, Any]]:
    """Everything a result shows, for these units (of ``bank_id`` when given), in one query: entity names
    aggregated, no model instances."""
    if not unit_ids:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT u.id, u.text, u.fact_type, u.context, u.occurred_start, u.occurred_end, u.mentioned_at,
                   d.document_id, u.metadata, u.chunk_id, u.tags, u.source_memory_ids,
                   coalesce((SELECT array_agg(e.canonical_name ORDER BY e.canonical_name)
                             FROM memories_unitentity ue JOIN memories_entity e ON e.id = ue.entity_id
                             WHERE ue.unit_id = u.id), '{}')
            FROM memories_memoryunit u LEFT JOIN memories_document d ON d.id = u.document_id
            WHERE u.id = ANY(%s::uuid[]) AND (%s::bigint IS NULL OR u.bank_id = %s::bigint)
            """,
            [list(unit_ids), bank_id, bank_id],
        )
        return {row[0]: dict(zip(_RESULT_COLUMNS, row, strict=True)) for row in cursor.fetchall()}


def _result_from_row(row: dict[str, Any], final: float, semantic: float | None, keyword: float | None) -> dict:
    metadata = row["metadata"]
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    return {
        "id": str(row["id"]),
        "text": row["text"],
        "type": row["fact_type"],
        "entities": list(row["entities"]),
        "context": row["context"] or None,
        "occurred_start": iso(row["occurred_start"]),
        "occurred_end": iso(row["occurred_end"]),
        "mentioned_at": iso(row["mentioned_at"]),
        "document_id": row["document_id"],
        "metadata": {str(k): str(v) for k, v in (metadata or {}).items()},
        "chunk_id": str(row["chunk_id"]) if row["chunk_id"] else None,
        "tags": list(row["tags"] or []),
        "source_fact_ids": [str(i) for i in row["source_memory_ids"] or []] or None,
        "scores": {
            "final": round(final, 6),
            "reranker": None,
            "semantic": None if semantic is None else round(semantic, 6),
            "keyword": None if keyword is None else round(keyword, 6),
        },
    }


def _entities_map(bank: Bank, results: list[dict], max_tokens: int) -> dict[str, dict]:
    wanted = {name for result in results for name in result["entities"]}
    entities: dict[str, dict] = {}
    used = 0
    for entity in Entity.objects.filter(bank=bank, canonical_name__in=wanted).order_by("-mention_count"):
        used += count_tokens(entity.canonical_name)
        if used > max_tokens:
            break
        entities[entity.canonical_name] = {
            "entity_id": str(entity.id),
            "canonical_name": entity.canonical_name,
            "observations": [],
        }
    return entities


def _chunks_map(bank: Bank, results: list[dict], max_tokens: int) -> dict[str, dict]:
    chunk_ids = list(dict.fromkeys(result["chunk_id"] for result in results if result["chunk_id"]))
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


def _source_facts(bank: Bank, results: list[dict], max_tokens: int) -> tuple[dict[str, dict], bool]:
    wanted = [i for result in results for i in (result["source_fact_ids"] or [])]
    rows = {str(unit_id): row for unit_id, row in _result_rows(wanted, bank_id=bank.pk).items()}
    out, used, truncated = {}, 0, False
    for fact_id in dict.fromkeys(wanted):
        row = rows.get(fact_id)
        if row is None:
            continue
        used += count_tokens(row["text"])
        if used > max_tokens:
            truncated = True
            break
        out[fact_id] = _result_from_row(row, 0.0, None, None)
    return out, truncated
