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
    return parsed.astimezone(UTC), None


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
        entity_type = entity.get("type")
        if entity_type is not None and not isinstance(entity_type, str):
            errors.add("'type' must be a string or null", "items", index, "entities", entity_index)
            continue
        entities.append({"text": entity["text"].strip(), "type": entity_type})
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
    offset = serializers.IntegerField(required=False, min_value=0, default=0)
    exclude_parents = serializers.BooleanField(required=False, default=False)


class OperationDetailQuerySerializer(serializers.Serializer):
    include_payload = serializers.BooleanField(required=False, default=False)
