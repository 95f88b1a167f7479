"""The configuration registry: every documented field, strict validation, key spellings, env defaults."""

import pytest

from banks import config_registry as registry
from banks.config_registry import ConfigValidationError

SEED_DEFAULTS = {
    "retain_mission": None,
    "retain_extraction_mode": "concise",
    "retain_custom_instructions": None,
    "retain_chunk_size": 3000,
    "entity_labels": None,
    "entities_allow_free_form": True,
    "enable_observations": True,
    "observations_mission": None,
    "consolidation_llm_batch_size": 8,
    "consolidation_source_facts_max_tokens": -1,
    "consolidation_source_facts_max_tokens_per_observation": 256,
    "reflect_mission": None,
    "disposition_skepticism": 3,
    "disposition_literalism": 3,
    "disposition_empathy": 3,
    "mcp_enabled_tools": None,
    "llm_gemini_safety_settings": None,
    "enable_temporal_retrieval": True,
    "enable_graph_retrieval": True,
    "enable_reranking": True,
}


@pytest.mark.parametrize(("name", "default"), SEED_DEFAULTS.items())
def test_every_seed_field_is_registered_with_its_documented_default(name, default):
    assert registry.FIELDS_BY_NAME[name].default == default


def test_every_field_has_help_text_and_a_known_group():
    for field in registry.FIELDS:
        assert len(field.help) > 20, field.name
        assert field.group in registry.GROUPS


def test_extraction_modes_include_verbatim_and_chunks():
    assert registry.FIELDS_BY_NAME["retain_extraction_mode"].choices == (
        "concise",
        "verbose",
        "custom",
        "verbatim",
        "chunks",
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("retain_chunk_size", "3000", "must be an integer, not a string"),
        ("retain_chunk_size", 3000.0, "must be an integer, not a number"),
        ("retain_chunk_size", True, "must be an integer, not a boolean"),
        ("retain_chunk_size", 10, "must be at least 200, not 10"),
        ("disposition_empathy", 0, "must be at least 1, not 0"),
        ("disposition_empathy", 6, "must be at most 5, not 6"),
        ("enable_observations", 1, "must be true or false, not an integer"),
        ("enable_observations", "true", "must be true or false, not a string"),
        ("retain_extraction_mode", "shouty", "must be one of concise, verbose, custom, verbatim, chunks"),
        ("retain_mission", 42, "must be a string, not an integer"),
        ("consolidation_source_facts_max_tokens", -2, "must be -1 (unlimited) or at least 0, not -2"),
        ("recall_budget_adaptive_mid", 1.5, "must be at most 1, not 1.5"),
        ("mcp_enabled_tools", ["recall", "teleport"], "unknown tool name(s): teleport"),
        ("mcp_enabled_tools", "recall", "must be null or a list of tool names"),
        ("llm_gemini_safety_settings", [{"category": "X"}], "item 0 must be an object"),
    ],
)
def test_invalid_values_are_rejected_naming_the_field(name, value, message):
    with pytest.raises(ConfigValidationError) as caught:
        registry.validate_updates({name: value})
    assert caught.value.field == name
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("retain_chunk_size", 200),
        ("consolidation_source_facts_max_tokens", -1),
        ("consolidation_source_facts_max_tokens", 0),
        ("recall_budget_adaptive_low", 0),
        ("mcp_enabled_tools", []),
        ("mcp_enabled_tools", ["recall", "reflect"]),
        ("retain_extraction_mode", "chunks"),
        ("llm_gemini_safety_settings", [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]),
    ],
)
def test_valid_boundary_values_are_accepted(name, value):
    assert registry.validate_updates({name: value}) == {name: value}


def test_environment_style_keys_map_to_field_names():
    assert registry.validate_updates({"HINDSIGHT_API_RETAIN_CHUNK_SIZE": 1000}) == {"retain_chunk_size": 1000}


def test_the_same_field_twice_is_rejected():
    with pytest.raises(ConfigValidationError, match="given twice"):
        registry.validate_updates({"retain_chunk_size": 1000, "HINDSIGHT_API_RETAIN_CHUNK_SIZE": 2000})


def test_unknown_and_server_wide_keys_are_rejected_with_different_reasons():
    with pytest.raises(ConfigValidationError, match="is not a configurable bank setting"):
        registry.validate_updates({"memory_defense": {}})
    with pytest.raises(ConfigValidationError, match="server-wide setting"):
        registry.validate_updates({"llm_api_key": "sk-secret"})


def test_null_means_remove_the_override():
    assert registry.validate_updates({"retain_chunk_size": None}) == {"retain_chunk_size": None}


def test_entity_labels_are_normalised_with_documented_defaults():
    cleaned = registry.validate_updates(
        {"entity_labels": [{"key": "engagement", "values": ["active", {"value": "passive", "description": "quiet"}]}]}
    )
    assert cleaned["entity_labels"] == [
        {
            "key": "engagement",
            "description": "",
            "type": "value",
            "values": [{"value": "active", "description": ""}, {"value": "passive", "description": "quiet"}],
            "optional": True,
            "tag": False,
        }
    ]


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([{"description": "no key"}], "needs a non-empty string 'key'"),
        ([{"key": "a:b", "type": "text"}], "must not contain ':'"),
        ([{"key": "topic", "type": "free"}], "type must be one of"),
        ([{"key": "mood", "type": "value", "values": []}], "needs at least one allowed value"),
        ([{"key": "mood", "values": ["x", "x"]}], "repeats the value 'x'"),
        ([{"key": "t", "type": "text"}, {"key": "t", "type": "text"}], "repeats the key 't'"),
        ([{"key": "t", "type": "text", "tag": "yes"}], "tag must be true or false"),
        ([{"key": "t", "type": "text", "colour": "red"}], "unknown field(s): colour"),
        ({"key": "t"}, "must be a list of label groups"),
    ],
)
def test_malformed_entity_label_groups_are_rejected(groups, message):
    with pytest.raises(ConfigValidationError) as caught:
        registry.validate_updates({"entity_labels": groups})
    assert caught.value.field == "entity_labels"
    assert message in caught.value.message


def test_free_text_groups_need_no_values():
    cleaned = registry.validate_updates({"entity_labels": [{"key": "topic", "type": "text"}]})
    assert cleaned["entity_labels"][0]["values"] == []


def test_env_defaults_replace_built_in_defaults():
    defaults = registry.read_env_defaults(
        {
            "HINDSIGHT_API_RETAIN_CHUNK_SIZE": "1200",
            "HINDSIGHT_API_ENABLE_OBSERVATIONS": "false",
            "HINDSIGHT_API_MCP_ENABLED_TOOLS": '["recall"]',
            "HINDSIGHT_API_RETAIN_MISSION": "Only decisions",
        }
    )
    assert defaults["retain_chunk_size"] == 1200
    assert defaults["enable_observations"] is False
    assert defaults["mcp_enabled_tools"] == ["recall"]
    assert defaults["retain_mission"] == "Only decisions"
    assert defaults["disposition_empathy"] == 3


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HINDSIGHT_API_RETAIN_CHUNK_SIZE": "lots"}, "must be an integer"),
        ({"HINDSIGHT_API_DISPOSITION_EMPATHY": "7"}, "must be at most 5"),
        ({"HINDSIGHT_API_ENABLE_OBSERVATIONS": "maybe"}, "must be true or false"),
        ({"HINDSIGHT_API_ENTITY_LABELS": "[{"}, "must be JSON"),
        ({"HINDSIGHT_API_RETAIN_EXTRACTION_MODE": "loud"}, "must be one of"),
    ],
)
def test_bad_env_defaults_fail_loudly_naming_the_variable(env, message):
    with pytest.raises(ConfigValidationError) as caught:
        registry.read_env_defaults(env)
    assert caught.value.field == next(iter(env))
    assert message in caught.value.message


def test_resolve_puts_overrides_over_defaults_in_registry_order():
    defaults = registry.read_env_defaults({})
    resolved = registry.resolve(defaults, {"retain_chunk_size": 999})
    assert list(resolved) == [f.name for f in registry.FIELDS]
    assert resolved["retain_chunk_size"] == 999
    assert resolved["retain_extraction_mode"] == "concise"
