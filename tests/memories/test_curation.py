"""Curating and deleting through the API: an edited fact is re-embedded and re-linked, entity counts follow every
change, deletes cascade to links, mentions and the observations built only on what went, and nothing deleted or
invalidated ever comes back from recall."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from memories import operations
from memories.embeddings import get_embedding_provider
from memories.models import (
    Chunk,
    Document,
    Entity,
    EntityCooccurrence,
    MemoryLink,
    MemoryUnit,
    Operation,
    UnitEntity,
)
from memories.recall import count_tokens

pytestmark = pytest.mark.django_db

B = "/v1/default/banks"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def retain(api, bank_id, *contents, document_id=None, tags=None, timestamp="2024-05-08T10:00:00Z"):
    items = [{"content": c, "timestamp": timestamp, "document_id": document_id, "tags": tags} for c in contents]
    response = api.post(f"{B}/{bank_id}/memories", {"items": items}, format="json")
    assert response.status_code == 200, response.json()


def recall_ids(api, bank_id, query) -> set[str]:
    response = api.post(
        f"{B}/{bank_id}/memories/recall", {"query": query, "include": {"entities": None}}, format="json"
    )
    assert response.status_code == 200, response.json()
    return {result["id"] for result in response.json()["results"]}


def recall_texts(api, bank_id, query) -> list[str]:
    response = api.post(f"{B}/{bank_id}/memories/recall", {"query": query}, format="json")
    assert response.status_code == 200
    return [result["text"] for result in response.json()["results"]]


def patch(api, bank_id, unit, body, status=200):
    response = api.patch(f"{B}/{bank_id}/memories/{unit.pk}", body, format="json")
    assert response.status_code == status, response.json()
    return response.json()


def unit_with(bank_id: str, needle: str) -> MemoryUnit:
    return MemoryUnit.objects.get(bank__bank_id=bank_id, text__contains=needle)


def links_of(unit: MemoryUnit) -> set[tuple]:
    return set(MemoryLink.objects.filter(from_unit=unit).values_list("to_unit_id", "link_type")) | set(
        MemoryLink.objects.filter(to_unit=unit).values_list("from_unit_id", "link_type")
    )


def observation_on(bank_id: str, *sources: MemoryUnit, text: str) -> MemoryUnit:
    """An observation resting on ``sources`` (what consolidation would write), embedded so recall can find it."""
    return MemoryUnit.objects.create(
        bank=sources[0].bank,
        text=text,
        fact_type="observation",
        source_memory_ids=[s.pk for s in sources],
        proof_count=len(sources),
        embedding=get_embedding_provider().embed_documents([text])[0],
        embedding_model=get_embedding_provider().model_id,
    )


@pytest.fixture
def people(api):
    retain(
        api,
        "cur",
        "Alice works at Google in Zurich.",
        "Alice plays the violin on weekends.",
        "Bob repairs old motorcycles in Berlin.",
        document_id="people",
    )
    retain(api, "cur", "Carol grows tomatoes in Lisbon.", document_id="garden", timestamp="2024-05-08T11:00:00Z")
    return "cur"


def test_editing_the_text_re_embeds_and_re_links_the_fact(api, people):
    unit = unit_with(people, "violin")
    old_vector = list(unit.embedding)
    assert links_of(unit)
    body = patch(api, people, unit, {"text": "Alice repairs old motorcycles in Berlin with Bob."})
    unit.refresh_from_db()
    assert body["text"] == unit.text == "Alice repairs old motorcycles in Berlin with Bob."
    assert body["edited_at"] and unit.edited_at
    assert unit.token_count == count_tokens(unit.text)  # recall budgets by the stored count
    assert list(unit.embedding) != old_vector
    expected = get_embedding_provider().embed_documents([unit.text])[0]
    assert max(abs(a - b) for a, b in zip(unit.embedding, expected, strict=True)) < 1e-6
    bob_fact = unit_with(people, "Bob repairs")
    # The new text is close to Bob's fact: a semantic link now joins them.
    assert (bob_fact.pk, "semantic") in links_of(unit)
    assert str(unit.pk) in recall_ids(api, people, "Who fixes motorcycles?")
    assert not any("violin" in text for text in recall_texts(api, people, "Who plays the violin?"))


def test_editing_entities_and_dates_recounts_mentions_and_relinks(api, people):
    unit = unit_with(people, "violin")
    alice = Entity.objects.get(bank__bank_id=people, canonical_name="Alice")
    mentions_before = alice.mention_count
    body = patch(
        api,
        people,
        unit,
        {"entities": ["Dora", "Zurich"], "resolve_entities": False, "occurred_start": "2023-01-02T00:00:00Z"},
    )
    assert sorted(body["entities"]) == ["Dora", "Zurich"]
    assert body["occurred_start"].startswith("2023-01-02") and body["date"].startswith("2023-01-02")
    alice.refresh_from_db()
    assert alice.mention_count == mentions_before - 1
    dora = Entity.objects.get(bank__bank_id=people, canonical_name="Dora")
    zurich = Entity.objects.get(bank__bank_id=people, canonical_name="Zurich")
    assert dora.mention_count == 1 and zurich.mention_count == 2
    first, second = sorted([dora.pk, zurich.pk])
    assert EntityCooccurrence.objects.get(entity_1_id=first, entity_2_id=second).count == 1
    # A year away from every other fact: no temporal link survives; the entity link to Zurich's other fact exists.
    assert not {kind for _, kind in links_of(unit)} & {"temporal"}
    google = unit_with(people, "Google")
    assert (google.pk, "entity") in links_of(unit)
    patch(api, people, unit, {"entities": []})
    assert not Entity.objects.filter(pk=dora.pk).exists()  # no mention left
    patch(api, people, unit, {"occurred_start": ""})
    unit.refresh_from_db()
    assert unit.occurred_start is None


def test_invalidating_hides_a_fact_from_recall_and_lists_until_it_is_restored(api, people):
    unit = unit_with(people, "tomatoes")
    assert str(unit.pk) in recall_ids(api, people, "Who grows tomatoes?")
    observation = observation_on(people, unit, text="Carol is a keen tomato gardener.")
    body = patch(api, people, unit, {"state": "invalidated", "reason": "Carol moved away"})
    assert body["state"] == "invalidated" and body["invalidation_reason"] == "Carol moved away"
    assert body["invalidated_at"]
    ids = recall_ids(api, people, "Who grows tomatoes?")
    assert str(unit.pk) not in ids and str(observation.pk) not in ids
    assert not MemoryUnit.objects.filter(pk=observation.pk).exists()
    assert not links_of(unit)
    listed = api.get(f"{B}/{people}/memories/list").json()
    assert str(unit.pk) not in {item["id"] for item in listed["items"]}
    archived = api.get(f"{B}/{people}/memories/list", {"state": "invalidated"}).json()
    assert [item["id"] for item in archived["items"]] == [str(unit.pk)]
    body = patch(api, people, unit, {"state": "valid"})
    assert body["state"] == "valid" and body["invalidation_reason"] is None and body["invalidated_at"] is None
    assert links_of(unit)
    assert str(unit.pk) in recall_ids(api, people, "Who grows tomatoes?")


def test_curation_refuses_observations_empty_edits_and_bad_values(api, people):
    fact = unit_with(people, "tomatoes")
    observation = observation_on(people, fact, text="Carol gardens.")
    patch(api, people, observation, {"text": "changed"}, status=400)
    patch(api, people, fact, {}, status=422)
    patch(api, people, fact, {"reason": "only a reason"}, status=422)
    patch(api, people, fact, {"occurred_start": "soon"}, status=422)
    patch(api, people, fact, {"fact_type": "observation"}, status=422)
    patch(api, people, fact, {"state": "deleted"}, status=422)
    patch(api, people, fact, {"text": ""}, status=422)
    patch(api, people, fact, {"occurred_start": "2024-05-02T00:00:00Z", "occurred_end": "2024-05-01T00:00:00Z"}, 400)
    fact.refresh_from_db()
    assert fact.text == "Carol grows tomatoes in Lisbon." and fact.edited_at is None
    body = patch(api, people, fact, {"fact_type": "experience", "context": "garden diary"})
    assert (body["fact_type"], body["context"]) == ("experience", "garden diary")


def test_deleting_a_memory_removes_links_mentions_and_observations_resting_only_on_it(api, people):
    violin = unit_with(people, "violin")
    google = unit_with(people, "Google")
    only_on_violin = observation_on(people, violin, text="Alice is musical.")
    shared = observation_on(people, violin, google, text="Alice has a busy life.")
    alice = Entity.objects.get(bank__bank_id=people, canonical_name="Alice")
    before = alice.mention_count
    response = api.delete(f"{B}/{people}/memories/{violin.pk}")
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": f"Memory '{violin.pk}' deleted", "deleted_count": 2}
    assert not MemoryUnit.objects.filter(pk__in=[violin.pk, only_on_violin.pk]).exists()
    shared.refresh_from_db()
    assert shared.source_memory_ids == [google.pk] and shared.proof_count == 1
    assert not MemoryLink.objects.filter(from_unit_id=violin.pk).exists()
    assert not UnitEntity.objects.filter(unit_id=violin.pk).exists()
    alice.refresh_from_db()
    assert alice.mention_count == before - 1
    assert str(violin.pk) not in recall_ids(api, people, "Who plays the violin?")
    assert api.delete(f"{B}/{people}/memories/{violin.pk}").status_code == 404


def test_clearing_one_type_or_the_whole_bank(api, people):
    fact = unit_with(people, "tomatoes")
    observation = observation_on(people, fact, text="Carol gardens.")
    total = MemoryUnit.objects.filter(bank__bank_id=people).count()
    response = api.delete(f"{B}/{people}/memories?type=observation")
    assert response.status_code == 200 and response.json()["deleted_count"] == 1
    assert not MemoryUnit.objects.filter(pk=observation.pk).exists()
    assert api.delete(f"{B}/{people}/memories?type=opinion").status_code == 422
    response = api.delete(f"{B}/{people}/memories")
    assert response.json() == {"success": True, "message": f"Deleted {total - 1} memories", "deleted_count": total - 1}
    assert not MemoryUnit.objects.filter(bank__bank_id=people).exists()
    assert not Entity.objects.filter(bank__bank_id=people).exists()
    assert not Document.objects.filter(bank__bank_id=people).exists()
    assert recall_ids(api, people, "Who grows tomatoes?") == set()
    assert api.delete(f"{B}/nobody/memories").status_code == 404


def test_deleting_a_document_cascades_and_recall_never_returns_it(api, people):
    retain(api, "cur-other", "Alice works at Google in Zurich.", document_id="people")  # same id, other bank
    people_units = list(MemoryUnit.objects.filter(document__bank__bank_id=people, document__document_id="people"))
    garden = unit_with(people, "tomatoes")
    orphan = observation_on(people, people_units[0], text="Alice is an engineer.")
    mixed = observation_on(people, people_units[0], garden, text="People here have hobbies.")
    bob = Entity.objects.get(bank__bank_id=people, canonical_name="Bob")
    response = api.delete(f"{B}/{people}/documents/people")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": f"Document 'people' and {len(people_units) + 1} memory units deleted",
        "document_id": "people",
        "memory_units_deleted": len(people_units) + 1,
    }
    assert not Document.objects.filter(bank__bank_id=people, document_id="people").exists()
    assert not Chunk.objects.filter(bank__bank_id=people, document__document_id="people").exists()
    assert not MemoryUnit.objects.filter(pk__in=[u.pk for u in people_units] + [orphan.pk]).exists()
    assert not MemoryLink.objects.filter(from_unit_id__in=[u.pk for u in people_units]).exists()
    assert not Entity.objects.filter(pk=bob.pk).exists()  # Bob was only mentioned there
    mixed.refresh_from_db()
    assert mixed.source_memory_ids == [garden.pk]
    for query in ("Where does Alice work?", "Who repairs motorcycles?", "violin"):
        texts = recall_texts(api, people, query)
        assert not any(word in text for text in texts for word in ("Google", "motorcycles", "violin"))
    assert api.get(f"{B}/{people}/documents/people").status_code == 404
    assert MemoryUnit.objects.filter(bank__bank_id="cur-other").count() == 1  # the other bank's document stays
    assert api.get(f"{B}/cur-other/documents/people").status_code == 200


def test_retagging_a_document_replaces_tags_on_it_and_its_units(api):
    retain(api, "tagged", "Erin bakes bread.", "Erin sells it at the market.", document_id="erin", tags=["old", "x"])
    units = MemoryUnit.objects.filter(bank__bank_id="tagged")
    units.filter(text__contains="bakes").update(tags=["old", "x", "label:baker"])  # a tag from an entity label
    observation = observation_on("tagged", units.first(), text="Erin is a baker.")
    response = api.patch(f"{B}/tagged/documents/erin", {"tags": ["new", "x"]}, format="json")
    assert response.status_code == 200 and response.json() == {"success": True}
    assert api.get(f"{B}/tagged/documents/erin").json()["tags"] == ["new", "x"]
    assert sorted(units.get(text__contains="bakes").tags) == ["label:baker", "new", "x"]
    assert sorted(units.get(text__contains="sells").tags) == ["new", "x"]
    assert not MemoryUnit.objects.filter(pk=observation.pk).exists()  # re-consolidated from the new tags
    assert all(unit.consolidated_at is None for unit in units)
    assert api.patch(f"{B}/tagged/documents/erin", {}, format="json").status_code == 422
    assert api.patch(f"{B}/tagged/documents/erin", {"tags": [1]}, format="json").status_code == 422
    scoped = api.patch(f"{B}/tagged/documents/erin", {"observation_scopes": "per_tag"}, format="json")
    assert scoped.status_code == 200
    assert api.get(f"{B}/tagged/documents/erin").json()["observation_scopes"] == "per_tag"
    assert set(units.values_list("observation_scopes", flat=True)) == {"per_tag"}
    assert api.patch(f"{B}/tagged/documents/erin", {"observation_scopes": "bogus"}, format="json").status_code == 422


@pytest.mark.django_db(transaction=True)
def test_reprocessing_a_document_extracts_it_again_as_an_operation(api):
    retain(api, "reproc", "Finn sails boats. Finn lives in Oslo.", document_id="finn")
    before = set(MemoryUnit.objects.filter(bank__bank_id="reproc").values_list("pk", flat=True))
    response = api.post(f"{B}/reproc/documents/finn/reprocess")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["items_count"] == 1
    assert operations.run(body["operation_id"]) == "completed"
    after = set(MemoryUnit.objects.filter(bank__bank_id="reproc").values_list("pk", flat=True))
    assert len(after) == len(before) and not after & before  # every chunk extracted anew
    assert Operation.objects.get(pk=body["operation_id"]).operation_type == "reprocess"
    history = api.get(f"{B}/reproc/documents/finn/history").json()
    assert [(e["kind"], e["facts_added"]) for e in history["items"]] == [("reprocess", len(after))]
    assert api.post(f"{B}/reproc/documents/nope/reprocess").status_code == 404


def test_invalidating_takes_back_entity_mentions_and_pairs_and_restoring_gives_them_back(api, people):
    bob_fact = unit_with(people, "Bob repairs")
    bob = Entity.objects.get(bank__bank_id=people, canonical_name="Bob")
    berlin = Entity.objects.get(bank__bank_id=people, canonical_name="Berlin")
    first, second = sorted([bob.pk, berlin.pk])
    pair = EntityCooccurrence.objects.filter(entity_1_id=first, entity_2_id=second)
    assert (bob.mention_count, pair.get().count) == (1, 1)
    patch(api, people, bob_fact, {"state": "invalidated"})
    bob.refresh_from_db()
    assert bob.mention_count == 0 and not pair.exists()
    listed = api.get(f"{B}/{people}/entities").json()
    assert "Bob" not in {e["canonical_name"] for e in listed["items"]}
    graph = api.get(f"{B}/{people}/entities/graph").json()
    assert str(bob.pk) not in {n["data"]["id"] for n in graph["nodes"]}
    # Deleting an invalidated fact must not take its pairs back a second time.
    patch(api, people, bob_fact, {"state": "valid"})
    bob.refresh_from_db()
    assert (bob.mention_count, pair.get().count) == (1, 1)
    patch(api, people, bob_fact, {"state": "invalidated"})
    retain(api, people, "Bob and Berlin again: Bob cycles through Berlin.", document_id="again")
    count_before_delete = pair.get().count
    assert api.delete(f"{B}/{people}/memories/{bob_fact.pk}").status_code == 200
    assert pair.get().count == count_before_delete


def test_no_recall_channel_returns_a_deleted_or_invalidated_fact(api, people):
    garden = unit_with(people, "tomatoes")
    mixed = observation_on(people, unit_with(people, "Google"), garden, text="Alice and Carol both work hard.")
    gone = {str(u.pk) for u in MemoryUnit.objects.filter(bank__bank_id=people, document__document_id="people")}
    queries = [
        {"query": "Alice Google Zurich violin"},  # keyword and semantic
        {"query": "Who works with Bob in Berlin?"},  # graph through shared entities
        {"query": "What happened on 8 May 2024?", "query_timestamp": "2024-06-01T00:00:00Z"},  # temporal
        {"query": "Who works hard?", "include": {"source_facts": {}}},  # observations and their sources
    ]

    def seen(body: dict) -> set[str]:
        ids = {result["id"] for result in body["results"]}
        for channel in body["trace"]["channels"].values():
            ids |= set(channel["ids"])
        return ids | set(body.get("source_facts") or {})

    def run(query: dict) -> dict:
        response = api.post(f"{B}/{people}/memories/recall", {"trace": True, **query}, format="json")
        assert response.status_code == 200
        return response.json()

    before = set().union(*(seen(run(query)) for query in queries))
    assert gone <= before  # every deleted fact was reachable before
    assert api.delete(f"{B}/{people}/documents/people").status_code == 200
    patch(api, people, garden, {"state": "invalidated"})
    bodies = [run(query) for query in queries]
    assert {"semantic", "keyword", "graph", "temporal"} <= {
        name for body in bodies for name in body["trace"]["channels"]
    }
    after = set().union(*(seen(body) for body in bodies))
    assert not after & gone
    assert str(garden.pk) not in after and str(mixed.pk) not in after
