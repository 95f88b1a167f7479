from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.utils.html import format_html

from banks import config_registry, selectors
from banks.models import COLUMN_BACKED_FIELDS, Bank


def _blank_to_none(value):
    return None if value == "" else value


class BankAdminForm(forms.ModelForm):
    """Validates the overrides with the configuration registry, the same check the config API runs."""

    class Meta:
        model = Bank
        fields = [
            "bank_id",
            "name",
            "mission",
            "disposition_skepticism",
            "disposition_literalism",
            "disposition_empathy",
            "config_overrides",
        ]

    def clean(self):
        cleaned = super().clean()
        overrides = cleaned.get("config_overrides") or {}
        if not isinstance(overrides, dict):
            self.add_error("config_overrides", "Must be a JSON object of field name to value.")
            return cleaned
        misplaced = sorted(set(overrides) & set(COLUMN_BACKED_FIELDS))
        if misplaced:
            self.add_error("config_overrides", f"Set {', '.join(misplaced)} with the fields above, not here.")
            return cleaned
        # A blank admin field means "no override" (the server default applies), not an empty value.
        combined = {
            **overrides,
            **{name: _blank_to_none(cleaned.get(column)) for name, column in COLUMN_BACKED_FIELDS.items()},
        }
        try:
            self.validated_overrides = {
                k: v for k, v in config_registry.validate_updates(combined).items() if v is not None
            }
        except config_registry.ConfigValidationError as exc:
            target = COLUMN_BACKED_FIELDS.get(exc.field, "config_overrides")
            self.add_error(target, f"{exc.field} {exc.message}")
        return cleaned


@admin.register(Bank)
class BankAdmin(admin.ModelAdmin):
    form = BankAdminForm
    list_display = ["bank_id", "name", "last_write_at", "created_at"]
    search_fields = ["bank_id", "name"]
    list_filter = ["created_at", "last_write_at"]
    readonly_fields = ["created_at", "updated_at", "last_write_at", "last_document_at", "resolved_configuration"]
    fieldsets = [
        (None, {"fields": ["bank_id", "name"]}),
        ("Reflect", {"fields": ["mission", "disposition_skepticism", "disposition_literalism", "disposition_empathy"]}),
        ("Configuration overrides", {"fields": ["config_overrides", "resolved_configuration"]}),
        ("Activity", {"fields": ["created_at", "updated_at", "last_write_at", "last_document_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        # Clients address a bank by its id; renaming it here would silently orphan their references.
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "bank_id"] if obj is not None else readonly

    def save_model(self, request, obj, form, change):
        obj.set_overrides(form.validated_overrides)
        super().save_model(request, obj, form, change)

    @admin.display(description="Resolved configuration (server defaults + overrides)")
    def resolved_configuration(self, obj: Bank) -> str:
        if obj.pk is None:
            return "-"
        return format_html("<pre>{}</pre>", json.dumps(selectors.resolved_config(obj), indent=2))
