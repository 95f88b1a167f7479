"""Typed results: small dataclasses built leniently from the server's JSON.

Why lenient: a client pinned in someone's project outlives server releases. A field this client does not know is kept
in ``extra`` and readable as an attribute (``result.new_field``); a missing field is ``None``; nothing is rejected
for its type. Names and shapes follow the OpenAPI 1.1.0 component schemas (and the upstream SDK's attribute names,
``var_async`` for the JSON key ``async``), so code written against the upstream SDK reads the same attributes.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

_NONE_TYPE = type(None)


def _convert(hint: Any, value: Any) -> Any:
    """Turn ``value`` into what ``hint`` describes when it can; otherwise return it unchanged."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not _NONE_TYPE]
        return _convert(options[0], value) if len(options) == 1 else value
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return [_convert(item, v) for v in value] if isinstance(value, list) else value
    if origin is dict:
        _, item = typing.get_args(hint) or (str, Any)
        return {k: _convert(item, v) for k, v in value.items()} if isinstance(value, dict) else value
    if isinstance(hint, type) and issubclass(hint, ApiModel) and isinstance(value, dict):
        return hint.from_dict(value)
    return value


def _plain_key(key: Any) -> Any:
    return str(key) if isinstance(key, str) else key


def _plain(value: Any, by_alias: bool, with_extra: bool, exclude_none: bool = False) -> Any:
    if isinstance(value, ApiModel):
        return value.to_dict() if with_extra else value.model_dump(by_alias=by_alias, exclude_none=exclude_none)
    if isinstance(value, list):
        return [_plain(v, by_alias, with_extra, exclude_none) for v in value]
    if isinstance(value, dict):
        return {_plain_key(k): _plain(v, by_alias, with_extra, exclude_none) for k, v in value.items()}
    return value


@dataclass(kw_only=True)
class ApiModel:
    """Base of every result type: ``from_dict``, ``to_dict``/``model_dump``, and unknown fields kept in ``extra``."""

    #: Python attribute → JSON key, where they differ (``async`` is a keyword).
    _aliases: ClassVar[dict[str, str]] = {}

    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_dict(cls, data: Any):
        """Build from a decoded JSON object; anything not an object is returned as it is."""
        if not isinstance(data, dict):
            return data
        hints = _hints(cls)
        values: dict[str, Any] = {}
        extra = dict(data)
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            key = cls._aliases.get(f.name, f.name)
            if key in extra:
                values[f.name] = _convert(hints[f.name], extra.pop(key))
        return cls(**values, extra=extra)

    def model_dump(self, *, by_alias: bool = False, exclude_none: bool = False) -> dict[str, Any]:
        """The declared fields as plain data (nested results included), as the upstream pydantic models dump them;
        fields this client does not know stay in ``extra`` (``to_dict()`` includes them).
        """
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if exclude_none and value is None:
                continue
            out[self._aliases.get(f.name, f.name) if by_alias else f.name] = _plain(
                value, by_alias, False, exclude_none
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON object as the server sent it: wire key names, unknown fields included."""
        out = {
            self._aliases.get(f.name, f.name): _plain(getattr(self, f.name), True, True)
            for f in dataclasses.fields(self)
            if f.name != "extra"
        }
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: fields a newer server added are readable as attributes.
        extra = self.__dict__.get("extra")
        if extra is not None and name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")


@dataclass(kw_only=True)
class ApiObject(ApiModel):
    """A response this client has no dedicated type for: every field is readable as an attribute."""

    def model_dump(self, *, by_alias: bool = False, exclude_none: bool = False) -> dict[str, Any]:
        return {k: v for k, v in self.extra.items() if not (exclude_none and v is None)}

    def __repr__(self) -> str:
        return f"ApiObject({self.extra!r})"


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


# --- retain ----------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class TokenUsage(ApiModel):
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None
    thoughts_tokens: int | None = None


@dataclass(kw_only=True)
class RetainResponse(ApiModel):
    """What a retain answered; ``var_async`` is the JSON key ``async`` (True when the work was queued)."""

    _aliases: ClassVar[dict[str, str]] = {"var_async": "async"}

    success: bool | None = None
    bank_id: str | None = None
    items_count: int | None = None
    var_async: bool | None = None
    operation_id: str | None = None
    operation_ids: list[str] | None = None
    usage: TokenUsage | None = None


@dataclass(kw_only=True)
class FileRetainResponse(ApiModel):
    operation_ids: list[str] | None = None


# --- recall ----------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class RecallScores(ApiModel):
    final: float | None = None
    reranker: float | None = None
    semantic: float | None = None
    keyword: float | None = None


@dataclass(kw_only=True)
class RecallResult(ApiModel):
    """One memory recall returned."""

    id: str | None = None
    text: str | None = None
    type: str | None = None
    entities: list[str] | None = None
    context: str | None = None
    occurred_start: str | None = None
    occurred_end: str | None = None
    mentioned_at: str | None = None
    document_id: str | None = None
    metadata: dict[str, str] | None = None
    chunk_id: str | None = None
    tags: list[str] | None = None
    source_fact_ids: list[str] | None = None
    scores: RecallScores | None = None
    attachments: list[Any] | None = None

    def __repr__(self) -> str:
        text = self.text or ""
        preview = text[:80] + "..." if len(text) > 80 else text
        return f"RecallResult(id={self.id!r}, type={self.type!r}, text={preview!r})"


@dataclass(kw_only=True)
class EntityObservation(ApiModel):
    text: str | None = None
    mentioned_at: str | None = None


@dataclass(kw_only=True)
class EntityState(ApiModel):
    """An entity recall included (``RecallResponse.entities`` is keyed by entity name)."""

    entity_id: str | None = None
    canonical_name: str | None = None
    observations: list[EntityObservation] | None = None

    @property
    def name(self) -> str | None:
        """The entity's name (the seed documents read ``entity.name``)."""
        return self.canonical_name


class EntityName(str):
    """A key of ``RecallResponse.entities``: the entity's name (a plain ``str`` for comparison, hashing and JSON)
    that also reads as the entity itself, so both upstream's map use (``sorted(response.entities)``,
    ``response.entities["Alice"]``) and the seed's ``for entity in response.entities: entity.name`` work.
    """

    __slots__ = ("state",)

    def __new__(cls, name: str, state: EntityState | None = None):
        key = super().__new__(cls, name)
        key.state = state
        return key

    @property
    def name(self) -> str:
        return str(self)

    def __getattr__(self, attribute: str) -> Any:
        state = object.__getattribute__(self, "state")
        if state is None:
            raise AttributeError(attribute)
        return getattr(state, attribute)


@dataclass(kw_only=True)
class ChunkData(ApiModel):
    id: str | None = None
    text: str | None = None
    chunk_index: int | None = None
    truncated: bool | None = None
    attachments: list[Any] | None = None


@dataclass(kw_only=True)
class RecallResponse(ApiModel):
    """Recall's answer. Iterating it, ``len()`` and ``[i]`` go through ``results``."""

    results: list[RecallResult] = field(default_factory=list)
    trace: dict[str, Any] | None = None
    entities: dict[str, EntityState] | None = None
    chunks: dict[str, ChunkData] | None = None
    source_facts: dict[str, RecallResult] | None = None
    source_facts_truncated: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.entities, dict):
            self.entities = {
                EntityName(name, state if isinstance(state, EntityState) else None): state
                for name, state in self.entities.items()
            }

    def __iter__(self):
        return iter(self.results or [])

    def __len__(self) -> int:
        return len(self.results or [])

    def __getitem__(self, index):
        return self.results[index]

    def __repr__(self) -> str:
        extras = []
        if self.trace:
            extras.append("trace=True")
        if self.entities:
            extras.append(f"entities={len(self.entities)}")
        if self.chunks:
            extras.append(f"chunks={len(self.chunks)}")
        return f"RecallResponse({len(self)} results{', ' + ', '.join(extras) if extras else ''})"

    def to_prompt_string(self) -> str:
        """The results (with their source chunk when included) and entity summaries, as text for an LLM prompt."""
        chunks = self.chunks or {}
        facts = []
        for result in self:
            fact: dict[str, Any] = {"text": result.text}
            if result.context:
                fact["context"] = result.context
            for name in ("occurred_start", "occurred_end", "mentioned_at"):
                if getattr(result, name):
                    fact[name] = getattr(result, name)
            if result.chunk_id and result.chunk_id in chunks:
                fact["source_chunk"] = chunks[result.chunk_id].text
            facts.append(fact)
        sections = ["FACTS:\n" + json.dumps(facts, indent=2)]
        entity_parts = [
            f"## {name}\n{state.observations[0].text}"
            for name, state in (self.entities or {}).items()
            if state.observations
        ]
        if entity_parts:
            sections.append("ENTITIES:\n" + "\n\n".join(entity_parts))
        return "\n\n".join(sections)


# --- reflect ---------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class ReflectFact(ApiModel):
    id: str | None = None
    text: str | None = None
    type: str | None = None
    context: str | None = None
    occurred_start: str | None = None
    occurred_end: str | None = None
    mentioned_at: str | None = None
    document_id: str | None = None
    chunk_id: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, str] | None = None
    attachments: list[Any] | None = None


@dataclass(kw_only=True)
class ReflectMentalModel(ApiModel):
    id: str | None = None
    text: str | None = None
    context: str | None = None


@dataclass(kw_only=True)
class ReflectDirective(ApiModel):
    id: str | None = None
    name: str | None = None
    content: str | None = None


@dataclass(kw_only=True)
class ReflectBasedOn(ApiModel):
    memories: list[ReflectFact] | None = None
    mental_models: list[ReflectMentalModel] | None = None
    directives: list[ReflectDirective] | None = None


@dataclass(kw_only=True)
class ReflectToolCall(ApiModel):
    tool: str | None = None
    input: Any = None
    output: Any = None
    duration_ms: int | None = None
    iteration: int | None = None


@dataclass(kw_only=True)
class ReflectLLMCall(ApiModel):
    scope: str | None = None
    duration_ms: int | None = None


@dataclass(kw_only=True)
class ReflectTrace(ApiModel):
    tool_calls: list[ReflectToolCall] | None = None
    llm_calls: list[ReflectLLMCall] | None = None


@dataclass(kw_only=True)
class ReflectResponse(ApiModel):
    """Reflect's answer: ``text``, what it was based on, optional structured output, usage and trace."""

    text: str | None = None
    based_on: ReflectBasedOn | None = None
    structured_output: dict[str, Any] | None = None
    structured_output_error: str | None = None
    usage: TokenUsage | None = None
    trace: ReflectTrace | None = None


# --- banks -----------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class DispositionTraits(ApiModel):
    skepticism: int | None = None
    literalism: int | None = None
    empathy: int | None = None


@dataclass(kw_only=True)
class BankProfileResponse(ApiModel):
    bank_id: str | None = None
    name: str | None = None
    disposition: DispositionTraits | None = None
    mission: str | None = None
    background: str | None = None


@dataclass(kw_only=True)
class BankListItem(ApiModel):
    bank_id: str | None = None
    name: str | None = None
    disposition: DispositionTraits | None = None
    mission: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    fact_count: int | None = None
    last_document_at: str | None = None
    last_write_at: str | None = None
    display_alias: str | None = None
    matched_aliases: list[str] | None = None


@dataclass(kw_only=True)
class BankListResponse(ApiModel):
    banks: list[BankListItem] = field(default_factory=list)
    total: int | None = None
    limit: int | None = None
    offset: int | None = None

    def __iter__(self):
        return iter(self.banks or [])

    def __len__(self) -> int:
        return len(self.banks or [])


@dataclass(kw_only=True)
class DeleteResponse(ApiModel):
    success: bool | None = None
    message: str | None = None
    deleted_count: int | None = None


# --- memories list ---------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class MemoryUnitListItem(ApiModel):
    id: str | None = None
    text: str | None = None
    context: str | None = None
    date: str | None = None
    fact_type: str | None = None
    document_id: str | None = None
    mentioned_at: str | None = None
    occurred_start: str | None = None
    occurred_end: str | None = None
    entities: str | None = None
    chunk_id: str | None = None
    proof_count: int | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    consolidated_at: str | None = None
    consolidation_failed_at: str | None = None
    state: str | None = None
    invalidation_reason: str | None = None
    invalidated_at: str | None = None
    edited_at: str | None = None
    updated_at: str | None = None
    source_memory_ids: list[str] | None = None


class _Page(ApiModel):
    """A page of ``items``: iterating it and ``len()`` go through ``items``."""

    def __iter__(self):
        return iter(self.items or [])  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.items or [])  # type: ignore[attr-defined]

    def __getitem__(self, index):
        return self.items[index]  # type: ignore[attr-defined]


@dataclass(kw_only=True)
class ListMemoryUnitsResponse(_Page):
    items: list[MemoryUnitListItem] = field(default_factory=list)
    total: int | None = None
    limit: int | None = None
    offset: int | None = None


# --- directives ------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class DirectiveResponse(ApiModel):
    id: str | None = None
    bank_id: str | None = None
    name: str | None = None
    content: str | None = None
    priority: int | None = None
    is_active: bool | None = None
    tags: list[str] | None = None
    created_at: str | None = None
    updated_at: str | None = None


@dataclass(kw_only=True)
class DirectiveListResponse(_Page):
    items: list[DirectiveResponse] = field(default_factory=list)
    total: int | None = None
    limit: int | None = None
    offset: int | None = None


# --- mental models ---------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class MentalModelResponse(ApiModel):
    id: str | None = None
    bank_id: str | None = None
    name: str | None = None
    source_query: str | None = None
    content: str | None = None
    tags: list[str] | None = None
    max_tokens: int | None = None
    trigger: dict[str, Any] | None = None
    last_refreshed_at: str | None = None
    last_memory_seen_at: str | None = None
    last_refresh_failed_at: str | None = None
    last_full_refreshed_at: str | None = None
    created_at: str | None = None
    is_knowledge_page: bool | None = None
    reflect_response: dict[str, Any] | None = None
    is_stale: bool | None = None


@dataclass(kw_only=True)
class MentalModelListResponse(_Page):
    items: list[MentalModelResponse] = field(default_factory=list)
    total: int | None = None
    limit: int | None = None
    offset: int | None = None


@dataclass(kw_only=True)
class CreateMentalModelResponse(ApiModel):
    mental_model_id: str | None = None
    operation_id: str | None = None


@dataclass(kw_only=True)
class AsyncOperationSubmitResponse(ApiModel):
    operation_id: str | None = None
    status: str | None = None


# --- documents -------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class DocumentResponse(ApiModel):
    id: str | None = None
    bank_id: str | None = None
    original_text: str | None = None
    content_hash: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    memory_unit_count: int | None = None
    nodes_by_fact_type: dict[str, int] | None = None
    tags: list[str] | None = None
    document_metadata: dict[str, Any] | None = None
    retain_params: dict[str, Any] | None = None
    observation_scopes: Any = None
    attachments: list[Any] | None = None


@dataclass(kw_only=True)
class DocumentListItem(ApiModel):
    id: str | None = None
    bank_id: str | None = None
    content_hash: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    text_length: int | None = None
    memory_unit_count: int | None = None
    tags: list[str] | None = None
    document_metadata: dict[str, Any] | None = None


@dataclass(kw_only=True)
class ListDocumentsResponse(_Page):
    items: list[DocumentListItem] = field(default_factory=list)
    total: int | None = None
    limit: int | None = None
    offset: int | None = None
    total_is_estimate: bool | None = None


@dataclass(kw_only=True)
class DeleteDocumentResponse(ApiModel):
    success: bool | None = None
    message: str | None = None
    document_id: str | None = None
    memory_units_deleted: int | None = None


@dataclass(kw_only=True)
class UpdateDocumentResponse(ApiModel):
    success: bool | None = None


@dataclass(kw_only=True)
class ChunkResponse(ApiModel):
    chunk_id: str | None = None
    document_id: str | None = None
    bank_id: str | None = None
    chunk_index: int | None = None
    chunk_text: str | None = None
    created_at: str | None = None
    attachments: list[Any] | None = None


@dataclass(kw_only=True)
class ListChunksResponse(_Page):
    items: list[ChunkResponse] = field(default_factory=list)
    total: int | None = None
    limit: int | None = None
    offset: int | None = None


# --- operations ------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class OperationStatusResponse(ApiModel):
    operation_id: str | None = None
    status: str | None = None
    operation_type: str | None = None
    id: str | None = None
    task_type: str | None = None
    mental_model_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    completed_at: str | None = None
    error_message: str | None = None
    retry_count: int | None = None
    next_retry_at: str | None = None
    progress: dict[str, Any] | None = None
    result_metadata: dict[str, Any] | None = None
    details: dict[str, Any] | None = None
    child_operations: list[dict[str, Any]] | None = None
    task_payload: dict[str, Any] | None = None


@dataclass(kw_only=True)
class OperationResponse(ApiModel):
    id: str | None = None
    task_type: str | None = None
    operation_id: str | None = None
    operation_type: str | None = None
    items_count: int | None = None
    document_id: str | None = None
    filename: str | None = None
    mental_model_id: str | None = None
    details: dict[str, Any] | None = None
    created_at: str | None = None
    updated_at: str | None = None
    status: str | None = None
    error_message: str | None = None
    retry_count: int | None = None
    next_retry_at: str | None = None
    progress: dict[str, Any] | None = None


@dataclass(kw_only=True)
class OperationsListResponse(ApiModel):
    bank_id: str | None = None
    total: int | None = None
    limit: int | None = None
    offset: int | None = None
    operations: list[OperationResponse] = field(default_factory=list)

    def __iter__(self):
        return iter(self.operations or [])

    def __len__(self) -> int:
        return len(self.operations or [])


@dataclass(kw_only=True)
class OperationActionResponse(ApiModel):
    """Answer of cancel, retry and delete on an operation."""

    success: bool | None = None
    message: str | None = None
    operation_id: str | None = None


CancelOperationResponse = RetryOperationResponse = DeleteOperationResponse = OperationActionResponse


# --- server ----------------------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class FeaturesInfo(ApiModel):
    observations: bool | None = None
    mcp: bool | None = None
    worker: bool | None = None
    bank_config_api: bool | None = None
    bank_llm_health: bool | None = None
    file_upload_api: bool | None = None
    document_export_api: bool | None = None
    document_import_api: bool | None = None
    audit_log: bool | None = None
    llm_trace: bool | None = None
    store_document_text: bool | None = None


@dataclass(kw_only=True)
class VersionResponse(ApiModel):
    api_version: str | None = None
    features: FeaturesInfo | None = None


@dataclass(kw_only=True)
class BankConfigResponse(ApiModel):
    """``{"bank_id", "config" (resolved settings), "overrides" (the bank's own)}``; ``["config"]`` also works."""

    bank_id: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __eq__(self, other: object) -> bool:
        # The upstream client's config methods return the raw dict; comparing with one keeps working.
        if isinstance(other, dict):
            return self.to_dict() == other
        return super().__eq__(other)


@dataclass(kw_only=True)
class EntityListItem(ApiModel):
    id: str | None = None
    canonical_name: str | None = None
    mention_count: int | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    metadata: dict[str, Any] | None = None


@dataclass(kw_only=True)
class EntityListResponse(_Page):
    items: list[EntityListItem] = field(default_factory=list)
    total: int | None = None
    limit: int | None = None
    offset: int | None = None


@dataclass(kw_only=True)
class EntityDetailResponse(ApiModel):
    id: str | None = None
    canonical_name: str | None = None
    mention_count: int | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    metadata: dict[str, Any] | None = None
    observations: list[EntityObservation] | None = None
