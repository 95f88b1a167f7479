"""Reads of banks, their profile and their resolved configuration."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from banks import config_registry
from banks.models import DISPOSITION_TRAITS, Bank
from directives.models import Directive, MentalModel
from hindsight_site.api import iso
from hindsight_site.errors import NotFound
from memories.models import Document, Entity, MemoryUnit, Operation
from memories.selectors import unit_counts_by_type


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


def _count_subquery(queryset: QuerySet) -> Coalesce:
    """A correlated ``COUNT(*)`` of ``queryset`` rows belonging to the outer bank, 0 when none."""
    counted = queryset.filter(bank=OuterRef("pk")).order_by().values("bank").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def bank_summaries(*, q: str | None = None, limit: int = 50, offset: int = 0) -> tuple[list[Bank], int]:
    """The control plane's bank list: one page of banks with their counts, and the number of matching banks.

    Each bank carries ``world_count``, ``experience_count``, ``observation_count``, ``document_count``,
    ``entity_count``, ``pending_operation_count`` and ``last_activity_at`` (the latest of its last write and its
    latest operation). Two queries whatever the page size: the count and the page with correlated subqueries.
    """
    banks: QuerySet[Bank] = Bank.objects.all()
    if q:
        banks = banks.filter(Q(bank_id__icontains=q) | Q(name__icontains=q))
    total = banks.count()
    valid_units = MemoryUnit.objects.filter(state="valid")
    latest_operation = Operation.objects.filter(bank=OuterRef("pk")).order_by("-updated_at").values("updated_at")[:1]
    page = banks.annotate(
        world_count=_count_subquery(valid_units.filter(fact_type="world")),
        experience_count=_count_subquery(valid_units.filter(fact_type="experience")),
        observation_count=_count_subquery(valid_units.filter(fact_type="observation")),
        document_count=_count_subquery(Document.objects.all()),
        entity_count=_count_subquery(Entity.objects.all()),
        pending_operation_count=_count_subquery(Operation.objects.filter(status__in=["pending", "processing"])),
        last_operation_at=Subquery(latest_operation),
    ).order_by(F("last_write_at").desc(nulls_last=True), "-created_at", "bank_id")[offset : offset + limit]
    items = list(page)
    for bank in items:
        moments = [m for m in (bank.last_write_at, bank.last_operation_at, bank.updated_at) if m is not None]
        bank.last_activity_at = max(moments) if moments else bank.created_at
    return items, total


def bank_deletion_summary(*, bank: Bank) -> dict[str, int]:
    """What deleting ``bank`` takes with it, as counts a person can read before confirming."""
    units = unit_counts_by_type(bank=bank)
    return {
        "world": units.get("world", 0),
        "experience": units.get("experience", 0),
        "observation": units.get("observation", 0),
        "documents": Document.objects.filter(bank=bank).count(),
        "entities": Entity.objects.filter(bank=bank).count(),
        "directives": Directive.objects.filter(bank=bank).count(),
        "mental_models": MentalModel.objects.filter(bank=bank).count(),
        "operations": Operation.objects.filter(bank=bank).count(),
    }


def recent_operations(*, bank: Bank, limit: int) -> list[Operation]:
    """The bank's latest top-level operations, newest first (a batch's sub-operations are summed in their parent)."""
    top_level = Operation.objects.filter(bank=bank, parent__isnull=True).order_by("-created_at", "-id")
    return list(top_level[:limit])
