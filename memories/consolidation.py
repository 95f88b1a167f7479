"""Observations: a bank's new facts consolidated into durable beliefs by a bounded, per-bank serialized run.

A run (the ``consolidation`` operation) takes the bank's pending facts (``consolidated_at IS NULL``, oldest first,
at most ``RUN_MAX_FACTS``), groups them by observation scope (the tag set observations live under), and sends them
to the consolidation model ``consolidation_llm_batch_size`` at a time, each batch with the existing observations of
its scope that are most similar to it and, under token caps, the facts those observations rest on. The model
answers with creates, updates and deletes that name their source facts by short references (``F1``, ``O2``) rather
than UUIDs, so it cannot invent lineage; ``observations_mission`` replaces the built-in guidance. Each batch's
decisions, the new embeddings and the facts' ``consolidated_at`` commit in one fenced transaction, so a crash or a
retry never applies a batch twice. After a create or update, an observation nearly identical (cosine similarity at
least ``DEDUP_SIMILARITY``) to another in its scope is merged into the older one: sources united, history kept.

Everything a run does is bounded: facts per run, LLM calls per run, tokens per run (input and output, across
retries of the operation), related observations per batch, source-fact tokens per observation and per prompt,
completion tokens per call (sized to the batch). A batch the model cannot answer (malformed or truncated output, an
oversized prompt) is split in half rather than retried as is; a single fact that still fails is marked
``consolidation_failed_at`` (``POST …/consolidation/recover`` clears the mark). When pending facts remain after a
run, one follow-up run is queued behind it.

With no LLM configured for consolidation, runs are skipped with a clear status and facts stay pending, so that
configuring a model later consolidates everything retained meanwhile (see README, "Observations").
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from banks.models import Bank
from banks.selectors import resolved_config
from hindsight_site import llm, metrics
from memories import operations
from memories.extraction.types import TokenUsage
from memories.models import (
    FactType,
    MemoryUnit,
    ObservationChange,
    ObservationHistory,
    Operation,
    OperationStatus,
    UnitState,
)

logger = logging.getLogger("hindsight.consolidation")

OPERATION_TYPE = "consolidation"

# --- bounds (per run, per batch, per call) ---------------------------------------------------------------------
RUN_MAX_FACTS = 200  # facts taken per run; the rest wait for the follow-up run
RUN_MAX_LLM_CALLS = 30  # calls per run, splits included
RUN_MAX_TOKENS = 400_000  # input + output tokens per run (all attempts of the operation together)
RELATED_PER_FACT = 5  # nearest observations looked up per fact
RELATED_MAX = 16  # observations shown to the model per batch
RELATED_MIN_SIMILARITY = 0.3
SOURCE_FACTS_PER_OBSERVATION = 20  # newest source facts loaded per observation (then cut by tokens)
SOURCE_FACTS_CEILING_TOKENS = 4096  # what "-1 = unlimited" means for the whole prompt's source facts
OBSERVATION_MAX_CHARS = 1000
OUTPUT_TOKENS_BASE = 400
OUTPUT_TOKENS_PER_FACT = 250
OUTPUT_TOKENS_MAX = 4096
DEDUP_SIMILARITY = 0.95
MAX_SCOPES_PER_FACT = 8
LINEAGE_REPAIR_LIMIT = 500

DEFAULT_MISSION = (
    "Keep durable knowledge: who people are, their preferences, skills, habits, relationships, goals and recurring "
    "patterns, and lasting facts about projects, places and things. Skip one-off chatter and passing states unless "
    "they change something durable."
)

SYSTEM_PROMPT = """\
You maintain the observations of an AI agent's long-term memory: short, durable statements synthesised from \
many individual facts. You receive NEW FACTS (ids F1, F2, …) and EXISTING OBSERVATIONS of the same scope (ids O1, \
O2, …, each with some of the facts it rests on). Decide how the new facts change the observations.

- update: when new facts confirm, refine or contradict an existing observation, rewrite that observation's text so \
it states the current understanding (say what changed when something changed: "used to …, now …"). At most one \
update per observation.
- create: only for durable knowledge no existing observation covers. Never create an observation that restates an \
existing one; update it instead.
- delete: only when an existing observation is now plainly wrong or fully superseded and no rewrite can save it.
- Facts that matter only for the moment need no action at all.

Every create and update lists the ids of the NEW FACTS it rests on (source_facts, at least one). Write clean prose, \
one or two sentences, in the language of the facts, with names instead of pronouns and absolute dates; no ids, \
no metadata. Give a short reason for every action. The user message starts with the MISSION: it says what this \
bank wants observations to capture and overrides these general preferences.

Answer with JSON only: {"creates": [...], "updates": [...], "deletes": [...]} (empty lists when nothing changes).
"""

RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "observation_consolidation",
        "strict": True,
        "schema": {
            "type": "object",
            "additionalProperties": False,
            "required": ["creates", "updates", "deletes"],
            "properties": {
                "creates": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["text", "source_facts", "reason"],
                        "properties": {
                            "text": {"type": "string"},
                            "source_facts": {"type": "array", "items": {"type": "string"}},
                            "reason": {"type": "string"},
                        },
                    },
                },
                "updates": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["observation", "text", "source_facts", "reason"],
                        "properties": {
                            "observation": {"type": "string"},
                            "text": {"type": "string"},
                            "source_facts": {"type": "array", "items": {"type": "string"}},
                            "reason": {"type": "string"},
                        },
                    },
                },
                "deletes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["observation", "reason"],
                        "properties": {"observation": {"type": "string"}, "reason": {"type": "string"}},
                    },
                },
            },
        },
    },
}


# --- scopes --------------------------------------------------------------------------------------------------------

Scope = tuple[str, ...]


def fact_scopes(tags: list[str] | None, observation_scopes: Any) -> list[Scope]:
    """The scopes (sorted tag tuples) a fact's observations live under, from the retain item's
    ``observation_scopes``: ``combined`` (default, the fact's whole tag set), ``per_tag``, ``all_combinations``,
    ``shared`` (one untagged scope) or an explicit list of tag lists."""
    tags_sorted = sorted(set(tags or []))
    if isinstance(observation_scopes, list):
        explicit = [tuple(sorted(set(scope))) for scope in observation_scopes if isinstance(scope, list)]
        scopes = list(dict.fromkeys(explicit))
    elif observation_scopes == "shared":
        scopes = [()]
    elif observation_scopes == "per_tag":
        scopes = [(tag,) for tag in tags_sorted]
    elif observation_scopes == "all_combinations":
        scopes = [combo for size in range(1, len(tags_sorted) + 1) for combo in combinations(tags_sorted, size)]
    else:
        scopes = [tuple(tags_sorted)]
    return scopes[:MAX_SCOPES_PER_FACT] or [()]


def _matches_request(tags: list[str] | None, requested: list[list[str]] | None) -> bool:
    """``POST …/consolidate`` with ``observation_scopes``: facts whose tags contain every tag of one scope."""
    if not requested:
        return True
    have = set(tags or [])
    return any(set(scope) <= have for scope in requested)


# --- run bookkeeping -----------------------------------------------------------------------------------------------


@dataclass
class _Fact:
    id: uuid.UUID
    text: str
    tags: list[str]
    occurred_start: Any
    occurred_end: Any
    mentioned_at: Any
    entities: list[str]
    scopes: list[Scope] = field(default_factory=list)


@dataclass
class _Run:
    """What one run did and spent; becomes the operation's ``result``."""

    bank: Bank
    config: dict[str, Any]
    operation: Operation | None
    worker_id: str | None
    provider: Any = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    llm_calls: int = 0
    batches: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    merged: int = 0
    facts_consolidated: int = 0
    facts_failed: int = 0
    stopped_by_budget: str | None = None
    pending_scopes: dict[uuid.UUID, int] = field(default_factory=dict)  # fact -> scope batches still to run

    def budget_left(self) -> bool:
        if self.llm_calls >= RUN_MAX_LLM_CALLS:
            self.stopped_by_budget = f"LLM calls per run ({RUN_MAX_LLM_CALLS})"
        elif self.usage.total_tokens >= RUN_MAX_TOKENS:
            self.stopped_by_budget = f"tokens per run ({RUN_MAX_TOKENS})"
        return self.stopped_by_budget is None

    def result(self, status: str, **extra: Any) -> dict[str, Any]:
        return {
            "status": status,
            "observations_created": self.created,
            "observations_updated": self.updated,
            "observations_deleted": self.deleted,
            "observations_merged": self.merged,
            "facts_consolidated": self.facts_consolidated,
            "facts_failed": self.facts_failed,
            "llm_calls": self.llm_calls,
            "batches": self.batches,
            "usage": self.usage.as_dict(),
            "stopped_by_budget": self.stopped_by_budget,
            **extra,
        }


class ConsolidationError(Exception):
    """The run cannot go on (the model refuses every call, e.g. bad credentials); facts stay pending."""


# Provider errors that belong to one prompt (too large, refused): the batch is split, not the run failed.
BATCH_ERROR_KINDS = frozenset({"bad_request", "context_window", "other"})


class _Unanswerable(Exception):
    """The model's answer for a batch cannot be used as is (malformed, truncated, prompt too large)."""


# --- the run -------------------------------------------------------------------------------------------------------


def run_consolidation(
    *,
    bank: Bank,
    operation: Operation | None = None,
    worker_id: str | None = None,
    observation_scopes: list[list[str]] | None = None,
) -> dict[str, Any]:
    """Consolidate up to ``RUN_MAX_FACTS`` pending facts of ``bank``; return the run's result.

    With ``operation`` (run by ``worker_id``) every batch commits behind a fence on the operation's lease, and the
    last transaction marks the operation completed with the result (token usage included, summed over attempts).
    Must not be called inside a transaction: each batch commits on its own.
    """
    run = _Run(bank=bank, config=resolved_config(bank), operation=operation, worker_id=worker_id)
    if operation is not None:
        previous = (operation.result or {}).get("usage") or {}
        run.usage = TokenUsage(**{k: int(v) for k, v in previous.items() if k in TokenUsage.__dataclass_fields__})

    skipped = _skip_reason(run.config)
    if skipped:
        return _finish(run, run.result("skipped", reason=skipped), follow_up=False)

    repaired = repair_lineage(bank=bank)
    facts = _pending_facts(bank, observation_scopes, RUN_MAX_FACTS)
    if not facts:
        return _finish(run, run.result("completed", lineage_repaired=repaired), follow_up=False)

    from memories.embeddings import check_same_model, get_embedding_provider

    run.provider = get_embedding_provider(bank.embedding_model)
    check_same_model(bank.embedding_model, run.provider)

    by_scope: dict[Scope, list[_Fact]] = defaultdict(list)
    for fact in facts:
        for scope in fact.scopes:
            by_scope[scope].append(fact)
        run.pending_scopes[fact.id] = len(fact.scopes)
    size = int(run.config["consolidation_llm_batch_size"])
    batches = [(scope, group[i : i + size]) for scope, group in by_scope.items() for i in range(0, len(group), size)]
    for done, (scope, batch) in enumerate(batches):
        if not run.budget_left():
            break
        if operation is not None:
            operations.report_progress(operation, "consolidating", done, len(batches))
        _consolidate(run, scope, batch)
    status = "completed" if run.stopped_by_budget is None else "partial"
    return _finish(run, run.result(status, lineage_repaired=repaired), follow_up=True, scopes=observation_scopes)


def _skip_reason(config: dict[str, Any]) -> str | None:
    if not config.get("enable_observations", True):
        return "observations are disabled for this bank (enable_observations is false)"
    if not llm.llm_configured("consolidation"):
        return (
            "no LLM is configured for consolidation (set HINDSIGHT_LLM_MODEL or HINDSIGHT_LLM_CONSOLIDATION_MODEL); "
            "facts stay pending and are consolidated once a model is configured"
        )
    return None


def _finish(run: _Run, result: dict[str, Any], *, follow_up: bool, scopes=None) -> dict[str, Any]:
    """The run's last transaction: the operation completes, and a follow-up is queued when facts remain."""
    with transaction.atomic():
        if run.operation is not None:
            operations.fence(run.operation, run.worker_id)
        if follow_up and _pending_facts(run.bank, scopes, 1):
            follow = schedule_consolidation(bank=run.bank, observation_scopes=scopes, behind=run.operation)
            result["follow_up_operation_id"] = str(follow.pk) if follow else None
        if run.operation is not None:
            operations.mark_completed(run.operation, result)
    changed = run.created + run.updated + run.deleted + run.merged
    if changed:
        try:
            _after_consolidation(run.bank)
        except Exception:  # the run is committed and completed; a follow-on failure must not report it failed
            logger.exception("After-consolidation work failed for bank %s", run.bank.bank_id)
    return result


def _after_consolidation(bank: Bank) -> None:
    """Runs once after every consolidation run that changed observations, outside any transaction: mental models
    whose trigger asks for it are queued for a refresh."""
    from directives.services import refresh_mental_models_after_consolidation

    refresh_mental_models_after_consolidation(bank=bank)


def _pending_facts(bank: Bank, requested: list[list[str]] | None, limit: int) -> list[_Fact]:
    """Unconsolidated, valid, not-failed facts, oldest first (the partial backlog index serves this)."""
    rows = (
        MemoryUnit.objects.filter(
            bank=bank,
            fact_type__in=[FactType.WORLD, FactType.EXPERIENCE],
            consolidated_at__isnull=True,
            consolidation_failed_at__isnull=True,
            state=UnitState.VALID,
        )
        .order_by("created_at", "id")
        .values_list("id", "text", "tags", "observation_scopes", "occurred_start", "occurred_end", "mentioned_at")
    )
    if requested and all(requested):  # an empty scope matches every fact: no tag pre-filter then
        rows = rows.filter(tags__overlap=sorted({tag for scope in requested for tag in scope}))
    facts: list[_Fact] = []
    for row in rows.iterator(chunk_size=200):
        unit_id, text, tags, scopes, start, end, mentioned = row
        if not _matches_request(tags, requested):
            continue
        facts.append(_Fact(unit_id, text, list(tags or []), start, end, mentioned, [], fact_scopes(tags, scopes)))
        if len(facts) >= limit:
            break
    if facts and limit > 1:
        names = _entity_names([fact.id for fact in facts])
        for fact in facts:
            fact.entities = names.get(fact.id, [])
    return facts


def _entity_names(unit_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT ue.unit_id, array_agg(e.canonical_name ORDER BY e.canonical_name)
            FROM memories_unitentity ue JOIN memories_entity e ON e.id = ue.entity_id
            WHERE ue.unit_id = ANY(%s::uuid[]) GROUP BY ue.unit_id
            """,
            [unit_ids],
        )
        return {row[0]: list(row[1]) for row in cursor.fetchall()}


# --- one batch -----------------------------------------------------------------------------------------------------


def _consolidate(run: _Run, scope: Scope, batch: list[_Fact]) -> None:
    """Consolidate one batch; on an unusable answer split it in two, and mark a lone failing fact as failed."""
    if not run.budget_left():
        return
    try:
        _consolidate_once(run, scope, batch)
    except _Unanswerable as exc:
        if len(batch) > 1:
            logger.info("Splitting a consolidation batch of %d facts in %s: %s", len(batch), run.bank.bank_id, exc)
            half = len(batch) // 2
            _consolidate(run, scope, batch[:half])
            _consolidate(run, scope, batch[half:])
        else:
            logger.warning("Consolidation failed for fact %s in %s: %s", batch[0].id, run.bank.bank_id, exc)
            _mark_failed(run, batch[0])


def _consolidate_once(run: _Run, scope: Scope, batch: list[_Fact]) -> None:
    related = _related_observations(run.bank, scope, batch)
    evidence = _evidence(related, run.config)
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": _user_message(run.config, batch, related, evidence)},
    ]
    run.llm_calls += 1
    run.batches += 1
    try:
        response = llm.complete(
            purpose="consolidation",
            messages=messages,
            response_format=RESPONSE_FORMAT,
            temperature=0.0,
            max_tokens=min(OUTPUT_TOKENS_MAX, OUTPUT_TOKENS_BASE + OUTPUT_TOKENS_PER_FACT * len(batch)),
        )
    except llm.LLMError as exc:
        _save_usage(run)
        if exc.transient:
            raise operations.TransientOperationError(f"consolidation model unavailable: {exc}") from exc
        if exc.kind in BATCH_ERROR_KINDS:
            raise _Unanswerable(str(exc)) from exc
        # Credentials, configuration: no batch could succeed, so fail the run and leave every fact pending.
        raise ConsolidationError(f"the consolidation model cannot be used: {exc}") from exc
    run.usage.add(response.usage)
    if response.finish_reason == "length":
        raise _Unanswerable("the answer was cut off at the completion-token cap")
    decisions = _parse(response.content, batch, related)
    texts = [d["text"] for d in decisions["creates"]] + [d["text"] for d in decisions["updates"]]
    vectors = _embed(run, texts)
    with transaction.atomic():
        if run.operation is not None:
            operations.fence(run.operation, run.worker_id)
        _apply(run, scope, batch, related, decisions, vectors)
        _mark_scope_done(run, batch)
        _save_usage(run)


def _embed(run: _Run, texts: list[str]) -> list[list[float]]:
    if not texts:
        return []
    from memories.embeddings import EmbeddingError

    try:
        return run.provider.embed_documents(texts)
    except EmbeddingError as exc:
        if getattr(exc, "transient", False):
            raise operations.TransientOperationError(str(exc)) from exc
        raise


@dataclass
class _Observation:
    ref: str
    id: uuid.UUID
    text: str
    proof_count: int
    source_ids: list[uuid.UUID]


def _related_observations(bank: Bank, scope: Scope, batch: list[_Fact]) -> list[_Observation]:
    """The scope's observations nearest to the batch's facts: ``RELATED_PER_FACT`` per fact, ``RELATED_MAX`` in all,
    computed in SQL (no vectors leave the database)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT o.id, o.text, o.proof_count, o.source_memory_ids, max(o.similarity) AS similarity
            FROM memories_memoryunit f
            CROSS JOIN LATERAL (
                SELECT c.id, c.text, c.proof_count, c.source_memory_ids,
                       1 - (c.embedding <=> f.embedding) AS similarity
                FROM memories_memoryunit c
                WHERE c.bank_id = %s AND c.fact_type = 'observation' AND c.state = 'valid'
                  AND c.tags::text[] = %s::text[] AND c.embedding IS NOT NULL
                -- By similarity, not by the distance operator: an exact scan of this bank's observations, never
                -- the shared HNSW index, whose approximate scan can miss a small bank's rows among all banks'.
                ORDER BY similarity DESC
                LIMIT %s
            ) o
            WHERE f.id = ANY(%s::uuid[]) AND f.embedding IS NOT NULL
            GROUP BY o.id, o.text, o.proof_count, o.source_memory_ids
            HAVING max(o.similarity) >= %s
            ORDER BY similarity DESC, o.id
            LIMIT %s
            """,
            [bank.pk, list(scope), RELATED_PER_FACT, [f.id for f in batch], RELATED_MIN_SIMILARITY, RELATED_MAX],
        )
        rows = cursor.fetchall()
    return [_Observation(f"O{i}", row[0], row[1], row[2], list(row[3] or [])) for i, row in enumerate(rows, start=1)]


def _token_cap(value: Any, ceiling: int) -> int:
    value = int(value)
    return ceiling if value < 0 else min(value, ceiling)


def _evidence(related: list[_Observation], config: dict[str, Any]) -> dict[str, list[str]]:
    """Source-fact texts shown under each observation: its newest facts, at most the per-observation token cap
    each and ``consolidation_source_facts_max_tokens`` in all (-1 means this module's ceiling, never unbounded)."""
    from memories.recall import count_tokens

    total_cap = _token_cap(config["consolidation_source_facts_max_tokens"], SOURCE_FACTS_CEILING_TOKENS)
    per_cap = _token_cap(config["consolidation_source_facts_max_tokens_per_observation"], total_cap)
    wanted = {obs.ref: list(reversed(obs.source_ids))[:SOURCE_FACTS_PER_OBSERVATION] for obs in related}
    ids = {unit_id for unit_ids in wanted.values() for unit_id in unit_ids}
    texts = dict(MemoryUnit.objects.filter(pk__in=ids, state=UnitState.VALID).values_list("id", "text") if ids else [])
    evidence: dict[str, list[str]] = {}
    used = 0
    for ref, unit_ids in wanted.items():
        spent = 0
        lines: list[str] = []
        for unit_id in unit_ids:
            text = texts.get(unit_id)
            if text is None:
                continue
            cost = count_tokens(text)
            if spent + cost > per_cap or used + cost > total_cap:
                break
            spent += cost
            used += cost
            lines.append(text)
        evidence[ref] = lines
    return evidence


def _when(fact: _Fact) -> str:
    parts = []
    if fact.occurred_start:
        end = fact.occurred_end
        span = fact.occurred_start.date().isoformat()
        if end and end.date() != fact.occurred_start.date():
            span += f" to {end.date().isoformat()}"
        parts.append(f"occurred {span}")
    if fact.mentioned_at:
        parts.append(f"mentioned {fact.mentioned_at.date().isoformat()}")
    return f" ({'; '.join(parts)})" if parts else ""


def _user_message(
    config: dict[str, Any], batch: list[_Fact], related: list[_Observation], evidence: dict[str, list[str]]
) -> str:
    """Everything that varies goes here (the system prompt stays byte-identical, so providers can cache it)."""
    mission = (config.get("observations_mission") or "").strip() or DEFAULT_MISSION
    lines = ["MISSION", mission, "", "EXISTING OBSERVATIONS"]
    if not related:
        lines.append("None yet in this scope.")
    for obs in related:
        lines.append(f"[{obs.ref}] {obs.text} (supported by {obs.proof_count} facts)")
        lines.extend(f"    evidence: {text}" for text in evidence.get(obs.ref, []))
    lines += ["", "NEW FACTS"]
    for index, fact in enumerate(batch, start=1):
        about = f" [about: {', '.join(fact.entities[:8])}]" if fact.entities else ""
        lines.append(f"[F{index}] {fact.text}{_when(fact)}{about}")
    return "\n".join(lines)


def _parse(content: str | None, batch: list[_Fact], related: list[_Observation]) -> dict[str, list[dict]]:
    """Decisions with references resolved; anything that names unknown ids or has no text is dropped."""
    try:
        data = json.loads(content or "")
    except ValueError as exc:
        raise _Unanswerable(f"the answer is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _Unanswerable("the answer is not a JSON object")
    facts = {f"F{i}": fact.id for i, fact in enumerate(batch, start=1)}
    observations = {obs.ref: obs for obs in related}

    def items(key: str) -> list[dict]:
        value = data.get(key) or []
        if not isinstance(value, list):
            raise _Unanswerable(f"'{key}' is not a list")
        return [item for item in value if isinstance(item, dict)]

    def sources(item: dict) -> list[uuid.UUID]:
        refs = item.get("source_facts")
        refs = refs if isinstance(refs, list) else []
        return list(dict.fromkeys(facts[ref.strip()] for ref in refs if isinstance(ref, str) and ref.strip() in facts))

    def text(item: dict) -> str:
        value = item.get("text")
        return value.strip()[:OBSERVATION_MAX_CHARS] if isinstance(value, str) else ""

    def reason(item: dict) -> str:
        value = item.get("reason")
        return value.strip()[:500] if isinstance(value, str) else ""

    decisions: dict[str, list[dict]] = {"creates": [], "updates": [], "deletes": []}
    touched: set[str] = set()
    for item in items("deletes"):
        ref = str(item.get("observation", "")).strip()
        if ref in observations and ref not in touched:
            touched.add(ref)
            decisions["deletes"].append({"observation": observations[ref], "reason": reason(item)})
    for item in items("updates"):
        ref = str(item.get("observation", "")).strip()
        body, source_ids = text(item), sources(item)
        if ref in observations and ref not in touched and body and source_ids:
            touched.add(ref)
            decisions["updates"].append(
                {"observation": observations[ref], "text": body, "sources": source_ids, "reason": reason(item)}
            )
    for item in items("creates")[: 2 * len(batch)]:  # no more new observations than two per fact
        body, source_ids = text(item), sources(item)
        if body and source_ids:
            decisions["creates"].append({"text": body, "sources": source_ids, "reason": reason(item)})
    return decisions


# --- applying decisions (inside the batch's transaction) ----------------------------------------------------------


def _apply(
    run: _Run,
    scope: Scope,
    batch: list[_Fact],
    related: list[_Observation],
    decisions: dict[str, list[dict]],
    vectors: list[list[float]],
) -> None:
    now = timezone.now()
    operation_id = run.operation.pk if run.operation is not None else None
    # Facts can vanish between the model call and now (a re-retained document replaces its chunks): lineage only
    # ever names facts that exist.
    batch_ids = [fact.id for fact in batch]
    alive = set(MemoryUnit.objects.filter(pk__in=batch_ids, state=UnitState.VALID).values_list("id", flat=True))
    vector_iter = iter(vectors)
    for decision in decisions["deletes"]:
        deleted, _ = MemoryUnit.objects.filter(pk=decision["observation"].id, bank=run.bank).delete()
        run.deleted += bool(deleted)
    touched: list[uuid.UUID] = []
    for decision in decisions["creates"]:
        vector = next(vector_iter)
        sources = [s for s in decision["sources"] if s in alive]
        if not sources:
            continue
        observation = MemoryUnit.objects.create(
            bank=run.bank,
            text=decision["text"],
            fact_type=FactType.OBSERVATION,
            embedding=vector,
            embedding_model=run.provider.model_id,
            tags=list(scope),
            source_memory_ids=sources,
            proof_count=len(sources),
            consolidated_at=now,
        )
        _refresh_derived(observation.pk)
        ObservationHistory.objects.create(
            bank=run.bank,
            observation=observation,
            action=ObservationChange.CREATED,
            text=observation.text,
            source_memory_ids=sources,
            reason=decision["reason"],
            operation_id=operation_id,
        )
        run.created += 1
        touched.append(observation.pk)
    for decision in decisions["updates"]:
        vector = next(vector_iter)
        target = MemoryUnit.objects.select_for_update().filter(pk=decision["observation"].id, bank=run.bank).first()
        sources = [s for s in decision["sources"] if s in alive]
        if target is None or not sources:
            continue
        previous = target.text
        target.text = decision["text"]
        target.embedding = vector
        target.embedding_model = run.provider.model_id
        target.source_memory_ids = list(dict.fromkeys([*target.source_memory_ids, *sources]))
        target.proof_count = len(target.source_memory_ids)
        target.consolidated_at = now
        target.save(
            update_fields=[
                "text",
                "embedding",
                "embedding_model",
                "source_memory_ids",
                "proof_count",
                "consolidated_at",
                "updated_at",
            ]
        )
        _refresh_derived(target.pk)
        ObservationHistory.objects.create(
            bank=run.bank,
            observation=target,
            action=ObservationChange.UPDATED,
            text=target.text,
            previous_text=previous,
            source_memory_ids=sources,
            reason=decision["reason"],
            operation_id=operation_id,
        )
        run.updated += 1
        touched.append(target.pk)
    for observation_id in touched:
        _merge_near_duplicate(run, observation_id, operation_id)


def _refresh_derived(observation_id: uuid.UUID) -> None:
    """Times and keyword signals of an observation follow its source facts: it happened when they did, and the
    names its facts mention find it by keyword."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE memories_memoryunit o
            SET occurred_start = s.occurred_start, occurred_end = s.occurred_end, mentioned_at = s.mentioned_at,
                text_signals = coalesce(s.names, '')
            FROM (
                SELECT min(f.occurred_start) AS occurred_start,
                       greatest(max(f.occurred_end), min(f.occurred_start)) AS occurred_end,
                       max(f.mentioned_at) AS mentioned_at,
                       (SELECT string_agg(DISTINCT e.canonical_name, ' ')
                        FROM memories_unitentity ue JOIN memories_entity e ON e.id = ue.entity_id
                        WHERE ue.unit_id = ANY(o2.source_memory_ids)) AS names
                FROM memories_memoryunit o2
                LEFT JOIN memories_memoryunit f ON f.id = ANY(o2.source_memory_ids)
                WHERE o2.id = %s
                GROUP BY o2.id
            ) s
            WHERE o.id = %s
            """,
            [observation_id, observation_id],
        )


def _merge_near_duplicate(run: _Run, observation_id: uuid.UUID, operation_id) -> None:
    """Merge a just-written observation with its nearest neighbour in the same scope when they say the same thing.

    The older observation survives (its id is what history and citations know); it takes the newer wording, which
    was just written from the latest evidence, and the union of both lineages.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.id, 1 - (c.embedding <=> o.embedding) AS similarity
            FROM memories_memoryunit o JOIN memories_memoryunit c
              ON c.bank_id = o.bank_id AND c.fact_type = 'observation' AND c.state = 'valid'
             AND c.tags::text[] = o.tags::text[] AND c.id <> o.id AND c.embedding IS NOT NULL
            WHERE o.id = %s
            ORDER BY similarity DESC  -- exact, as in _related_observations
            LIMIT 1
            """,
            [observation_id],
        )
        row = cursor.fetchone()
    if row is None or row[1] < DEDUP_SIMILARITY:
        return
    pair = list(MemoryUnit.objects.select_for_update().filter(pk__in=[observation_id, row[0]]).order_by("created_at"))
    if len(pair) != 2:
        return
    survivor, duplicate = pair
    fresh = pair[1] if pair[1].pk == observation_id else pair[0]
    previous = survivor.text
    survivor.text = fresh.text
    survivor.embedding = fresh.embedding
    survivor.source_memory_ids = list(dict.fromkeys([*survivor.source_memory_ids, *duplicate.source_memory_ids]))
    survivor.proof_count = len(survivor.source_memory_ids)
    survivor.save(update_fields=["text", "embedding", "source_memory_ids", "proof_count", "updated_at"])
    ObservationHistory.objects.create(
        bank=run.bank,
        observation=survivor,
        action=ObservationChange.MERGED,
        text=survivor.text,
        previous_text=previous,
        source_memory_ids=list(duplicate.source_memory_ids),
        reason=f"merged near-duplicate observation {duplicate.pk} (similarity {row[1]:.3f})",
        operation_id=operation_id,
    )
    # The duplicate's own history moves to the survivor, so no change is forgotten.
    ObservationHistory.objects.filter(observation=duplicate).update(observation=survivor)
    MemoryUnit.objects.filter(pk=duplicate.pk).delete()
    _refresh_derived(survivor.pk)
    run.merged += 1


def _mark_scope_done(run: _Run, batch: list[_Fact]) -> None:
    """A fact is consolidated once every scope it belongs to has seen it."""
    done = []
    for fact in batch:
        run.pending_scopes[fact.id] -= 1
        if run.pending_scopes[fact.id] == 0:
            done.append(fact.id)
    if done:
        run.facts_consolidated += MemoryUnit.objects.filter(pk__in=done, consolidated_at__isnull=True).update(
            consolidated_at=timezone.now()
        )


def _mark_failed(run: _Run, fact: _Fact) -> None:
    with transaction.atomic():
        if run.operation is not None:
            operations.fence(run.operation, run.worker_id)
        run.facts_failed += MemoryUnit.objects.filter(pk=fact.id, consolidated_at__isnull=True).update(
            consolidation_failed_at=timezone.now()
        )
        run.pending_scopes[fact.id] = -1  # never marked consolidated by its other scopes in this run
        _save_usage(run)


def _save_usage(run: _Run) -> None:
    """Spent tokens are written as the run goes, so a crash or a transient failure never loses the count."""
    if run.operation is not None:
        Operation.objects.filter(pk=run.operation.pk).update(
            result={"usage": run.usage.as_dict(), "llm_calls": run.llm_calls}, updated_at=timezone.now()
        )


# --- scheduling ----------------------------------------------------------------------------------------------------


def serialization_key(bank: Bank) -> str:
    return f"consolidation:{bank.pk}"


def schedule_consolidation(
    *, bank: Bank, observation_scopes: list[list[str]] | None = None, behind: Operation | None = None
) -> Operation | None:
    """Queue a consolidation run for ``bank`` (in the caller's transaction; dispatched on commit) unless an
    equivalent one is already waiting, which is returned instead. Runs of one bank never overlap: they share a
    serialization key, so each waits for the one before it."""
    payload = {"observation_scopes": observation_scopes}
    waiting = (
        Operation.objects.filter(
            bank=bank, operation_type=OPERATION_TYPE, status=OperationStatus.PENDING, cancel_requested=False
        )
        .exclude(pk=getattr(behind, "pk", None))
        .order_by("created_at")
    )
    for candidate in waiting:
        if (candidate.payload or {}).get("observation_scopes") == observation_scopes:
            return candidate
    operation, _ = operations.submit(
        bank=bank,
        operation_type=OPERATION_TYPE,
        payload={**payload, "nonce": uuid.uuid4().hex},  # every run is its own work, never an idempotent replay
        serialization_key=serialization_key(bank),
    )
    return operation


def trigger_consolidation(*, bank: Bank, observation_scopes: list[list[str]] | None = None) -> tuple[Operation, bool]:
    """``POST …/consolidate``: the run's operation and whether an already-waiting one was reused."""
    with transaction.atomic():
        Bank.objects.select_for_update().filter(pk=bank.pk).first()  # two triggers at once queue one run
        before = set(
            Operation.objects.filter(
                bank=bank, operation_type=OPERATION_TYPE, status=OperationStatus.PENDING
            ).values_list("pk", flat=True)
        )
        operation = schedule_consolidation(bank=bank, observation_scopes=observation_scopes)
    return operation, operation.pk in before


def schedule_after_retain(*, bank: Bank, config: dict[str, Any]) -> None:
    """Called in retain's write transaction when it stored new facts: queue a run when the bank consolidates
    automatically and a model is configured (without one, a run would only report that it skipped)."""
    automatic = config.get("enable_observations", True) and config.get("enable_auto_consolidation", True)
    if automatic and llm.llm_configured("consolidation"):
        schedule_consolidation(bank=bank)


# --- lineage maintenance -------------------------------------------------------------------------------------------


def clear_observations_for_sources(*, bank: Bank, unit_ids: list[uuid.UUID]) -> int:
    """Delete the observations derived from any of ``unit_ids`` and send their other source facts back to the
    backlog (an observation is a synthesis: without one of its facts its text may no longer hold). Call it in the
    transaction that deletes or invalidates those facts. Returns how many observations were deleted."""
    if not unit_ids:
        return 0
    observations = list(
        MemoryUnit.objects.filter(
            bank=bank, fact_type=FactType.OBSERVATION, source_memory_ids__overlap=list(unit_ids)
        ).values_list("id", "source_memory_ids")
    )
    if not observations:
        return 0
    others = {s for _, sources in observations for s in sources} - set(unit_ids)
    if others:
        MemoryUnit.objects.filter(pk__in=others, bank=bank).exclude(fact_type=FactType.OBSERVATION).update(
            consolidated_at=None
        )
    MemoryUnit.objects.filter(pk__in=[pk for pk, _ in observations]).delete()
    return len(observations)


def repair_lineage(*, bank: Bank) -> int:
    """Observations resting on a fact that was deleted or invalidated (by any path) are dropped and their other
    facts re-queued, so no observation points at nothing. Bounded per call; runs at the start of every run."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT DISTINCT s.id
            FROM memories_memoryunit o CROSS JOIN LATERAL unnest(o.source_memory_ids) AS s(id)
            LEFT JOIN memories_memoryunit f ON f.id = s.id AND f.state = 'valid'
            WHERE o.bank_id = %s AND o.fact_type = 'observation' AND f.id IS NULL
            LIMIT %s
            """,
            [bank.pk, LINEAGE_REPAIR_LIMIT],
        )
        missing = [row[0] for row in cursor.fetchall()]
    if not missing:
        return 0
    with transaction.atomic():
        return clear_observations_for_sources(bank=bank, unit_ids=missing)


# --- the operation handler -----------------------------------------------------------------------------------------


@operations.handler(OPERATION_TYPE)
@metrics.timed("consolidation")
def run_consolidation_operation(operation: Operation, worker_id: str) -> None:
    run_consolidation(
        bank=operation.bank,
        operation=operation,
        worker_id=worker_id,
        observation_scopes=(operation.payload or {}).get("observation_scopes"),
    )
