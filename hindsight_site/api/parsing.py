"""Helpers for views: validate a body or a query string with a serializer, raising the contract's 422."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

# PostgreSQL's OFFSET is a bigint: every paging serializer caps ``offset`` here (far beyond any bank, far below the
# overflow that would otherwise be a 500).
MAX_OFFSET = 1_000_000_000


def _fail(errors: Any, location: str) -> None:
    exc = ValidationError(errors)
    exc.location = location
    raise exc


def parse_body(request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        _fail({"non_field_errors": ["The request body must be a JSON object."]}, "body")
    serializer = serializer_class(data=request.data)
    if not serializer.is_valid():
        _fail(serializer.errors, "body")
    return serializer.validated_data


def parse_query(request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    serializer = serializer_class(data=request.query_params.dict())
    if not serializer.is_valid():
        _fail(serializer.errors, "query")
    return serializer.validated_data
