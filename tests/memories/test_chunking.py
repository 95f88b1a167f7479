"""Chunking: sizes respected, boundaries preferred, conversations split between turns, deterministic."""

import json

from memories.chunking import chunk_content, parse_turns, split_text


def test_short_text_is_one_chunk():
    assert [c.text for c in chunk_content("Alice works at Google.", size=3000)] == ["Alice works at Google."]


def test_long_text_splits_on_paragraphs_first_and_loses_nothing():
    paragraphs = [f"Paragraph {i} " + "word " * 60 for i in range(10)]
    text = "\n\n".join(paragraphs)
    chunks = chunk_content(text, size=700)
    assert all(len(chunk.text) <= 700 for chunk in chunks)
    assert "".join(chunk.text for chunk in chunks) == text
    assert all(chunk.text.startswith("Paragraph") for chunk in chunks)


def test_sentences_are_kept_whole_when_a_paragraph_is_too_long():
    text = " ".join(f"Sentence number {i} says something." for i in range(100))
    chunks = split_text(text, 300)
    assert all(len(chunk) <= 300 for chunk in chunks)
    assert all(chunk.rstrip().endswith(".") for chunk in chunks)


def test_a_word_longer_than_the_chunk_is_cut_by_characters():
    chunks = split_text("x" * 1000, 300)
    assert [len(c) for c in chunks] == [300, 300, 300, 100]


def test_chunking_is_deterministic_and_hashes_follow_text_and_context():
    text = "\n\n".join("Alpha beta gamma. " * 40 for _ in range(5))
    first, second = chunk_content(text, size=500), chunk_content(text, size=500)
    assert [c.text for c in first] == [c.text for c in second]
    assert first[0].content_hash("ctx") == second[0].content_hash("ctx")
    assert first[0].content_hash("ctx") != first[0].content_hash("other")


def test_a_json_conversation_splits_only_between_turns_and_keeps_turn_ids():
    turns = [
        {"speaker": "Caroline" if i % 2 else "Melanie", "dia_id": f"D1:{i}", "text": f"Message {i} " * 20}
        for i in range(1, 21)
    ]
    chunks = chunk_content(json.dumps(turns), size=800)
    assert len(chunks) > 1
    assert sum(len(c.turns) for c in chunks) == 20
    assert [t.turn_id for c in chunks for t in c.turns] == [f"D1:{i}" for i in range(1, 21)]
    for chunk in chunks:
        assert chunk.text.splitlines() == [f"{t.speaker}: {t.text}" for t in chunk.turns]


def test_role_content_turns_are_recognised_and_other_json_is_text():
    assert parse_turns(json.dumps([{"role": "user", "content": "hi"}]))[0].speaker == "user"
    assert parse_turns(json.dumps([{"role": "user"}])) is None
    assert parse_turns(json.dumps({"role": "user", "content": "hi"})) is None
    assert parse_turns("[not json") is None


def test_an_oversize_turn_is_split_but_keeps_its_speaker_and_id():
    turns = [{"speaker": "Ann", "id": 7, "text": "Long sentence here. " * 100}]
    chunks = chunk_content(json.dumps(turns), size=3000, structured_size=500)
    assert len(chunks) > 1
    assert {t.speaker for c in chunks for t in c.turns} == {"Ann"}
    assert {t.turn_id for c in chunks for t in c.turns} == {"7"}
