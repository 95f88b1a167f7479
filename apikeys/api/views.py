"""Key management over HTTP (our addition): list, create (the key is in the 201 response only), revoke.

These routes need a key limited to no bank and allowed to write, or a server running open (see
``apikeys.api.authentication``). The ``hindsight api-key`` CLI calls them.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apikeys import selectors, services
from apikeys.api.serializers import (
    ApiKeyListResponseSerializer,
    CreateApiKeyRequestSerializer,
    CreatedApiKeySerializer,
    RevokeApiKeyResponseSerializer,
)
from hindsight_site.api.parsing import parse_body


class ApiKeyListView(APIView):
    @extend_schema(operation_id="list_api_keys", responses={200: ApiKeyListResponseSerializer})
    def get(self, request):
        return Response({"items": [selectors.api_key_payload(key) for key in selectors.list_api_keys()]})

    @extend_schema(
        operation_id="create_api_key",
        request=CreateApiKeyRequestSerializer,
        responses={201: CreatedApiKeySerializer},
    )
    def post(self, request):
        data = parse_body(request, CreateApiKeyRequestSerializer)
        api_key, raw = services.create_api_key(name=data["name"], banks=data["banks"], read_only=data["read_only"])
        return Response({**selectors.api_key_payload(api_key), "key": raw}, status=201)


class ApiKeyDetailView(APIView):
    @extend_schema(operation_id="revoke_api_key", responses={200: RevokeApiKeyResponseSerializer})
    def delete(self, request, key_id: str):
        services.revoke_api_key(key_id=key_id)
        return Response({"success": True})
