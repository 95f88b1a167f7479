"""Reflect: answer a question from a bank's memories, in the bank's voice, under its hard rules.

With a language model, an agentic loop through litellm tool calling: the model consults mental models (standing
answers), then observations (consolidated knowledge), then raw facts (recall), may expand a memory to its source
chunk or document, and finishes by calling ``done`` with its answer and the ids it used. Only ids a tool actually
returned can be cited. The answer is then checked against the active directives by a second call and regenerated
(a bounded number of times) when it breaks one. A ``response_schema`` adds one extraction call whose JSON is
validated against the schema.

Everything is bounded by the request's budget (``BUDGETS``): agent iterations, tokens of tool output per call and
in total (the synthesis prompt can never grow to the tens of thousands of tokens that make upstream reflect slow),
directive regenerations, and wall-clock time. Each LLM call runs on a helper thread and is abandoned at the deadline,
so a slow provider yields a clearly labelled timeout answer instead of a hung request.

With no language model configured, reflect answers extractively: the best recalled observations and facts, cited
by id and labelled as such.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from banks.models import Bank
from directives import selectors
from directives.models import Directive, MentalModel
from directives.prompts import directives_block, prompt_blocks, system_prompt, user_prompt
from hindsight_site import llm
from hindsight_site.api import iso
from hindsight_site.errors import DomainError, Unavailable
from memories.extraction.types import TokenUsage
from memories.models import MemoryUnit
from memories.recall import MAX_QUERY_TOKENS, RecallQuery, count_tokens, recall
from memories.tags import TagFilterError, tag_filter

logger = logging.getLogger("hindsight.reflect")

RAW_FACT_TYPES = ("world", "experience")


@dataclass(frozen=True)
class ReflectBudget:
    """What one reflect may spend. Chosen so that low answers in a few seconds on a fast model and high stays well
    under a minute of model time; the totals cap the prompt of the final turn."""

    max_iterations: int  # agent turns (LLM calls with tools), the last one may only answer
    wall_seconds: float  # the whole reflect, every LLM call included
    tool_tokens: int  # tokens of output one tool call may return to the model
    evidence_tokens: int  # tokens of tool output one reflect may collect in total
    regenerations: int  # rewrites after a directive violation
    offline_facts: int  # memories in an extractive answer


BUDGETS: dict[str, ReflectBudget] = {
    "low": ReflectBudget(
        max_iterations=3, wall_seconds=45, tool_tokens=1500, evidence_tokens=4000, regenerations=1, offline_facts=5
    ),
    "mid": ReflectBudget(
        max_iterations=6, wall_seconds=90, tool_tokens=2500, evidence_tokens=8000, regenerations=2, offline_facts=8
    ),
    "high": ReflectBudget(
        max_iterations=10, wall_seconds=180, tool_tokens=4000, evidence_tokens=16000, regenerations=2, offline_facts=12
    ),
}
# LLM calls run here so a call can be abandoned at the deadline; a stuck provider occupies at most these threads.
_EXECUTOR = ThreadPoolExecutor(max_workers=8, thread_name_prefix="reflect-llm")
MAX_MENTAL_MODEL_RESULTS = 5

EXTRACTIVE_LABEL = "**Extractive answer** (no language model is configured on this server)"


class ReflectFailed(DomainError):
    """The language model refused the work (bad key, bad request): retrying will not help."""

    status_code = 502


class ReflectTimeout(Exception):
    """The reflect's wall-clock budget ran out."""


@dataclass
class ReflectRequest:
    """A validated reflect request (the contract's ReflectRequest, plus ``context`` folded into the query)."""

    query: str
    budget: str = "low"
    context: str | None = None
    max_tokens: int = 4096
    include_facts: bool = False
    include_tool_calls: bool = False
    include_tool_output: bool = True
    response_schema: dict | None = None
    tags: list[str] | None = None
    tags_match: str = "any"
    tag_groups: list | None = None
    apply_all_directives: bool = False
    fact_types: list[str] | None = None
    exclude_mental_models: bool = False
    exclude_mental_model_ids: list[str] = field(default_factory=list)
    observations_max_tokens: int | None = None
    observations_include_entities: bool | None = None


@dataclass
class _Run:
    bank: Bank
    request: ReflectRequest
    budget: ReflectBudget
    deadline: float
    directives: list[Directive]
    usage: TokenUsage = field(default_factory=TokenUsage)
    llm_calls: list[dict] = field(default_factory=list)
    tool_calls: list[dict] = field(default_factory=list)
    memories: dict[str, dict] = field(default_factory=dict)  # retrieved, by id
    mental_models: dict[str, dict] = field(default_factory=dict)  # retrieved, by id
    evidence_tokens: int = 0
    iteration: int = 0

    @property
    def remaining(self) -> float:
        return self.deadline - time.monotonic()


# --- prompt preview -------------------------------------------------------------------------------------------------


def preview(*, bank: Bank) -> dict[str, Any]:
    """The contract's PromptPreviewResponse for reflect: the agent's messages as this bank would send them for a
    question without tags (global directives only, every tool offered)."""
    request = ReflectRequest(query="{query}")
    directives = selectors.applicable_directives(bank=bank, tags=None, tags_match="any")
    tools = ["search_mental_models", "search_observations", "recall", "expand", "done"]
    user = {
        "text": "{query}",
        "source": "builtin",
        "field": "",
        "section": "",
        "heading": "",
        "active": True,
        "value": None,
        "kind": "text",
        "choices": None,
        "editable": False,
    }
    return {
        "messages": [
            {"role": "system", "blocks": prompt_blocks(bank, request, directives, tools)},
            {"role": "user", "blocks": [user]},
        ],
        "strategy": None,
        "strategies": [],
        "run_settings": [
            {"field": f"budget_{name}", "value": json.dumps(vars(budget)), "kind": "complex", "editable": False}
            for name, budget in BUDGETS.items()
        ],
        "response_schema": None,
        "skipped_reason": None,
    }


# --- tools ----------------------------------------------------------------------------------------------------------


def _tool(name: str, description: str, properties: dict, required: list[str]) -> dict:
    properties = {**properties, "reason": {"type": "string", "description": "Why you call this tool (for the trace)."}}
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


_QUERY = {"type": "string", "description": "What to look for."}
_MAX_TOKENS = {"type": "integer", "description": "Upper bound on tokens returned."}
TOOLS = {
    "search_mental_models": _tool(
        "search_mental_models",
        "Search the bank's mental models: curated standing answers to recurring questions. Check these first.",
        {"query": _QUERY, "max_results": {"type": "integer"}},
        ["query"],
    ),
    "search_observations": _tool(
        "search_observations",
        "Search consolidated observations: durable knowledge distilled from many facts.",
        {"query": _QUERY, "max_tokens": _MAX_TOKENS},
        ["query"],
    ),
    "recall": _tool(
        "recall",
        "Search raw facts (world knowledge and experiences), ranked by relevance.",
        {"query": _QUERY, "max_tokens": _MAX_TOKENS},
        ["query"],
    ),
    "expand": _tool(
        "expand",
        "Show the source text of memories already retrieved: their chunk, or the whole document.",
        {
            "memory_ids": {"type": "array", "items": {"type": "string"}},
            "depth": {"type": "string", "enum": ["chunk", "document"]},
        },
        ["memory_ids"],
    ),
    "done": _tool(
        "done",
        "Give the final answer, citing the ids of what you used.",
        {
            "answer": {"type": "string", "description": "The answer, in markdown."},
            "memory_ids": {"type": "array", "items": {"type": "string"}},
            "observation_ids": {"type": "array", "items": {"type": "string"}},
            "mental_model_ids": {"type": "array", "items": {"type": "string"}},
        },
        ["answer"],
    ),
}


def _fact_types(request: ReflectRequest) -> list[str]:
    return list(request.fact_types) if request.fact_types else ["world", "experience", "observation"]


def _mental_model_scope(run: _Run):
    queryset = MentalModel.objects.filter(bank=run.bank).exclude(content="")
    if run.request.exclude_mental_model_ids:
        queryset = queryset.exclude(mental_model_id__in=run.request.exclude_mental_model_ids)
    if run.request.tags:
        with contextlib.suppress(TagFilterError):  # validated with the request; never a reason to fail
            queryset = queryset.filter(tag_filter(run.request.tags, run.request.tags_match))
    return queryset


def available_tools(run: _Run) -> list[str]:
    names = []
    if not run.request.exclude_mental_models and _mental_model_scope(run).exists():
        names.append("search_mental_models")
    types = _fact_types(run.request)
    if "observation" in types:
        names.append("search_observations")
    if any(t in RAW_FACT_TYPES for t in types):
        names.append("recall")
    names += ["expand", "done"]
    return names


def _truncate_query(text: str) -> str:
    words = str(text).split()
    while words and count_tokens(" ".join(words)) > MAX_QUERY_TOKENS:
        words = words[: int(len(words) * 0.8)]
    return " ".join(words) or "?"


def _fact(result: dict) -> dict:
    """A recall result as the contract's ReflectFact."""
    return {
        "id": result["id"],
        "text": result["text"],
        "type": result.get("type"),
        "context": result.get("context"),
        "occurred_start": result.get("occurred_start"),
        "occurred_end": result.get("occurred_end"),
        "mentioned_at": result.get("mentioned_at"),
        "document_id": result.get("document_id"),
        "chunk_id": result.get("chunk_id"),
        "tags": result.get("tags"),
        "metadata": result.get("metadata") or None,
    }


def _recall(run: _Run, query: str, types: list[str], max_tokens: int) -> list[dict]:
    results = recall(
        bank=run.bank,
        query=RecallQuery(
            query=_truncate_query(query),
            types=types,
            budget=run.request.budget,
            max_tokens=max(max_tokens, 1),
            include_entities=None,
            tags=list(run.request.tags or []),
            tags_match=run.request.tags_match,
            tag_groups=run.request.tag_groups,
        ),
    )["results"]
    facts = [_fact(r) for r in results]
    for item in facts:
        run.memories.setdefault(item["id"], item)
    return facts


def _tool_budget(run: _Run, requested: Any, default: int | None = None) -> int:
    limit = min(run.budget.tool_tokens, max(run.budget.evidence_tokens - run.evidence_tokens, 64))
    if isinstance(requested, int) and not isinstance(requested, bool) and requested > 0:
        limit = min(limit, requested)
    elif default:
        limit = min(limit, default)
    return limit


def _search_mental_models(run: _Run, query: str, max_results: Any) -> list[dict]:
    from pgvector.django import CosineDistance

    from memories.embeddings import get_embedding_provider

    count = max_results if isinstance(max_results, int) and 0 < max_results <= MAX_MENTAL_MODEL_RESULTS else 3
    queryset = _mental_model_scope(run)
    provider = get_embedding_provider(run.bank.embedding_model)
    embedded = queryset.filter(embedding__isnull=False, embedding_model=provider.model_id)
    if embedded.exists():
        vector = provider.embed_query(_truncate_query(query))
        models = list(embedded.order_by(CosineDistance("embedding", vector))[:count])
    else:
        models = list(queryset.order_by("-last_refreshed_at")[:count])
    per_model = max(run.budget.tool_tokens // max(len(models), 1), 64)
    found = []
    for model in models:
        content = _clip(model.content, per_model)
        item = {
            "id": model.mental_model_id,
            "name": model.name,
            "content": content,
            "is_stale": selectors.is_stale(model),
            "last_refreshed_at": iso(model.last_refreshed_at),
        }
        run.mental_models[model.mental_model_id] = {
            "id": model.mental_model_id,
            "text": model.content,
            "context": model.name,
        }
        found.append(item)
    return found


def _clip(text: str, max_tokens: int) -> str:
    if count_tokens(text) <= max_tokens:
        return text
    cut = text[: max_tokens * 4]
    while cut and count_tokens(cut) > max_tokens:
        cut = cut[: int(len(cut) * 0.8)]
    return cut + " …"


def _expand(run: _Run, memory_ids: Any, depth: Any) -> list[dict]:
    ids = [i for i in (memory_ids or []) if isinstance(i, str) and i in run.memories][:5]
    depth = depth if depth in ("chunk", "document") else "chunk"
    units = MemoryUnit.objects.filter(bank=run.bank, pk__in=ids).select_related("chunk", "document")
    per_item = max(run.budget.tool_tokens // max(len(ids), 1), 64)
    expanded = []
    for unit in units:
        if depth == "document" and unit.document is not None:
            source = unit.document.original_text or "\n".join(unit.document.chunks.values_list("text", flat=True))
        else:
            source = unit.chunk.text if unit.chunk is not None else unit.text
        expanded.append({"memory_id": str(unit.pk), "depth": depth, "text": _clip(source or "", per_item)})
    return expanded


def _execute(run: _Run, name: str, arguments: dict) -> dict:
    """Run one tool; errors become an ``error`` the model can read, never an exception."""
    types = _fact_types(run.request)
    query = arguments.get("query") if isinstance(arguments.get("query"), str) else run.request.query
    if name == "search_mental_models":
        return {"mental_models": _search_mental_models(run, query, arguments.get("max_results"))}
    if name == "search_observations":
        limit = _tool_budget(run, arguments.get("max_tokens"), run.request.observations_max_tokens)
        facts = _recall(run, query, ["observation"], limit)
        return {"observations": [_for_model(f) for f in facts]}
    if name == "recall":
        limit = _tool_budget(run, arguments.get("max_tokens"))
        facts = _recall(run, query, [t for t in types if t in RAW_FACT_TYPES], limit)
        return {"memories": [_for_model(f) for f in facts]}
    if name == "expand":
        return {"sources": _expand(run, arguments.get("memory_ids"), arguments.get("depth"))}
    return {"error": f"unknown tool {name!r}"}


def _for_model(fact: dict) -> dict:
    """What the model sees of a fact: the text, its id and dates, nothing it does not need."""
    item = {"id": fact["id"], "type": fact["type"], "text": fact["text"]}
    for key in ("occurred_start", "mentioned_at", "context"):
        if fact.get(key):
            item[key] = fact[key]
    return item


# --- LLM calls ------------------------------------------------------------------------------------------------------


def _call(run: _Run, scope: str, **kwargs: Any) -> llm.LLMResponse:
    """One LLM call on a helper thread, abandoned when the reflect's deadline passes."""
    remaining = run.remaining
    if remaining <= 0:
        raise ReflectTimeout
    started = time.monotonic()
    per_call = max(min(float(settings.HINDSIGHT_LLM_TIMEOUT), remaining), 1.0)
    future = _EXECUTOR.submit(llm.complete, purpose="reflect", timeout=per_call, **kwargs)
    try:
        response = future.result(timeout=remaining)
    except FutureTimeout:
        future.cancel()
        raise ReflectTimeout from None
    except llm.LLMError as exc:
        if exc.kind == "timeout":
            raise ReflectTimeout from None
        if exc.transient:
            raise Unavailable(f"The language model is unavailable: {exc}") from None
        raise ReflectFailed(f"The language model refused the reflect: {exc}") from None
    finally:
        run.llm_calls.append({"scope": scope, "duration_ms": int((time.monotonic() - started) * 1000)})
    run.usage.add(response.usage)
    return response


def _json_content(response: llm.LLMResponse) -> Any:
    text = (response.content or "").strip()
    if text.startswith("```"):
        text = text.strip("`")
        text = text[text.find("{") :] if "{" in text else text
    try:
        return json.loads(text)
    except ValueError:
        return None


# --- the agent loop -------------------------------------------------------------------------------------------------


def _agent(run: _Run) -> tuple[str, list[str], list[str]]:
    """The tool loop. Returns (answer, cited memory ids, cited mental model ids)."""
    tool_names = available_tools(run)
    messages: list[dict] = [
        {"role": "system", "content": system_prompt(run.bank, run.request, run.directives, tool_names)},
        {"role": "user", "content": user_prompt(run.request)},
    ]
    retrieved_once = False
    completion_cap = min(run.request.max_tokens + 1024, 16_384)
    for iteration in range(1, run.budget.max_iterations + 1):
        run.iteration = iteration
        last_turn = iteration == run.budget.max_iterations or run.evidence_tokens >= run.budget.evidence_tokens
        offered = ["done"] if last_turn else tool_names
        if last_turn and iteration > 1:
            messages.append(
                {
                    "role": "user",
                    "content": "Retrieval budget reached: call done now with your answer from the evidence.",
                }
            )
        response = _call(
            run,
            f"agent_{iteration}",
            messages=messages,
            tools=[TOOLS[name] for name in offered],
            max_tokens=completion_cap,
        )
        messages.append(response.assistant_message())
        if not response.tool_calls:
            if (response.content or "").strip():
                return response.content.strip(), [], []
            messages.append({"role": "user", "content": "Call a tool, or call done with your answer."})
            continue
        for call in response.tool_calls:
            name, arguments = call["name"], call["arguments"] if isinstance(call["arguments"], dict) else {}
            if name == "done":
                if not retrieved_once and not last_turn and len(tool_names) > 2:
                    # Guardrail: an answer before any retrieval can only come from the model's own knowledge.
                    output = {"error": "Retrieve evidence with a search tool before answering."}
                else:
                    answer = arguments.get("answer")
                    if isinstance(answer, str) and answer.strip():
                        return (
                            answer.strip(),
                            _cited(arguments, ("memory_ids", "observation_ids")),
                            _cited(arguments, ("mental_model_ids",)),
                        )
                    output = {"error": "done needs a non-empty answer."}
            elif name not in offered:
                output = {"error": f"tool {name!r} is not available now"}
            else:
                started = time.monotonic()
                try:
                    output = _execute(run, name, arguments)
                except DomainError as exc:
                    output = {"error": exc.detail}
                retrieved_once = retrieved_once or name != "expand"
                text = json.dumps(output, default=str)
                run.evidence_tokens += count_tokens(text)
                run.tool_calls.append(
                    {
                        "tool": name,
                        "input": arguments,
                        "output": output if run.request.include_tool_output else None,
                        "duration_ms": int((time.monotonic() - started) * 1000),
                        "iteration": iteration,
                    }
                )
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": json.dumps(output, default=str)})
    # Out of turns without done: one synthesis call without tools over what was gathered.
    messages.append({"role": "user", "content": "Write your final answer now, from the evidence above only."})
    response = _call(run, "final", messages=messages, max_tokens=completion_cap)
    return (response.content or "").strip() or "I could not reach an answer from the memories.", [], []


def _cited(arguments: dict, keys: tuple[str, ...]) -> list[str]:
    ids: list[str] = []
    for key in keys:
        value = arguments.get(key)
        if isinstance(value, list):
            ids.extend(str(v) for v in value if isinstance(v, str | int))
    return list(dict.fromkeys(ids))


# --- directives -----------------------------------------------------------------------------------------------------

CHECK_SCHEMA = {
    "type": "object",
    "properties": {
        "violations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"directive": {"type": "integer"}, "reason": {"type": "string"}},
                "required": ["directive", "reason"],
            },
        }
    },
    "required": ["violations"],
}


def _check(run: _Run, answer: str, attempt: int) -> list[tuple[Directive, str]]:
    """Ask the model which directives the answer violates. An unreadable verdict counts as no violation (logged)."""
    response = _call(
        run,
        f"directive_check_{attempt}",
        messages=[
            {
                "role": "system",
                "content": "You check an answer against hard rules. Reply with JSON "
                '{"violations": [{"directive": <rule number>, "reason": "..."}]}; an empty list when the answer '
                "follows every rule.",
            },
            {
                "role": "user",
                "content": f"Rules:\n{directives_block(run.directives)}\n\nQuestion: {run.request.query}\n\n"
                f"Answer to check:\n{answer}",
            },
        ],
        response_format={"type": "json_schema", "json_schema": {"name": "directive_check", "schema": CHECK_SCHEMA}},
        temperature=0.0,
        max_tokens=512,
    )
    verdict = _json_content(response)
    if not isinstance(verdict, dict) or not isinstance(verdict.get("violations"), list):
        logger.warning("Directive check returned no readable verdict; treating the answer as compliant")
        return []
    violations = []
    for item in verdict["violations"]:
        if not isinstance(item, dict):
            continue
        number = item.get("directive")
        if isinstance(number, int) and 1 <= number <= len(run.directives):
            violations.append((run.directives[number - 1], str(item.get("reason") or "")))
    return violations


def _enforce(run: _Run, answer: str) -> tuple[str, int]:
    """Check the answer and rewrite it while it violates a directive, at most ``budget.regenerations`` times.
    Returns (final answer, regenerations used). An answer still violating after that is refused, not returned."""
    for attempt in range(1, run.budget.regenerations + 2):
        violations = _check(run, answer, attempt)
        if not violations:
            return answer, attempt - 1
        if attempt > run.budget.regenerations:
            names = ", ".join(sorted({d.name for d, _ in violations}))
            return (
                f"I cannot give an answer that follows this bank's directives ({names}); the drafts I produced "
                "violated them.",
                attempt - 1,
            )
        problems = "\n".join(f"- {d.name}: {d.content} (violated: {reason})" for d, reason in violations)
        evidence = "\n".join(f"- [{f['id']}] {f['text']}" for f in list(run.memories.values())[:50])
        response = _call(
            run,
            f"regenerate_{attempt}",
            messages=[
                {"role": "system", "content": system_prompt(run.bank, run.request, run.directives, [])},
                {"role": "user", "content": user_prompt(run.request)},
                {"role": "assistant", "content": answer},
                {
                    "role": "user",
                    "content": f"Your answer violates these directives:\n{problems}\n\nRewrite it so that it follows "
                    f"every directive, using only this evidence:\n{evidence or '(none)'}",
                },
            ],
            max_tokens=min(run.request.max_tokens + 512, 16_384),
        )
        answer = (response.content or "").strip() or answer
    return answer, run.budget.regenerations


# --- structured output ----------------------------------------------------------------------------------------------


def _structured(run: _Run, answer: str) -> tuple[dict | None, str | None]:
    """Turn the answer into JSON valid against the request's schema (two attempts), or say why not."""
    import jsonschema

    schema = run.request.response_schema
    messages = [
        {
            "role": "system",
            "content": "Extract the answer into JSON that matches the given JSON schema. Use only what the answer "
            "says; use null or empty values where it says nothing.",
        },
        {"role": "user", "content": f"Question: {run.request.query}\n\nAnswer:\n{answer}"},
    ]
    problem = "no output"
    for attempt in (1, 2):
        try:
            response = _call(
                run,
                f"structured_output_{attempt}",
                messages=messages,
                response_format={"type": "json_schema", "json_schema": {"name": "reflect_output", "schema": schema}},
                temperature=0.0,
                max_tokens=min(run.request.max_tokens + 512, 16_384),
            )
        except (Unavailable, ReflectFailed, ReflectTimeout) as exc:
            return None, f"structured output failed: {getattr(exc, 'detail', None) or 'the time budget ran out'}"
        value = _json_content(response)
        if not isinstance(value, dict):
            problem = "the model did not return a JSON object"
        else:
            try:
                jsonschema.validate(value, schema)
                return value, None
            except jsonschema.ValidationError as exc:
                problem = f"the model's JSON does not match the schema: {exc.message}"
        messages += [
            {"role": "assistant", "content": response.content or ""},
            {"role": "user", "content": f"That is not valid: {problem}. Return only JSON matching the schema."},
        ]
    return None, problem


# --- answers without a model ----------------------------------------------------------------------------------------


def _extractive(run: _Run, heading: str) -> tuple[str, list[str]]:
    """The best retrieved (or, when nothing was retrieved yet, recalled) memories as a cited list."""
    if not run.memories:
        types = _fact_types(run.request)
        if "observation" in types:
            _recall(run, run.request.query, ["observation"], run.budget.tool_tokens)
        raw = [t for t in types if t in RAW_FACT_TYPES]
        if raw:
            _recall(run, run.request.query, raw, run.budget.tool_tokens)
    observations = [f for f in run.memories.values() if f["type"] == "observation"][:3]
    facts = [f for f in run.memories.values() if f["type"] != "observation"]
    chosen = (observations + facts)[: run.budget.offline_facts]
    if not chosen:
        return f"{heading}: no memory in this bank matches the question, so I cannot answer it.", []
    lines = []
    for fact in chosen:
        when = (fact.get("occurred_start") or fact.get("mentioned_at") or "")[:10]
        label = "observation" if fact["type"] == "observation" else fact["type"]
        lines.append(f"- {fact['text']} ({label}{', ' + when if when else ''}) [{fact['id']}]")
    return f"{heading}: the memories most relevant to the question, best first:\n\n" + "\n".join(lines), [
        f["id"] for f in chosen
    ]


# --- entry point ----------------------------------------------------------------------------------------------------


def reflect(*, bank: Bank | None, request: ReflectRequest) -> dict[str, Any]:
    """Answer ``request`` from ``bank``: the contract's ReflectResponse as a dict. A missing bank has no memories."""
    budget = BUDGETS[request.budget]
    if bank is None:
        return _response(None, request, "This bank has no memories yet, so I cannot answer the question.", [], [])
    run = _Run(
        bank=bank,
        request=request,
        budget=budget,
        deadline=time.monotonic() + budget.wall_seconds,
        directives=selectors.applicable_directives(
            bank=bank, tags=request.tags, tags_match=request.tags_match, apply_all=request.apply_all_directives
        ),
    )
    structured_output, structured_error = None, None
    if not llm.llm_configured("reflect"):
        text, cited = _extractive(run, EXTRACTIVE_LABEL)
        if request.response_schema is not None:
            structured_error = "structured output needs a language model; none is configured on this server"
        return _response(run, request, text, cited, [], structured_output, structured_error)
    try:
        answer, memory_ids, mental_model_ids = _agent(run)
        if run.directives:
            answer, _ = _enforce(run, answer)
        if request.response_schema is not None:
            structured_output, structured_error = _structured(run, answer)
    except ReflectTimeout:
        heading = (
            f"**Timed out**: reflect stopped at its {budget.wall_seconds:g}-second limit ({request.budget} budget) "
            "before the language model finished. Extractive answer instead"
        )
        text, cited = _extractive(run, heading)
        if request.response_schema is not None:
            structured_error = "structured output was not produced: the reflect ran out of time"
        return _response(run, request, text, cited, [], None, structured_error)
    memory_ids = [i for i in memory_ids if i in run.memories]
    mental_model_ids = [i for i in mental_model_ids if i in run.mental_models]
    return _response(run, request, answer, memory_ids, mental_model_ids, structured_output, structured_error)


def _response(
    run: _Run | None,
    request: ReflectRequest,
    text: str,
    memory_ids: list[str],
    mental_model_ids: list[str],
    structured_output: dict | None = None,
    structured_error: str | None = None,
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "text": text,
        "based_on": None,
        "structured_output": structured_output,
        "usage": (run.usage if run else TokenUsage()).as_dict(),
        "trace": None,
    }
    if request.response_schema is not None and structured_output is None:
        response["structured_output_error"] = structured_error
    if request.include_facts:
        response["based_on"] = {
            "memories": [run.memories[i] for i in memory_ids] if run else [],
            "mental_models": [run.mental_models[i] for i in mental_model_ids] if run else [],
            "directives": [
                {"id": str(d.pk), "name": d.name, "content": d.content} for d in (run.directives if run else [])
            ],
        }
    if request.include_tool_calls:
        response["trace"] = {
            "tool_calls": run.tool_calls if run else [],
            "llm_calls": run.llm_calls if run else [],
        }
    return response
