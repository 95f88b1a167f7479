"""Request and response shapes of the consolidation and observation routes, mirroring the contract's schemas."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from hindsight_site.api.parsing import MAX_OFFSET

MAX_REQUEST_SCOPES = 100
MAX_SCOPE_TAGS = 50


class _TagField(serializers.CharField):
    """A tag is a string: numbers are refused, not quietly turned into tags."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ConsolidationRequestSerializer(serializers.Serializer):
    observation_scopes = serializers.ListField(
        child=serializers.ListField(child=_TagField(max_length=255, allow_blank=False)),
        allow_null=True,
        required=False,
        max_length=MAX_REQUEST_SCOPES,
    )

    def validate_observation_scopes(self, value):
        if value is None:
            return None
        for index, scope in enumerate(value):
            if len(scope) > MAX_SCOPE_TAGS:
                raise ValidationError({index: [f"a scope holds at most {MAX_SCOPE_TAGS} tags"]})
        return [sorted(set(scope)) for scope in value]


def parse_consolidation_request(data: Any) -> list[list[str]] | None:
    """The optional body: absent, ``null``, ``{}`` or ``{"observation_scopes": [[tag, …], …] | null}``."""
    if data is None or (hasattr(data, "__len__") and len(data) == 0):
        return None
    if not isinstance(data, dict):
        exc = ValidationError({"non_field_errors": ["The request body must be a JSON object or null."]})
        exc.location = "body"
        raise exc
    serializer = ConsolidationRequestSerializer(data=data)
    if not serializer.is_valid():
        exc = ValidationError(serializer.errors)
        exc.location = "body"
        raise exc
    return serializer.validated_data.get("observation_scopes")


class ConsolidationResponseSerializer(serializers.Serializer):
    operation_id = serializers.CharField()
    deduplicated = serializers.BooleanField(default=False)


class ObservationScopesQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=0, max_value=1000, default=100)
    offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_OFFSET)


class ObservationScopeSerializer(serializers.Serializer):
    tags = serializers.ListField(child=serializers.CharField())
    count = serializers.IntegerField()


class ObservationScopesResponseSerializer(serializers.Serializer):
    scopes = ObservationScopeSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class RecoverConsolidationResponseSerializer(serializers.Serializer):
    retried_count = serializers.IntegerField()


class ClearMemoryObservationsResponseSerializer(serializers.Serializer):
    deleted_count = serializers.IntegerField()


class ObservationHistorySourceFactSerializer(serializers.Serializer):
    id = serializers.CharField()
    text = serializers.CharField(allow_null=True)
    type = serializers.CharField(allow_null=True)
    occurred_start = serializers.CharField(allow_null=True)
    mentioned_at = serializers.CharField(allow_null=True)
    state = serializers.CharField()


class ObservationHistoryEntrySerializer(serializers.Serializer):
    """One change (the contract leaves the shape open: ``200 object``)."""

    changed_at = serializers.CharField()
    action = serializers.ChoiceField(choices=["created", "updated", "merged"])
    text = serializers.CharField()
    previous_text = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    source_facts = ObservationHistorySourceFactSerializer(many=True)
    operation_id = serializers.CharField(allow_null=True)
