"""Shapes of the key-management routes (our addition, under ``/v1/admin/``)."""

from __future__ import annotations

from rest_framework import serializers

from memories.api.data_serializers import StrictString


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: "false" or 0 are refused rather than guessed at (a read-only flag must be exact)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class CreateApiKeyRequestSerializer(serializers.Serializer):
    name = StrictString(max_length=200, help_text="What the key is for.")
    banks = serializers.ListField(
        child=StrictString(max_length=255, trim_whitespace=False),
        required=False,
        allow_null=True,
        default=None,
        help_text="Bank ids the key may reach; null or empty for every bank.",
    )
    read_only = StrictBooleanField(required=False, default=False, help_text="Reads only: writes answer 403.")


class ApiKeySerializer(serializers.Serializer):
    """A key as lists show it: never the key itself nor its hash."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The first characters of the key, to recognise it.")
    banks = serializers.ListField(child=serializers.CharField(), allow_null=True)
    read_only = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class CreatedApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The key itself: shown in this response only, never again.")


class ApiKeyListResponseSerializer(serializers.Serializer):
    items = ApiKeySerializer(many=True)


class RevokeApiKeyResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
