"""What our client sends, byte for byte where the upstream SDK's wire format matters (client-contracts.md §5.1),
against a scripted ``httpx.MockTransport``: bodies, paths, query strings, headers, sync and async alike.
"""

from __future__ import annotations

import asyncio
import warnings
from datetime import datetime

import httpx
import pytest

from hindsight_client import Hindsight

MODES = ["sync", "async"]


def call(target, mode: str, method: str, /, *args, **kwargs):
    """Call ``method`` (sync) or ``a<method>`` (async, on a fresh event loop) with the same arguments."""
    if mode == "sync":
        return getattr(target, method)(*args, **kwargs)
    return asyncio.run(getattr(target, "a" + method)(*args, **kwargs))


@pytest.mark.parametrize("mode", MODES)
def test_retain_sends_the_upstream_wire_body_with_a_bearer_key(fake, mode):
    fake.respond(httpx.Response(200, json={"success": True, "bank_id": "alice", "items_count": 1, "async": False}))
    client = fake.client(api_key="hs-test-key")
    result = call(
        client,
        mode,
        "retain",
        bank_id="alice",
        content="Alice loves AI",
        timestamp=datetime(2025, 1, 2, 3, 4, 5),
        context="chat",
        metadata={"k": "v"},
        document_id="doc-1",
        tags=["user:alice"],
    )
    sent = fake.last
    assert (sent.method, sent.path) == ("POST", "/v1/default/banks/alice/memories")
    assert sent.headers["authorization"] == "Bearer hs-test-key"
    assert sent.headers["accept"] == "application/json"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {
        "items": [
            {
                "content": "Alice loves AI",
                "timestamp": "2025-01-02T03:04:05",
                "context": "chat",
                "metadata": {"k": "v"},
                "document_id": "doc-1",
                "resolve_entities": True,
                "tags": ["user:alice"],
                "entities": None,
                "observation_scopes": None,
                "strategy": None,
                "update_mode": None,
            }
        ],
        "async": False,
        "document_tags": None,
    }
    assert result.success is True and result.var_async is False and result.items_count == 1
    assert result.model_dump(by_alias=True)["async"] is False


def test_retain_batch_async_sends_the_operation_id_and_falls_back_to_the_batch_document_id(fake):
    fake.respond(
        httpx.Response(
            200, json={"success": True, "bank_id": "alice", "items_count": 2, "async": True, "operation_id": "op"}
        )
    )
    result = fake.client().retain_batch(
        bank_id="alice",
        items=[{"content": "a"}, {"content": "b", "entities": [{"text": "Bob"}], "tags": ["x"], "document_id": "own"}],
        document_id="doc-2",
        document_tags=["t"],
        retain_async=True,
        operation_id="11111111-1111-1111-1111-111111111111",
    )
    body = fake.last.body
    assert body["async"] is True
    assert body["operation_id"] == "11111111-1111-1111-1111-111111111111"
    assert body["document_tags"] == ["t"]
    assert [item["document_id"] for item in body["items"]] == ["doc-2", "own"]
    assert body["items"][1]["entities"] == [{"text": "Bob", "type": None}]
    assert body["items"][0]["resolve_entities"] is True
    assert result.operation_id == "op" and result.var_async is True


def test_a_synchronous_retain_drops_the_operation_id_with_a_warning(fake):
    fake.respond(httpx.Response(200, json={"success": True, "bank_id": "b", "items_count": 1, "async": False}))
    with pytest.warns(UserWarning, match="operation_id is ignored"):
        fake.client().retain(bank_id="b", content="x", operation_id="op-1")
    assert "operation_id" not in fake.last.body


@pytest.mark.parametrize("mode", MODES)
def test_recall_sends_include_always_and_the_upstream_defaults(fake, mode):
    fake.respond(httpx.Response(200, json={"results": []}))
    call(fake.client(), mode, "recall", bank_id="alice", query="What does Alice like?")
    assert fake.last.path == "/v1/default/banks/alice/memories/recall"
    assert fake.last.body == {
        "query": "What does Alice like?",
        "budget": "mid",
        "max_tokens": 4096,
        "trace": False,
        "include": {"entities": None, "chunks": None, "source_facts": None},
        "tags_match": "any",
        "types": None,
        "prefer_observations": None,
        "query_timestamp": None,
        "tags": None,
        "tag_groups": None,
        "min_scores": None,
        "temporal_window": None,
    }
    assert "authorization" not in fake.last.headers


def test_recall_options_map_onto_include_min_scores_and_the_window(fake):
    fake.respond(httpx.Response(200, json={"results": []}))
    fake.client().recall(
        bank_id="alice",
        query="q",
        types=["world"],
        budget="high",
        trace=True,
        query_timestamp="2025-01-01T00:00:00",
        include_entities=True,
        include_chunks=True,
        tags=["a"],
        tags_match="all_strict",
        min_scores={"final": 0.5},
        temporal_window={"start": "2024-01-01T00:00:00+00:00", "end": "2025-01-01T00:00:00+00:00"},
    )
    body = fake.last.body
    assert body["include"] == {"entities": {"max_tokens": 500}, "chunks": {"max_tokens": 8192}, "source_facts": None}
    assert body["min_scores"] == {"final": 0.5, "semantic": None, "keyword": None, "reranker": None}
    assert body["temporal_window"]["start"] == "2024-01-01T00:00:00+00:00"
    assert (body["types"], body["budget"], body["trace"], body["tags_match"]) == (["world"], "high", True, "all_strict")


def test_recall_refuses_an_unknown_min_score_before_sending_anything(fake):
    with pytest.raises(ValueError, match="finall"):
        fake.client().recall(bank_id="b", query="q", min_scores={"finall": 0.5})
    assert fake.sent == []


def test_recall_result_iterates_indexes_and_keeps_unknown_fields(fake):
    fake.respond(
        httpx.Response(
            200,
            json={
                "results": [
                    {"id": "u1", "text": "Alice works at Google", "type": "world", "scores": {"final": 0.9}},
                    {"id": "u2", "text": "Alice hikes", "type": "experience", "future_field": {"x": 1}},
                ],
                "entities": {
                    "Alice": {"entity_id": "e1", "canonical_name": "Alice", "observations": [{"text": "A person"}]}
                },
                "chunks": {"c1": {"id": "c1", "text": "chunk", "chunk_index": 0}},
                "brand_new": True,
            },
        )
    )
    response = fake.client().recall(bank_id="b", query="q")
    assert [r.text for r in response] == [r.text for r in response.results] == ["Alice works at Google", "Alice hikes"]
    assert len(response) == 2 and response[1].id == "u2"
    assert response[0].scores.final == 0.9
    assert response[1].future_field == {"x": 1}
    assert response.brand_new is True
    assert response.entities["Alice"].name == "Alice"
    assert response.entities["Alice"].observations[0].text == "A person"
    assert response.chunks["c1"].chunk_index == 0
    assert "ENTITIES:\n## Alice\nA person" in response.to_prompt_string()
    with pytest.raises(AttributeError):
        _ = response[0].not_there


@pytest.mark.parametrize("mode", MODES)
def test_reflect_defaults_leave_out_max_tokens_and_include(fake, mode):
    fake.respond(httpx.Response(200, json={"text": "Alice is interested in AI."}))
    answer = call(fake.client(), mode, "reflect", bank_id="alice", query="What are my interests?")
    assert answer.text == "Alice is interested in AI."
    assert (fake.last.method, fake.last.path) == ("POST", "/v1/default/banks/alice/reflect")
    assert fake.last.body == {
        "query": "What are my interests?",
        "budget": "low",
        "tags_match": "any",
        "reflect_search_observations_max_tokens": None,
        "reflect_search_observations_include_entities": None,
        "context": None,
        "response_schema": None,
        "tags": None,
        "tag_groups": None,
        "fact_types": None,
        "exclude_mental_model_ids": None,
    }


def test_reflect_options_add_include_and_the_true_only_flags(fake):
    fake.respond(httpx.Response(200, json={"text": "t", "based_on": {"memories": [{"text": "m", "id": "u1"}]}}))
    answer = fake.client().reflect(
        bank_id="alice",
        query="q2",
        budget="mid",
        context="ctx",
        max_tokens=512,
        include_facts=True,
        include_tool_calls=True,
        response_schema={"type": "object"},
        fact_types=["world"],
        exclude_mental_models=True,
    )
    body = fake.last.body
    assert body["include"] == {"facts": {}, "tool_calls": {"output": True}}
    assert body["max_tokens"] == 512 and body["exclude_mental_models"] is True
    assert "apply_all_directives" not in body
    assert answer.based_on.memories[0].text == "m"


@pytest.mark.parametrize("mode", MODES)
def test_create_bank_sends_only_what_was_given_and_spreads_a_legacy_disposition(fake, mode):
    profile = {"bank_id": "b", "name": "A", "disposition": {"skepticism": 3, "literalism": 3, "empathy": 3}}
    fake.respond(httpx.Response(200, json={**profile, "mission": ""}), httpx.Response(200, json=profile))
    client = fake.client()
    result = call(
        client,
        mode,
        "create_bank",
        bank_id="b",
        name="A",
        background="I help",
        disposition={"skepticism": 4.0, "literalism": 2, "empathy": 5},
    )
    assert (fake.last.method, fake.last.path) == ("PUT", "/v1/default/banks/b")
    assert fake.last.body == {
        "name": "A",
        "background": "I help",
        "disposition_skepticism": 4,
        "disposition_literalism": 2,
        "disposition_empathy": 5,
    }
    assert result.disposition.skepticism == 3
    call(client, mode, "create_bank", bank_id="b")
    assert fake.last.body == {}


@pytest.mark.parametrize("mode", MODES)
def test_config_methods_patch_updates_and_return_the_raw_dict(fake, mode):
    config = {"bank_id": "b", "config": {"retain_chunk_size": 1500}, "overrides": {"retain_chunk_size": 1500}}
    fake.respond(*[httpx.Response(200, json=config) for _ in range(3)])
    client = fake.client()
    updated = call(client, mode, "update_bank_config", "b", retain_chunk_size=1500, retain_mission=None)
    assert (fake.last.method, fake.last.path, fake.last.body) == (
        "PATCH",
        "/v1/default/banks/b/config",
        {"updates": {"retain_chunk_size": 1500}},
    )
    assert updated == config
    assert call(client, mode, "get_bank_config", "b")["overrides"] == {"retain_chunk_size": 1500}
    assert (fake.last.method, fake.last.path, fake.last.body) == ("GET", "/v1/default/banks/b/config", None)
    call(client, mode, "reset_bank_config", "b")
    assert (fake.last.method, fake.last.path) == ("DELETE", "/v1/default/banks/b/config")


def test_ids_are_percent_encoded_with_no_safe_characters(fake):
    fake.respond(httpx.Response(200, json={"id": "d", "bank_id": "a/b", "name": "n", "content": "c"}))
    fake.client().get_directive("team/a:b c", "dir/1?x")
    assert fake.last.path == "/v1/default/banks/team%2Fa%3Ab%20c/directives/dir%2F1%3Fx"


def test_list_memories_sends_upstream_query_names_with_repeated_tags(fake):
    fake.respond(
        httpx.Response(200, json={"items": [{"id": "u1", "entities": "Alice"}], "total": 1, "limit": 5, "offset": 0})
    )
    page = fake.client().list_memories(bank_id="alice", type="world", search_query="Alice", tags=["a", "b"], limit=5)
    assert fake.last.path == "/v1/default/banks/alice/memories/list"
    assert fake.last.query == [
        ("type", "world"),
        ("q", "Alice"),
        ("tags", "a"),
        ("tags", "b"),
        ("limit", "5"),
        ("offset", "0"),
    ]
    assert page.total == 1 and page.items[0].entities == "Alice" and [i.id for i in page] == ["u1"]


@pytest.mark.parametrize("mode", MODES)
def test_directive_methods(fake, mode):
    directive = {"id": "d1", "bank_id": "alice", "name": "Be concise", "content": "Always answer briefly"}
    fake.default = lambda request: httpx.Response(200, json=directive)
    client = fake.client()
    created = call(
        client, mode, "create_directive", "alice", "Be concise", "Always answer briefly", priority=5, tags=["style"]
    )
    assert (fake.last.method, fake.last.path) == ("POST", "/v1/default/banks/alice/directives")
    assert fake.last.body == {
        "name": "Be concise",
        "content": "Always answer briefly",
        "priority": 5,
        "is_active": True,
        "tags": ["style"],
    }
    assert created.id == "d1"
    fake.respond(httpx.Response(200, json={"items": [directive], "total": 1, "limit": 10, "offset": 0}))
    listed = call(client, mode, "list_directives", "alice", tags=["style"], limit=10)
    assert fake.last.query == [("tags", "style"), ("limit", "10")]
    assert listed.items[0].name == "Be concise"
    call(client, mode, "update_directive", "alice", "d1", content="Shorter", is_active=False)
    assert (fake.last.method, fake.last.path, fake.last.body) == (
        "PATCH",
        "/v1/default/banks/alice/directives/d1",
        {"content": "Shorter", "is_active": False},
    )
    call(client, mode, "delete_directive", "alice", "d1")
    assert (fake.last.method, fake.last.path) == ("DELETE", "/v1/default/banks/alice/directives/d1")


@pytest.mark.parametrize("mode", MODES)
def test_mental_model_methods(fake, mode):
    fake.default = lambda request: httpx.Response(200, json={"id": "mm1", "bank_id": "alice", "name": "Prefs"})
    client = fake.client()
    fake.respond(httpx.Response(200, json={"mental_model_id": "mm1", "operation_id": "op1"}))
    created = call(
        client,
        mode,
        "create_mental_model",
        "alice",
        "Prefs",
        "What does alice prefer?",
        tags=["x"],
        trigger={"refresh_after_consolidation": True},
    )
    assert fake.last.body == {
        "name": "Prefs",
        "source_query": "What does alice prefer?",
        "tags": ["x"],
        "max_tokens": None,
        "trigger": {"refresh_after_consolidation": True},
        "id": None,
    }
    assert (created.mental_model_id, created.operation_id) == ("mm1", "op1")
    fake.respond(httpx.Response(200, json={"operation_id": "op2", "status": "pending"}))
    refreshed = call(client, mode, "refresh_mental_model", "alice", "mm1")
    assert (fake.last.method, fake.last.path, fake.last.body) == (
        "POST",
        "/v1/default/banks/alice/mental-models/mm1/refresh",
        None,
    )
    assert refreshed.operation_id == "op2"
    fake.respond(httpx.Response(200, json={"operation_id": "op3", "status": "pending"}))
    call(client, mode, "refresh_mental_model", "alice", "mm1", mode="full")
    assert fake.last.body == {"mode": "full"}
    got = call(client, mode, "get_mental_model", "alice", "mm1", detail="content")
    assert fake.last.query == [("detail", "content")] and got.name == "Prefs"
    call(client, mode, "update_mental_model", "alice", "mm1", name="New")
    assert (fake.last.method, fake.last.body) == ("PATCH", {"name": "New"})
    fake.respond(httpx.Response(200, json={"items": [], "total": 0, "limit": 10, "offset": 0}))
    call(client, mode, "list_mental_models", "alice", tags=["x"], detail="metadata", limit=10)
    assert fake.last.query == [("tags", "x"), ("detail", "metadata"), ("limit", "10")]
    call(client, mode, "clear_mental_model", "alice", "mm1")
    assert (fake.last.method, fake.last.path) == ("POST", "/v1/default/banks/alice/mental-models/mm1/clear")
    fake.respond(httpx.Response(200, json=[]))
    assert call(client, mode, "get_mental_model_history", "alice", "mm1") == []
    call(client, mode, "delete_mental_model", "alice", "mm1")
    assert (fake.last.method, fake.last.path) == ("DELETE", "/v1/default/banks/alice/mental-models/mm1")


@pytest.mark.parametrize("mode", MODES)
def test_document_and_operation_methods(fake, mode):
    client = fake.client()
    document = {
        "id": "doc/1",
        "bank_id": "b",
        "original_text": None,
        "content_hash": None,
        "created_at": "2025-01-01T00:00:00+00:00",
        "updated_at": "2025-01-01T00:00:00+00:00",
        "memory_unit_count": 0,
    }
    fake.respond(httpx.Response(200, json=document))
    got = call(client, mode, "get_document", "b", "doc/1")
    assert fake.last.path == "/v1/default/banks/b/documents/doc%2F1" and got.original_text is None
    fake.respond(httpx.Response(200, json={"items": [{"id": "doc/1"}], "total": 1, "limit": 10, "offset": 0}))
    assert [d.id for d in call(client, mode, "list_documents", "b", q="x", limit=10)] == ["doc/1"]
    assert fake.last.query == [("q", "x"), ("limit", "10")]
    fake.respond(
        httpx.Response(200, json={"success": True, "message": "ok", "document_id": "doc/1", "memory_units_deleted": 3})
    )
    assert call(client, mode, "delete_document", "b", "doc/1").memory_units_deleted == 3
    assert fake.last.method == "DELETE"

    fake.respond(httpx.Response(200, json={"bank_id": "b", "total": 0, "limit": 20, "offset": 0, "operations": []}))
    call(client, mode, "list_operations", "b", status="pending", limit=20)
    assert (fake.last.path, fake.last.query) == (
        "/v1/default/banks/b/operations",
        [("status", "pending"), ("limit", "20")],
    )
    fake.respond(httpx.Response(200, json={"operation_id": "op", "status": "completed"}))
    assert call(client, mode, "get_operation", "b", "op").status == "completed"
    action = {"success": True, "message": "done", "operation_id": "op"}
    for name, method, path in [
        ("cancel_operation", "DELETE", "/v1/default/banks/b/operations/op"),
        ("retry_operation", "POST", "/v1/default/banks/b/operations/op/retry"),
        ("delete_operation", "DELETE", "/v1/default/banks/b/operations/op/delete"),
    ]:
        fake.respond(httpx.Response(200, json=action))
        assert call(client, mode, name, "b", "op").success is True
        assert (fake.last.method, fake.last.path) == (method, path), name


@pytest.mark.parametrize("mode", MODES)
def test_namespaces_send_what_the_client_methods_send(fake, mode):
    fake.default = lambda request: httpx.Response(200, json={"id": "d1", "bank_id": "b", "name": "n", "content": "c"})
    client = fake.client()
    call(client.directives, mode, "create", "b", "n", "c", tags=["t"])
    via_namespace = fake.last
    call(client, mode, "create_directive", "b", "n", "c", tags=["t"])
    assert (via_namespace.method, via_namespace.path, via_namespace.body) == (
        fake.last.method,
        fake.last.path,
        fake.last.body,
    )

    fake.respond(httpx.Response(200, json={"items": [], "total": 0, "limit": 100, "offset": 0}))
    call(client.memories, mode, "list", "b", type="world", search_query="Alice")
    assert fake.last.path == "/v1/default/banks/b/memories/list"
    assert ("q", "Alice") in fake.last.query
    fake.respond(httpx.Response(200, json={"banks": [], "total": 0, "limit": 100, "offset": 0}))
    call(client.banks, mode, "list")
    assert (fake.last.method, fake.last.path) == ("GET", "/v1/default/banks")
    fake.respond(httpx.Response(200, json={"operation_id": "op", "status": "pending"}))
    assert call(client.operations, mode, "get", "b", "op").status == "pending"


def test_the_upstream_low_level_names_are_async_and_take_request_objects(fake):
    client = fake.client()

    async def drive():
        fake.respond(httpx.Response(200, json={"operation_id": "op", "status": "completed"}))
        status = await client.operations.get_operation_status("b", "op", authorization="Bearer other")
        assert status.status == "completed"
        assert fake.last.headers["authorization"] == "Bearer other"
        fake.respond(httpx.Response(200, json={"bank_id": "b", "name": "Renamed", "mission": ""}))
        patched = await client.banks.update_bank("b", {"name": "Renamed"}, _request_timeout=5)
        assert (fake.last.method, fake.last.body, patched.name) == ("PATCH", {"name": "Renamed"}, "Renamed")
        fake.respond(httpx.Response(200, json={"text": "answer"}))
        answered = await client.memory.reflect("b", {"query": "q"})
        assert (fake.last.path, answered.text) == ("/v1/default/banks/b/reflect", "answer")
        fake.respond(httpx.Response(200, json={"status": "healthy"}))
        assert (await client.monitoring.health_endpoint_health_get())["status"] == "healthy"

    asyncio.run(drive())


def test_the_user_agent_names_this_client_and_a_callers_prefix(fake):
    fake.client(user_agent="my-app/2").get_bank_config("b")
    assert fake.last.headers["user-agent"].startswith("my-app/2 hindsight-django-client/")


def test_suspended_retains_send_nothing(fake):
    client = fake.client()
    with client.suspend_retains():
        result = client.retain(bank_id="b", content="x")
        batch = asyncio.run(client.aretain_batch(bank_id="b", items=[{"content": "y"}]))
    assert fake.sent == []
    assert (result.success, result.items_count, batch.var_async) == (True, 0, False)
    fake.respond(httpx.Response(200, json={"success": True, "bank_id": "b", "items_count": 1, "async": False}))
    client.retain(bank_id="b", content="x")
    assert len(fake.sent) == 1


def test_context_managers_close_and_close_works_inside_a_running_loop(fake):
    fake.default = lambda request: httpx.Response(200, json={"results": []})
    with fake.client() as client:
        client.recall(bank_id="b", query="q")
    assert client._conn._sync is None

    async def seed_async_example():
        # The seed's async example ends with a plain client.close() inside the coroutine.
        client = fake.client()
        await client.arecall(bank_id="b", query="Hello")
        client.close()
        async with fake.client() as other:
            await other.arecall(bank_id="b", query="Hello")
        assert other._conn._async is None

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        asyncio.run(seed_async_example())


def test_one_client_serves_several_event_loops_in_turn(fake):
    fake.default = lambda request: httpx.Response(200, json={"results": [{"id": "u", "text": "t"}]})
    client = fake.client()
    for _ in range(2):
        assert len(asyncio.run(client.arecall(bank_id="b", query="q"))) == 1
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(client.arecall(bank_id="b", query="q"))[0].text == "t"
        client.close()  # outside the loop, which is still open: the async client is closed on it
        assert client._conn._async is None
    finally:
        loop.close()


def test_our_signatures_are_visible_to_introspection():
    import inspect

    parameters = inspect.signature(Hindsight.arecall).parameters
    assert list(parameters)[:3] == ["self", "bank_id", "query"]
    assert parameters["budget"].default == "mid"
    assert inspect.iscoroutinefunction(Hindsight.arecall)
    assert not inspect.iscoroutinefunction(Hindsight.recall)


def test_model_dump_mirrors_upstream_and_to_dict_keeps_unknown_fields():
    from hindsight_client import RetainResponse
    from hindsight_client.models import ApiObject

    response = RetainResponse.from_dict(
        {"success": True, "bank_id": "b", "items_count": 1, "async": False, "usage": {"input_tokens": 3}, "new": 1}
    )
    assert response.model_dump() == {
        "success": True,
        "bank_id": "b",
        "items_count": 1,
        "var_async": False,
        "operation_id": None,
        "operation_ids": None,
        "usage": {
            "input_tokens": 3,
            "output_tokens": None,
            "total_tokens": None,
            "cached_tokens": None,
            "thoughts_tokens": None,
        },
    }
    assert response.model_dump(by_alias=True, exclude_none=True) == {
        "success": True,
        "bank_id": "b",
        "items_count": 1,
        "async": False,
        "usage": {"input_tokens": 3},
    }
    assert response.to_dict()["new"] == 1 and response.new == 1 and response.usage.input_tokens == 3
    anything = ApiObject.from_dict({"aliases": ["x"], "primary": "y"})
    assert (anything.aliases, anything.model_dump()) == (["x"], {"aliases": ["x"], "primary": "y"})
    # A body of the wrong shape is returned as it is rather than refused: newer servers must not break old clients.
    assert RetainResponse.from_dict(["not", "an", "object"]) == ["not", "an", "object"]


def test_the_client_package_imports_no_django():
    import subprocess
    import sys

    from tests.conftest import REPO

    probe = (
        "import sys, hindsight_client, hindsight_client.namespaces; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'hindsight_site')); "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("mode", MODES)
def test_the_mental_models_namespace_takes_the_seeds_content_keyword_as_the_source_query(fake, mode):
    fake.respond(httpx.Response(200, json={"mental_model_id": "mm", "operation_id": "op"}))
    client = fake.client()
    call(
        client.mental_models, mode, "create", bank_id="test", name="User Preferences", content="User prefers dark mode"
    )
    assert fake.last.body["source_query"] == "User prefers dark mode"
    assert "content" not in fake.last.body
    fake.respond(httpx.Response(200, json={"id": "mm", "bank_id": "test", "name": "User Preferences"}))
    call(client.mental_models, mode, "update", "test", "mm", content="User prefers light mode")
    assert fake.last.body == {"source_query": "User prefers light mode"}
    with pytest.raises(TypeError, match="source_query"):
        client.mental_models.create("test", "No query")
