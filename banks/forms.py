"""Forms of the control plane's bank pages. They parse what a person typed; the services validate and write."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms

from banks import config_registry
from banks.models import DISPOSITION_TRAITS, Bank
from banks.services import validate_bank_id
from hindsight_site.errors import BadRequest

TRAIT_CHOICES = [(str(n), str(n)) for n in range(1, 6)]
TRAIT_HELP = {
    "skepticism": "1 trusting · 3 balanced · 5 questions and doubts claims",
    "literalism": "1 reads between the lines · 3 balanced · 5 exactly as stated",
    "empathy": "1 detached · 3 balanced · 5 weighs emotional context",
}


class BankCreateForm(forms.Form):
    bank_id = forms.CharField(
        label="Bank id",
        max_length=255,
        help_text="The id agents use in API paths, e.g. support-assistant. No '/'. It cannot be changed later.",
    )
    name = forms.CharField(label="Name", max_length=255, required=False, help_text="A readable name (optional).")
    mission = forms.CharField(
        label="Mission",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Who answers in reflect and how it should reason, in the first person (optional).",
    )
    skepticism = forms.TypedChoiceField(
        choices=TRAIT_CHOICES, coerce=int, initial="3", help_text=TRAIT_HELP["skepticism"]
    )
    literalism = forms.TypedChoiceField(
        choices=TRAIT_CHOICES, coerce=int, initial="3", help_text=TRAIT_HELP["literalism"]
    )
    empathy = forms.TypedChoiceField(choices=TRAIT_CHOICES, coerce=int, help_text=TRAIT_HELP["empathy"])

    def clean_bank_id(self) -> str:
        bank_id = self.cleaned_data["bank_id"].strip()
        try:
            validate_bank_id(bank_id)
        except BadRequest as exc:
            raise forms.ValidationError(exc.detail) from None
        if Bank.objects.filter(bank_id=bank_id).exists():
            raise forms.ValidationError(f"A bank with the id '{bank_id}' already exists.")
        return bank_id

    def disposition(self) -> dict[str, int]:
        return {trait: self.cleaned_data[trait] for trait in DISPOSITION_TRAITS}


# --- the Configuration tab ----------------------------------------------------------------------------------------
#
# One input per registry field, named after the field. What a person typed is parsed into the JSON value the API
# would receive, compared with the resolved value, and only the fields that differ are validated by the registry
# and saved by ``services.update_bank_config``: the same path as ``PATCH …/config``, so the errors are the API's.

LABEL_PREFIX = "entity_labels"


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


def parse_config_input(config_field: config_registry.ConfigField, data) -> Any:
    """The JSON value of one field from the posted form; raises ValueError with a message for the person."""
    name = config_field.name
    if config_field.name == "entity_labels":
        return parse_entity_labels(data)
    if config_field.name == "mcp_enabled_tools":
        # "Allow every tool" is null; otherwise exactly the ticked tools (none ticked allows none).
        if data.get(f"{name}-all"):
            return None
        return list(data.getlist(name)) if hasattr(data, "getlist") else list(data.get(name) or [])
    if config_field.kind == "bool":
        return data.get(name) in ("on", "true", "1")
    raw = data.get(name, "")
    if config_field.kind in ("int", "float"):
        text = raw.strip()
        if text == "" and config_field.nullable:
            return None
        try:
            return int(text) if config_field.kind == "int" else float(text)
        except ValueError:
            kind = "a whole number" if config_field.kind == "int" else "a number"
            raise ValueError(f"must be {kind}, not {raw!r}") from None
    if config_field.kind == "json":
        if _blank(raw):
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"must be JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if config_field.nullable and _blank(raw):
        return None
    return raw.replace("\r\n", "\n")


def parse_entity_labels(data) -> list[dict[str, Any]] | None:
    """Label groups from the editor's rows (``entity_labels-<g>-key``, ``…-<g>-value-<v>-value``, ...).

    Rows left blank and rows ticked for removal are skipped; no group at all means null (no labels).
    """
    group_indexes = sorted(
        {int(m.group(1)) for key in data for m in [re.match(rf"{LABEL_PREFIX}-(\d+)-key$", key)] if m}
    )
    groups: list[dict[str, Any]] = []
    for g in group_indexes:
        prefix = f"{LABEL_PREFIX}-{g}-"
        if data.get(prefix + "remove"):
            continue
        value_indexes = sorted(
            {int(m.group(1)) for key in data for m in [re.match(rf"{re.escape(prefix)}value-(\d+)-value$", key)] if m}
        )
        values = []
        for v in value_indexes:
            value_prefix = f"{prefix}value-{v}-"
            if data.get(value_prefix + "remove"):
                continue
            value = data.get(value_prefix + "value", "")
            description = data.get(value_prefix + "description", "")
            if _blank(value) and _blank(description):
                continue
            values.append({"value": value.strip(), "description": description.strip()})
        key = data.get(prefix + "key", "")
        description = data.get(prefix + "description", "")
        if _blank(key) and _blank(description) and not values:
            continue
        groups.append(
            {
                "key": key.strip(),
                "description": description.strip(),
                "type": data.get(prefix + "type", "value"),
                "values": values,
                "optional": bool(data.get(prefix + "optional")),
                "tag": bool(data.get(prefix + "tag")),
            }
        )
    return groups or None


def config_changes(data, resolved: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse every field of the posted Configuration form; return (changed values, errors by field).

    A field is changed when its parsed value differs from the resolved one (after the registry's normalisation,
    so re-saving the page changes nothing). Each changed field is validated alone by the registry, so every bad
    field gets its own message; the caller saves nothing when there is any error.
    """
    changed: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for config_field in config_registry.FIELDS:
        try:
            value = parse_config_input(config_field, data)
        except ValueError as exc:
            errors[config_field.name] = f"{config_field.name} {exc}"
            continue
        if value == resolved[config_field.name]:
            continue
        try:
            normalised = config_registry.validate_updates({config_field.name: value})[config_field.name]
        except config_registry.ConfigValidationError as exc:
            errors[config_field.name] = f"{exc.field} {exc.message}"
            continue
        if normalised != resolved[config_field.name]:
            changed[config_field.name] = value
    return changed, errors
