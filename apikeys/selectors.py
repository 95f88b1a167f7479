"""Reads of API keys: the list, authentication of a presented key, whether the API is open, payloads."""

from __future__ import annotations

import hmac
import ipaddress
import re
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from apikeys.models import ApiKey
from apikeys.services import KEY_PREFIX, PREFIX_LENGTH, hash_key
from hindsight_site.api import iso

# The shape of our keys (urlsafe base64 after the prefix); anything else is refused before any query, so no input
# (NUL bytes, megabytes of text) reaches the database.
KEY_SHAPE = re.compile(rf"{KEY_PREFIX}[A-Za-z0-9_-]{{{PREFIX_LENGTH - len(KEY_PREFIX)},200}}")


def list_api_keys() -> QuerySet[ApiKey]:
    """Every key, newest first, revoked ones included (they show when they were revoked)."""
    return ApiKey.objects.order_by("-created_at")


def find_key(raw: str | None) -> ApiKey | None:
    """The key (active or revoked) whose plaintext is ``raw``, or None.

    Candidates are found by the non-secret prefix, then the hashes are compared in constant time.
    """
    if not raw or not KEY_SHAPE.fullmatch(raw):
        return None
    presented = hash_key(raw)
    for candidate in ApiKey.objects.filter(prefix=raw[:PREFIX_LENGTH]):
        if hmac.compare_digest(candidate.key_hash, presented):
            return candidate
    return None


def authenticate_key(raw: str | None) -> ApiKey | None:
    """The active key whose plaintext is ``raw``, or None (unknown, malformed or revoked)."""
    api_key = find_key(raw)
    return api_key if api_key is not None and api_key.is_active else None


def active_key_count() -> int:
    return ApiKey.objects.active().count()


def keys_exist() -> bool:
    """Whether any active key exists: then every API request must carry one. Asked on every API request, so in plain
    SQL (the ORM spent longer building this query than PostgreSQL answering it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM apikeys_apikey WHERE revoked_at IS NULL)")
        return cursor.fetchone()[0]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a listen address) is reachable from this machine only."""
    host = (host or "").strip().strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_access_allowed() -> bool:
    """With no active key, whether the API may run open: on loopback, or when the operator said so explicitly."""
    return settings.HINDSIGHT_ALLOW_OPEN or is_loopback(settings.HINDSIGHT_HOST)


def api_key_payload(api_key: ApiKey) -> dict[str, Any]:
    """The key object of the admin routes; the plaintext and the hash are never part of it."""
    return {
        "id": str(api_key.pk),
        "name": api_key.name,
        "prefix": api_key.prefix,
        "banks": list(api_key.banks) if api_key.banks else None,
        "read_only": api_key.read_only,
        "created_at": iso(api_key.created_at),
        "last_used_at": iso(api_key.last_used_at),
        "revoked_at": iso(api_key.revoked_at),
    }
