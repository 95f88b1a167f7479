"""Personas for the key tests: API clients holding a key of a given scope, and the open (keyless) client."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apikeys import services


def client_with(raw: str | None, *, bearer: bool = True) -> APIClient:
    api = APIClient()
    if raw is not None:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}" if bearer else raw)
    return api


@pytest.fixture
def make_key(db):
    """``make_key(banks=None, read_only=False) -> (ApiKey, plaintext)``."""

    def make(*, name: str = "test key", banks: list[str] | None = None, read_only: bool = False):
        return services.create_api_key(name=name, banks=banks, read_only=read_only)

    return make


@pytest.fixture
def key_client(make_key):
    """``key_client(banks=None, read_only=False) -> APIClient`` sending a fresh key with that scope."""

    def make(**scope) -> APIClient:
        _, raw = make_key(**scope)
        return client_with(raw)

    return make
