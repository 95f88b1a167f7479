"""The form that creates a key, shared by the control-plane page and the Django admin (one validation path)."""

from __future__ import annotations

import re

from django import forms

from apikeys import services
from apikeys.models import ApiKey
from hindsight_site.errors import BadRequest


def split_bank_ids(text: str) -> list[str]:
    """Bank ids typed one per line or separated by commas; blank entries dropped."""
    return [part.strip() for part in re.split(r"[\n,]", text or "") if part.strip()]


class ApiKeyCreateForm(forms.ModelForm):
    """Name, banks (one per line, empty for every bank) and the read-only flag; validated by the service's rules."""

    bank_ids = forms.CharField(
        label="Banks",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "one bank id per line"}),
        help_text="The banks this key may reach, one per line (or comma-separated). Leave empty for every bank.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "bank_ids", "read_only"]

    def clean_name(self) -> str:
        try:
            return services.clean_name(self.cleaned_data.get("name"))
        except BadRequest as exc:
            raise forms.ValidationError(exc.detail) from None

    def clean_bank_ids(self) -> list[str] | None:
        try:
            return services.clean_banks(split_bank_ids(self.cleaned_data.get("bank_ids", "")))
        except BadRequest as exc:
            raise forms.ValidationError(exc.detail) from None

    def create(self) -> tuple[ApiKey, str]:
        """Create the key through the service; returns the row and the plaintext (to show once)."""
        return services.create_api_key(
            name=self.cleaned_data["name"],
            banks=self.cleaned_data["bank_ids"],
            read_only=self.cleaned_data["read_only"],
        )
