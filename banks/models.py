from __future__ import annotations

from typing import Any

from django.contrib.postgres.indexes import GinIndex, OpClass
from django.db import models
from django.db.models.functions import Upper

# Configuration fields stored in their own columns (so the database enforces their range and the bank list can
# show them without unpacking JSON); every other override lives in ``Bank.config_overrides``.
COLUMN_BACKED_FIELDS = {
    "reflect_mission": "mission",
    "disposition_skepticism": "disposition_skepticism",
    "disposition_literalism": "disposition_literalism",
    "disposition_empathy": "disposition_empathy",
}
DISPOSITION_TRAITS = ("skepticism", "literalism", "empathy")


class BankQuerySet(models.QuerySet):
    def for_bank_id(self, bank_id: str) -> BankQuerySet:
        return self.filter(bank_id=bank_id)


class Bank(models.Model):
    """A memory bank: an isolated container of memories, named by the client's own id."""

    bank_id = models.CharField(max_length=255, unique=True, help_text="The id clients use in URLs.")
    name = models.CharField(max_length=255, blank=True, default="")
    # Column-backed configuration overrides; null means "use the server default".
    mission = models.TextField(null=True, blank=True, help_text="The reflect mission (config: reflect_mission).")
    disposition_skepticism = models.PositiveSmallIntegerField(null=True, blank=True)
    disposition_literalism = models.PositiveSmallIntegerField(null=True, blank=True)
    disposition_empathy = models.PositiveSmallIntegerField(null=True, blank=True)
    config_overrides = models.JSONField(
        default=dict,
        blank=True,
        help_text="This bank's other configuration overrides, keyed by registry field name.",
    )
    embedding_model = models.CharField(
        max_length=200, blank=True, default="", help_text="The model of every vector in this bank (never mixed)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_write_at = models.DateTimeField(null=True, blank=True)
    last_document_at = models.DateTimeField(null=True, blank=True)

    objects = BankQuerySet.as_manager()

    class Meta:
        ordering = ["bank_id"]
        indexes = [
            models.Index(models.F("last_write_at").desc(nulls_last=True), "created_at", name="bank_recent_idx"),
            GinIndex(OpClass(Upper("bank_id"), name="gin_trgm_ops"), name="bank_id_trgm_idx"),
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="bank_name_trgm_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~models.Q(bank_id=""), name="bank_id_not_empty"),
            *[
                models.CheckConstraint(
                    condition=models.Q(**{f"disposition_{trait}__isnull": True})
                    | models.Q(**{f"disposition_{trait}__range": (1, 5)}),
                    name=f"bank_disposition_{trait}_1_to_5",
                )
                for trait in DISPOSITION_TRAITS
            ],
        ]

    def __str__(self) -> str:
        return self.bank_id

    def get_absolute_url(self) -> str:
        """The bank's page in the control plane (the admin links to it as "View on site")."""
        from django.urls import reverse

        return reverse("control-bank-overview", kwargs={"bank_id": self.bank_id})

    def get_overrides(self) -> dict[str, Any]:
        """This bank's configuration overrides, keyed by registry field name."""
        overrides = dict(self.config_overrides or {})
        for field_name, column in COLUMN_BACKED_FIELDS.items():
            value = getattr(self, column)
            if value is not None:
                overrides[field_name] = value
        return overrides

    def set_overrides(self, overrides: dict[str, Any]) -> None:
        """Store validated overrides, splitting column-backed fields from the JSON ones. Does not save."""
        for field_name, column in COLUMN_BACKED_FIELDS.items():
            setattr(self, column, overrides.get(field_name))
        self.config_overrides = {k: v for k, v in overrides.items() if k not in COLUMN_BACKED_FIELDS}
