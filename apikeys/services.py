"""Writes of API keys: create (the plaintext is returned once, only its hash is kept), revoke, record use."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apikeys.models import ApiKey
from banks.services import validate_bank_id
from hindsight_site.errors import BadRequest, NotFound

KEY_PREFIX = "hsk_"
# Random bytes per key (256 bits): a fast hash is then as safe as a slow one, and lookups stay cheap.
KEY_BYTES = 32
# The shown prefix: "hsk_" and 8 random characters (48 bits), enough to tell keys apart, far too little to guess.
PREFIX_LENGTH = len(KEY_PREFIX) + 8
MAX_NAME_LENGTH = 200
# ``last_used_at`` is written at most this often per key, so authentication costs no write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def hash_key(raw: str) -> str:
    """SHA-256 of the key, hex: what is stored and compared."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def clean_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("name must be a non-empty string")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise BadRequest(f"name must be at most {MAX_NAME_LENGTH} characters, not {len(name)}")
    return name


def clean_banks(banks: object) -> list[str] | None:
    """A list of valid bank ids without duplicates (order kept), or None for every bank (None or an empty list)."""
    if banks is None:
        return None
    if not isinstance(banks, (list, tuple)):
        raise BadRequest("banks must be a list of bank ids, or null for every bank")
    cleaned: list[str] = []
    for bank_id in banks:
        try:
            validate_bank_id(bank_id)
        except BadRequest as exc:
            raise BadRequest(f"banks: {exc.detail}") from None
        if bank_id not in cleaned:
            cleaned.append(bank_id)
    return cleaned or None


def create_api_key(*, name: str, banks: list[str] | None = None, read_only: bool = False) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext key, which is never stored and cannot be shown again.

    ``banks`` limits the key to those bank ids (they need not exist yet); None or an empty list means every bank.
    """
    if not isinstance(read_only, bool):
        raise BadRequest("read_only must be true or false")
    name = clean_name(name)
    bank_ids = clean_banks(banks)
    raw = generate_key()
    api_key = ApiKey.objects.create(
        name=name, prefix=raw[:PREFIX_LENGTH], key_hash=hash_key(raw), banks=bank_ids, read_only=read_only
    )
    return api_key, raw


def _get(key_id: object) -> ApiKey:
    try:
        pk = uuid.UUID(str(key_id))
    except ValueError:
        raise NotFound(f"API key '{key_id}' not found") from None
    try:
        return ApiKey.objects.select_for_update().get(pk=pk)
    except ApiKey.DoesNotExist:
        raise NotFound(f"API key '{key_id}' not found") from None


@transaction.atomic
def revoke_api_key(*, key_id: str | uuid.UUID) -> ApiKey:
    """Revoke a key: every later request with it is refused (401). Revoking a revoked key changes nothing."""
    api_key = _get(key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def record_key_use(*, api_key: ApiKey) -> None:
    """Note that the key was just used; writes at most once per ``LAST_USED_RESOLUTION`` per key."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
