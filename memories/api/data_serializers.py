"""Request validation and response shapes of the data routes (memories list/get/patch/delete, documents, chunks,
entities, graphs, tags, statistics, dry-run extraction).

Query serializers read the raw ``QueryDict`` so repeated parameters (``?tags=a&tags=b``) arrive as lists. Response
serializers only describe the contract's component schemas for drf-spectacular; the selectors build the dicts.
Field names and nullability mirror ``hindsight-openapi-1.1.0.json``.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from banks.api.serializers import DeleteResponseSerializer  # noqa: F401 - one DeleteResponse component for all
from hindsight_site.api.parsing import MAX_OFFSET
from memories.api.serializers import OBSERVATION_SCOPE_MODES, parse_timestamp
from memories.entities import ENTITY_NAME_MAX_CHARS
from memories.recall import FACT_TYPES
from memories.selectors import DOCUMENT_TIME_FIELDS, MEMORY_TIME_FIELDS, TIMESERIES_PERIODS
from memories.tags import TAGS_MATCH_MODES, TagFilterError, tag_groups_filter

MAX_PAGE = 1000


def _fail(errors: Any, location: str) -> None:
    exc = ValidationError(errors)
    exc.location = location
    raise exc


def parse_query_params(request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    """Validate the query string (repeated keys kept as lists) or raise the contract's 422 list form."""
    serializer = serializer_class(data=request.query_params)
    if not serializer.is_valid():
        _fail(serializer.errors, "query")
    data = dict(serializer.validated_data)
    # An empty value (``?type=``) means "not given", as the SDK's omitted parameters do.
    return {key: (None if value == "" else value) for key, value in data.items()}


class _Paging(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=0, default=100)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_OFFSET, default=0)

    def validate_limit(self, value: int) -> int:
        return min(value, MAX_PAGE)


class _TagsQuery(serializers.Serializer):
    tags = serializers.ListField(child=serializers.CharField(max_length=255), required=False, allow_empty=True)
    tags_match = serializers.ChoiceField(choices=TAGS_MATCH_MODES, required=False, default="any")


class _TagGroupsQuery(_TagsQuery):
    tag_groups = serializers.CharField(required=False, allow_blank=True, allow_null=True)

    def validate_tag_groups(self, value: str | None) -> list | None:
        if not value:
            return None
        try:
            groups = json.loads(value)
        except (ValueError, RecursionError):
            raise serializers.ValidationError("must be a JSON-encoded list of tag groups") from None
        try:
            tag_groups_filter(groups)
        except TagFilterError as exc:
            raise serializers.ValidationError(str(exc)) from None
        except RecursionError:
            raise serializers.ValidationError("tag groups are nested too deeply") from None
        return groups or None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("tags") and attrs.get("tag_groups"):
            raise serializers.ValidationError({"tag_groups": ["tags and tag_groups cannot be combined"]})
        return attrs


class _Dates(serializers.Serializer):
    start_date = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    end_date = serializers.CharField(required=False, allow_blank=True, allow_null=True)

    def _date(self, value: str | None):
        if not value:
            return None
        stamp, problem = parse_timestamp(value, now=None)
        if problem or stamp is None:
            raise serializers.ValidationError("must be an ISO 8601 datetime (e.g. 2024-01-15T10:30:00Z)")
        return stamp

    def validate_start_date(self, value):
        return self._date(value)

    def validate_end_date(self, value):
        return self._date(value)


class MemoryListQuerySerializer(_Paging, _TagsQuery, _Dates):
    type = serializers.ChoiceField(choices=FACT_TYPES, required=False, allow_blank=True, allow_null=True)
    q = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=1000)
    consolidation_state = serializers.ChoiceField(
        choices=["failed", "pending", "done"], required=False, allow_blank=True, allow_null=True
    )
    state = serializers.ChoiceField(
        choices=["valid", "invalidated", "all"], required=False, allow_blank=True, allow_null=True
    )
    document_id = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=512)
    entity_id = serializers.UUIDField(required=False, allow_null=True)
    time_field = serializers.ChoiceField(choices=MEMORY_TIME_FIELDS, required=False, allow_blank=True, allow_null=True)


class ClearMemoriesQuerySerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=FACT_TYPES, required=False, allow_blank=True, allow_null=True)


class DocumentListQuerySerializer(_Paging, _TagsQuery, _Dates):
    q = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=1000)
    tags_match = serializers.ChoiceField(choices=TAGS_MATCH_MODES, required=False, default="any_strict")
    time_field = serializers.ChoiceField(
        choices=DOCUMENT_TIME_FIELDS, required=False, allow_blank=True, allow_null=True
    )


class ChunkListQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)
    offset = serializers.IntegerField(required=False, min_value=0, max_value=MAX_OFFSET, default=0)


class EntityListQuerySerializer(_Paging, _TagGroupsQuery):
    q = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=512, help_text="Name contains (our addition)."
    )


class EntityDetailQuerySerializer(_TagGroupsQuery):
    pass


class EntityGraphQuerySerializer(_TagGroupsQuery):
    limit = serializers.IntegerField(required=False, min_value=0, default=1000)
    min_count = serializers.IntegerField(required=False, default=1, min_value=-(2**31), max_value=2**31 - 1)

    def validate_limit(self, value: int) -> int:
        return min(value, 5000)


class GraphQuerySerializer(_TagsQuery):
    type = serializers.ChoiceField(choices=FACT_TYPES, required=False, allow_blank=True, allow_null=True)
    limit = serializers.IntegerField(required=False, min_value=0, default=1000)
    q = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=1000)
    tags_match = serializers.ChoiceField(choices=TAGS_MATCH_MODES, required=False, default="all_strict")
    document_id = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=512)
    chunk_id = serializers.UUIDField(required=False, allow_null=True)

    def validate_limit(self, value: int) -> int:
        return min(value, 5000)


class TagListQuerySerializer(_Paging):
    q = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=255)
    source = serializers.ChoiceField(choices=["memories", "mental_models"], required=False, default="memories")


class StatsQuerySerializer(serializers.Serializer):
    refresh = serializers.BooleanField(required=False, default=False)


class TimeseriesQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(TIMESERIES_PERIODS), required=False, default="7d")
    time_field = serializers.CharField(required=False, default="created_at", max_length=64)


# --- request bodies -----------------------------------------------------------------------------------------------


class StrictString(serializers.CharField):
    """A JSON string, never a number or boolean turned into one (the contract's ``type: string``)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError(f"must be a string, not {type(data).__name__}")
        return super().to_internal_value(data)


class _NullableDate(StrictString):
    """An ISO datetime, ``''`` to clear; omitted or null leaves the value unchanged."""

    def __init__(self, **kwargs):
        super().__init__(required=False, allow_blank=True, allow_null=True, trim_whitespace=True, **kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        if text == "":
            return ""
        stamp, problem = parse_timestamp(text, now=None)
        if problem or stamp is None:
            raise serializers.ValidationError("must be an ISO 8601 datetime, or '' to clear it")
        return stamp


class UpdateMemoryRequestSerializer(serializers.Serializer):
    text = StrictString(required=False, allow_null=True, max_length=100_000, trim_whitespace=True)
    context = StrictString(required=False, allow_null=True, allow_blank=True, max_length=100_000)
    occurred_start = _NullableDate()
    occurred_end = _NullableDate()
    mentioned_at = _NullableDate()
    fact_type = serializers.ChoiceField(choices=["world", "experience"], required=False, allow_null=True)
    entities = serializers.ListField(
        child=StrictString(max_length=ENTITY_NAME_MAX_CHARS), required=False, allow_null=True, allow_empty=True
    )
    resolve_entities = serializers.BooleanField(required=False, default=True)
    state = serializers.ChoiceField(choices=["valid", "invalidated"], required=False, allow_null=True)
    reason = StrictString(required=False, allow_null=True, allow_blank=True, max_length=10_000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = {key for key, value in attrs.items() if value is not None and key != "resolve_entities"}
        if not given - {"reason"}:
            raise serializers.ValidationError(
                "give at least one of text, context, occurred_start, occurred_end, mentioned_at, fact_type, "
                "entities or state"
            )
        return attrs


class UpdateDocumentRequestSerializer(serializers.Serializer):
    tags = serializers.ListField(child=StrictString(max_length=255), required=False, allow_null=True, allow_empty=True)
    observation_scopes = serializers.JSONField(required=False, allow_null=True)

    def validate_observation_scopes(self, value: Any) -> Any:
        if value is None or value in OBSERVATION_SCOPE_MODES:
            return value
        if isinstance(value, list) and all(
            isinstance(group, list) and all(isinstance(tag, str) and "\x00" not in tag for tag in group)
            for group in value
        ):
            return value
        raise serializers.ValidationError(f"must be one of {', '.join(OBSERVATION_SCOPE_MODES)} or a list of tag lists")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("tags") is None and attrs.get("observation_scopes") is None:
            raise serializers.ValidationError("give tags and/or observation_scopes")
        return attrs


class DryRunExtractRequestSerializer(serializers.Serializer):
    content = serializers.JSONField()
    context = StrictString(required=False, allow_blank=True, allow_null=True, default="")
    timestamp = StrictString(required=False, allow_null=True)
    agent_name = StrictString(required=False, allow_null=True, allow_blank=True)
    strategy = StrictString(required=False, allow_null=True)
    retain_mission = StrictString(required=False, allow_null=True, allow_blank=True)
    retain_extraction_mode = StrictString(required=False, allow_null=True)
    retain_custom_instructions = StrictString(required=False, allow_null=True, allow_blank=True)
    # Validated strictly by the bank configuration registry, as PATCH …/config validates them.
    retain_extract_causal_links = serializers.JSONField(required=False, allow_null=True)
    retain_chunk_size = serializers.JSONField(required=False, allow_null=True)
    entity_labels = serializers.JSONField(required=False, allow_null=True)
    entities_allow_free_form = serializers.JSONField(required=False, allow_null=True)
    llm_output_language = StrictString(required=False, allow_null=True)

    def validate_strategy(self, value):
        if value is not None:
            raise serializers.ValidationError("named retain strategies are not supported by this server; send null")
        return value


# --- responses (for the schema) -------------------------------------------------------------------------------------


class MemoryUnitListItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    text = serializers.CharField()
    context = serializers.CharField()
    date = serializers.CharField()
    fact_type = serializers.CharField(allow_null=True)
    document_id = serializers.CharField(allow_null=True)
    mentioned_at = serializers.CharField(allow_null=True)
    occurred_start = serializers.CharField(allow_null=True)
    occurred_end = serializers.CharField(allow_null=True)
    entities = serializers.CharField()
    chunk_id = serializers.CharField(allow_null=True)
    proof_count = serializers.IntegerField()
    tags = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField()
    consolidated_at = serializers.CharField(allow_null=True)
    consolidation_failed_at = serializers.CharField(allow_null=True)
    state = serializers.CharField()
    invalidation_reason = serializers.CharField(allow_null=True)
    invalidated_at = serializers.CharField(allow_null=True)
    edited_at = serializers.CharField(allow_null=True)
    updated_at = serializers.CharField(allow_null=True)
    source_memory_ids = serializers.ListField(child=serializers.CharField())


class ListMemoryUnitsResponseSerializer(serializers.Serializer):
    items = MemoryUnitListItemSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class DocumentListItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    bank_id = serializers.CharField()
    content_hash = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    text_length = serializers.IntegerField()
    memory_unit_count = serializers.IntegerField()
    retain_params = serializers.DictField(allow_null=True)
    document_metadata = serializers.DictField(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    matched_fields = serializers.ListField(child=serializers.ChoiceField(choices=["id", "original_text"]))


class ListDocumentsResponseSerializer(serializers.Serializer):
    items = DocumentListItemSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    total_is_estimate = serializers.BooleanField()


class DocumentResponseSerializer(serializers.Serializer):
    id = serializers.CharField()
    bank_id = serializers.CharField()
    original_text = serializers.CharField(allow_null=True)
    content_hash = serializers.CharField(allow_null=True)
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    memory_unit_count = serializers.IntegerField()
    nodes_by_fact_type = serializers.DictField(child=serializers.IntegerField(), allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    document_metadata = serializers.DictField(allow_null=True)
    retain_params = serializers.DictField(allow_null=True)
    observation_scopes = serializers.JSONField(allow_null=True)
    attachments = serializers.ListField(child=serializers.DictField(), allow_null=True)


class UpdateDocumentResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()


class DeleteDocumentResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    document_id = serializers.CharField()
    memory_units_deleted = serializers.IntegerField()


class ChunkResponseSerializer(serializers.Serializer):
    chunk_id = serializers.CharField()
    document_id = serializers.CharField()
    bank_id = serializers.CharField()
    chunk_index = serializers.IntegerField()
    chunk_text = serializers.CharField()
    created_at = serializers.CharField()


class ListChunksResponseSerializer(serializers.Serializer):
    items = ChunkResponseSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class _ObservationIdSampleSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    ids = serializers.ListField(child=serializers.CharField())


class DocumentEventSerializer(serializers.Serializer):
    document_id = serializers.CharField()
    kind = serializers.ChoiceField(
        choices=[
            "retain",
            "append",
            "reprocess",
            "retag",
            "fact_edited",
            "fact_invalidated",
            "fact_restored",
            "fact_deleted",
            "observations_cleared",
            "consolidation",
        ]
    )
    created_at = serializers.DateTimeField()
    operation_id = serializers.CharField(allow_null=True)
    fact_id = serializers.CharField(allow_null=True)
    facts_added = serializers.IntegerField()
    facts_removed = serializers.IntegerField()
    observations_created = _ObservationIdSampleSerializer()
    observations_updated = _ObservationIdSampleSerializer()
    observations_removed = _ObservationIdSampleSerializer()


class DocumentHistoryResponseSerializer(serializers.Serializer):
    document_id = serializers.CharField()
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    items = DocumentEventSerializer(many=True)


class ReprocessDocumentResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    operation_id = serializers.CharField()
    items_count = serializers.IntegerField()


class EntityListItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    canonical_name = serializers.CharField()
    mention_count = serializers.IntegerField()
    first_seen = serializers.CharField(allow_null=True)
    last_seen = serializers.CharField(allow_null=True)
    metadata = serializers.DictField(allow_null=True)


class EntityListResponseSerializer(serializers.Serializer):
    items = EntityListItemSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class _EntityObservationSerializer(serializers.Serializer):
    text = serializers.CharField()
    mentioned_at = serializers.CharField(allow_null=True)


class EntityDetailResponseSerializer(EntityListItemSerializer):
    observations = _EntityObservationSerializer(many=True)


class _EntityGraphNodeDataSerializer(serializers.Serializer):
    id = serializers.CharField()
    label = serializers.CharField()
    mentionCount = serializers.IntegerField()
    color = serializers.CharField(allow_null=True)


class _EntityGraphNodeSerializer(serializers.Serializer):
    data = _EntityGraphNodeDataSerializer()


class _EntityGraphEdgeDataSerializer(serializers.Serializer):
    id = serializers.CharField()
    source = serializers.CharField()
    target = serializers.CharField()
    linkType = serializers.CharField()
    weight = serializers.IntegerField()
    color = serializers.CharField(allow_null=True)
    lineStyle = serializers.CharField(allow_null=True)
    lastCooccurred = serializers.CharField(allow_null=True)


class _EntityGraphEdgeSerializer(serializers.Serializer):
    data = _EntityGraphEdgeDataSerializer()


class EntityGraphResponseSerializer(serializers.Serializer):
    nodes = _EntityGraphNodeSerializer(many=True)
    edges = _EntityGraphEdgeSerializer(many=True)
    total_entities = serializers.IntegerField()
    total_edges = serializers.IntegerField()
    limit = serializers.IntegerField()


class _MemoryGraphNodeDataSerializer(serializers.Serializer):
    id = serializers.CharField()
    label = serializers.CharField()
    text = serializers.CharField()
    date = serializers.CharField()
    context = serializers.CharField()
    entities = serializers.CharField()
    color = serializers.CharField(allow_null=True)


class _MemoryGraphNodeSerializer(serializers.Serializer):
    data = _MemoryGraphNodeDataSerializer()


class _MemoryGraphEdgeDataSerializer(serializers.Serializer):
    id = serializers.CharField()
    source = serializers.CharField()
    target = serializers.CharField()
    linkType = serializers.CharField()
    weight = serializers.FloatField()
    entityName = serializers.CharField()
    color = serializers.CharField(allow_null=True)
    lineStyle = serializers.CharField(allow_null=True)


class _MemoryGraphEdgeSerializer(serializers.Serializer):
    data = _MemoryGraphEdgeDataSerializer()


class _MemoryGraphTableRowSerializer(serializers.Serializer):
    id = serializers.CharField()
    text = serializers.CharField()
    context = serializers.CharField()
    occurred_start = serializers.CharField(allow_null=True)
    occurred_end = serializers.CharField(allow_null=True)
    mentioned_at = serializers.CharField(allow_null=True)
    date = serializers.CharField(allow_null=True)
    entities = serializers.CharField()
    document_id = serializers.CharField(allow_null=True)
    chunk_id = serializers.CharField(allow_null=True)
    fact_type = serializers.CharField(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    created_at = serializers.CharField(allow_null=True)
    proof_count = serializers.IntegerField(allow_null=True)


class GraphDataResponseSerializer(serializers.Serializer):
    nodes = _MemoryGraphNodeSerializer(many=True)
    edges = _MemoryGraphEdgeSerializer(many=True)
    table_rows = _MemoryGraphTableRowSerializer(many=True)
    total_units = serializers.IntegerField()
    limit = serializers.IntegerField()


class _TagItemSerializer(serializers.Serializer):
    tag = serializers.CharField()
    count = serializers.IntegerField()


class ListTagsResponseSerializer(serializers.Serializer):
    items = _TagItemSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class BankStatsResponseSerializer(serializers.Serializer):
    bank_id = serializers.CharField()
    total_nodes = serializers.IntegerField()
    total_links = serializers.IntegerField()
    total_documents = serializers.IntegerField()
    nodes_by_fact_type = serializers.DictField(child=serializers.IntegerField())
    links_by_link_type = serializers.DictField(child=serializers.IntegerField())
    links_by_fact_type = serializers.DictField(child=serializers.IntegerField())
    links_breakdown = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
    pending_operations = serializers.IntegerField()
    failed_operations = serializers.IntegerField()
    operations_by_status = serializers.DictField(child=serializers.IntegerField())
    last_consolidated_at = serializers.CharField(allow_null=True)
    last_memory_write_at = serializers.CharField(allow_null=True)
    pending_consolidation = serializers.IntegerField()
    failed_consolidation = serializers.IntegerField()
    total_observations = serializers.IntegerField()


class _TimeseriesBucketSerializer(serializers.Serializer):
    time = serializers.CharField()
    world = serializers.IntegerField()
    experience = serializers.IntegerField()
    observation = serializers.IntegerField()


class MemoriesTimeseriesResponseSerializer(serializers.Serializer):
    bank_id = serializers.CharField()
    period = serializers.CharField()
    trunc = serializers.CharField()
    time_field = serializers.CharField()
    buckets = _TimeseriesBucketSerializer(many=True)


class _ExtractedFactSerializer(serializers.Serializer):
    text = serializers.CharField()
    fact_type = serializers.CharField()
    occurred_start = serializers.CharField(allow_null=True)
    occurred_end = serializers.CharField(allow_null=True)
    entities = serializers.ListField(child=serializers.CharField())
    chunk_index = serializers.IntegerField(allow_null=True)
    attachments = serializers.ListField(child=serializers.DictField())


class _ExtractionChunkSerializer(serializers.Serializer):
    text = serializers.CharField()
    fact_count = serializers.IntegerField()


class _TokenUsageSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField()
    thoughts_tokens = serializers.IntegerField()


class DryRunExtractionResultSerializer(serializers.Serializer):
    facts = _ExtractedFactSerializer(many=True)
    chunks = _ExtractionChunkSerializer(many=True)
    usage = _TokenUsageSerializer()
