"""API keys: the credential a client sends as ``Authorization: Bearer <key>``.

Only a SHA-256 of each key is stored (keys are 256-bit random strings, so a fast hash is safe: there is nothing to
brute-force); the plaintext is shown once, when the key is created. The ``prefix`` (the first characters of the key)
is not secret and identifies a key in lists and logs.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models


class ApiKeyQuerySet(models.QuerySet):
    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A client's API key (hash only), optionally limited to some banks and to reads; revocable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200, help_text="What the key is for (who or what uses it).")
    prefix = models.CharField(
        max_length=16, db_index=True, editable=False, help_text="The first characters of the key, to recognise it."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    banks = ArrayField(
        models.CharField(max_length=255),
        null=True,
        blank=True,
        help_text="The bank ids this key may reach; empty means every bank.",
    )
    read_only = models.BooleanField(default=False, help_text="Reads only: writes answer 403.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def is_scoped(self) -> bool:
        """Limited to a list of banks (an unscoped key reaches every bank)."""
        return bool(self.banks)

    def allows_bank(self, bank_id: str) -> bool:
        return not self.banks or bank_id in self.banks
