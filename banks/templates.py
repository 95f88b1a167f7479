"""Bank templates: a bank's setup (configuration overrides, directives, mental models) as a portable manifest.

Export writes what makes this bank *this* bank: its overrides (not the server's defaults, so importing elsewhere
keeps that server's defaults), its directives and its mental models' definitions (not their generated content,
which the importing bank regenerates from its own memories). Import validates the whole manifest before writing
anything, then applies it in one transaction: config fields become overrides, directives are matched by name and
mental models by id (existing ones updated, new ones created and queued for content generation).
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.utils import timezone

from banks import config_registry, services
from banks.models import Bank
from hindsight_site.errors import BadRequest

MANIFEST_VERSION = "1"
_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")
_DIRECTIVE_FIELDS = {"name", "content", "priority", "is_active", "tags"}
_MODEL_FIELDS = {"id", "name", "source_query", "tags", "max_tokens", "trigger"}


def export_template(*, bank: Bank) -> dict[str, Any]:
    """The bank's manifest (``BankTemplateManifest``)."""
    from directives.models import Directive, MentalModel

    return {
        "version": MANIFEST_VERSION,
        "bank": bank.get_overrides(),
        "mental_models": [
            {
                "id": model.mental_model_id,
                "name": model.name,
                "source_query": model.source_query,
                "tags": list(model.tags),
                "max_tokens": model.max_tokens,
                "trigger": dict(model.trigger or {}),
            }
            for model in MentalModel.objects.filter(bank=bank).order_by("mental_model_id")
        ],
        "directives": [
            {
                "name": directive.name,
                "content": directive.content,
                "priority": directive.priority,
                "is_active": directive.is_active,
                "tags": list(directive.tags),
            }
            for directive in Directive.objects.filter(bank=bank).order_by("-priority", "name")
        ],
    }


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be an object")
    return value


def _string(item: dict, key: str, where: str, *, required: bool = True) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{where}.{key} must be a non-empty string")
    return value


def _tags(item: dict, where: str) -> list[str]:
    tags = item.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise BadRequest(f"{where}.tags must be a list of strings")
    return tags


def _int(item: dict, key: str, where: str, default: int, *, low: int | None = None, high: int | None = None) -> int:
    value = item.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{where}.{key} must be an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        raise BadRequest(f"{where}.{key} must be between {low} and {high}")
    return value


def _unknown(item: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(item) - allowed)
    if extra:
        raise BadRequest(f"{where} has unknown field(s): {', '.join(extra)}")


def validate_manifest(manifest: Any) -> dict[str, Any]:
    """Check every part of ``manifest``; return it normalised. Raises ``BadRequest`` naming the first problem."""
    manifest = _object(manifest, "manifest")
    _unknown(manifest, {"version", "bank", "mental_models", "directives"}, "manifest")
    version = manifest.get("version")
    if version != MANIFEST_VERSION:
        raise BadRequest(f"manifest.version must be {MANIFEST_VERSION!r}, not {version!r}")

    config: dict[str, Any] | None = None
    if manifest.get("bank") is not None:
        # A field set to null means "not part of this template": an export of another server lists every field.
        given = {k: v for k, v in _object(manifest["bank"], "manifest.bank").items() if v is not None}
        try:
            config = config_registry.validate_updates(given)
        except config_registry.ConfigValidationError as exc:
            raise BadRequest(f"manifest.bank.{exc.field} {exc.message}") from None

    models = None
    if manifest.get("mental_models") is not None:
        if not isinstance(manifest["mental_models"], list):
            raise BadRequest("manifest.mental_models must be a list")
        models, seen = [], set()
        for index, raw in enumerate(manifest["mental_models"]):
            where = f"manifest.mental_models[{index}]"
            item = _object(raw, where)
            _unknown(item, _MODEL_FIELDS, where)
            model_id = _string(item, "id", where)
            if not _MODEL_ID.match(model_id):
                raise BadRequest(f"{where}.id must be lowercase letters, digits, '-' or '_' (at most 128)")
            if model_id in seen:
                raise BadRequest(f"{where}.id {model_id!r} appears twice")
            seen.add(model_id)
            trigger = item.get("trigger") or {}
            _object(trigger, f"{where}.trigger")
            models.append(
                {
                    "id": model_id,
                    "name": _string(item, "name", where),
                    "source_query": _string(item, "source_query", where),
                    "tags": _tags(item, where),
                    "max_tokens": _int(item, "max_tokens", where, 2048, low=256, high=8192),
                    "trigger": trigger,
                }
            )

    directives = None
    if manifest.get("directives") is not None:
        if not isinstance(manifest["directives"], list):
            raise BadRequest("manifest.directives must be a list")
        directives, seen = [], set()
        for index, raw in enumerate(manifest["directives"]):
            where = f"manifest.directives[{index}]"
            item = _object(raw, where)
            _unknown(item, _DIRECTIVE_FIELDS, where)
            name = _string(item, "name", where)
            if name in seen:
                raise BadRequest(f"{where}.name {name!r} appears twice")
            seen.add(name)
            is_active = item.get("is_active", True)
            if not isinstance(is_active, bool):
                raise BadRequest(f"{where}.is_active must be true or false")
            directives.append(
                {
                    "name": name,
                    "content": _string(item, "content", where),
                    "priority": _int(item, "priority", where, 0),
                    "is_active": is_active,
                    "tags": _tags(item, where),
                }
            )
    return {"config": config, "mental_models": models, "directives": directives}


def import_template(*, bank_id: str, manifest: Any, dry_run: bool = False) -> dict[str, Any]:
    """Apply ``manifest`` to the bank (created if missing) in one transaction; ``dry_run`` validates only.

    Returns a ``BankTemplateImportResponse`` dict; on a dry run the lists say what *would* be created or updated.
    """
    from directives import services as directive_services
    from directives.models import Directive, MentalModel
    from memories.models import Operation

    bank_id = services.validate_bank_id(bank_id)
    plan = validate_manifest(manifest)
    existing_bank = Bank.objects.filter(bank_id=bank_id).first()
    existing_models = (
        set(MentalModel.objects.filter(bank=existing_bank).values_list("mental_model_id", flat=True))
        if existing_bank
        else set()
    )
    existing_directives = (
        set(Directive.objects.filter(bank=existing_bank).values_list("name", flat=True)) if existing_bank else set()
    )
    result: dict[str, Any] = {
        "bank_id": bank_id,
        "config_applied": bool(plan["config"]),
        "mental_models_created": [],
        "mental_models_updated": [],
        "directives_created": [],
        "directives_updated": [],
        "operation_ids": [],
        "dry_run": dry_run,
    }
    for model in plan["mental_models"] or []:
        key = "mental_models_updated" if model["id"] in existing_models else "mental_models_created"
        result[key].append(model["id"])
    for directive in plan["directives"] or []:
        key = "directives_updated" if directive["name"] in existing_directives else "directives_created"
        result[key].append(directive["name"])
    if dry_run:
        return result

    with transaction.atomic():
        bank = services.get_or_create_bank(bank_id=bank_id)
        if plan["config"]:
            services.update_bank_config(bank=bank, updates=plan["config"])
        for spec in plan["directives"] or []:
            directive = Directive.objects.filter(bank=bank, name=spec["name"]).first()
            if directive is None:
                directive_services.create_directive(bank=bank, **spec)
            else:
                directive_services.update_directive(directive=directive, changes=spec)
        for spec in plan["mental_models"] or []:
            model = MentalModel.objects.filter(bank=bank, mental_model_id=spec["id"]).first()
            fields = {k: spec[k] for k in ("name", "source_query", "tags", "max_tokens", "trigger")}
            if model is None:
                _model, operation = directive_services.create_mental_model(
                    bank=bank, mental_model_id=spec["id"], **fields
                )
                result["operation_ids"].append(str(operation.pk))
            else:
                # A changed query or scope makes the content stale; the update queues its refresh in this transaction.
                marker = timezone.now()
                directive_services.update_mental_model(model=model, changes=fields)
                queued = Operation.objects.filter(
                    bank=bank,
                    operation_type=directive_services.REFRESH_OPERATION,
                    payload__mental_model_id=spec["id"],
                    created_at__gte=marker,
                ).values_list("pk", flat=True)
                result["operation_ids"].extend(str(pk) for pk in queued)
    return result


def manifest_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the manifest this server imports, with the config fields from the registry."""
    kinds = {"str": "string", "text": "string", "choice": "string", "int": "integer", "float": "number"}
    config_properties: dict[str, Any] = {}
    for field in config_registry.FIELDS:
        if field.kind == "bool":
            schema: dict[str, Any] = {"type": ["boolean", "null"]}
        elif field.kind in kinds:
            schema = {"type": [kinds[field.kind], "null"]}
            if field.choices:
                schema["enum"] = [*field.choices, None]
            if field.min_value is not None and not field.minus_one_unlimited:
                schema["minimum"] = field.min_value
            if field.max_value is not None:
                schema["maximum"] = field.max_value
        else:
            schema = {}
        config_properties[field.name] = {**schema, "description": field.help}
    tags = {"type": "array", "items": {"type": "string"}, "default": []}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "BankTemplateManifest",
        "type": "object",
        "required": ["version"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": MANIFEST_VERSION},
            "bank": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "properties": config_properties,
            },
            "mental_models": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "required": ["id", "name", "source_query"],
                    "additionalProperties": False,
                    "properties": {
                        "id": {"type": "string", "pattern": _MODEL_ID.pattern},
                        "name": {"type": "string", "minLength": 1},
                        "source_query": {"type": "string", "minLength": 1},
                        "tags": tags,
                        "max_tokens": {"type": "integer", "minimum": 256, "maximum": 8192, "default": 2048},
                        "trigger": {"type": "object", "default": {}},
                    },
                },
            },
            "directives": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "required": ["name", "content"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "content": {"type": "string", "minLength": 1},
                        "priority": {"type": "integer", "default": 0},
                        "is_active": {"type": "boolean", "default": True},
                        "tags": tags,
                    },
                },
            },
        },
    }
