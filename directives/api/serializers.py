"""Request and response shapes of the reflect, directive and mental-model routes, named as in the contract."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from hindsight_site.api.parsing import MAX_OFFSET
from memories.tags import TAGS_MATCH_MODES

BUDGET_CHOICES = ("low", "mid", "high")
FACT_TYPE_CHOICES = ("world", "experience", "observation")


class TagsField(serializers.ListField):
    child = serializers.CharField(max_length=255, allow_blank=False)


# --- directives -----------------------------------------------------------------------------------------------------


class CreateDirectiveRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=256)
    content = serializers.CharField(trim_whitespace=False)
    priority = serializers.IntegerField(required=False, default=0, min_value=-(2**31), max_value=2**31 - 1)
    is_active = serializers.BooleanField(required=False, default=True)
    tags = TagsField(required=False, default=list, allow_null=True)

    def validate_content(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value


class UpdateDirectiveRequestSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_null=True, max_length=256)
    content = serializers.CharField(required=False, allow_null=True, trim_whitespace=False)
    priority = serializers.IntegerField(required=False, allow_null=True, min_value=-(2**31), max_value=2**31 - 1)
    is_active = serializers.BooleanField(required=False, allow_null=True)
    tags = TagsField(required=False, allow_null=True)

    def validate_content(self, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value


class DirectiveListQuerySerializer(serializers.Serializer):
    tags_match = serializers.ChoiceField(choices=("any", "all", "exact"), required=False, default="any")
    active_only = serializers.BooleanField(required=False, default=True)
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000)
    offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_OFFSET)


class DirectiveResponseSerializer(serializers.Serializer):
    id = serializers.CharField()
    bank_id = serializers.CharField()
    name = serializers.CharField()
    content = serializers.CharField()
    priority = serializers.IntegerField()
    is_active = serializers.BooleanField()
    tags = serializers.ListField(child=serializers.CharField())
    created_at = serializers.CharField(allow_null=True)
    updated_at = serializers.CharField(allow_null=True)


class DirectiveListResponseSerializer(serializers.Serializer):
    items = DirectiveResponseSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


# --- mental models --------------------------------------------------------------------------------------------------

TRIGGER_KEYS = {
    "budget": (str, type(None)),
    "mode": (str,),
    "refresh_after_consolidation": (bool,),
    "refresh_cron": (str, type(None)),
    "full_refresh_cron": (str, type(None)),
    "min_refresh_interval_seconds": (int, type(None)),
    "fact_types": (list, type(None)),
    "exclude_mental_models": (bool,),
    "exclude_mental_model_ids": (list, type(None)),
    "tags_match": (str, type(None)),
    "tag_groups": (list, type(None)),
    "include_chunks": (bool, type(None)),
    "recall_max_tokens": (int, type(None)),
    "recall_chunks_max_tokens": (int, type(None)),
    "reflect_search_observations_max_tokens": (int, type(None)),
    "reflect_search_observations_include_entities": (bool, type(None)),
    "response_schema": (dict, type(None)),
    "keep_trace": (bool,),
}


class TriggerField(serializers.JSONField):
    """MentalModelTrigger-Input: known keys only, each of its contract type; delta mode is not implemented."""

    def to_internal_value(self, data: Any) -> dict:
        data = super().to_internal_value(data)
        if data is None:
            return None
        if not isinstance(data, dict):
            raise ValidationError("must be an object")
        problems = []
        for key, value in data.items():
            types = TRIGGER_KEYS.get(key)
            if types is None:
                problems.append(f"unknown trigger field {key!r}")
            elif not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                problems.append(f"{key} has the wrong type")
        if data.get("budget") not in (None, *BUDGET_CHOICES):
            problems.append("budget must be low, mid or high")
        if data.get("mode", "full") not in ("full", "delta"):
            problems.append("mode must be full or delta")
        if data.get("tags_match") not in (None, *TAGS_MATCH_MODES):
            problems.append(f"tags_match must be one of {', '.join(TAGS_MATCH_MODES)}")
        if any(t not in FACT_TYPE_CHOICES for t in data.get("fact_types") or []):
            problems.append("fact_types must name world, experience or observation")
        if data.get("response_schema") is not None:
            problems.extend(schema_problems(data["response_schema"]))
        if data.get("tag_groups"):
            from memories.tags import TagFilterError, tag_groups_filter

            try:
                tag_groups_filter(data["tag_groups"])
            except TagFilterError as exc:
                problems.append(f"tag_groups: {exc}")
        if problems:
            raise ValidationError(problems)
        return data


class CreateMentalModelRequestSerializer(serializers.Serializer):
    id = serializers.RegexField(
        r"^[a-z0-9][a-z0-9_-]{0,127}$",
        required=False,
        allow_null=True,
        error_messages={"invalid": "must be lowercase letters, digits, '-' or '_' (at most 128 characters)"},
    )
    name = serializers.CharField(max_length=256)
    source_query = serializers.CharField()
    tags = TagsField(required=False, default=list, allow_null=True)
    max_tokens = serializers.IntegerField(required=False, default=2048, min_value=256, max_value=8192, allow_null=True)
    trigger = TriggerField(required=False, allow_null=True, default=dict)


class UpdateMentalModelRequestSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_null=True, max_length=256)
    source_query = serializers.CharField(required=False, allow_null=True)
    max_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=256, max_value=8192)
    tags = TagsField(required=False, allow_null=True)
    trigger = TriggerField(required=False, allow_null=True)


class RefreshMentalModelRequestSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=("full",), required=False, allow_null=True)


class MentalModelListQuerySerializer(serializers.Serializer):
    tags_match = serializers.ChoiceField(choices=("any", "all", "exact"), required=False, default="any")
    detail = serializers.ChoiceField(choices=("metadata", "content", "full"), required=False, default="metadata")
    limit = serializers.IntegerField(required=False, default=100, min_value=1, max_value=1000)
    offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_OFFSET)
    exclude_knowledge_pages = serializers.BooleanField(required=False, default=False)


class MentalModelDetailQuerySerializer(serializers.Serializer):
    detail = serializers.ChoiceField(choices=("metadata", "content", "full"), required=False, default="full")


class MentalModelResponseSerializer(serializers.Serializer):
    id = serializers.CharField()
    bank_id = serializers.CharField()
    name = serializers.CharField()
    source_query = serializers.CharField(allow_null=True)
    content = serializers.CharField(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    max_tokens = serializers.IntegerField(allow_null=True)
    trigger = serializers.DictField(allow_null=True)
    last_refreshed_at = serializers.CharField(allow_null=True)
    last_memory_seen_at = serializers.CharField(allow_null=True)
    last_refresh_failed_at = serializers.CharField(allow_null=True)
    last_full_refreshed_at = serializers.CharField(allow_null=True)
    created_at = serializers.CharField(allow_null=True)
    is_knowledge_page = serializers.BooleanField(allow_null=True)
    reflect_response = serializers.DictField(allow_null=True)
    is_stale = serializers.BooleanField(allow_null=True)


class MentalModelListResponseSerializer(serializers.Serializer):
    items = MentalModelResponseSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class CreateMentalModelResponseSerializer(serializers.Serializer):
    mental_model_id = serializers.CharField(allow_null=True)
    operation_id = serializers.CharField()


class AsyncOperationSubmitResponseSerializer(serializers.Serializer):
    operation_id = serializers.CharField()
    status = serializers.CharField()


# --- reflect --------------------------------------------------------------------------------------------------------


def schema_problems(schema: Any) -> list[str]:
    """Why ``schema`` is not a usable JSON schema for structured output (empty when it is)."""
    import jsonschema

    if not isinstance(schema, dict):
        return ["response_schema must be a JSON schema object"]
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [f"response_schema is not a valid JSON schema: {exc.message}"]
    return []


class ToolCallsIncludeSerializer(serializers.Serializer):
    output = serializers.BooleanField(required=False, default=True)


class ReflectIncludeSerializer(serializers.Serializer):
    facts = serializers.DictField(required=False, allow_null=True, default=None)
    tool_calls = ToolCallsIncludeSerializer(required=False, allow_null=True, default=None)


class ReflectRequestSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=20_000)
    budget = serializers.ChoiceField(choices=BUDGET_CHOICES, required=False, allow_null=True, default="low")
    context = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=20_000)
    max_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=100_000)
    include = ReflectIncludeSerializer(required=False, allow_null=True)
    response_schema = serializers.JSONField(required=False, allow_null=True)
    tags = TagsField(required=False, allow_null=True)
    tags_match = serializers.ChoiceField(choices=TAGS_MATCH_MODES, required=False, allow_null=True, default="any")
    tag_groups = serializers.ListField(child=serializers.JSONField(), required=False, allow_null=True)
    apply_all_directives = serializers.BooleanField(required=False, allow_null=True, default=False)
    fact_types = serializers.ListField(
        child=serializers.ChoiceField(choices=FACT_TYPE_CHOICES), required=False, allow_null=True
    )
    exclude_mental_models = serializers.BooleanField(required=False, allow_null=True, default=False)
    exclude_mental_model_ids = serializers.ListField(
        child=serializers.CharField(max_length=128), required=False, allow_null=True
    )
    reflect_search_observations_max_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    reflect_search_observations_include_entities = serializers.BooleanField(required=False, allow_null=True)

    def validate_response_schema(self, value: Any) -> Any:
        if value is not None:
            problems = schema_problems(value)
            if problems:
                raise serializers.ValidationError(problems)
        return value

    def validate_tag_groups(self, value: Any) -> Any:
        from memories.tags import TagFilterError, tag_groups_filter

        if value:
            try:
                tag_groups_filter(value)
            except TagFilterError as exc:
                raise serializers.ValidationError(str(exc)) from None
        return value


def to_reflect_request(data: dict[str, Any]):
    """The validated body of a ReflectRequest as ``directives.reflect.ReflectRequest``."""
    from directives.reflect import ReflectRequest

    include = data.get("include") or {}
    tool_calls = include.get("tool_calls")
    return ReflectRequest(
        query=data["query"].strip(),
        budget=data.get("budget") or "low",
        context=data.get("context") or None,
        max_tokens=data.get("max_tokens") or 4096,
        include_facts=include.get("facts") is not None,
        include_tool_calls=tool_calls is not None,
        include_tool_output=bool((tool_calls or {}).get("output", True)),
        response_schema=data.get("response_schema"),
        tags=list(dict.fromkeys(data.get("tags") or [])) or None,
        tags_match=data.get("tags_match") or "any",
        tag_groups=data.get("tag_groups") or None,
        apply_all_directives=bool(data.get("apply_all_directives")),
        fact_types=list(dict.fromkeys(data.get("fact_types") or [])) or None,
        exclude_mental_models=bool(data.get("exclude_mental_models")),
        exclude_mental_model_ids=list(data.get("exclude_mental_model_ids") or []),
        observations_max_tokens=data.get("reflect_search_observations_max_tokens"),
        observations_include_entities=data.get("reflect_search_observations_include_entities"),
    )


class ReflectFactSerializer(serializers.Serializer):
    id = serializers.CharField(allow_null=True)
    text = serializers.CharField()
    type = serializers.CharField(allow_null=True)
    context = serializers.CharField(allow_null=True)
    occurred_start = serializers.CharField(allow_null=True)
    occurred_end = serializers.CharField(allow_null=True)
    mentioned_at = serializers.CharField(allow_null=True)
    document_id = serializers.CharField(allow_null=True)
    chunk_id = serializers.CharField(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(), allow_null=True)
    metadata = serializers.DictField(child=serializers.CharField(), allow_null=True)


class ReflectMentalModelSerializer(serializers.Serializer):
    id = serializers.CharField()
    text = serializers.CharField()
    context = serializers.CharField(allow_null=True)


class ReflectDirectiveSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    content = serializers.CharField()


class ReflectBasedOnSerializer(serializers.Serializer):
    memories = ReflectFactSerializer(many=True)
    mental_models = ReflectMentalModelSerializer(many=True)
    directives = ReflectDirectiveSerializer(many=True)


class TokenUsageSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cached_tokens = serializers.IntegerField()
    thoughts_tokens = serializers.IntegerField()


class ReflectToolCallSerializer(serializers.Serializer):
    tool = serializers.CharField()
    input = serializers.DictField()
    output = serializers.DictField(allow_null=True)
    duration_ms = serializers.IntegerField()
    iteration = serializers.IntegerField()


class ReflectLLMCallSerializer(serializers.Serializer):
    scope = serializers.CharField()
    duration_ms = serializers.IntegerField()


class ReflectTraceSerializer(serializers.Serializer):
    tool_calls = ReflectToolCallSerializer(many=True)
    llm_calls = ReflectLLMCallSerializer(many=True)


class ReflectResponseSerializer(serializers.Serializer):
    text = serializers.CharField()
    based_on = ReflectBasedOnSerializer(allow_null=True)
    structured_output = serializers.DictField(allow_null=True)
    structured_output_error = serializers.CharField(allow_null=True, required=False)
    usage = TokenUsageSerializer(allow_null=True)
    trace = ReflectTraceSerializer(allow_null=True)


class PromptPreviewRequestSerializer(serializers.Serializer):
    operation = serializers.ChoiceField(
        choices=("retain", "consolidation", "reflect"), required=False, default="retain"
    )
    strategy = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class MentalModelHistoryEntrySerializer(serializers.Serializer):
    """One earlier version of a mental model (``GET …/mental-models/{id}/history`` answers a list, newest first)."""

    previous_content = serializers.CharField(allow_null=True, allow_blank=True)
    source_query = serializers.CharField(allow_null=True, allow_blank=True)
    changed_at = serializers.CharField(allow_null=True)


# --- prompt preview (the wire shape of POST …/prompts/preview, as the contract's PromptPreviewResponse) ---


class PromptBlockModelSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True)
    source = serializers.ChoiceField(choices=["config", "builtin"])
    field = serializers.CharField(required=False, allow_blank=True)
    section = serializers.CharField(required=False, allow_blank=True)
    heading = serializers.CharField(required=False, allow_blank=True)
    active = serializers.BooleanField(required=False)
    value = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    kind = serializers.ChoiceField(choices=["text", "boolean", "choice", "complex"])
    choices = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False, allow_null=True)
    editable = serializers.BooleanField(required=False)


class PromptMessageModelSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user"])
    blocks = PromptBlockModelSerializer(many=True, required=False)


class RunSettingModelSerializer(serializers.Serializer):
    field = serializers.CharField(allow_blank=True)
    value = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    kind = serializers.ChoiceField(choices=["text", "boolean", "choice", "complex"])
    editable = serializers.BooleanField(required=False)


class PromptPreviewResponseSerializer(serializers.Serializer):
    messages = PromptMessageModelSerializer(many=True, required=False)
    strategy = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    strategies = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    run_settings = RunSettingModelSerializer(many=True, required=False)
    response_schema = serializers.DictField(required=False, allow_null=True)
    skipped_reason = serializers.CharField(required=False, allow_null=True, allow_blank=True)
