"""The LLM extractor against scripted answers: prompt shape, parsing per mode, labels, retries and chunk splitting."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hindsight_site import llm
from hindsight_site.llm_testing import scripted_llm
from memories.extraction.llm import SYSTEM_PROMPT, LLMExtractor, format_event_date
from memories.extraction.types import ChunkInput, ExtractionError, ExtractionSettings, Turn
from tests.factories import fact

EVENT_DATE = datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
LABELS = [
    {
        "key": "engagement",
        "description": "How engaged the student was",
        "type": "value",
        "values": [{"value": "active", "description": ""}, {"value": "passive", "description": ""}],
        "optional": True,
        "tag": False,
    },
    {
        "key": "pedagogy",
        "description": "Teaching strategies used",
        "type": "multi-values",
        "values": [{"value": "scaffolding", "description": ""}, {"value": "socratic", "description": ""}],
        "optional": True,
        "tag": True,
    },
    {"key": "topic", "description": "Subject", "type": "text", "values": [], "optional": True, "tag": False},
]


@pytest.fixture(autouse=True)
def scripted(settings, monkeypatch):
    settings.HINDSIGHT_LLM_MODEL = "hindsight-test/extractor"
    settings.HINDSIGHT_LLM_RETAIN_MODEL = None
    settings.HINDSIGHT_LLM_API_KEY = None
    settings.HINDSIGHT_LLM_MAX_RETRIES = 3
    monkeypatch.setattr(llm, "_sleep", lambda seconds: None)
    scripted_llm.reset()
    yield scripted_llm
    scripted_llm.reset()


def answer(*facts: dict, **kwargs) -> None:
    scripted_llm.push({"facts": list(facts)}, **kwargs)


def chunk(text: str = "Caroline went to a support group yesterday.", **fields) -> ChunkInput:
    return ChunkInput(text=text, event_date=EVENT_DATE, **fields)


def test_concise_extraction_builds_self_contained_facts_with_dates_entities_and_causes():
    answer(
        fact(
            "Caroline attended an LGBTQ support group on March 4, 2024.",
            when="March 4, 2024",
            where="community center",
            who="Caroline",
            why="she wanted support",
            fact_kind="event",
            occurred_start="2024-03-04",
            occurred_end=None,
            entities=["Caroline", "LGBTQ support group", "caroline", "N/A"],
        ),
        fact(
            "Caroline felt accepted after the support group.",
            who="Caroline, Melanie (her friend)",
            occurred_start="2024-03-04T18:00:00+02:00",
            causal_relations=[{"target_index": 0}, {"target_index": 1}, {"target_index": 7}],
        ),
        fact("The assistant recommended a book to Caroline.", fact_type="experience", entities=["Caroline"]),
    )
    result = LLMExtractor().extract(chunk(), ExtractionSettings())

    first, second, third = result.facts
    # "when" is already in "what"; "who" adds nothing beyond it; "why" is informative.
    assert first.text == "Caroline attended an LGBTQ support group on March 4, 2024. | Why: she wanted support"
    assert first.fact_kind == "event" and first.fact_type == "world"
    assert first.occurred_start == datetime(2024, 3, 4, tzinfo=UTC)
    assert first.occurred_end == datetime(2024, 3, 4, 23, 59, 59, 999999, tzinfo=UTC)  # a date is the whole day
    assert [e.name for e in first.entities] == ["Caroline", "LGBTQ support group"]
    assert first.metadata == {"when": "March 4, 2024", "where": "community center", "who": "Caroline"}

    assert second.text.endswith("| Involving: Caroline, Melanie (her friend)")
    assert second.occurred_start == second.occurred_end == datetime(2024, 3, 4, 16, 0, tzinfo=UTC)
    assert second.caused_by == [0]  # itself and a missing index are dropped
    assert third.fact_type == "experience"
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0


def test_the_user_message_carries_chunk_date_context_metadata_then_the_text():
    answer()
    LLMExtractor().extract(
        chunk(chunk_index=1, chunk_count=3, context="support chat", metadata={"source": "discord"}),
        ExtractionSettings(),
    )
    call = scripted_llm.calls[-1]
    assert call.system == SYSTEM_PROMPT
    user = call.user
    expected = [
        "Mode: concise",
        "Chunk: 2/3",
        "Event Date: Tuesday, March 05, 2024 (2024-03-05T14:30:00+00:00)",
        "Context: support chat",
        "- source: discord",
        "Text:\nCaroline went to a support group yesterday.",
    ]
    positions = [user.index(line) for line in expected]
    assert positions == sorted(positions)
    assert "FOCUS" not in user
    assert call.response_format["type"] == "json_schema"
    assert call.response_format["json_schema"]["strict"] is True
    assert call.temperature == LLMExtractor.temperature


def test_an_unknown_event_date_is_said_so():
    assert format_event_date(None) == "Unknown"
    answer()
    LLMExtractor().extract(ChunkInput(text="Something happened."), ExtractionSettings())
    assert "Event Date: Unknown" in scripted_llm.calls[-1].user


def test_the_system_prompt_is_byte_identical_across_banks_and_modes_while_variations_go_to_the_user_message():
    variants = [
        ExtractionSettings(),
        ExtractionSettings(mode="verbose", retain_mission="Track the user's health."),
        ExtractionSettings(mode="custom", custom_instructions="Only extract recipes."),
        ExtractionSettings(mode="verbatim", entity_labels=LABELS, entities_allow_free_form=False),
    ]
    for settings in variants:
        answer(fact("Caroline went to a support group on March 4, 2024."))
        LLMExtractor().extract(chunk(context="bank-specific"), settings)

    calls = scripted_llm.calls
    assert len({call.system for call in calls}) == 1
    assert calls[0].system == SYSTEM_PROMPT
    assert "Mode: verbose" in calls[1].user
    assert calls[1].user.startswith("FOCUS: Track the user's health.")
    assert "Mode: custom" in calls[2].user and "Custom instructions:\nOnly extract recipes." in calls[2].user
    assert "Only extract recipes" not in calls[2].system
    assert "Mode: verbatim" in calls[3].user
    assert "pedagogy" in calls[3].user and "socratic" in calls[3].user
    assert "leave entities empty" in calls[3].user


def test_custom_mode_without_instructions_falls_back_to_concise():
    answer()
    LLMExtractor().extract(chunk(), ExtractionSettings(mode="custom", custom_instructions="  "))
    assert "Mode: concise" in scripted_llm.calls[-1].user


def test_verbose_mode_parses_like_concise():
    answer(
        fact("Caroline, 34, joined the Thursday support group run by Dr. Lee.", entities=["Caroline", "Dr. Lee"]),
        fact("Caroline plans to volunteer at the group from April 2024.", occurred_start="2024-04"),
    )
    result = LLMExtractor().extract(chunk(), ExtractionSettings(mode="verbose"))
    assert [f.text for f in result.facts] == [
        "Caroline, 34, joined the Thursday support group run by Dr. Lee.",
        "Caroline plans to volunteer at the group from April 2024.",
    ]
    assert result.facts[1].occurred_start == datetime(2024, 4, 1, tzinfo=UTC)
    assert result.facts[1].occurred_end == datetime(2024, 4, 30, 23, 59, 59, 999999, tzinfo=UTC)


def test_custom_mode_parses_the_answer():
    answer(fact("Recipe: Caroline's lentil soup uses red lentils and cumin.", entities=["lentil soup"]))
    result = LLMExtractor().extract(chunk(), ExtractionSettings(mode="custom", custom_instructions="Recipes only."))
    assert [f.text for f in result.facts] == ["Recipe: Caroline's lentil soup uses red lentils and cumin."]


def test_verbatim_mode_stores_the_chunk_text_with_the_models_metadata():
    text = "Caroline: I went to the support group yesterday.\nMelanie: That's brave!"
    answer(
        fact(
            "Caroline tells Melanie about the support group.",
            fact_kind="event",
            occurred_start="2024-03-04",
            entities=["Caroline", "Melanie"],
            who="Caroline, Melanie",
        )
    )
    result = LLMExtractor().extract(chunk(text), ExtractionSettings(mode="verbatim"))
    (only,) = result.facts
    assert only.text == text
    assert only.fact_kind == "event"
    assert only.occurred_start == datetime(2024, 3, 4, tzinfo=UTC)
    assert [e.name for e in only.entities] == ["Caroline", "Melanie"]
    assert only.metadata["who"] == "Caroline, Melanie"


def test_verbatim_mode_keeps_the_text_even_when_the_model_returns_nothing():
    answer()
    result = LLMExtractor().extract(chunk("Just a note."), ExtractionSettings(mode="verbatim"))
    assert [f.text for f in result.facts] == ["Just a note."]


def test_chunks_mode_makes_one_fact_per_chunk_without_calling_the_model():
    result = LLMExtractor().extract(chunk("  The whole chunk.  "), ExtractionSettings(mode="chunks"))
    assert [f.text for f in result.facts] == ["The whole chunk."]
    assert result.facts[0].entities == []
    assert result.usage.total_tokens == 0
    assert scripted_llm.calls == []


def test_an_empty_chunk_makes_no_call():
    assert LLMExtractor().extract(chunk("   "), ExtractionSettings()).facts == []
    assert scripted_llm.calls == []


def test_entity_labels_keep_valid_values_drop_invented_ones_and_tag_when_asked():
    answer(
        fact(
            "Caroline worked through algebra problems step by step with her tutor.",
            entities=["Caroline"],
            labels={
                "engagement": ["Active", "passive"],  # a "value" group keeps at most one (case is normalised)
                "pedagogy": ["scaffolding", "lecturing", "socratic", "scaffolding"],  # "lecturing" is not allowed
                "topic": "algebra",
            },
        ),
        fact("Caroline was bored.", labels={"engagement": "asleep", "pedagogy": [], "topic": "N/A"}),
    )
    result = LLMExtractor().extract(chunk(), ExtractionSettings(entity_labels=LABELS))

    first, second = result.facts
    assert [(e.name, e.kind) for e in first.entities] == [
        ("Caroline", "regular"),
        ("engagement:active", "label"),
        ("pedagogy:scaffolding", "label"),
        ("pedagogy:socratic", "label"),
        ("topic:algebra", "label"),
    ]
    assert first.tags == ["pedagogy:scaffolding", "pedagogy:socratic"]  # only the group with tag=true
    assert second.entities == [] and second.tags == []

    labels_schema = scripted_llm.calls[-1].response_format["json_schema"]["schema"]["properties"]["facts"]["items"][
        "properties"
    ]["labels"]
    assert labels_schema["required"] == ["engagement", "pedagogy", "topic"]
    assert labels_schema["properties"]["pedagogy"]["items"]["enum"] == ["scaffolding", "socratic"]


def test_the_schema_has_no_labels_object_without_label_groups():
    answer()
    LLMExtractor().extract(chunk(), ExtractionSettings())
    properties = scripted_llm.calls[-1].response_format["json_schema"]["schema"]["properties"]["facts"]["items"][
        "properties"
    ]
    assert "labels" not in properties


def test_without_free_form_entities_only_label_entities_are_kept():
    answer(fact("Caroline practised algebra.", entities=["Caroline", "algebra"], labels={"topic": "algebra"}))
    result = LLMExtractor().extract(chunk(), ExtractionSettings(entity_labels=LABELS, entities_allow_free_form=False))
    assert [(e.name, e.kind) for e in result.facts[0].entities] == [("topic:algebra", "label")]


def test_conversation_turns_are_shown_with_ids_and_facts_keep_the_turn_they_came_from():
    turns = (
        Turn(speaker="Caroline", text="I went to a support group yesterday.", turn_id="D1:3"),
        Turn(speaker="Melanie", text="That's brave of you!", turn_id="D1:4"),
    )
    answer(
        fact("Caroline attended a support group on March 4, 2024.", turn_id="D1:3"),
        fact("Melanie thinks Caroline is brave.", turn_id="[D1:4]"),
        fact("Caroline has a dog.", turn_id="D9:9"),  # not a turn of this chunk
    )
    text = "\n".join(f"{t.speaker}: {t.text}" for t in turns)
    result = LLMExtractor().extract(chunk(text, turns=turns), ExtractionSettings())

    assert "[D1:3] Caroline: I went to a support group yesterday." in scripted_llm.calls[-1].user
    assert [f.metadata.get("turn_id") for f in result.facts] == ["D1:3", "D1:4", None]
    assert result.facts[1].metadata["speaker"] == "Melanie"


def test_malformed_output_is_asked_for_again_and_usage_counts_every_call():
    scripted_llm.push("Sure! Here are the facts: none, really.", usage={"prompt_tokens": 10, "completion_tokens": 5})
    scripted_llm.push(
        {"facts": [{"nope": 1}, {"what": "N/A"}, fact("ok")]},  # 2 of 3 malformed: below the 80% bar
        usage={"prompt_tokens": 10, "completion_tokens": 5},
    )
    scripted_llm.push(
        "```json\n" + json.dumps({"facts": [fact("Caroline went to a support group.")]}) + "\n```",
        usage={"prompt_tokens": 10, "completion_tokens": 5, "cached_tokens": 8},
    )
    result = LLMExtractor().extract(chunk(), ExtractionSettings())
    assert [f.text for f in result.facts] == ["Caroline went to a support group."]
    assert len(scripted_llm.calls) == 3
    assert result.usage.as_dict() == {
        "input_tokens": 30,
        "output_tokens": 15,
        "total_tokens": 45,
        "cached_tokens": 8,
        "thoughts_tokens": 0,
    }


def test_a_few_malformed_facts_among_many_are_skipped_and_causes_renumbered():
    good = [fact(f"Fact number {i}.") for i in range(5)]
    # Indexes refer to the model's list: raw 4 is good[3], raw 1 is the malformed entry, raw 2 is good[1].
    good[4]["causal_relations"] = [{"target_index": 4}, {"target_index": 1}, {"target_index": 2}]
    answer(good[0], "not a fact", good[1], good[2], good[3], good[4])  # 5 of 6 usable: above the bar
    result = LLMExtractor().extract(chunk(), ExtractionSettings())
    assert [f.text for f in result.facts] == [f"Fact number {i}." for i in range(5)]
    assert result.facts[4].caused_by == [3, 1]
    assert len(scripted_llm.calls) == 1


def test_permanently_malformed_output_raises_a_permanent_extraction_error():
    scripted_llm.push("not json at all", times=3)
    with pytest.raises(ExtractionError, match="unusable after 3 attempts") as raised:
        LLMExtractor().extract(chunk(), ExtractionSettings())
    assert raised.value.transient is False
    assert len(scripted_llm.calls) == 3


def test_provider_errors_become_extraction_errors_with_the_right_transience(settings):
    settings.HINDSIGHT_LLM_MAX_RETRIES = 1
    scripted_llm.push_error("rate_limit", times=2)
    with pytest.raises(ExtractionError) as raised:
        LLMExtractor().extract(chunk(), ExtractionSettings())
    assert raised.value.transient is True

    scripted_llm.push_error("bad_request")
    with pytest.raises(ExtractionError) as raised:
        LLMExtractor().extract(chunk(), ExtractionSettings())
    assert raised.value.transient is False


def test_a_rate_limit_is_retried_inside_one_extraction():
    scripted_llm.push_error("rate_limit")
    answer(fact("Caroline went to a support group."))
    assert len(LLMExtractor().extract(chunk(), ExtractionSettings()).facts) == 1


def test_an_oversize_chunk_is_split_and_both_halves_facts_come_back_with_causes_fixed():
    first_half = "Caroline lost her job at the bakery in January. " * 4
    second_half = "So Caroline started a catering firm in February. " * 4
    text = (first_half + second_half).strip()
    scripted_llm.push_error("context_window", "maximum context length exceeded", match="bakery in January. So")
    answer(
        fact("Caroline lost her job at the bakery in January 2024."),
        fact("Caroline was upset.", causal_relations=[{"target_index": 0}]),
        match="Caroline lost her job",
    )
    answer(
        fact("Caroline started a catering business in February 2024."),
        fact("Caroline hired Melanie.", causal_relations=[{"target_index": 0}]),
        match="catering",
    )
    result = LLMExtractor(min_split_chars=100).extract(chunk(text), ExtractionSettings())

    assert [f.text for f in result.facts] == [
        "Caroline lost her job at the bakery in January 2024.",
        "Caroline was upset.",
        "Caroline started a catering business in February 2024.",
        "Caroline hired Melanie.",
    ]
    assert [f.caused_by for f in result.facts] == [[], [0], [], [2]]
    halves = [call.user.split("Text:\n", 1)[1] for call in scripted_llm.calls[1:]]
    assert halves == [first_half.strip(), second_half.strip()]  # cut at the sentence boundary in the middle


def test_an_answer_cut_off_at_the_output_limit_splits_the_chunk_and_usage_sums_all_calls():
    turns = tuple(
        Turn(speaker="Caroline" if i % 2 else "Melanie", text=f"Message {i} " * 10, turn_id=f"D1:{i}") for i in range(4)
    )
    text = "\n".join(f"{t.speaker}: {t.text}" for t in turns)
    scripted_llm.push(
        '{"facts": [{"what": "trunc', finish_reason="length", usage={"prompt_tokens": 100, "completion_tokens": 50}
    )
    answer(
        fact("From the first half.", turn_id="D1:1"),
        match="[D1:1]",
        usage={"prompt_tokens": 40, "completion_tokens": 10},
    )
    answer(
        fact("From the second half.", turn_id="D1:3"),
        match="[D1:3]",
        usage={"prompt_tokens": 40, "completion_tokens": 10},
    )
    result = LLMExtractor(min_split_chars=50).extract(chunk(text, turns=turns), ExtractionSettings())

    assert [f.text for f in result.facts] == ["From the first half.", "From the second half."]
    assert [f.metadata["turn_id"] for f in result.facts] == ["D1:1", "D1:3"]
    second_call, third_call = scripted_llm.calls[1:]
    assert "[D1:1]" in second_call.user and "[D1:2]" not in second_call.user  # split between turns
    assert "[D1:2]" in third_call.user and "[D1:1]" not in third_call.user
    assert result.usage.input_tokens == 180 and result.usage.output_tokens == 70


def test_a_chunk_that_overflows_even_when_small_gives_up():
    scripted_llm.push_error("context_window", times=10)
    with pytest.raises(ExtractionError, match="too large") as raised:
        LLMExtractor(min_split_chars=500).extract(chunk("short text. " * 20), ExtractionSettings())
    assert raised.value.transient is False
