"""The offline extractor on real conversation (LoCoMo) and on the other input shapes retain accepts."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

import pytest

from memories.extraction.offline import OfflineExtractor, speaker_from_context, split_sentences
from memories.extraction.types import ChunkInput, ExtractedFact, ExtractionSettings, TokenUsage, Turn
from memories.temporal import find_time_expressions, parse_loose_datetime
from tests.conftest import require_locomo

REFERENCE = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)  # a Friday in a leap year


@pytest.fixture(scope="module")
def locomo() -> list[dict]:
    return json.loads(require_locomo().read_text())


def session_chunk(locomo: list[dict], sample_id: str, session: int) -> ChunkInput:
    """A LoCoMo session as retain hands it to the extractor: turns plus the session timestamp."""
    conversation = next(s for s in locomo if s["sample_id"] == sample_id)["conversation"]
    turns = tuple(Turn(t["speaker"], t["text"], t["dia_id"]) for t in conversation[f"session_{session}"])
    return ChunkInput(
        text="\n".join(f"{t.speaker}: {t.text}" for t in turns),
        event_date=parse_loose_datetime(conversation[f"session_{session}_date_time"]),
        turns=turns,
    )


def extract(chunk: ChunkInput, **settings) -> list[ExtractedFact]:
    return OfflineExtractor().extract(chunk, ExtractionSettings(**settings)).facts


def facts_of_turn(facts: list[ExtractedFact], turn_id: str) -> list[ExtractedFact]:
    return [fact for fact in facts if fact.metadata.get("turn_id") == turn_id]


def day_range(day: date) -> tuple[datetime, datetime]:
    return (
        datetime(day.year, day.month, day.day, tzinfo=UTC),
        datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=UTC),
    )


def names(fact: ExtractedFact, kind: str = "regular") -> list[str]:
    return [entity.name for entity in fact.entities if entity.kind == kind]


# --- LoCoMo: concrete turns -------------------------------------------------------------------------------------


def test_support_group_yesterday_becomes_a_dated_event_of_caroline(locomo):
    facts = extract(session_chunk(locomo, "conv-26", 1))

    [fact] = facts_of_turn(facts, "D1:3")  # "I went to a LGBTQ support group yesterday and it was so powerful."
    assert fact.metadata == {"speaker": "Caroline", "turn_id": "D1:3"}
    assert fact.text == "Caroline went to a LGBTQ support group yesterday (on 7 May 2023) and it was so powerful."
    assert (fact.occurred_start, fact.occurred_end) == day_range(date(2023, 5, 7))
    assert fact.fact_kind == "event"
    assert fact.fact_type == "world"
    assert [(e.name, e.entity_type) for e in fact.entities] == [("Caroline", "PERSON"), ("LGBTQ", None)]


def test_last_year_dates_the_painting_to_a_year_and_keeps_the_back_reference(locomo):
    facts = extract(session_chunk(locomo, "conv-26", 1))

    [fact] = facts_of_turn(facts, "D1:14")  # "Yeah, I painted that lake sunrise last year! It's special to me."
    assert fact.text == "Melanie painted that lake sunrise last year (in 2022)! It's special to Melanie."
    assert fact.occurred_start == datetime(2022, 1, 1, tzinfo=UTC)
    assert fact.occurred_end == datetime(2022, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert fact.fact_kind == "event"


def test_small_talk_turns_produce_no_facts(locomo):
    facts = extract(session_chunk(locomo, "conv-26", 1))

    # "Hey Mel! Good to see you! How have you been?", "Wow, that's cool, Caroline! What happened …?",
    # "That's really cool. You've got guts. What now?", "Thanks, Melanie! That's really sweet. Is this your …?"
    for turn_id in ("D1:1", "D1:4", "D1:8", "D1:10", "D1:13"):
        assert facts_of_turn(facts, turn_id) == [], turn_id
    # "Hey Caroline! Good to see you! I'm swamped with the kids & work. What's up with you? Anything new?"
    [fact] = facts_of_turn(facts, "D1:2")
    assert fact.text == "Melanie is swamped with the kids & work."


def test_plans_without_time_words_are_ongoing_and_undated(locomo):
    facts = extract(session_chunk(locomo, "conv-26", 1))

    [fact] = facts_of_turn(facts, "D1:18")  # "… I'm off to go swimming with the kids. Talk to you soon!"
    assert fact.text == "Melanie is off to go swimming with the kids."
    assert fact.fact_kind == "ongoing"
    assert fact.occurred_start is None and fact.occurred_end is None

    [fact] = facts_of_turn(facts, "D1:11")  # "I'm keen on counseling or working in mental health - I'd love to …"
    assert fact.text.startswith("Caroline is keen on counseling or working in mental health - Caroline would love")
    assert fact.fact_kind == "ongoing"


def test_last_saturday_resolves_against_the_session_date(locomo):
    facts = extract(session_chunk(locomo, "conv-26", 2))  # 1:14 pm on 25 May, 2023 (a Thursday)

    [fact] = [f for f in facts_of_turn(facts, "D2:1") if "charity race" in f.text]  # "… last Saturday - …"
    assert "last Saturday (on 20 May 2023)" in fact.text
    assert (fact.occurred_start, fact.occurred_end) == day_range(date(2023, 5, 20))
    assert fact.metadata["speaker"] == "Melanie"


def test_last_friday_at_sentence_start_keeps_the_speaker_as_subject(locomo):
    facts = extract(session_chunk(locomo, "conv-26", 4))  # 10:37 am on 27 June, 2023 (a Tuesday)

    [fact] = [f for f in facts_of_turn(facts, "D4:13") if "workshop" in f.text]  # "Last Friday, I went to …"
    assert fact.text.startswith("Last Friday (on 23 June 2023), Caroline went to an LGBTQ+ counseling workshop")
    assert (fact.occurred_start, fact.occurred_end) == day_range(date(2023, 6, 23))
    assert "LGBTQ" in names(fact)


def test_plural_first_person_keeps_the_speaker_as_a_prefix(locomo):
    facts = extract(session_chunk(locomo, "conv-26", 2))

    [fact] = facts_of_turn(facts, "D2:7")[-1:]  # "… We're thinking about going camping next month."
    assert fact.text == "Melanie said: We're thinking about going camping next month (in June 2023)."
    assert fact.occurred_start == datetime(2023, 6, 1, tzinfo=UTC)
    assert fact.occurred_end == datetime(2023, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)


def test_named_entities_come_from_capitalisation(locomo):
    facts = extract(session_chunk(locomo, "conv-43", 2))
    found = {name for fact in facts for name in names(fact)}
    assert {"Harry Potter", "Nike", "Under Armour"} <= found
    assert not found & {"I", "I'm", "The", "Hey", "Wow", "Thanks", "Yeah", "Friday", "May"}


# --- LoCoMo: whole sessions -------------------------------------------------------------------------------------

# Greetings, thanks and reactions with at most a name or two after them.
SMALL_TALK = re.compile(
    r"^(?:\w+ said: )?(?:hey|hi|hello|thanks|thank you|wow|bye|see you|talk to you|good to see you"
    r"|that's (?:so |really )?(?:cool|great|awesome|sweet|amazing))(?:[\s,]+\w+){0,2}[.!?]*$",
    re.IGNORECASE,
)


@pytest.mark.parametrize(("sample_id", "session"), [("conv-26", 1), ("conv-26", 3), ("conv-30", 2), ("conv-44", 5)])
def test_every_fact_of_a_session_is_attributed_dated_only_by_time_words_and_not_small_talk(locomo, sample_id, session):
    chunk = session_chunk(locomo, sample_id, session)
    turns = {turn.turn_id: turn for turn in chunk.turns}
    facts = extract(chunk)

    assert len(facts) >= len(turns) // 3
    for fact in facts:
        turn = turns[fact.metadata["turn_id"]]
        assert fact.metadata["speaker"] == turn.speaker
        assert names(fact)[0] == turn.speaker  # the speaker is the first entity, as a PERSON
        assert fact.entities[0].entity_type == "PERSON"
        assert turn.speaker in fact.text
        assert not SMALL_TALK.match(fact.text), fact.text
        assert not fact.text.endswith("?") or re.search(r"\b(?:my|I)\b", turn.text), fact.text
        if fact.occurred_start is not None:
            assert find_time_expressions(turn.text, chunk.event_date), fact.text
            assert fact.occurred_start <= fact.occurred_end
            assert re.search(r"\((?:on|in|around|between) [^)]*\d{4}\)", fact.text), fact.text
            assert fact.fact_kind == "event"
        else:
            assert fact.occurred_end is None
    # Time words that appear in a kept fact always date it.
    for fact in facts:
        if re.search(r"\b(?:yesterday|last week|last year|last month|tomorrow)\b", fact.text, re.IGNORECASE):
            assert fact.occurred_start is not None, fact.text


def test_verbose_keeps_short_sentences_that_concise_drops(locomo):
    chunk = session_chunk(locomo, "conv-26", 1)
    concise, verbose = extract(chunk), extract(chunk, mode="verbose")

    assert len(verbose) > len(concise)
    assert {f.text for f in concise} <= {f.text for f in verbose}
    assert "Melanie said: You've got guts." in {f.text for f in verbose} - {f.text for f in concise}
    assert all(f.metadata["turn_id"] not in ("D1:1", "D1:13") for f in verbose)  # content-free turns stay out


def test_extraction_is_deterministic(locomo):
    chunks = [session_chunk(locomo, "conv-26", session) for session in (1, 2, 3)]
    first = [extract(chunk) for chunk in chunks]
    second = [extract(chunk) for chunk in reversed(chunks)][::-1]
    assert first == second


def test_usage_is_all_zero_and_the_extractor_is_named_offline(locomo):
    result = OfflineExtractor().extract(session_chunk(locomo, "conv-26", 1), ExtractionSettings())
    assert OfflineExtractor.name == "offline"
    assert result.usage == TokenUsage()


# --- other input shapes -----------------------------------------------------------------------------------------


def test_plain_text_without_speakers_keeps_its_own_words():
    chunk = ChunkInput(
        text=(
            "We visited the Golden Gate Bridge in San Francisco last summer. "
            "The weather was lovely and my sister Anna took a lot of photos."
        ),
        event_date=REFERENCE,
    )
    first, second = extract(chunk)

    assert first.text == "We visited the Golden Gate Bridge in San Francisco last summer (in summer 2023)."
    assert first.metadata == {}
    assert [(e.name, e.entity_type) for e in first.entities] == [
        ("Golden Gate Bridge", "PLACE"),
        ("San Francisco", "PLACE"),
    ]
    assert (first.occurred_start, first.occurred_end) == (
        datetime(2023, 6, 1, tzinfo=UTC),
        datetime(2023, 8, 31, 23, 59, 59, 999999, tzinfo=UTC),
    )
    assert [(e.name, e.entity_type) for e in second.entities] == [("Anna", "PERSON")]
    assert second.occurred_start is None


def test_name_prefixed_lines_give_speakers_and_drop_their_small_talk():
    chunk = ChunkInput(
        text=(
            "Note: the team moved to the Berlin office last month.\n"
            "Alice: I started a new job at Google three days ago.\n"
            "Bob: Congrats! That's awesome.\n"
            "Alice: Thanks! I work with NASA engineers now."
        ),
        event_date=REFERENCE,
    )
    note, job, nasa = extract(chunk)

    # "Note:" is not a speaker; lines before the first speaker have none.
    assert note.metadata == {}
    assert note.text == "Note: the team moved to the Berlin office last month (in February 2024)."
    assert [(f.metadata["speaker"], f.text) for f in (job, nasa)] == [
        ("Alice", "Alice started a new job at Google three days ago (on 27 February 2024)."),
        ("Alice", "Alice works with NASA engineers now."),
    ]
    assert (job.occurred_start, job.occurred_end) == day_range(date(2024, 2, 27))
    assert names(nasa) == ["Alice", "NASA"]
    assert nasa.fact_kind == "ongoing"


def test_context_names_the_speaker_only_when_it_plainly_names_the_author():
    chunk = ChunkInput(text="I moved to Berlin in May 2023 and I love the city.", context="message from Alice")
    [fact] = extract(chunk)
    assert fact.text == "Alice moved to Berlin in May 2023 and Alice loves the city."
    assert fact.metadata == {"speaker": "Alice"}
    assert [(e.name, e.entity_type) for e in fact.entities] == [("Alice", "PERSON"), ("Berlin", "PLACE")]

    [fact] = extract(ChunkInput(text="I moved to Berlin in May 2023.", context="chat with Alice"))
    assert fact.text == "I moved to Berlin in May 2023."
    assert fact.metadata == {}

    assert speaker_from_context("Alice") == "Alice"
    assert speaker_from_context("Alice's diary") == "Alice"
    assert speaker_from_context("Bob Smith") == "Bob Smith"
    for context in ("chat with Alice", "Meeting notes", "Travel", "Cooking", ""):
        assert speaker_from_context(context) is None, context


def test_the_agents_own_turns_are_experience_facts():
    turn = Turn("assistant", "I recommended the Python course to the user yesterday.", "t1")
    [fact] = extract(ChunkInput(text=turn.text, turns=(turn,), event_date=REFERENCE))

    assert fact.fact_type == "experience"
    assert (
        fact.text == "The assistant said: I recommended the Python course to the user yesterday (on 29 February 2024)."
    )
    assert fact.metadata == {"speaker": "assistant", "turn_id": "t1"}
    assert names(fact) == ["Python"]  # a role is not an entity: it would link every fact of the bank
    for role in ("Agent", "AI", "bot", "System"):
        [fact] = extract(ChunkInput(text="x", turns=(Turn(role, "I booked the flight to Rome for Alice."),)))
        assert fact.fact_type == "experience", role


def test_user_turns_are_world_facts_about_the_user():
    [fact] = extract(ChunkInput(text="User: I love hiking in the Alps and I have two dogs."))
    assert fact.fact_type == "world"
    assert fact.text == "The user loves hiking in the Alps and the user has two dogs."
    assert fact.fact_kind == "ongoing"


# --- labels -----------------------------------------------------------------------------------------------------

LABELS = [
    {
        "key": "sentiment",
        "description": "",
        "type": "value",
        "values": [
            {"value": "positive", "description": "happy, love, great"},
            {"value": "negative", "description": "sad, angry, hate"},
        ],
        "optional": True,
        "tag": True,
    },
    {
        "key": "topic",
        "description": "",
        "type": "multi-values",
        "values": [
            {"value": "hiking", "description": ""},
            {"value": "pets", "description": "dogs cats"},
            {"value": "work", "description": ""},
        ],
        "optional": True,
        "tag": False,
    },
    {"key": "summary", "description": "", "type": "text", "values": [], "optional": True, "tag": False},
]


def test_labels_are_assigned_from_literal_values_and_description_words():
    chunk = ChunkInput(text="User: I hate work but I love hiking with my dogs.")
    [fact] = extract(chunk, entity_labels=LABELS)

    labels = names(fact, "label")
    # "value" picks one: the earliest match ("hate" comes before "love"); multi-values takes every match in order.
    assert labels == ["sentiment:negative", "topic:work", "topic:hiking", "topic:pets"]
    assert all(e.entity_type is None for e in fact.entities if e.kind == "label")
    assert fact.tags == ["sentiment:negative"]  # only the group with tag: true
    assert not any(name.startswith("summary:") for name in labels)  # text labels need a model


def test_label_values_match_whole_words_only():
    [fact] = extract(
        ChunkInput(text="User: I went to the networking event at the co-working space."), entity_labels=LABELS
    )
    assert names(fact, "label") == []
    assert fact.tags == []


def test_without_free_form_entities_only_labels_remain():
    chunk = ChunkInput(text="User: I love hiking in the Alps with Anna from Google.")
    [fact] = extract(chunk, entity_labels=LABELS, entities_allow_free_form=False)
    assert [(e.name, e.kind) for e in fact.entities] == [("sentiment:positive", "label"), ("topic:hiking", "label")]

    turn = Turn("Caroline", "I went to a LGBTQ support group yesterday and it was so powerful.", "D1:3")
    [fact] = extract(ChunkInput(text="", turns=(turn,), event_date=REFERENCE), entities_allow_free_form=False)
    assert fact.entities == []  # the speaker too
    assert fact.metadata["speaker"] == "Caroline"


# --- modes ------------------------------------------------------------------------------------------------------

CONVERSATION = ChunkInput(
    text="Alice: I started a new job at Google three days ago.\nBob: Congrats! I love hiking.",
    event_date=REFERENCE,
)


def test_verbatim_mode_stores_the_chunk_as_one_fact_with_entities_and_dates():
    [fact] = extract(CONVERSATION, mode="verbatim", entity_labels=LABELS)

    assert fact.text == CONVERSATION.text
    assert [(e.name, e.kind, e.entity_type) for e in fact.entities] == [
        ("Alice", "regular", "PERSON"),
        ("Bob", "regular", "PERSON"),
        ("Google", "regular", None),
        ("sentiment:positive", "label", None),
        ("topic:hiking", "label", None),
    ]
    assert (fact.occurred_start, fact.occurred_end) == day_range(date(2024, 2, 27))
    assert fact.fact_kind == "event"
    assert fact.metadata == {}  # two speakers: no single one to name


def test_chunks_mode_stores_the_chunk_with_labels_only():
    [fact] = extract(CONVERSATION, mode="chunks", entity_labels=LABELS)

    assert fact.text == CONVERSATION.text
    assert [(e.name, e.kind) for e in fact.entities] == [
        ("sentiment:positive", "label"),
        ("topic:hiking", "label"),
    ]
    assert fact.tags == ["sentiment:positive"]
    assert fact.occurred_start is None


def test_custom_mode_behaves_like_concise_and_empty_chunks_give_nothing():
    assert extract(CONVERSATION, mode="custom", custom_instructions="only jobs") == extract(CONVERSATION)
    assert extract(ChunkInput(text="   "), mode="verbatim") == []
    assert extract(ChunkInput(text="")) == []


def test_sentences_split_after_punctuation_but_not_after_abbreviations():
    text = "I met Dr. Smith in the U.S. last year. It was great! Was it?\nNew line here"
    assert split_sentences(text) == [
        "I met Dr. Smith in the U.S. last year.",
        "It was great!",
        "Was it?",
        "New line here",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Alice works at Google as a software engineer.", ["Alice", "Google"]),
        ("Alice and Bob later visited the Louvre again.", ["Alice", "Bob", "Louvre"]),
        ("James said he would come to the party.", ["James"]),
        ("Nature is beautiful in the spring mountains.", []),
        ("Setbacks can be tough for anyone starting out.", []),
        ("Took me ages to finish the painting for Anna.", ["Anna"]),
        ("Visiting Paris with my friend Jack was fun.", ["Paris", "Jack"]),
        ("We loved the new Lord of the Rings box set.", ["Lord of the Rings"]),
        ("I got Nike and Under Armour shoes in New York City.", ["Nike", "Under Armour", "New York City"]),
        ("It was SO INTENSE at the NBA game on Friday.", ["NBA"]),
    ],
)
def test_sentence_initial_words_are_names_only_when_they_look_like_one(text, expected):
    [fact] = extract(ChunkInput(text=text, event_date=REFERENCE), mode="verbose")
    assert names(fact) == expected


@pytest.mark.parametrize("text", ["Alice got promoted", "Hello world", "Bob left"])
def test_plain_text_someone_asked_to_remember_is_never_dropped(text):
    facts = OfflineExtractor().extract(ChunkInput(text=text), ExtractionSettings()).facts
    assert len(facts) == 1
    assert text in facts[0].text


def test_a_short_sentence_naming_someone_is_a_fact_in_a_conversation_too():
    chunk = ChunkInput(text="Ann: Alice got promoted!", turns=(Turn("Ann", "Alice got promoted!", "t1"),))
    facts = OfflineExtractor().extract(chunk, ExtractionSettings()).facts
    assert [f.metadata["turn_id"] for f in facts] == ["t1"]
    assert "Alice" in {e.name for e in facts[0].entities}
