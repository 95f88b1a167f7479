"""Synchronous retain through the API: documents, chunk reuse, entities, links, validation, nothing half-written.

These run the real offline extractor and the real local embedding model against the real database.
"""

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from banks.models import Bank
from memories.models import Chunk, Document, Entity, EntityCooccurrence, MemoryLink, MemoryUnit, UnitEntity

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def retain(api, bank_id, *items, **body):
    return api.post(f"/v1/default/banks/{bank_id}/memories", {"items": list(items), **body}, format="json")


def item(content, **fields):
    return {"content": content, "timestamp": "2024-05-08T13:56:00Z", **fields}


def unit_ids(bank_id, document_id=None):
    units = MemoryUnit.objects.filter(bank__bank_id=bank_id)
    if document_id:
        units = units.filter(document__document_id=document_id)
    return set(units.values_list("id", flat=True))


def test_sync_retain_answers_the_contract_and_stores_embedded_facts(api):
    response = retain(api, "alice", item("Alice works at Google as a software engineer.", context="career"))
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "success": True,
        "bank_id": "alice",
        "items_count": 1,
        "async": False,
        "operation_id": None,
        "operation_ids": None,
        "usage": {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0, "cached_tokens": 0, "thoughts_tokens": 0},
    }
    unit = MemoryUnit.objects.get(bank__bank_id="alice")
    assert "Alice" in unit.text and "Google" in unit.text
    assert len(unit.embedding) == 384
    assert unit.embedding_model
    assert unit.context == "career"
    assert unit.mentioned_at == datetime(2024, 5, 8, 13, 56, tzinfo=UTC)
    names = set(Entity.objects.filter(bank__bank_id="alice").values_list("canonical_name", flat=True))
    assert {"Alice", "Google"} <= names
    bank = Bank.objects.get(bank_id="alice")
    assert bank.last_write_at is not None
    assert bank.embedding_model == unit.embedding_model
    assert Document.objects.get(bank=bank).original_text == "Alice works at Google as a software engineer."


def test_items_sharing_a_document_id_form_one_document(api):
    retain(
        api,
        "shared",
        item("Alice works at Google.", document_id="conv-1"),
        item("Bob is a data scientist.", document_id="conv-1"),
    )
    document = Document.objects.get(bank__bank_id="shared")
    assert document.document_id == "conv-1"
    assert document.original_text == "Alice works at Google.\n\nBob is a data scientist."
    assert document.chunks.count() == 2
    assert MemoryUnit.objects.filter(document=document).count() == 2


def test_retaining_a_document_again_replaces_its_facts(api):
    retain(api, "upsert", item("Alice lives in Paris.", document_id="doc"))
    before = unit_ids("upsert")
    retain(api, "upsert", item("Alice lives in Berlin.", document_id="doc"))
    after = unit_ids("upsert")
    assert before.isdisjoint(after)
    texts = list(MemoryUnit.objects.filter(bank__bank_id="upsert").values_list("text", flat=True))
    assert any("Berlin" in text for text in texts)
    assert not any("Paris" in text for text in texts)
    assert not Entity.objects.filter(bank__bank_id="upsert", canonical_name="Paris").exists()


def test_unchanged_chunks_keep_their_facts_and_identical_retains_add_nothing(api):
    first_part = "Alice adopted a dog named Rex. " * 60
    second_part = "Bob moved to Lisbon last year. " * 60
    body = item(first_part + "\n\n" + second_part, document_id="long")
    with override_settings(HINDSIGHT_CONFIG_DEFAULTS=_defaults(retain_chunk_size=2000)):
        retain(api, "delta", body)
        original_chunks = dict(Chunk.objects.filter(document__document_id="long").values_list("chunk_index", "id"))
        original_units = unit_ids("delta")
        retain(api, "delta", body)
        assert unit_ids("delta") == original_units
        changed = item(first_part + "\n\n" + second_part.replace("Lisbon", "Porto"), document_id="long")
        retain(api, "delta", changed)
    chunks = dict(Chunk.objects.filter(document__document_id="long").values_list("chunk_index", "id"))
    assert chunks[0] == original_chunks[0]
    assert chunks[max(chunks)] != original_chunks[max(original_chunks)]
    kept = {u for u in original_units if MemoryUnit.objects.filter(pk=u, chunk_id=chunks[0]).exists()}
    assert kept and kept <= unit_ids("delta")


def test_append_mode_adds_to_the_document(api):
    retain(api, "append", item("Alice likes tea.", document_id="notes"))
    first = unit_ids("append")
    retain(api, "append", item("Alice also likes chess.", document_id="notes", update_mode="append"))
    document = Document.objects.get(bank__bank_id="append")
    assert document.original_text == "Alice likes tea.\n\nAlice also likes chess."
    assert first < unit_ids("append")
    assert document.chunks.count() == 2


def test_a_conversation_keeps_speakers_turn_ids_and_dates(api):
    turns = [
        {
            "speaker": "Caroline",
            "dia_id": "D1:3",
            "text": "I went to a LGBTQ support group yesterday and it was so powerful.",
        },
        {"speaker": "Melanie", "dia_id": "D1:4", "text": "Wow, that's cool, Caroline! What happened?"},
    ]
    response = retain(api, "convo", item(json.dumps(turns), document_id="session-1"))
    assert response.status_code == 200
    fact = MemoryUnit.objects.get(bank__bank_id="convo", metadata__turn_id="D1:3")
    assert fact.metadata["speaker"] == "Caroline"
    assert fact.occurred_start.date().isoformat() == "2024-05-07"
    mentioned = set(fact.unit_entities.values_list("entity__canonical_name", flat=True))
    assert {"Caroline", "LGBTQ"} <= mentioned


def test_entities_are_shared_counted_and_linked(api):
    retain(
        api,
        "graph",
        item("Alice met Bob at the Louvre.", document_id="a"),
        item("Alice and Bob later visited the Louvre again.", document_id="b"),
    )
    alice = Entity.objects.get(bank__bank_id="graph", canonical_name="Alice")
    assert alice.mention_count == 2
    assert alice.first_seen is not None
    bob = Entity.objects.get(bank__bank_id="graph", canonical_name="Bob")
    pair = EntityCooccurrence.objects.get(
        entity_1=min(alice, bob, key=lambda e: e.id), entity_2=max(alice, bob, key=lambda e: e.id)
    )
    assert pair.count == 2
    kinds = set(MemoryLink.objects.filter(bank__bank_id="graph").values_list("link_type", flat=True))
    assert {"entity", "temporal"} <= kinds


def test_mention_counts_and_first_last_seen_follow_each_retain_and_each_replacement(api):
    retain(api, "seen", item("Alice planted tomatoes.", document_id="a", timestamp="2024-03-01T10:00:00Z"))
    retain(api, "seen", item("Alice sold the tomatoes.", document_id="b", timestamp="2024-06-01T10:00:00Z"))
    retain(api, "seen", item("Alice gave Bob a basket.", document_id="c", timestamp="2024-01-15T10:00:00Z"))
    alice = Entity.objects.get(bank__bank_id="seen", canonical_name="Alice")
    assert alice.mention_count == 3
    assert (alice.first_seen.date().isoformat(), alice.last_seen.date().isoformat()) == ("2024-01-15", "2024-06-01")
    # Replacing a document with text that no longer names Alice takes her mention back, and her last sighting.
    retain(api, "seen", item("The market closed early.", document_id="b", timestamp="2024-06-01T10:00:00Z"))
    alice.refresh_from_db()
    assert alice.mention_count == 2
    assert UnitEntity.objects.filter(entity=alice).count() == 2
    assert alice.last_seen.date().isoformat() == "2024-03-01"
    assert Entity.objects.get(bank__bank_id="seen", canonical_name="Bob").mention_count == 1


def test_caller_supplied_entities_are_attached(api):
    retain(api, "given", item("Met the new client today.", entities=[{"text": "Acme Corp", "type": "ORG"}]))
    entity = Entity.objects.get(bank__bank_id="given", canonical_name="Acme Corp")
    assert entity.metadata == {"type": "ORG"}
    assert UnitEntity.objects.filter(entity=entity).exists()


def test_a_caller_supplied_entity_longer_than_a_name_can_be_is_a_422_and_nothing_is_stored(api):
    response = retain(api, "given-long", item("Met the new client today.", entities=[{"text": "A" * 513}]))
    assert response.status_code == 422, response.content
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "items", 0, "entities", 0]
    assert "512" in problem["msg"]
    assert not MemoryUnit.objects.filter(bank__bank_id="given-long").exists()


def test_an_extracted_name_longer_than_the_column_is_left_out_and_the_text_is_still_retained(api):
    # Found by a hand fuzz: 20,000 capitalised words in a row were one "name" of 120,000 characters (a 400 sync,
    # a failed operation async, for a text anyone may send).
    response = retain(api, "long-name", item("Alice " * 20_000 + "went home. Bob stayed in Paris."))
    assert response.status_code == 200, response.content
    names = set(Entity.objects.filter(bank__bank_id="long-name").values_list("canonical_name", flat=True))
    assert names and all(len(name) <= 512 for name in names), names
    assert MemoryUnit.objects.filter(bank__bank_id="long-name").exists()


def test_a_similar_name_seen_with_the_same_people_merges_into_the_existing_entity(api):
    retain(api, "merge", item("Caroline and Melanie went hiking together."))
    retain(api, "merge", item("Caroline and Mel went hiking again."))
    names = set(Entity.objects.filter(bank__bank_id="merge").values_list("canonical_name", flat=True))
    assert "Melanie" in names
    assert "Mel" not in names
    assert Entity.objects.get(bank__bank_id="merge", canonical_name="Melanie").mention_count == 2


def test_unset_timestamps_store_no_date(api):
    retain(api, "undated", {"content": "Alice likes tea.", "timestamp": "unset"})
    unit = MemoryUnit.objects.get(bank__bank_id="undated")
    assert unit.mentioned_at is None
    assert unit.occurred_start is None


@pytest.mark.parametrize(
    ("body", "loc", "message"),
    [
        ({"items": []}, ["body", "items"], "at least one item"),
        (
            {"items": [{"content": "ok"}, {"content": "x", "timestamp": "yesterday"}]},
            ["body", "items", 1, "timestamp"],
            "not an ISO 8601 datetime",
        ),
        ({"items": [{"content": "x", "metadata": {"n": 3}}]}, ["body", "items", 0, "metadata", "n"], "must be strings"),
        ({"items": [{"content": "   "}]}, ["body", "items", 0, "content"], "must not be empty"),
        (
            {"items": [{"content": [{"type": "image", "source": {}}]}]},
            ["body", "items", 0, "content", 0],
            "retains text only",
        ),
        ({"items": [{"content": "x", "update_mode": "merge"}]}, ["body", "items", 0, "update_mode"], "replace, append"),
        ({"items": [{"content": "x", "strategy": "fast"}]}, ["body", "items", 0, "strategy"], "not supported"),
        ({"items": [{"content": "x"}], "operation_id": "not-a-uuid"}, ["body", "operation_id"], "must be a UUID"),
        ({"items": [{"content": "x", "tags": ["ok", 5]}]}, ["body", "items", 0, "tags"], "non-empty strings"),
    ],
)
def test_bad_input_answers_422_naming_the_item_and_field_and_stores_nothing(api, body, loc, message):
    response = api.post("/v1/default/banks/strict/memories", body, format="json")
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(error["loc"] == loc and message in error["msg"] for error in errors), errors
    assert not Bank.objects.filter(bank_id="strict").exists()
    assert not MemoryUnit.objects.filter(bank__bank_id="strict").exists()


@override_settings(HINDSIGHT_RETAIN_MAX_CONTENT_CHARS=1000)
def test_content_above_the_limit_is_refused(api):
    response = retain(api, "big", item("x" * 1001))
    assert response.status_code == 422
    assert "the limit is 1000" in response.json()["detail"][0]["msg"]


def test_text_content_blocks_are_joined(api):
    response = retain(
        api,
        "blocks",
        {"content": [{"type": "text", "text": "Alice likes tea."}, {"type": "text", "text": "Bob likes coffee."}]},
    )
    assert response.status_code == 200
    assert Document.objects.get(bank__bank_id="blocks").original_text == "Alice likes tea.\n\nBob likes coffee."


def test_vectors_from_another_model_are_never_mixed(api):
    Bank.objects.create(bank_id="other-model", embedding_model="litellm:text-embedding-3-large")
    response = retain(api, "other-model", item("Alice likes tea."))
    assert response.status_code == 409
    assert "never mixed" in response.json()["detail"]
    assert not MemoryUnit.objects.filter(bank__bank_id="other-model").exists()


def test_retained_facts_stay_in_their_bank(api):
    retain(api, "bank-one", item("Alice likes tea."))
    retain(api, "bank-two", item("Alice likes coffee."))
    assert MemoryUnit.objects.filter(bank__bank_id="bank-one").count() == 1
    one = Entity.objects.get(bank__bank_id="bank-one", canonical_name="Alice")
    two = Entity.objects.get(bank__bank_id="bank-two", canonical_name="Alice")
    assert one.pk != two.pk
    assert not MemoryLink.objects.filter(bank__bank_id="bank-one", to_unit__bank__bank_id="bank-two").exists()


def _defaults(**overrides):
    from django.conf import settings

    return {**settings.HINDSIGHT_CONFIG_DEFAULTS, **overrides}


def test_entity_labels_become_label_entities_and_tags(api):
    labels = [
        {"key": "mood", "type": "value", "values": [{"value": "happy"}, {"value": "tired"}], "tag": True},
        {"key": "sport", "type": "multi-values", "values": ["tennis", "chess"]},
    ]
    api.patch("/v1/default/banks/labels/config", {"updates": {"entity_labels": labels}}, format="json")
    retain(api, "labels", item("Alice was happy after playing tennis with Bob."))
    unit = MemoryUnit.objects.get(bank__bank_id="labels")
    assert "mood:happy" in unit.tags
    label_names = set(
        Entity.objects.filter(bank__bank_id="labels", kind="label").values_list("canonical_name", flat=True)
    )
    assert label_names == {"mood:happy", "sport:tennis"}
    assert "sport:tennis" not in unit.tags  # only groups with tag: true become tags


def test_free_form_entities_can_be_switched_off(api):
    api.patch(
        "/v1/default/banks/labels-only/config",
        {"updates": {"entities_allow_free_form": False, "entity_labels": [{"key": "topic", "values": ["tennis"]}]}},
        format="json",
    )
    retain(api, "labels-only", item("Alice played tennis with Bob in Paris."))
    names = set(Entity.objects.filter(bank__bank_id="labels-only").values_list("canonical_name", flat=True))
    assert names == {"topic:tennis"}


def _documents(count, sentences, prefix="doc"):
    names = ["Alice", "Bob", "Carol", "Dmitri"]
    return [
        item(
            " ".join(
                f"{names[(i + j) % 4]} visited museum number {i * 100 + j} on a rainy day." for j in range(sentences)
            ),
            document_id=f"{prefix}-{i}",
        )
        for i in range(count)
    ]


def test_a_large_request_is_written_in_two_parts_with_links_across_them(api, monkeypatch):
    from memories import services

    parts_seen = []
    split = services._split_for_pipeline
    monkeypatch.setattr(services, "_split_for_pipeline", lambda plans: parts_seen.append(split(plans)) or split(plans))
    response = retain(api, "halves", *_documents(6, 16))
    assert response.status_code == 200, response.json()
    [parts] = parts_seen
    assert [len(part) for part in parts] == [3, 3]
    assert MemoryUnit.objects.filter(bank__bank_id="halves").count() == 96
    first = MemoryUnit.objects.filter(bank__bank_id="halves", document__document_id__in=["doc-0", "doc-1", "doc-2"])
    # The second part's facts link to the first part's (written earlier in the same transaction).
    assert MemoryLink.objects.filter(bank__bank_id="halves", from_unit__in=first).exclude(to_unit__in=first).exists()
    assert Entity.objects.get(bank__bank_id="halves", canonical_name="Alice").mention_count == 24


def test_small_requests_and_single_documents_are_not_split():
    from memories.services import _split_for_pipeline

    def plan(facts):
        return SimpleNamespace(chunks=[SimpleNamespace(facts=[None] * facts, reuse_id=None)])

    assert len(_split_for_pipeline([plan(10), plan(10)])) == 1  # below PIPELINE_MIN_FACTS
    assert len(_split_for_pipeline([plan(500)])) == 1  # a document is never split
    assert [len(p) for p in _split_for_pipeline([plan(300), plan(100), plan(100), plan(100)])] == [1, 3]


def test_an_embedding_failure_in_the_second_part_leaves_nothing_written(api, monkeypatch):
    from memories.embeddings import EmbeddingError, get_embedding_provider

    provider = get_embedding_provider()
    calls = []
    embed = provider.embed_documents_array

    def fail_second(texts):
        calls.append(len(texts))
        if len(calls) == 2:
            raise EmbeddingError("the model went away", transient=True)
        return embed(texts)

    monkeypatch.setattr(provider, "embed_documents_array", fail_second)
    retain(api, "half-fail", item("Alice keeps bees.", document_id="kept"))
    calls.clear()
    response = retain(api, "half-fail", *_documents(4, 20, prefix="new"))
    assert response.status_code == 503
    assert response.json()["detail"].startswith("Embedding failed")
    assert len(calls) == 2
    # The first part had been written inside the transaction: it is gone with it, and what was there stays.
    assert set(Document.objects.filter(bank__bank_id="half-fail").values_list("document_id", flat=True)) == {"kept"}
    assert MemoryUnit.objects.filter(bank__bank_id="half-fail").count() == 1
    assert Entity.objects.get(bank__bank_id="half-fail", canonical_name="Alice").mention_count == 1
