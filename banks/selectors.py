"""Reads of banks, their profile and their resolved configuration."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from banks import config_registry
from banks.models import DISPOSITION_TRAITS, Bank
from hindsight_site.api import iso
from hindsight_site.errors import NotFound
from memories.models import MemoryUnit


def get_bank(*, bank_id: str) -> Bank:
    try:
        return Bank.objects.get(bank_id=bank_id)
    except Bank.DoesNotExist:
        raise NotFound(f"Bank '{bank_id}' not found") from None


def server_defaults() -> dict[str, Any]:
    return dict(settings.HINDSIGHT_CONFIG_DEFAULTS)


def resolved_config(bank: Bank) -> dict[str, Any]:
    """Server-wide defaults with this bank's overrides on top."""
    return config_registry.resolve(settings.HINDSIGHT_CONFIG_DEFAULTS, bank.get_overrides())


def config_payload(bank: Bank) -> dict[str, Any]:
    return {"bank_id": bank.bank_id, "config": resolved_config(bank), "overrides": bank.get_overrides()}


def disposition(bank: Bank) -> dict[str, int]:
    defaults = settings.HINDSIGHT_CONFIG_DEFAULTS
    return {
        trait: getattr(bank, f"disposition_{trait}") or defaults[f"disposition_{trait}"] for trait in DISPOSITION_TRAITS
    }


def mission(bank: Bank) -> str:
    return bank.mission if bank.mission is not None else (settings.HINDSIGHT_CONFIG_DEFAULTS["reflect_mission"] or "")


def profile_payload(bank: Bank) -> dict[str, Any]:
    """The contract's BankProfileResponse: ``name`` and ``mission`` are always strings, traits always ints."""
    return {
        "bank_id": bank.bank_id,
        "name": bank.name or "",
        "disposition": disposition(bank),
        "mission": mission(bank),
        "background": None,
    }


def list_banks(
    *, q: str | None, limit: int, offset: int, banks: QuerySet[Bank] | None = None
) -> tuple[list[dict[str, Any]], int]:
    """One page of banks, most recently written first, with their fact counts (one query for the page).

    ``banks`` limits the list to the caller's scope (``Bank.objects.for_key(api_key)``); None means every bank.
    """
    banks = Bank.objects.all() if banks is None else banks
    if q:
        banks = banks.filter(Q(bank_id__icontains=q) | Q(name__icontains=q))
    total = banks.count()
    fact_counts = (
        MemoryUnit.objects.filter(bank=OuterRef("pk"))
        .exclude(fact_type="observation")
        .order_by()
        .values("bank")
        .annotate(n=Count("pk"))
        .values("n")
    )
    page = banks.annotate(fact_count=Coalesce(Subquery(fact_counts, output_field=IntegerField()), Value(0))).order_by(
        F("last_write_at").desc(nulls_last=True), "-created_at", "bank_id"
    )[offset : offset + limit]
    items = [
        {
            "bank_id": bank.bank_id,
            "name": bank.name or "",
            "disposition": disposition(bank),
            "mission": mission(bank),
            "created_at": iso(bank.created_at),
            "updated_at": iso(bank.updated_at),
            "fact_count": bank.fact_count,
            "last_document_at": iso(bank.last_document_at),
            "last_write_at": iso(bank.last_write_at),
            "display_alias": None,
            "matched_aliases": [],
        }
        for bank in page
    ]
    return items, total
