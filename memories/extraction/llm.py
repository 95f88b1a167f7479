"""The LLM extractor: one structured-output call per chunk turns retained text into self-contained facts.

The system prompt is the same bytes for every bank, chunk and mode so that providers can cache it; everything that
varies (focus mission, mode, dates, context, custom instructions, label vocabulary, the text) goes in the user
message. The model answers in a strict JSON schema, which we still parse defensively: malformed output is asked for
again (bounded), a chunk too large for the model is split in two at a sentence or turn boundary and each half is
extracted on its own, and label values are checked against the bank's vocabulary because models invent values.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from hindsight_site import llm
from memories.extraction.types import (
    ChunkInput,
    ExtractedEntity,
    ExtractedFact,
    ExtractionError,
    ExtractionResult,
    ExtractionSettings,
    TokenUsage,
    Turn,
)

logger = logging.getLogger(__name__)

LLM_MODES = ("concise", "verbose", "custom", "verbatim")

SYSTEM_PROMPT = """\
You turn a piece of text into facts for an AI agent's long-term memory. Each fact will be stored and retrieved on \
its own, months later, by someone who never saw the original text.

LANGUAGE
Write every fact in the same language as the text.

WHAT TO EXTRACT
- Extract facts worth remembering: events, decisions, plans, preferences, relationships, opinions, personal \
details, skills, problems and their outcomes. Skip greetings, filler, and things that only matter inside this text.
- Each fact must be self-contained. Replace pronouns and vague references ("he", "she", "they", "my sister", \
"the project") with the names they refer to. When a person is known by a role, attach the name: \
"Emily (the user's roommate)".
- Do not repeat the same fact twice.

FIELDS OF EACH FACT
- what: the fact itself in one or two complete sentences, with names and absolute dates written in.
- when: when it happened or holds, as an absolute date or period; "N/A" when unknown.
- where: the place; "N/A" when none.
- who: the people involved and how they relate to each other; "N/A" when none.
- why: the reason or motive, only when it matters; otherwise "N/A".
- fact_kind: "event" for something that happened at a point or during a period that can be dated; "ongoing" for \
a state, trait, preference, habit or relationship that holds over time.
- fact_type: "experience" only for what the agent itself (the assistant writing this memory) did, said, felt or \
experienced; "world" for everything else, including everything about the user and other people.
- occurred_start / occurred_end: for events, ISO 8601 dates or date-times (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS); \
equal for a single-day or instant event; null when the date cannot be determined. Ongoing facts usually have \
null for both.
- entities: the named things the fact is about, as plain strings: people, organisations, places, products, works, \
projects and important topics. Use "user" for the user when the fact is about them.
- causal_relations: when this fact was caused by an EARLIER fact in your list, give that fact's 0-based index as \
target_index. Only earlier facts, at most 2 per fact; an empty list otherwise.
- turn_id: when the lines of the text begin with a bracketed turn id such as [D1:3], the id (without brackets) of \
the turn the fact mainly comes from; null otherwise.
- labels: present only when the user message lists entity labels. For each label key, choose only among the \
values listed for it; use null or an empty list when none applies and the label is optional.

DATES
The user message gives the Event Date: when the text was written or the conversation took place. Resolve every \
relative expression against it ("yesterday", "last Friday", "next month", "two years ago") and write the absolute \
date into what, when and occurred_start/occurred_end. If the Event Date is Unknown, keep only the dates the text \
states explicitly.

MODES
The user message names the mode. Follow its guideline:
- concise: be selective. Keep what would still matter later; merge closely related details into one fact.
- verbose: keep more detail in each fact (specific names, numbers, quotes, reasons, circumstances) and extract \
smaller facts a concise pass would drop.
- custom: follow the custom instructions in the user message instead of the concise and verbose guidelines; \
the field rules above still apply.
- verbatim: return exactly one entry for the whole text. Its what is a one-sentence summary (the text itself is \
stored as the memory); fill when, where, who, fact_kind, fact_type, occurred_start/occurred_end, entities and \
labels for the text as a whole.

If the user message starts with a FOCUS, extract mainly what serves that focus and skip what does not.

Answer with JSON only, matching the given schema: {"facts": [...]}. Return {"facts": []} when nothing is worth \
remembering.
"""

_NOT_INFORMATIVE = frozenset({"", "n/a", "na", "none", "null", "unknown", "not specified", "not applicable", "-"})
_MAX_ENTITY_CHARS = 200
_MAX_LABEL_TEXT_CHARS = 200
_MAX_CAUSES = 2


class _Malformed(ValueError):
    """The model's answer could not be used; asking again may help."""


@dataclass(frozen=True)
class Span:
    """The part of a chunk one call sees: the whole chunk, or a half of it after an overflow."""

    text: str
    turns: tuple[Turn, ...] = ()

    def rendered(self) -> str:
        """The text as the model sees it: conversation turns carry their ids so facts can point back to them."""
        if not self.turns:
            return self.text
        return "\n".join(
            f"[{turn.turn_id}] {turn.speaker}: {turn.text}" if turn.turn_id else f"{turn.speaker}: {turn.text}"
            for turn in self.turns
        )

    def turn_ids(self) -> dict[str, Turn]:
        return {turn.turn_id: turn for turn in self.turns if turn.turn_id}


# --- the prompt ---------------------------------------------------------------------------------------------------


def _effective_mode(settings: ExtractionSettings) -> str:
    mode = settings.mode if settings.mode in LLM_MODES else "concise"
    if mode == "custom" and not (settings.custom_instructions or "").strip():
        return "concise"  # custom mode without instructions has nothing to follow
    return mode


def format_event_date(event_date: datetime | None) -> str:
    """``Tuesday, March 05, 2024 (2024-03-05T14:30:00+00:00)``: the weekday helps the model resolve "last Friday"."""
    if event_date is None:
        return "Unknown"
    return f"{event_date.strftime('%A, %B %d, %Y')} ({event_date.isoformat()})"


def _label_vocabulary(groups: list[dict[str, Any]]) -> str:
    lines = ["Entity labels (use only these values):"]
    kinds = {
        "value": "pick one value",
        "multi-values": "pick any number of values",
        "text": "free text, one value",
        "multi-text": "free text, any number of values",
    }
    for group in groups:
        needed = "optional" if group.get("optional", True) else "required"
        header = f"- {group['key']} ({kinds.get(group.get('type', 'value'), 'pick one value')}, {needed})"
        if group.get("description"):
            header += f": {group['description']}"
        lines.append(header)
        for item in group.get("values") or []:
            described = f" — {item['description']}" if item.get("description") else ""
            lines.append(f"    - {item['value']}{described}")
    return "\n".join(lines)


def build_user_message(chunk: ChunkInput, span: Span, settings: ExtractionSettings) -> str:
    """Everything that varies per bank and chunk, so the system prompt can stay byte-identical."""
    mode = _effective_mode(settings)
    parts: list[str] = []
    if settings.retain_mission and settings.retain_mission.strip():
        parts.append(f"FOCUS: {settings.retain_mission.strip()}\n")
    lines = [
        f"Mode: {mode}",
        f"Chunk: {chunk.chunk_index + 1}/{max(chunk.chunk_count, chunk.chunk_index + 1)}",
        f"Event Date: {format_event_date(chunk.event_date)}",
        f"Context: {chunk.context.strip() or 'none'}",
    ]
    if chunk.metadata:
        lines.append("Metadata:")
        lines.extend(f"- {key}: {value}" for key, value in chunk.metadata.items())
    parts.append("\n".join(lines))
    if mode == "custom":
        parts.append(f"Custom instructions:\n{settings.custom_instructions.strip()}")  # type: ignore[union-attr]
    if settings.entity_labels:
        parts.append(_label_vocabulary(settings.entity_labels))
    if not settings.entities_allow_free_form:
        parts.append("Free-form entities are off for this memory: leave entities empty and use the labels.")
    parts.append(f"Text:\n{span.rendered()}")
    return "\n\n".join(parts)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _label_schema(group: dict[str, Any]) -> dict[str, Any]:
    group_type = group.get("type", "value")
    values = [item["value"] for item in group.get("values") or []]
    description = group.get("description") or group["key"]
    if group_type == "value":
        enum = {"type": "string", "enum": values}
        schema = enum if not group.get("optional", True) else _nullable(enum)
    elif group_type == "multi-values":
        schema = {"type": "array", "items": {"type": "string", "enum": values}}
    elif group_type == "text":
        schema = {"type": "string"} if not group.get("optional", True) else _nullable({"type": "string"})
    else:  # multi-text
        schema = {"type": "array", "items": {"type": "string"}}
    return {**schema, "description": description}


def response_format(settings: ExtractionSettings) -> dict[str, Any]:
    """The strict JSON schema of the answer; a ``labels`` object is added when the bank has label groups."""
    text_field = {"type": "string"}
    fact_properties: dict[str, Any] = {
        "what": {**text_field, "description": "The fact, self-contained, with names and absolute dates."},
        "when": {**text_field, "description": "Absolute date or period, or N/A."},
        "where": {**text_field, "description": "Place, or N/A."},
        "who": {**text_field, "description": "People involved and their relationships, or N/A."},
        "why": {**text_field, "description": "Reason or motive when it matters, or N/A."},
        "fact_kind": {"type": "string", "enum": ["event", "ongoing"]},
        "fact_type": {"type": "string", "enum": ["world", "experience"]},
        "occurred_start": _nullable({"type": "string", "description": "ISO 8601 date or date-time"}),
        "occurred_end": _nullable({"type": "string", "description": "ISO 8601 date or date-time"}),
        "entities": {"type": "array", "items": {"type": "string"}},
        "causal_relations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"target_index": {"type": "integer"}},
                "required": ["target_index"],
                "additionalProperties": False,
            },
        },
        "turn_id": _nullable({"type": "string"}),
    }
    if settings.entity_labels:
        fact_properties["labels"] = {
            "type": "object",
            "properties": {group["key"]: _label_schema(group) for group in settings.entity_labels},
            "required": [group["key"] for group in settings.entity_labels],
            "additionalProperties": False,
        }
    schema = {
        "type": "object",
        "properties": {
            "facts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": fact_properties,
                    "required": list(fact_properties),
                    "additionalProperties": False,
                },
            }
        },
        "required": ["facts"],
        "additionalProperties": False,
    }
    return {"type": "json_schema", "json_schema": {"name": "fact_extraction", "strict": True, "schema": schema}}


# --- parsing ------------------------------------------------------------------------------------------------------


def _informative(value: Any) -> str | None:
    """The stripped string, or None for empty and placeholder answers ("N/A", "unknown", …)."""
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    return None if text.lower().rstrip(".") in _NOT_INFORMATIVE else text


def _load_json(content: str | None) -> Any:
    """Parse the answer, tolerating code fences and prose around the JSON object."""
    if not content or not content.strip():
        raise _Malformed("empty answer")
    text = content.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    try:
        return json.loads(text)
    except ValueError:
        pass
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        try:
            return json.loads(text[start : end + 1])
        except ValueError:
            pass
    raise _Malformed(f"not JSON: {text[:120]!r}")


def _date_range(value: Any) -> tuple[datetime, datetime] | None:
    """The UTC interval an ISO-ish value names: a year, a month, a day (whole day) or an instant."""
    text = _informative(value)
    if text is None:
        return None
    try:
        if re.fullmatch(r"\d{4}", text):
            year = int(text)
            return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)
        if re.fullmatch(r"\d{4}-\d{2}", text):
            year, month = (int(p) for p in text.split("-"))
            start = datetime(year, month, 1, tzinfo=UTC)
            following = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
            return start, following - timedelta(microseconds=1)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = datetime.fromisoformat(text).date()
            return datetime.combine(day, time.min, UTC), datetime.combine(day, time.max, UTC)
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment, moment


def _occurred(start_value: Any, end_value: Any) -> tuple[datetime | None, datetime | None]:
    start = _date_range(start_value)
    end = _date_range(end_value)
    if start is None:
        return (None, end[1]) if end else (None, None)
    occurred_start = start[0]
    occurred_end = end[1] if end else start[1]
    if occurred_end < occurred_start:  # the model swapped or garbled them; trust the start
        occurred_end = start[1]
    return occurred_start, occurred_end


def _entity_names(value: Any) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            item = item.get("name") or item.get("text")
        name = _informative(item)
        if name is None or len(name) > _MAX_ENTITY_CHARS or name.casefold() in seen:
            continue
        seen.add(name.casefold())
        names.append(name)
    return names


def _label_values(raw: Any, group: dict[str, Any]) -> list[str]:
    """The group's values the model chose, checked against its vocabulary (enum groups) or cleaned (text groups)."""
    group_type = group.get("type", "value")
    candidates = raw if isinstance(raw, list) else [raw]
    chosen: list[str] = []
    if group_type in ("value", "multi-values"):
        allowed = {item["value"].casefold(): item["value"] for item in group.get("values") or []}
        for candidate in candidates:
            text = _informative(candidate)
            value = allowed.get(text.casefold()) if text else None
            if value is not None and value not in chosen:
                chosen.append(value)
    else:
        for candidate in candidates:
            text = _informative(candidate)
            if text and len(text) <= _MAX_LABEL_TEXT_CHARS and text not in chosen:
                chosen.append(text)
    if group_type in ("value", "text"):
        return chosen[:1]
    return chosen


def _labels(raw: Any, groups: list[dict[str, Any]]) -> tuple[list[ExtractedEntity], list[str]]:
    entities: list[ExtractedEntity] = []
    tags: list[str] = []
    if not isinstance(raw, dict):
        return entities, tags
    for group in groups:
        for value in _label_values(raw.get(group["key"]), group):
            name = f"{group['key']}:{value}"
            entities.append(ExtractedEntity(name=name, kind="label"))
            if group.get("tag"):
                tags.append(name)
    return entities, tags


def _fact_text(what: str, when: str | None, who: str | None, why: str | None) -> str:
    """``what | When: … | Involving: … | Why: …``, each part only when it adds something."""
    parts = [what]
    lowered = what.casefold()
    for prefix, value in (("When", when), ("Involving", who), ("Why", why)):
        if value and value.casefold() not in lowered:
            parts.append(f"{prefix}: {value}")
    return " | ".join(parts)


def _target_index(relation: Any) -> int | None:
    value = relation.get("target_index") if isinstance(relation, dict) else relation
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def parse_facts(content: str | None, span: Span, settings: ExtractionSettings) -> list[ExtractedFact]:
    """Turn the model's answer into facts, or raise ``_Malformed`` when too little of it is usable."""
    data = _load_json(content)
    raw_facts = data.get("facts") if isinstance(data, dict) else data
    if not isinstance(raw_facts, list):
        raise _Malformed("no 'facts' list in the answer")
    usable = [
        (index, raw) for index, raw in enumerate(raw_facts) if isinstance(raw, dict) and _informative(raw.get("what"))
    ]
    if raw_facts and len(usable) / len(raw_facts) < LLMExtractor.min_valid_fraction:
        raise _Malformed(f"{len(raw_facts) - len(usable)} of {len(raw_facts)} facts are malformed")

    groups = settings.entity_labels or []
    turns = span.turn_ids()
    kept_index = {raw_index: position for position, (raw_index, _) in enumerate(usable)}
    facts: list[ExtractedFact] = []
    for position, (raw_index, raw) in enumerate(usable):
        what = _informative(raw["what"]) or ""
        when, where, who, why = (_informative(raw.get(name)) for name in ("when", "where", "who", "why"))
        occurred_start, occurred_end = _occurred(raw.get("occurred_start"), raw.get("occurred_end"))
        kind = str(raw.get("fact_kind") or "").strip().lower()
        if kind not in ("event", "ongoing"):
            kind = "ongoing" if kind in ("conversation", "state", "preference") else "event"
        fact_type = (
            "experience" if str(raw.get("fact_type") or "").strip().lower() in ("experience", "assistant") else "world"
        )

        entities = (
            [ExtractedEntity(name=name) for name in _entity_names(raw.get("entities"))]
            if settings.entities_allow_free_form
            else []
        )
        label_entities, tags = _labels(raw.get("labels"), groups)

        caused_by: list[int] = []
        relations = raw.get("causal_relations")
        for relation in relations if isinstance(relations, list) else []:
            target = _target_index(relation)
            mapped = kept_index.get(target) if target is not None and target < raw_index else None
            if mapped is not None and mapped < position and mapped not in caused_by and len(caused_by) < _MAX_CAUSES:
                caused_by.append(mapped)

        metadata = {name: value for name, value in (("when", when), ("where", where), ("who", who)) if value}
        turn_id = raw.get("turn_id")
        if isinstance(turn_id, str):
            turn = turns.get(turn_id.strip().strip("[]").strip())
            if turn is not None:
                metadata["turn_id"] = turn.turn_id or ""
                metadata["speaker"] = turn.speaker

        facts.append(
            ExtractedFact(
                text=_fact_text(what, when, who, why),
                fact_type=fact_type,
                fact_kind=kind,
                occurred_start=occurred_start,
                occurred_end=occurred_end,
                entities=entities + label_entities,
                tags=tags,
                caused_by=caused_by,
                metadata=metadata,
            )
        )
    return facts


# --- splitting ----------------------------------------------------------------------------------------------------

_BOUNDARIES = (
    re.compile(r"\n\s*\n"),  # paragraph
    re.compile(r"\n"),  # line
    re.compile(r"(?<=[.!?])\s+|(?<=[\u3002\uff01\uff1f])"),  # sentence (CJK ones need no space after)
    re.compile(r"(?<=[;,])\s+"),  # clause
    re.compile(r"\s+"),  # word
)


def _split_text(text: str) -> tuple[str, str]:
    """Cut near the middle at the strongest boundary found in the middle half (a hard cut as a last resort)."""
    middle = len(text) // 2
    low, high = len(text) // 4, 3 * len(text) // 4
    for pattern in _BOUNDARIES:
        cuts = [m.end() for m in pattern.finditer(text) if low <= m.start() <= high]
        if cuts:
            cut = min(cuts, key=lambda position: abs(position - middle))
            first, second = text[:cut].strip(), text[cut:].strip()
            if first and second:
                return first, second
    return text[:middle], text[middle:]


def _turns_text(turns: tuple[Turn, ...]) -> str:
    return "\n".join(f"{turn.speaker}: {turn.text}" for turn in turns)


def split_span(span: Span) -> tuple[Span, Span]:
    """Halve a span: between turns for conversations (inside the turn when there is only one), else in the text."""
    if len(span.turns) >= 2:
        total = sum(len(turn.text) for turn in span.turns)
        running, cut = 0, 1
        for index, turn in enumerate(span.turns[:-1], start=1):
            running += len(turn.text)
            cut = index
            if running >= total / 2:
                break
        first, second = span.turns[:cut], span.turns[cut:]
        return Span(_turns_text(first), first), Span(_turns_text(second), second)
    if len(span.turns) == 1:
        turn = span.turns[0]
        head, tail = _split_text(turn.text)
        first, second = (replace(turn, text=head),), (replace(turn, text=tail),)
        return Span(_turns_text(first), first), Span(_turns_text(second), second)
    head, tail = _split_text(span.text)
    return Span(head), Span(tail)


# --- the extractor ------------------------------------------------------------------------------------------------


class LLMExtractor:
    """One structured-output LLM call per chunk (``Extractor`` protocol); ``chunks`` mode makes no call at all."""

    name = "llm"
    temperature = 0.1
    max_parse_attempts = 3  # one call plus two retries when the answer is unusable
    min_valid_fraction = 0.8  # below this share of well-formed facts the whole answer is asked for again
    min_split_chars = 500  # an overflowing span this short is not split again

    def __init__(
        self,
        *,
        purpose: str = "retain",
        max_output_tokens: int | None = None,
        max_parse_attempts: int | None = None,
        min_split_chars: int | None = None,
    ):
        self.purpose = purpose
        self.max_output_tokens = max_output_tokens
        if max_parse_attempts is not None:
            self.max_parse_attempts = max(1, max_parse_attempts)
        if min_split_chars is not None:
            self.min_split_chars = max(1, min_split_chars)

    def extract(self, chunk: ChunkInput, settings: ExtractionSettings) -> ExtractionResult:
        """Facts for one chunk. Raises ``ExtractionError`` (``transient`` when retrying the item later may help)."""
        usage = TokenUsage()
        text = chunk.text.strip() or _turns_text(tuple(chunk.turns)).strip()
        if not text:
            return ExtractionResult(facts=[], usage=usage)
        if settings.mode == "chunks":
            return ExtractionResult(facts=[ExtractedFact(text=text)], usage=usage)

        span = Span(chunk.text, tuple(chunk.turns))
        facts = self._extract_span(chunk, span, settings, usage)
        if _effective_mode(settings) == "verbatim":
            facts = [_verbatim_fact(text, facts)]
        return ExtractionResult(facts=facts, usage=usage)

    def _extract_span(
        self, chunk: ChunkInput, span: Span, settings: ExtractionSettings, usage: TokenUsage
    ) -> list[ExtractedFact]:
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": build_user_message(chunk, span, settings)},
        ]
        schema = response_format(settings)
        problem = ""
        for attempt in range(1, self.max_parse_attempts + 1):
            try:
                response = llm.complete(
                    purpose=self.purpose,
                    messages=messages,
                    response_format=schema,
                    temperature=self.temperature,
                    max_tokens=self.max_output_tokens,
                )
            except llm.LLMError as exc:
                if exc.kind == "context_window":
                    return self._split_and_extract(chunk, span, settings, usage, reason=str(exc))
                raise ExtractionError(f"fact extraction failed: {exc}", transient=exc.transient) from None
            usage.add(response.usage)
            if response.finish_reason == "length":
                return self._split_and_extract(chunk, span, settings, usage, reason="the answer hit the output limit")
            try:
                return parse_facts(response.content, span, settings)
            except _Malformed as exc:
                problem = str(exc)
                logger.warning(
                    "unusable extraction answer for chunk %d/%d (attempt %d/%d): %s",
                    chunk.chunk_index + 1,
                    chunk.chunk_count,
                    attempt,
                    self.max_parse_attempts,
                    problem,
                )
        raise ExtractionError(
            f"the model's answer was unusable after {self.max_parse_attempts} attempts: {problem}", transient=False
        )

    def _split_and_extract(
        self, chunk: ChunkInput, span: Span, settings: ExtractionSettings, usage: TokenUsage, *, reason: str
    ) -> list[ExtractedFact]:
        """Extract each half of an overflowing span and join the results, shifting the second half's causes."""
        if len(span.text) <= self.min_split_chars:
            raise ExtractionError(
                f"chunk {chunk.chunk_index + 1}/{chunk.chunk_count} is too large for the model even at "
                f"{len(span.text)} characters ({reason})",
                transient=False,
            )
        first_span, second_span = split_span(span)
        logger.info(
            "splitting chunk %d/%d (%d characters) in two: %s",
            chunk.chunk_index + 1,
            chunk.chunk_count,
            len(span.text),
            reason,
        )
        first = self._extract_span(chunk, first_span, settings, usage)
        second = self._extract_span(chunk, second_span, settings, usage)
        offset = len(first)
        for fact in second:
            fact.caused_by = [index + offset for index in fact.caused_by]
        return first + second


def _verbatim_fact(text: str, entries: list[ExtractedFact]) -> ExtractedFact:
    """Verbatim mode stores the chunk itself; the model's entries (one per call) only contribute metadata."""
    fact = ExtractedFact(text=text)
    if not entries:
        return fact
    head = entries[0]
    fact.fact_type = head.fact_type
    fact.fact_kind = head.fact_kind
    dated = [entry for entry in entries if entry.occurred_start or entry.occurred_end]
    if dated:
        starts = [entry.occurred_start for entry in dated if entry.occurred_start]
        ends = [entry.occurred_end for entry in dated if entry.occurred_end]
        fact.occurred_start = min(starts) if starts else None
        fact.occurred_end = max(ends) if ends else None
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        for entity in entry.entities:
            key = (entity.kind, entity.name.casefold())
            if key not in seen:
                seen.add(key)
                fact.entities.append(entity)
        fact.tags.extend(tag for tag in entry.tags if tag not in fact.tags)
    fact.metadata = {key: value for key, value in head.metadata.items() if key not in ("turn_id", "speaker")}
    return fact
