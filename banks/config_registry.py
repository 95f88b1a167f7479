"""The declarative registry of every per-bank configurable field.

One list drives everything: validation of API updates, the resolved configuration, server-wide defaults read from
``HINDSIGHT_API_<FIELD>`` environment variables, the admin and the control plane's Configuration tab. This module
imports nothing from Django's app registry so that settings can use it to parse the environment.

A field's value is validated strictly: a string field takes only strings, an integer field only JSON integers (not
``true``, not ``3.0``), and so on, so what is stored is exactly what later code expects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "HINDSIGHT_API_"


class ConfigValidationError(ValueError):
    """A configuration value (or key) was rejected; ``field`` names it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


GROUPS = (
    "Retain",
    "Entities and labels",
    "Observations",
    "Reflect and disposition",
    "Recall",
    "MCP",
    "Provider-specific",
)

MCP_TOOL_NAMES = (
    "retain",
    "recall",
    "reflect",
    "list_banks",
    "create_bank",
    "list_mental_models",
    "get_mental_model",
    "create_mental_model",
    "update_mental_model",
    "delete_mental_model",
    "refresh_mental_model",
    "list_directives",
    "create_directive",
    "delete_directive",
    "list_memories",
    "get_memory",
    "delete_memory",
    "list_documents",
    "get_document",
    "delete_document",
    "list_operations",
    "get_operation",
    "cancel_operation",
    "list_tags",
    "get_bank",
    "get_bank_stats",
    "update_bank",
    "delete_bank",
    "clear_memories",
)

ENTITY_LABEL_TYPES = ("value", "multi-values", "text", "multi-text")

# Settings the upstream server knows that are server-wide here, or that this server does not offer. Naming them
# lets the error say why instead of "unknown".
SERVER_WIDE_SETTINGS = frozenset(
    {
        "llm_provider",
        "llm_model",
        "llm_api_key",
        "llm_base_url",
        "embeddings_provider",
        "reranker_provider",
        "database_url",
    }
)


# --- value checkers -------------------------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _check_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {_type_name(value)}")
    return value


def _check_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {_type_name(value)}")
    return value


def _check_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, not {_type_name(value)}")
    return value


def _check_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"must be a number, not {_type_name(value)}")
    return float(value)


def _check_entity_labels(value: Any) -> list[dict[str, Any]]:
    """Validate label groups and return them normalised with every documented default filled in."""
    if not isinstance(value, list):
        raise ValueError(f"must be a list of label groups, not {_type_name(value)}")
    groups: list[dict[str, Any]] = []
    seen_keys: set[str] = set()
    for index, group in enumerate(value):
        where = f"group {index}"
        if not isinstance(group, dict):
            raise ValueError(f"{where} must be an object, not {_type_name(group)}")
        unknown = set(group) - {"key", "description", "type", "values", "optional", "tag"}
        if unknown:
            raise ValueError(f"{where} has unknown field(s): {', '.join(sorted(unknown))}")
        key = group.get("key")
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"{where} needs a non-empty string 'key'")
        key = key.strip()
        if ":" in key:
            raise ValueError(f"{where} key {key!r} must not contain ':'")
        if key in seen_keys:
            raise ValueError(f"{where} repeats the key {key!r}")
        seen_keys.add(key)
        where = f"group {key!r}"
        description = group.get("description", "")
        if description is None:
            description = ""
        if not isinstance(description, str):
            raise ValueError(f"{where} description must be a string")
        group_type = group.get("type", "value")
        if group_type not in ENTITY_LABEL_TYPES:
            raise ValueError(f"{where} type must be one of {', '.join(ENTITY_LABEL_TYPES)}, not {group_type!r}")
        optional = group.get("optional", True)
        tag = group.get("tag", False)
        for flag_name, flag in (("optional", optional), ("tag", tag)):
            if not isinstance(flag, bool):
                raise ValueError(f"{where} {flag_name} must be true or false")
        raw_values = group.get("values", [])
        if raw_values is None:
            raw_values = []
        if not isinstance(raw_values, list):
            raise ValueError(f"{where} values must be a list")
        values: list[dict[str, str]] = []
        seen_values: set[str] = set()
        for value_index, item in enumerate(raw_values):
            if isinstance(item, str):
                item = {"value": item}
            if not isinstance(item, dict) or not isinstance(item.get("value"), str) or not item["value"].strip():
                raise ValueError(f"{where} value {value_index} needs a non-empty string 'value'")
            if set(item) - {"value", "description"}:
                raise ValueError(f"{where} value {value_index} has unknown field(s)")
            item_description = item.get("description") or ""
            if not isinstance(item_description, str):
                raise ValueError(f"{where} value {item['value']!r} description must be a string")
            name = item["value"].strip()
            if name in seen_values:
                raise ValueError(f"{where} repeats the value {name!r}")
            seen_values.add(name)
            values.append({"value": name, "description": item_description})
        if group_type in ("value", "multi-values") and not values:
            raise ValueError(f"{where} of type {group_type!r} needs at least one allowed value")
        groups.append(
            {
                "key": key,
                "description": description,
                "type": group_type,
                "values": values,
                "optional": optional,
                "tag": tag,
            }
        )
    return groups


def _check_mcp_tools(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("must be null or a list of tool names")
    unknown = [item for item in value if item not in MCP_TOOL_NAMES]
    if unknown:
        raise ValueError(f"unknown tool name(s): {', '.join(unknown)}; known tools: {', '.join(MCP_TOOL_NAMES)}")
    return list(dict.fromkeys(value))


def _check_safety_settings(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise ValueError("must be null or a list of {category, threshold} objects")
    settings_list = []
    for index, item in enumerate(value):
        if (
            not isinstance(item, dict)
            or set(item) != {"category", "threshold"}
            or not all(isinstance(item[k], str) and item[k] for k in ("category", "threshold"))
        ):
            raise ValueError(f"item {index} must be an object with exactly a string 'category' and 'threshold'")
        settings_list.append({"category": item["category"], "threshold": item["threshold"]})
    return settings_list


# --- fields ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigField:
    """One configurable per-bank setting."""

    name: str
    kind: str  # "str", "text", "int", "float", "bool", "choice", "json"
    default: Any
    group: str
    help: str
    choices: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    nullable: bool = False
    # Integers where -1 means "unlimited" and every other value must be >= 0.
    minus_one_unlimited: bool = False
    checker: Callable[[Any], Any] | None = field(default=None, compare=False, repr=False)

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def validate(self, value: Any) -> Any:
        """Return the normalised value, or raise ConfigValidationError naming this field."""
        try:
            return self._validate(value)
        except ValueError as exc:
            raise ConfigValidationError(self.name, str(exc)) from None

    def _validate(self, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise ValueError("must not be null")
        if self.checker is not None:
            return self.checker(value)
        if self.kind in ("str", "text"):
            return _check_str(value)
        if self.kind == "bool":
            return _check_bool(value)
        if self.kind == "choice":
            _check_str(value)
            if value not in self.choices:
                raise ValueError(f"must be one of {', '.join(self.choices)}, not {value!r}")
            return value
        if self.kind == "int":
            number = _check_int(value)
        elif self.kind == "float":
            number = _check_float(value)
        else:  # pragma: no cover - every json field has a checker
            raise ValueError(f"unsupported kind {self.kind}")
        if self.minus_one_unlimited:
            if number < -1:
                raise ValueError(f"must be -1 (unlimited) or at least 0, not {number}")
            if number == -1:
                return number
        if self.min_value is not None and number < self.min_value:
            raise ValueError(f"must be at least {self.min_value:g}, not {number}")
        if self.max_value is not None and number > self.max_value:
            raise ValueError(f"must be at most {self.max_value:g}, not {number}")
        return number

    def parse_env(self, raw: str) -> Any:
        """Parse a server-wide default from its environment variable text."""
        text = raw.strip()
        if self.nullable and text.lower() in ("", "null", "none"):
            return None
        if self.kind in ("str", "text", "choice"):
            parsed: Any = raw
        elif self.kind == "bool":
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                parsed = True
            elif lowered in ("0", "false", "no", "off"):
                parsed = False
            else:
                raise ConfigValidationError(self.env_name, f"must be true or false, not {raw!r}")
        elif self.kind == "int":
            try:
                parsed = int(text)
            except ValueError:
                raise ConfigValidationError(self.env_name, f"must be an integer, not {raw!r}") from None
        elif self.kind == "float":
            try:
                parsed = float(text)
            except ValueError:
                raise ConfigValidationError(self.env_name, f"must be a number, not {raw!r}") from None
        else:
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ConfigValidationError(self.env_name, f"must be JSON ({exc.msg})") from None
        try:
            return self._validate(parsed)
        except ValueError as exc:
            raise ConfigValidationError(self.env_name, str(exc)) from None


def _int(name, default, group, help, *, min_value=None, max_value=None, unlimited=False) -> ConfigField:
    return ConfigField(
        name,
        "int",
        default,
        group,
        help,
        min_value=min_value,
        max_value=max_value,
        minus_one_unlimited=unlimited,
    )


FIELDS: tuple[ConfigField, ...] = (
    # Retain
    ConfigField(
        "retain_mission",
        "text",
        None,
        "Retain",
        "What this bank should pay attention to during extraction. Injected into the extraction prompt beside the "
        "built-in rules; it steers focus without replacing them. Leave blank for general-purpose extraction.",
        nullable=True,
    ),
    ConfigField(
        "retain_extraction_mode",
        "choice",
        "concise",
        "Retain",
        "How facts are extracted: concise keeps only facts worth remembering long-term; verbose captures more "
        "detail per fact; custom uses your own rules (retain_custom_instructions); verbatim stores each chunk's text "
        "as one fact; chunks stores chunks without calling an LLM.",
        choices=("concise", "verbose", "custom", "verbatim", "chunks"),
    ),
    ConfigField(
        "retain_custom_instructions",
        "text",
        None,
        "Retain",
        "Your own extraction rules. Used only when retain_extraction_mode is custom, where they replace the "
        "built-in rules entirely.",
        nullable=True,
    ),
    _int(
        "retain_chunk_size",
        3000,
        "Retain",
        "Maximum characters per chunk when content is split for extraction. Larger chunks mean fewer LLM calls; "
        "smaller chunks give finer facts.",
        min_value=200,
        max_value=100_000,
    ),
    ConfigField(
        "retain_structured_chunk_size",
        "int",
        None,
        "Retain",
        "Maximum characters of one conversation turn or JSON line kept whole. Defaults to retain_chunk_size.",
        min_value=200,
        max_value=100_000,
        nullable=True,
    ),
    ConfigField(
        "store_document_text",
        "bool",
        True,
        "Retain",
        "Keep the original text of retained documents (needed to show and re-process them).",
    ),
    # Entities and labels
    ConfigField(
        "entity_labels",
        "json",
        None,
        "Entities and labels",
        "A controlled vocabulary of key:value labels extracted at retain time and stored as entities. Each group "
        "has a key, a description, a type (value, multi-values, text), allowed values, optional and tag.",
        nullable=True,
        checker=_check_entity_labels,
    ),
    ConfigField(
        "entities_allow_free_form",
        "bool",
        True,
        "Entities and labels",
        "Extract regular named entities (people, places, concepts) beside the labels. Off stores only label entities.",
    ),
    # Observations
    ConfigField(
        "enable_observations",
        "bool",
        True,
        "Observations",
        "Consolidate new facts into durable observations in the background.",
    ),
    ConfigField(
        "enable_auto_consolidation",
        "bool",
        True,
        "Observations",
        "Consolidate automatically after each retain; off consolidates only on demand.",
    ),
    ConfigField(
        "observations_mission",
        "text",
        None,
        "Observations",
        "What this bank should synthesise into observations. Replaces the built-in consolidation rules entirely; "
        "leave blank for the server default.",
        nullable=True,
    ),
    _int(
        "consolidation_llm_batch_size",
        8,
        "Observations",
        "Facts sent to the LLM in one consolidation call. Higher means fewer calls and larger prompts; 1 disables "
        "batching.",
        min_value=1,
        max_value=100,
    ),
    _int(
        "consolidation_source_facts_max_tokens",
        -1,
        "Observations",
        "Total token budget for source facts shown with observations in the consolidation prompt. -1 = unlimited.",
        unlimited=True,
    ),
    _int(
        "consolidation_source_facts_max_tokens_per_observation",
        256,
        "Observations",
        "Per-observation token cap for source facts in the consolidation prompt. -1 = unlimited.",
        unlimited=True,
    ),
    # Reflect and disposition
    ConfigField(
        "reflect_mission",
        "text",
        None,
        "Reflect and disposition",
        "A first-person identity and framing for reflect: who is answering and how it should reason.",
        nullable=True,
    ),
    _int(
        "disposition_skepticism",
        3,
        "Reflect and disposition",
        "How skeptical reflect is of claims: 1 trusting, 3 balanced, 5 questions and doubts claims.",
        min_value=1,
        max_value=5,
    ),
    _int(
        "disposition_literalism",
        3,
        "Reflect and disposition",
        "How literally reflect reads information: 1 reads between the lines, 3 balanced, 5 exactly as stated.",
        min_value=1,
        max_value=5,
    ),
    _int(
        "disposition_empathy",
        3,
        "Reflect and disposition",
        "How much reflect weighs emotional context: 1 detached, 3 balanced, 5 empathetic.",
        min_value=1,
        max_value=5,
    ),
    # Recall
    ConfigField(
        "enable_text_search",
        "bool",
        True,
        "Recall",
        "Run the keyword (full-text) retrieval channel during recall.",
    ),
    ConfigField(
        "enable_temporal_retrieval",
        "bool",
        True,
        "Recall",
        "Run the temporal channel (time expressions in the query) during recall.",
    ),
    ConfigField(
        "enable_graph_retrieval",
        "bool",
        True,
        "Recall",
        "Run the graph channel (spreading activation over entity and memory links) during recall.",
    ),
    ConfigField(
        "enable_reranking",
        "bool",
        True,
        "Recall",
        "Rerank fused candidates when a reranker provider is configured; off keeps the fused order.",
    ),
    _int(
        "recall_max_tokens",
        2048,
        "Recall",
        "Token budget for facts when the server recalls for itself (reflect, mental-model refresh).",
        min_value=64,
        max_value=100_000,
    ),
    ConfigField(
        "recall_include_chunks",
        "bool",
        True,
        "Recall",
        "Include source chunks when the server recalls for itself.",
    ),
    _int(
        "recall_chunks_max_tokens",
        1000,
        "Recall",
        "Token budget for those chunks.",
        min_value=0,
        max_value=100_000,
    ),
    ConfigField(
        "recall_budget_function",
        "choice",
        "fixed",
        "Recall",
        "How a budget (low, mid, high) turns into candidate depth: fixed counts, or adaptive fractions of max_tokens.",
        choices=("fixed", "adaptive"),
    ),
    _int(
        "recall_budget_fixed_low",
        100,
        "Recall",
        "Candidates per channel for budget low.",
        min_value=1,
        max_value=10_000,
    ),
    _int(
        "recall_budget_fixed_mid",
        300,
        "Recall",
        "Candidates per channel for budget mid.",
        min_value=1,
        max_value=10_000,
    ),
    _int(
        "recall_budget_fixed_high",
        1000,
        "Recall",
        "Candidates per channel for budget high.",
        min_value=1,
        max_value=10_000,
    ),
    ConfigField(
        "recall_budget_adaptive_low",
        "float",
        0.025,
        "Recall",
        "Adaptive budget for low, as a fraction of max_tokens.",
        min_value=0.0,
        max_value=1.0,
    ),
    ConfigField(
        "recall_budget_adaptive_mid",
        "float",
        0.075,
        "Recall",
        "Adaptive budget for mid, as a fraction of max_tokens.",
        min_value=0.0,
        max_value=1.0,
    ),
    ConfigField(
        "recall_budget_adaptive_high",
        "float",
        0.25,
        "Recall",
        "Adaptive budget for high, as a fraction of max_tokens.",
        min_value=0.0,
        max_value=1.0,
    ),
    _int("recall_budget_min", 20, "Recall", "Lower clamp on an adaptive budget.", min_value=1, max_value=10_000),
    _int("recall_budget_max", 2000, "Recall", "Upper clamp on an adaptive budget.", min_value=1, max_value=10_000),
    # MCP
    ConfigField(
        "mcp_enabled_tools",
        "json",
        None,
        "MCP",
        "Allow-list of MCP tools for this bank; null allows every tool. Known tools: "
        + ", ".join(MCP_TOOL_NAMES)
        + ".",
        nullable=True,
        checker=_check_mcp_tools,
    ),
    # Provider-specific
    ConfigField(
        "llm_gemini_safety_settings",
        "json",
        None,
        "Provider-specific",
        "Gemini/Vertex AI content-filter thresholds as a list of {category, threshold}; null keeps the provider's "
        "defaults. Applies only when the LLM is a Gemini or Vertex AI model.",
        nullable=True,
        checker=_check_safety_settings,
    ),
)

FIELDS_BY_NAME: dict[str, ConfigField] = {f.name: f for f in FIELDS}
assert len(FIELDS_BY_NAME) == len(FIELDS), "duplicate configuration field"
assert all(f.group in GROUPS for f in FIELDS)


def normalize_key(key: Any) -> str:
    """Map a Python-style or HINDSIGHT_API_-style key to the registry name, or raise naming the key."""
    if not isinstance(key, str) or not key:
        raise ConfigValidationError(str(key), "configuration keys must be non-empty strings")
    name = key[len(ENV_PREFIX) :].lower() if key.upper().startswith(ENV_PREFIX) else key
    if name in FIELDS_BY_NAME:
        return name
    if name in SERVER_WIDE_SETTINGS:
        raise ConfigValidationError(key, "is a server-wide setting and cannot be overridden per bank")
    raise ConfigValidationError(key, "is not a configurable bank setting")


def validate_updates(updates: Any) -> dict[str, Any]:
    """Validate an ``updates`` mapping; return it keyed by registry name with normalised values.

    ``None`` as a value means "remove this bank's override" and is kept as ``None`` for the caller to act on.
    Every key is checked before anything is returned, so a bad key anywhere rejects the whole update.
    """
    if not isinstance(updates, Mapping):
        raise ConfigValidationError("updates", f"must be an object, not {_type_name(updates)}")
    cleaned: dict[str, Any] = {}
    for key, value in updates.items():
        name = normalize_key(key)
        if name in cleaned:
            raise ConfigValidationError(key, f"is given twice (as {name} too)")
        cleaned[name] = None if value is None else FIELDS_BY_NAME[name].validate(value)
    return cleaned


def read_env_defaults(environ: Mapping[str, str]) -> dict[str, Any]:
    """Server-wide defaults: each field's built-in default, replaced by ``HINDSIGHT_API_<FIELD>`` when set."""
    defaults = {}
    for config_field in FIELDS:
        raw = environ.get(config_field.env_name)
        defaults[config_field.name] = config_field.default if raw is None else config_field.parse_env(raw)
    return defaults


def resolve(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The effective configuration: defaults with the bank's overrides on top, in registry order."""
    return {f.name: overrides[f.name] if f.name in overrides else defaults[f.name] for f in FIELDS}


def env_names() -> Iterable[str]:
    return (f.env_name for f in FIELDS)
