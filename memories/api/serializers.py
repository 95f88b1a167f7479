"""Validation of retain requests, exactly as the SDKs send them (explicit nulls everywhere).

Errors are collected per item and field and raised together as the contract's 422 list form, e.g.
``{"loc": ["body", "items", 2, "timestamp"], "msg": "…"}``; nothing is stored when any item is invalid.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from hindsight_site.api.parsing import MAX_OFFSET
from memories.entities import ENTITY_NAME_MAX_CHARS
from memories.services import RetainItem

OBSERVATION_SCOPE_MODES = ("per_tag", "combined", "all_combinations", "shared")


class _Errors:
    def __init__(self):
        self.errors: dict[str, Any] = {}

    def add(self, message: str, *path: Any) -> None:
        node = self.errors
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node.setdefault(path[-1], []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            exc = ValidationError(self.errors)
            exc.location = "body"
            raise exc


def parse_timestamp(value: Any, now: datetime) -> tuple[datetime | None, str | None]:
    """(timestamp, error). None/absent means now, "unset" means no date; naive times are UTC."""
    if value is None:
        return now, None
    if not isinstance(value, str):
        return None, 'must be an ISO 8601 datetime string, "unset" or null'
    if value.strip().lower() == "unset":
        return None, None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None, f'{value!r} is not an ISO 8601 datetime (e.g. 2024-01-15T10:30:00Z) or "unset"'
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC), None
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:00 is past the last representable UTC moment
        return None, f"{value!r} is outside the representable range of dates"


def _content(value: Any, errors: _Errors, index: int) -> str | None:
    if isinstance(value, str):
        text = value
    elif isinstance(value, list):
        parts = []
        rejected = False
        for block_index, block in enumerate(value):
            if not isinstance(block, dict) or block.get("type") not in ("text", "image", "file"):
                errors.add(
                    "must be a content block with type text, image or file", "items", index, "content", block_index
                )
                rejected = True
                continue
            if block["type"] != "text":
                errors.add(
                    f"{block['type']} blocks need a vision-capable retain model; this server retains text only",
                    "items",
                    index,
                    "content",
                    block_index,
                )
                rejected = True
                continue
            if not isinstance(block.get("text"), str):
                errors.add("a text block needs a string 'text'", "items", index, "content", block_index)
                rejected = True
                continue
            parts.append(block["text"])
        if rejected:
            return None
        text = "\n\n".join(parts)
    else:
        errors.add("must be a string or a list of content blocks", "items", index, "content")
        return None
    if not text.strip():
        errors.add("must not be empty", "items", index, "content")
        return None
    limit = settings.HINDSIGHT_RETAIN_MAX_CONTENT_CHARS
    if len(text) > limit:
        errors.add(f"is {len(text)} characters; the limit is {limit}", "items", index, "content")
        return None
    return text


def _string_list(value: Any, errors: _Errors, *path: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() and len(v) <= 255 for v in value):
        errors.add("must be a list of non-empty strings of at most 255 characters", *path)
        return []
    return list(dict.fromkeys(v.strip() for v in value))


def _item(raw: Any, index: int, now: datetime, document_tags: list[str], errors: _Errors) -> RetainItem | None:
    if not isinstance(raw, dict):
        errors.add("must be an object", "items", index)
        return None
    if "content" not in raw:
        errors.add("Field required", "items", index, "content")
        return None
    content = _content(raw["content"], errors, index)
    timestamp, problem = parse_timestamp(raw.get("timestamp"), now)
    if problem:
        errors.add(problem, "items", index, "timestamp")
    context = raw.get("context")
    if context is not None and not isinstance(context, str):
        errors.add("must be a string or null", "items", index, "context")
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        errors.add("must be an object of string values", "items", index, "metadata")
        metadata = {}
    for key, value in metadata.items():
        if not isinstance(value, str):
            errors.add(f"metadata values must be strings, not {type(value).__name__}", "items", index, "metadata", key)
    document_id = raw.get("document_id")
    if document_id is not None and (
        not isinstance(document_id, str) or not document_id.strip() or len(document_id) > 512
    ):
        errors.add("must be a non-empty string of at most 512 characters, or null", "items", index, "document_id")
    entities = []
    raw_entities = raw.get("entities") or []
    if not isinstance(raw_entities, list):
        errors.add("must be a list of {text, type} objects", "items", index, "entities")
        raw_entities = []
    for entity_index, entity in enumerate(raw_entities):
        if not isinstance(entity, dict) or not isinstance(entity.get("text"), str) or not entity["text"].strip():
            errors.add("needs a non-empty string 'text'", "items", index, "entities", entity_index)
            continue
        text = entity["text"].strip()
        if len(text) > ENTITY_NAME_MAX_CHARS:
            errors.add(
                f"'text' must be at most {ENTITY_NAME_MAX_CHARS} characters", "items", index, "entities", entity_index
            )
            continue
        entity_type = entity.get("type")
        if entity_type is not None and not isinstance(entity_type, str):
            errors.add("'type' must be a string or null", "items", index, "entities", entity_index)
            continue
        entities.append({"text": text, "type": entity_type})
    resolve = raw.get("resolve_entities", True)
    if resolve is None:
        resolve = True
    if not isinstance(resolve, bool):
        errors.add("must be true or false", "items", index, "resolve_entities")
    tags = _string_list(raw.get("tags"), errors, "items", index, "tags")
    scopes = raw.get("observation_scopes")
    if scopes is not None and not (
        scopes in OBSERVATION_SCOPE_MODES
        or (
            isinstance(scopes, list) and all(isinstance(g, list) and all(isinstance(t, str) for t in g) for g in scopes)
        )
    ):
        errors.add(
            f"must be one of {', '.join(OBSERVATION_SCOPE_MODES)}, a list of tag lists, or null",
            "items",
            index,
            "observation_scopes",
        )
    if raw.get("strategy") is not None:
        errors.add("named retain strategies are not supported by this server; send null", "items", index, "strategy")
    update_mode = raw.get("update_mode") or "replace"
    if update_mode not in ("replace", "append"):
        errors.add("must be replace, append or null", "items", index, "update_mode")
    if content is None:
        return None
    return RetainItem(
        content=content,
        timestamp=timestamp,
        context=context or "",
        metadata={str(k): v for k, v in metadata.items() if isinstance(v, str)},
        document_id=document_id.strip() if isinstance(document_id, str) else None,
        entities=entities,
        resolve_entities=resolve is True,
        tags=list(dict.fromkeys([*tags, *document_tags])),
        observation_scopes=scopes,
        update_mode=update_mode,
        timestamp_defaulted=raw.get("timestamp") is None,
    )


def parse_retain_request(data: Any, *, now: datetime) -> tuple[list[RetainItem], bool, uuid.UUID | None]:
    """Validate a RetainRequest body; return (items, async, operation_id) or raise the 422 list form."""
    errors = _Errors()
    if not isinstance(data, dict):
        errors.add("The request body must be a JSON object.", "non_field_errors")
        errors.raise_if_any()
    raw_items = data.get("items")
    if not isinstance(raw_items, list):
        errors.add("Field required: a list of items", "items")
        errors.raise_if_any()
    if not raw_items:
        errors.add("must contain at least one item", "items")
    if len(raw_items) > settings.HINDSIGHT_RETAIN_MAX_ITEMS:
        errors.add(f"has {len(raw_items)} items; the limit is {settings.HINDSIGHT_RETAIN_MAX_ITEMS}", "items")
    errors.raise_if_any()
    run_async = data.get("async", False)
    if run_async is None:
        run_async = False
    if not isinstance(run_async, bool):
        errors.add("must be true or false", "async")
    document_tags = _string_list(data.get("document_tags"), errors, "document_tags")
    operation_id = data.get("operation_id")
    parsed_operation_id = None
    if operation_id is not None:
        try:
            parsed_operation_id = uuid.UUID(str(operation_id))
        except ValueError:
            errors.add("must be a UUID", "operation_id")
    items = [_item(raw, index, now, document_tags, errors) for index, raw in enumerate(raw_items)]
    errors.raise_if_any()
    return [item for item in items if item is not None], run_async is True, parsed_operation_id


class OperationListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=["pending", "processing", "completed", "failed", "cancelled"], required=False, allow_blank=True
    )
    type = serializers.CharField(required=False, allow_blank=True, max_length=64)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)
    offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_OFFSET)
    exclude_parents = serializers.BooleanField(required=False, default=False)


class OperationDetailQuerySerializer(serializers.Serializer):
    include_payload = serializers.BooleanField(required=False, default=False)


# --- recall ----------------------------------------------------------------------------------------------------

BUDGETS = ("low", "mid", "high")


def _optional_limit(include: dict, key: str, default: int, errors: _Errors) -> int | None:
    """``include.<key>``: null or absent means off (entities: absent means on), {} means the default limit."""
    value = include.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add("must be an object with max_tokens, or null", "include", key)
        return None
    limit = value.get("max_tokens", default)
    if limit is None:
        limit = default
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        errors.add("max_tokens must be a non-negative integer", "include", key, "max_tokens")
        return None
    return limit


def parse_recall_request(data: Any, *, now: datetime):
    """Validate a RecallRequest body into a ``memories.recall.RecallQuery`` or raise the 422 list form."""
    from memories.recall import RecallQuery
    from memories.tags import TAGS_MATCH_MODES

    errors = _Errors()
    if not isinstance(data, dict):
        errors.add("The request body must be a JSON object.", "non_field_errors")
        errors.raise_if_any()
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        errors.add("Field required: a non-empty string", "query")
    raw_types = data.get("types")
    types: list[str] = []
    if raw_types is not None:
        if not isinstance(raw_types, list) or not all(isinstance(t, str) for t in raw_types):
            errors.add("must be a list of fact types or null", "types")
        else:
            # Names we do not store (the retired "opinion" and "agent" of documented examples) are not refused: they
            # match no memory, so ["world", "opinion"] is world facts and ["opinion"] alone finds nothing.
            types = list(dict.fromkeys(raw_types))
    budget = data.get("budget") or "mid"
    if budget not in BUDGETS:
        errors.add("must be low, mid or high", "budget")
    max_tokens = data.get("max_tokens", 4096)
    if max_tokens is None:
        max_tokens = 4096
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= 1_000_000:
        errors.add("must be an integer from 1 to 1000000", "max_tokens")
    trace = data.get("trace") or False
    if not isinstance(trace, bool):
        errors.add("must be true or false", "trace")
    stamp = None
    if data.get("query_timestamp") is not None:
        stamp, problem = parse_timestamp(data["query_timestamp"], now)
        if problem or stamp is None:
            errors.add(problem or "must be an ISO 8601 datetime", "query_timestamp")
    include = data.get("include")
    if "include" not in data:
        include = {"entities": {"max_tokens": 500}}
    if include is None:
        include = {}
    if not isinstance(include, dict):
        errors.add("must be an object", "include")
        include = {}
    include_entities = _optional_limit(include, "entities", 500, errors)
    include_chunks = _optional_limit(include, "chunks", 8192, errors)
    include_source_facts = _optional_limit(include, "source_facts", 4096, errors)
    tags = _string_list(data.get("tags"), errors, "tags")
    tags_match = data.get("tags_match") or "any"
    if tags_match not in TAGS_MATCH_MODES:
        errors.add(f"must be one of {', '.join(TAGS_MATCH_MODES)}", "tags_match")
    tag_groups = data.get("tag_groups")
    if tag_groups is not None and not isinstance(tag_groups, list):
        errors.add("must be a list of groups or null", "tag_groups")
    min_scores: dict[str, float] = {}
    raw_scores = data.get("min_scores")
    if raw_scores is not None:
        if not isinstance(raw_scores, dict):
            errors.add("must be an object or null", "min_scores")
        else:
            for key in ("semantic", "keyword", "reranker", "final"):
                value = raw_scores.get(key)
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    errors.add("must be a number or null", "min_scores", key)
                else:
                    min_scores[key] = float(value)
    window = None
    raw_window = data.get("temporal_window")
    if raw_window is not None:
        if not isinstance(raw_window, dict):
            errors.add("must be an object with start and end", "temporal_window")
        else:
            start, start_problem = parse_timestamp(raw_window.get("start"), now)
            end, end_problem = parse_timestamp(raw_window.get("end"), now)
            if start_problem or end_problem or start is None or end is None or end < start:
                errors.add("needs ISO start and end, with end not before start", "temporal_window")
            else:
                window = (start, end)
    errors.raise_if_any()
    return RecallQuery(
        query=query.strip(),
        types=types,
        budget=budget,
        max_tokens=max_tokens,
        query_timestamp=stamp,
        include_entities=include_entities,
        include_chunks=include_chunks,
        include_source_facts=include_source_facts,
        tags=tags,
        tags_match=tags_match,
        tag_groups=tag_groups or None,
        trace=trace,
        min_scores=min_scores,
        temporal_window=window,
    )
