"""The data routes through the API: list and read memories, documents, chunks, entities, graphs, tags and stats;
422 for bad parameters, 404 for unknown banks and for ids of another bank; no N+1 on list routes."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from memories.models import Chunk, Document, Entity, MemoryUnit, Operation

pytestmark = pytest.mark.django_db

B = "/v1/default/banks"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def retain(api, bank_id, *contents, document_id=None, tags=None, timestamp="2024-05-08T10:00:00Z", **fields):
    items = [
        {"content": c, "timestamp": timestamp, "document_id": document_id, "tags": tags, **fields} for c in contents
    ]
    response = api.post(f"{B}/{bank_id}/memories", {"items": items}, format="json")
    assert response.status_code == 200, response.json()


def get(api, path, **params):
    response = api.get(path, params)
    assert response.status_code == 200, (path, response.json())
    return response.json()


@pytest.fixture
def bank(api):
    """Two documents about people, tagged differently, with entities and links."""
    retain(
        api,
        "data",
        "Alice works at Google as a software engineer. Alice lives in Zurich with her cat.",
        document_id="doc-alice",
        tags=["team:a"],
        metadata={"source": "chat"},
    )
    retain(
        api,
        "data",
        "Bob is a data scientist in Berlin. Bob met Alice at a conference in Lisbon.",
        document_id="notes/bob",
        tags=["team:b"],
        timestamp="2024-06-01T09:00:00Z",
    )
    return "data"


# --- memories/list --------------------------------------------------------------------------------------------


def test_list_memories_returns_the_contracts_item_shapes(api, bank):
    body = get(api, f"{B}/{bank}/memories/list")
    assert body["total"] == len(body["items"]) >= 4
    assert (body["limit"], body["offset"]) == (100, 0)
    item = next(i for i in body["items"] if "Google" in i["text"])
    assert isinstance(item["entities"], str) and "Alice" in item["entities"].split(", ")
    assert item["metadata"] == {"source": "chat"}
    assert item["document_id"] == "doc-alice"
    assert item["tags"] == ["team:a"]
    assert item["state"] == "valid" and isinstance(item["proof_count"], int)
    assert item["date"].startswith("2024-05-08")
    assert item["chunk_id"] and item["source_memory_ids"] == []
    # Newest mention first.
    assert body["items"][0]["mentioned_at"].startswith("2024-06-01")


def test_list_memories_filters_by_document_query_entity_tags_and_window(api, bank):
    by_doc = get(api, f"{B}/{bank}/memories/list", document_id="notes/bob")
    assert by_doc["total"] >= 2 and {i["document_id"] for i in by_doc["items"]} == {"notes/bob"}
    by_q = get(api, f"{B}/{bank}/memories/list", q="zurich")
    assert by_q["total"] == 1 and "Zurich" in by_q["items"][0]["text"]
    bob = Entity.objects.get(bank__bank_id=bank, canonical_name="Bob")
    by_entity = get(api, f"{B}/{bank}/memories/list", entity_id=str(bob.pk))
    assert by_entity["total"] >= 1 and all("Bob" in i["entities"] for i in by_entity["items"])
    by_tag = get(api, f"{B}/{bank}/memories/list", tags=["team:b"], tags_match="all_strict")
    assert by_tag["total"] == by_doc["total"]
    window = get(api, f"{B}/{bank}/memories/list", time_field="mentioned_at", start_date="2024-05-20T00:00:00Z")
    assert window["total"] == by_doc["total"]
    assert get(api, f"{B}/{bank}/memories/list", type="experience")["total"] == 0
    everything = get(api, f"{B}/{bank}/memories/list")["total"]
    assert get(api, f"{B}/{bank}/memories/list", consolidation_state="pending")["total"] == everything
    assert get(api, f"{B}/{bank}/memories/list", consolidation_state="done")["total"] == 0


def test_list_memories_pages(api, bank):
    everything = get(api, f"{B}/{bank}/memories/list")["items"]
    first = get(api, f"{B}/{bank}/memories/list", limit=2, offset=0)
    second = get(api, f"{B}/{bank}/memories/list", limit=2, offset=2)
    assert [i["id"] for i in first["items"] + second["items"]] == [i["id"] for i in everything[:4]]
    assert first["total"] == len(everything)
    assert get(api, f"{B}/{bank}/memories/list", limit=0)["items"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"type": "opinion"},
        {"limit": "-1"},
        {"offset": "x"},
        {"entity_id": "not-a-uuid"},
        {"start_date": "yesterday-ish"},
        {"time_field": "when"},
        {"tags_match": "some"},
        {"state": "deleted"},
    ],
)
def test_list_memories_refuses_bad_parameters_with_422(api, bank, params):
    response = api.get(f"{B}/{bank}/memories/list", params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


def test_list_memories_of_an_unknown_bank_is_404(api):
    assert api.get(f"{B}/nobody/memories/list").status_code == 404


def test_list_routes_run_a_fixed_number_of_queries_whatever_the_page_size(api, bank):
    retain(api, bank, *[f"Carol visited museum number {n} in Vienna." for n in range(12)], document_id="museums")
    retain(api, bank, "Dave likes tea.", document_id="d2", tags=["x"])
    routes = [
        f"{B}/{bank}/memories/list",
        f"{B}/{bank}/documents",
        f"{B}/{bank}/entities",
        f"{B}/{bank}/entities/graph",
        f"{B}/{bank}/graph",
        f"{B}/{bank}/tags",
        f"{B}/{bank}/documents/museums/chunks",
    ]
    for route in routes:
        counts = []
        for limit in (1, 50):
            with CaptureQueriesContext(connection) as queries:
                response = api.get(route, {"limit": limit})
            assert response.status_code == 200, route
            counts.append(len(queries))
        assert counts[0] == counts[1], (route, counts)
        assert counts[1] <= 8, (route, counts)


# --- memories/{id} ----------------------------------------------------------------------------------------------


def test_get_memory_returns_the_unit_and_404s_for_other_banks_and_bad_ids(api, bank):
    retain(api, "other", "Eve keeps bees in Lyon.")
    unit = MemoryUnit.objects.filter(bank__bank_id=bank, text__contains="Google").first()
    body = get(api, f"{B}/{bank}/memories/{unit.pk}")
    assert body["id"] == str(unit.pk) and body["type"] == "world" and "Alice" in body["entities"]
    assert body["document_id"] == "doc-alice" and body["history"] == []
    foreign = MemoryUnit.objects.get(bank__bank_id="other")
    assert api.get(f"{B}/{bank}/memories/{foreign.pk}").status_code == 404
    assert api.patch(f"{B}/{bank}/memories/{foreign.pk}", {"text": "x"}, format="json").status_code == 404
    assert api.delete(f"{B}/{bank}/memories/{foreign.pk}").status_code == 404
    assert api.get(f"{B}/{bank}/memories/not-a-uuid").status_code == 404
    assert api.get(f"{B}/nobody/memories/{unit.pk}").status_code == 404
    assert MemoryUnit.objects.filter(pk=foreign.pk).exists()


# --- documents and chunks ---------------------------------------------------------------------------------------


def test_documents_list_search_tags_and_counts(api, bank):
    body = get(api, f"{B}/{bank}/documents")
    assert body["total"] == 2 and body["total_is_estimate"] is False
    assert [d["id"] for d in body["items"]] == ["notes/bob", "doc-alice"]  # newest write first
    alice = body["items"][1]
    assert alice["memory_unit_count"] == MemoryUnit.objects.filter(document__document_id="doc-alice").count() > 0
    assert alice["text_length"] > 20 and alice["tags"] == ["team:a"] and alice["bank_id"] == bank
    searched = get(api, f"{B}/{bank}/documents", q="LISBON")
    assert [(d["id"], d["matched_fields"]) for d in searched["items"]] == [("notes/bob", ["original_text"])]
    assert get(api, f"{B}/{bank}/documents", q="notes")["items"][0]["matched_fields"] == ["id"]
    assert [d["id"] for d in get(api, f"{B}/{bank}/documents", tags=["team:a"])["items"]] == ["doc-alice"]
    assert get(api, f"{B}/{bank}/documents", limit=1, offset=1)["items"][0]["id"] == "doc-alice"
    assert api.get(f"{B}/{bank}/documents", {"limit": -5}).status_code == 422
    assert api.get(f"{B}/nobody/documents").status_code == 404


def test_get_document_and_its_chunks_even_with_a_slash_in_the_id(api, bank):
    body = get(api, f"{B}/{bank}/documents/notes%2Fbob")
    assert body["id"] == "notes/bob" and "Lisbon" in body["original_text"]
    assert body["memory_unit_count"] == sum(body["nodes_by_fact_type"].values()) > 0
    assert body["content_hash"] and body["tags"] == ["team:b"]
    chunks = get(api, f"{B}/{bank}/documents/notes/bob/chunks")
    assert chunks["total"] == 1 and chunks["items"][0]["document_id"] == "notes/bob"
    assert chunks["items"][0]["chunk_index"] == 0 and "Berlin" in chunks["items"][0]["chunk_text"]
    chunk = get(api, f"/v1/default/chunks/{chunks['items'][0]['chunk_id']}")
    assert chunk == chunks["items"][0]
    assert api.get(f"{B}/{bank}/documents/missing").status_code == 404
    assert api.get(f"{B}/{bank}/documents/missing/chunks").status_code == 404
    assert api.get("/v1/default/chunks/not-a-uuid").status_code == 404
    assert api.get(f"/v1/default/chunks/{uuid.uuid4()}").status_code == 404
    assert api.get(f"{B}/{bank}/documents/notes/bob/chunks", {"limit": 0}).status_code == 422


def test_a_chunk_outside_the_callers_bank_scope_is_not_found(bank):
    from banks.models import Bank
    from hindsight_site.errors import NotFound
    from memories import selectors

    chunk = Chunk.objects.filter(bank__bank_id=bank).first()
    assert selectors.get_chunk(chunk_id=str(chunk.pk), banks=Bank.objects.filter(bank_id=bank)).pk == chunk.pk
    Bank.objects.create(bank_id="elsewhere")
    with pytest.raises(NotFound):
        selectors.get_chunk(chunk_id=str(chunk.pk), banks=Bank.objects.filter(bank_id="elsewhere"))


def test_document_routes_do_not_reach_another_banks_documents(api, bank):
    retain(api, "other", "Eve keeps bees in Lyon.", document_id="doc-alice")
    assert api.get(f"{B}/other/documents/notes%2Fbob").status_code == 404
    assert api.patch(f"{B}/other/documents/notes%2Fbob", {"tags": []}, format="json").status_code == 404
    assert api.delete(f"{B}/other/documents/notes%2Fbob").status_code == 404
    assert Document.objects.filter(bank__bank_id=bank, document_id="notes/bob").exists()
    other = get(api, f"{B}/other/documents/doc-alice")
    assert "bees" in other["original_text"]


# --- entities, graphs, tags, stats ------------------------------------------------------------------------------


def test_entities_list_by_mentions_detail_and_graph(api, bank):
    body = get(api, f"{B}/{bank}/entities")
    names = [e["canonical_name"] for e in body["items"]]
    assert names[0] == "Alice" and {"Bob", "Google"} <= set(names)
    counts = [e["mention_count"] for e in body["items"]]
    assert counts == sorted(counts, reverse=True)
    assert get(api, f"{B}/{bank}/entities", q="bo")["items"][0]["canonical_name"] == "Bob"
    tagged = get(api, f"{B}/{bank}/entities", tags=["team:a"], tags_match="all_strict")
    assert "Bob" not in {e["canonical_name"] for e in tagged["items"]}
    alice = body["items"][0]
    detail = get(api, f"{B}/{bank}/entities/{alice['id']}")
    assert detail["canonical_name"] == "Alice" and detail["observations"] == []
    assert detail["mention_count"] == alice["mention_count"]
    graph = get(api, f"{B}/{bank}/entities/graph")
    assert graph["total_edges"] == len(graph["edges"]) > 0
    node_ids = {n["data"]["id"] for n in graph["nodes"]}
    assert all({e["data"]["source"], e["data"]["target"]} <= node_ids for e in graph["edges"])
    assert all(isinstance(e["data"]["weight"], int) for e in graph["edges"])
    assert api.get(f"{B}/{bank}/entities/{uuid.uuid4()}").status_code == 404
    retired = api.post(f"{B}/{bank}/entities/{alice['id']}/regenerate")
    assert retired.status_code == 410 and "mental models" in retired.json()["detail"]
    assert api.get(f"{B}/{bank}/entities", {"tag_groups": "{not json"}).status_code == 422
    assert api.get(f"{B}/{bank}/entities", {"tags": "a", "tag_groups": '[{"tags": ["a"]}]'}).status_code == 422


def test_memory_graph_links_only_the_listed_units(api, bank):
    graph = get(api, f"{B}/{bank}/graph", limit=3)
    assert len(graph["nodes"]) == len(graph["table_rows"]) == 3 and graph["total_units"] >= 4
    ids = {n["data"]["id"] for n in graph["nodes"]}
    assert all({e["data"]["source"], e["data"]["target"]} <= ids for e in graph["edges"])
    full = get(api, f"{B}/{bank}/graph")
    assert full["edges"] and {e["data"]["linkType"] for e in full["edges"]} <= {"temporal", "semantic", "entity"}
    only_a = get(api, f"{B}/{bank}/graph", tags=["team:a"])
    assert {row["document_id"] for row in only_a["table_rows"]} == {"doc-alice"}


def test_tags_are_counted_and_searched_with_wildcards(api, bank):
    retain(api, bank, "Frank plays chess.", tags=["user:frank", "role-admin"])
    body = get(api, f"{B}/{bank}/tags")
    counts = {item["tag"]: item["count"] for item in body["items"]}
    assert counts["team:a"] == MemoryUnit.objects.filter(bank__bank_id=bank, tags__contains=["team:a"]).count()
    assert body["total"] == 4
    assert [i["tag"] for i in get(api, f"{B}/{bank}/tags", q="team:*")["items"]] == sorted(
        ["team:a", "team:b"], key=lambda t: -counts[t]
    )
    assert [i["tag"] for i in get(api, f"{B}/{bank}/tags", q="*-ADMIN")["items"]] == ["role-admin"]
    assert get(api, f"{B}/{bank}/tags", q="user_")["items"] == []  # "_" is literal, not a LIKE wildcard
    assert get(api, f"{B}/{bank}/tags", source="mental_models")["items"] == []
    assert api.get(f"{B}/{bank}/tags", {"source": "files"}).status_code == 422


def test_stats_and_timeseries_count_the_bank(api, bank):
    stats = get(api, f"{B}/{bank}/stats")
    units = MemoryUnit.objects.filter(bank__bank_id=bank)
    assert stats["total_nodes"] == units.count() and stats["nodes_by_fact_type"]["world"] == units.count()
    assert stats["total_documents"] == 2 and stats["total_links"] == sum(stats["links_by_link_type"].values())
    assert stats["pending_consolidation"] == units.count() and stats["total_observations"] == 0
    series = get(api, f"{B}/{bank}/stats/memories-timeseries", period="1d")
    assert series["trunc"] == "hour" and len(series["buckets"]) in (24, 25)
    assert sum(b["world"] for b in series["buckets"]) == units.count()  # ingested just now
    by_event = get(api, f"{B}/{bank}/stats/memories-timeseries", period="1d", time_field="mentioned_at")
    assert sum(b["world"] for b in by_event["buckets"]) == 0  # they were said in 2024
    assert api.get(f"{B}/{bank}/stats/memories-timeseries", {"period": "2y"}).status_code == 422
    assert api.get(f"{B}/nobody/stats").status_code == 404


# --- dry run -----------------------------------------------------------------------------------------------------


def test_dry_run_extract_returns_facts_and_stores_nothing(api, bank):
    before = (MemoryUnit.objects.count(), Document.objects.count(), Entity.objects.count(), Operation.objects.count())
    response = api.post(
        f"{B}/{bank}/memories/dry-run-extract",
        {"content": "Grace moved to Oslo last week. Grace adopted a dog.", "timestamp": "2024-03-10T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert len(body["facts"]) == 2 and body["chunks"][0]["fact_count"] == 2
    assert "Grace" in body["facts"][0]["entities"] and body["facts"][0]["chunk_index"] == 0
    assert body["facts"][0]["occurred_start"].startswith("2024-02-26")  # "last week" before 10 March
    assert body["usage"]["total_tokens"] == 0
    small = api.post(
        f"{B}/new-bank/memories/dry-run-extract",
        {
            "content": " ".join(f"Sentence number {n} is here." for n in range(40)),
            "retain_chunk_size": 200,
            "retain_extraction_mode": "chunks",
        },
        format="json",
    )
    assert small.status_code == 200 and len(small.json()["chunks"]) > 1
    assert all(len(chunk["text"]) <= 200 for chunk in small.json()["chunks"])
    too_small = api.post(
        f"{B}/{bank}/memories/dry-run-extract", {"content": "x", "retain_chunk_size": 5}, format="json"
    )
    assert too_small.status_code == 422  # the registry's range, reported against the body field
    assert too_small.json()["detail"][0]["loc"] == ["body", "retain_chunk_size"]
    after = (MemoryUnit.objects.count(), Document.objects.count(), Entity.objects.count(), Operation.objects.count())
    assert after == before
    assert not Document.objects.filter(bank__bank_id="new-bank").exists()
    assert api.post(f"{B}/{bank}/memories/dry-run-extract", {}, format="json").status_code == 422
    bad_mode = api.post(
        f"{B}/{bank}/memories/dry-run-extract", {"content": "x", "retain_extraction_mode": "loud"}, format="json"
    )
    assert bad_mode.status_code == 422


HOSTILE_GETS = [
    "memories/list?offset=99999999999999999999999",
    "memories/list?limit=99999999999999999999999",
    "memories/list?start_date=9999-12-31T23:59:59-23:00",
    "memories/list?end_date=0001-01-01T00:00:00%2B23:00",
    "memories/list?q=%00",
    "documents/%00",
    "documents/%00/chunks",
    "documents?offset=-1",
    "entities?tag_groups=" + "[" * 5000 + "]" * 5000,
    "entities?tag_groups=[{}]",
    "entities/graph?min_count=99999999999999999999999",
    "tags?offset=99999999999999999999999",
    "graph?chunk_id=%00",
    "stats?refresh=maybe",
    "stats/memories-timeseries?time_field=%00",
]


@pytest.mark.parametrize("route", HOSTILE_GETS)
def test_hostile_query_strings_never_get_a_500(api, bank, route):
    response = api.get(f"{B}/{bank}/{route}")
    assert response.status_code < 500, response.content
    # Either refused with the error envelope, or (an oversized limit) served clamped to the largest page.
    assert "detail" in response.json() if response.status_code >= 400 else response.json()["limit"] == 1000


def test_hostile_bodies_get_a_4xx_and_change_nothing(api, bank):
    unit = MemoryUnit.objects.filter(bank__bank_id=bank).first()
    for body in (
        {"occurred_start": "9999-12-31T23:59:59-23:00"},
        {"entities": ["\x00"]},
        {"text": 5},
        {"entities": "Alice"},
    ):
        response = api.patch(f"{B}/{bank}/memories/{unit.pk}", body, format="json")
        assert response.status_code == 422, (body, response.content)
    for body in ({"tags": ["\x00"]}, {"observation_scopes": [["\x00"]]}, {"tags": "a"}):
        response = api.patch(f"{B}/{bank}/documents/doc-alice", body, format="json")
        assert response.status_code == 422, (body, response.content)
    assert api.get(f"{B}/%00/memories/list").status_code == 404
    unit.refresh_from_db()
    assert unit.edited_at is None
    assert Document.objects.get(bank__bank_id=bank, document_id="doc-alice").tags == ["team:a"]


def test_document_history_lists_the_async_work_that_wrote_the_document(api, bank):
    from banks.models import Bank

    owner = Bank.objects.get(bank_id=bank)
    item = {"content": "x", "document_id": "doc-alice", "update_mode": "replace"}
    first = Operation.objects.create(
        bank=owner, operation_type="retain", payload={"items": [item]}, result={"units_created": 3}
    )
    Operation.objects.create(
        bank=owner, operation_type="retain", payload={"items": [{**item, "document_id": "notes/bob"}]}
    )
    second = Operation.objects.create(
        bank=owner, operation_type="retain", payload={"items": [{**item, "update_mode": "append"}]}
    )
    body = get(api, f"{B}/{bank}/documents/doc-alice/history")
    assert body["document_id"] == "doc-alice" and body["total"] == 2
    assert [(e["operation_id"], e["kind"]) for e in body["items"]] == [
        (str(second.pk), "append"),
        (str(first.pk), "retain"),
    ]
    assert body["items"][1]["facts_added"] == 3
    assert get(api, f"{B}/{bank}/documents/doc-alice/history", limit=1, offset=1)["items"][0]["kind"] == "retain"
    assert api.get(f"{B}/{bank}/documents/missing/history").status_code == 404


def test_tag_filtered_entity_graph_counts_only_matching_memories(api, bank):
    graph = get(api, f"{B}/{bank}/entities/graph", tags=["team:b"], tags_match="all_strict")
    labels = {n["data"]["label"] for n in graph["nodes"]}
    assert "Bob" in labels and not labels & {"Google", "Zurich"}
    everything = get(api, f"{B}/{bank}/entities/graph")
    assert {"Google", "Zurich"} & {n["data"]["label"] for n in everything["nodes"]}
    bob = next(n["data"] for n in graph["nodes"] if n["data"]["label"] == "Bob")
    assert (
        bob["mentionCount"]
        == MemoryUnit.objects.filter(
            bank__bank_id=bank, tags__contains=["team:b"], unit_entities__entity__canonical_name="Bob"
        ).count()
    )
    assert get(api, f"{B}/{bank}/entities/graph", min_count=1000)["edges"] == []


def test_no_list_route_shows_another_banks_data(api, bank):
    retain(
        api,
        "neighbour",
        "Zed hides secret plans in Quito.",
        document_id="zed-doc",
        tags=["secret"],
        entities=[{"text": "Zed", "type": "PERSON"}],
    )
    secret_ids = {str(pk) for pk in MemoryUnit.objects.filter(bank__bank_id="neighbour").values_list("pk", flat=True)}
    secret_entities = {str(pk) for pk in Entity.objects.filter(bank__bank_id="neighbour").values_list("pk", flat=True)}
    bodies = [
        get(api, f"{B}/{bank}/{route}")
        for route in ("memories/list", "documents", "entities", "entities/graph", "graph", "tags", "stats")
    ]
    text = str(bodies)
    assert "Zed" not in text and "Quito" not in text and "secret" not in text and "zed-doc" not in text
    assert not any(identifier in text for identifier in secret_ids | secret_entities)
    assert get(api, f"{B}/{bank}/stats")["total_documents"] == 2
    zed = Entity.objects.get(bank__bank_id="neighbour", canonical_name="Zed")
    assert api.get(f"{B}/{bank}/entities/{zed.pk}").status_code == 404
    assert api.get(f"{B}/{bank}/memories/list", {"entity_id": str(zed.pk)}).json()["total"] == 0
    assert api.get(f"{B}/{bank}/documents/zed-doc/chunks").status_code == 404
