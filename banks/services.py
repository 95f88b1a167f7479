"""Writes to banks and their configuration. Every function validates everything before it writes anything."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.db import transaction

from banks import config_registry
from banks.models import DISPOSITION_TRAITS, Bank
from hindsight_site.errors import BadRequest

MAX_BANK_ID_LENGTH = 255


def validate_bank_id(bank_id: str) -> str:
    """Bank ids are the client's own strings: 1-255 characters, no '/', no control characters."""
    if not isinstance(bank_id, str) or not bank_id.strip():
        raise BadRequest("bank_id must be a non-empty string")
    if len(bank_id) > MAX_BANK_ID_LENGTH:
        raise BadRequest(f"bank_id must be at most {MAX_BANK_ID_LENGTH} characters, not {len(bank_id)}")
    if "/" in bank_id:
        raise BadRequest("bank_id must not contain '/'")
    if any(unicodedata.category(ch) == "Cc" for ch in bank_id):
        raise BadRequest("bank_id must not contain control characters")
    return bank_id


def get_or_create_bank(*, bank_id: str) -> Bank:
    """The bank with this id, created with default settings if it does not exist (banks are created on first use)."""
    validate_bank_id(bank_id)
    bank, _ = Bank.objects.get_or_create(bank_id=bank_id)
    return bank


def _disposition_updates(disposition: dict[str, Any] | None) -> dict[str, Any]:
    if disposition is None:
        return {}
    return {f"disposition_{trait}": disposition[trait] for trait in DISPOSITION_TRAITS if trait in disposition}


@transaction.atomic
def create_or_update_bank(
    *,
    bank_id: str,
    name: str | None = None,
    mission: str | None = None,
    disposition: dict[str, int] | None = None,
    config_updates: dict[str, Any] | None = None,
) -> Bank:
    """Create the bank if needed and apply the profile and configuration fields that were given.

    ``mission`` is the reflect mission and ``disposition`` the three traits; both are stored as the bank's
    configuration overrides (``reflect_mission``, ``disposition_*``), so the config API and the profile agree.
    Runs in one transaction: an invalid value leaves the bank exactly as it was (or not created at all).
    """
    updates = dict(config_updates or {})
    updates.update(_disposition_updates(disposition))
    if mission is not None:
        updates["reflect_mission"] = mission
    cleaned = config_registry.validate_updates(updates)
    if name is not None and len(name) > 255:
        raise BadRequest("name must be at most 255 characters")
    bank = get_or_create_bank(bank_id=bank_id)
    bank = Bank.objects.select_for_update().get(pk=bank.pk)
    if name is not None:
        bank.name = name
    _apply_overrides(bank, cleaned)
    bank.save()
    return bank


def _apply_overrides(bank: Bank, cleaned: dict[str, Any]) -> None:
    overrides = bank.get_overrides()
    for field_name, value in cleaned.items():
        if value is None:
            overrides.pop(field_name, None)
        else:
            overrides[field_name] = value
    bank.set_overrides(overrides)


@transaction.atomic
def update_bank_config(*, bank: Bank, updates: dict[str, Any]) -> Bank:
    """Merge ``updates`` into the bank's overrides; a ``None`` value removes that override.

    Keys may be registry names (``retain_chunk_size``) or environment names (``HINDSIGHT_API_RETAIN_CHUNK_SIZE``).
    Every key and value is validated first; one bad entry rejects the whole update and nothing is stored.
    Locks the bank row so concurrent updates do not lose each other's keys.
    """
    cleaned = config_registry.validate_updates(updates)
    locked = Bank.objects.select_for_update().get(pk=bank.pk)
    _apply_overrides(locked, cleaned)
    locked.save()
    return locked


@transaction.atomic
def reset_bank_config(*, bank: Bank, fields: list[str] | None = None) -> Bank:
    """Remove the bank's overrides (all of them, or only ``fields``) so the server defaults apply again."""
    locked = Bank.objects.select_for_update().get(pk=bank.pk)
    if fields is None:
        locked.set_overrides({})
    else:
        names = {config_registry.normalize_key(name) for name in fields}
        locked.set_overrides({k: v for k, v in locked.get_overrides().items() if k not in names})
    locked.save()
    return locked


def delete_bank(*, bank: Bank) -> int:
    """Delete the bank and everything in it; return how many memory units went with it.

    One ``DELETE``: the database cascades to documents, chunks, units, entities, links, directives, mental models
    and operations in the same statement, so a crash cannot leave half a bank behind.
    """
    with transaction.atomic():
        unit_count = bank.memory_units.count()
        Bank.objects.filter(pk=bank.pk).delete()
    return unit_count
