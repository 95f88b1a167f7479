"""Our client against our own server (a real gunicorn on the test database), sync and async.

Routes other branches are still building (reflect, directives, mental models, documents, the memories list) have
their tests here already: each one skips while the server answers that route with "No route" (404), 405 or 501,
and starts running as soon as the route exists.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import httpx
import pytest

from hindsight_client import (
    BadRequestError,
    ConflictError,
    Hindsight,
    NotFoundError,
    UnprocessableEntityError,
)
from tests.client.test_requests import MODES, call

pytestmark = pytest.mark.django_db(transaction=True)

BANKS = "/v1/default/banks"


@pytest.fixture
def client(api_server):
    with Hindsight(api_server, timeout=60) as hindsight:
        yield hindsight


def route_served(base_url: str, method: str, path: str, **kwargs) -> bool:
    """Whether the server has a route for ``method path`` (a "Bank not found" 404 still means it does)."""
    response = httpx.request(method, base_url + path, timeout=30, **kwargs)
    if response.status_code in (405, 501):
        return False
    if response.status_code == 404:
        try:
            detail = response.json().get("detail", "")
        except ValueError:
            return False
        return not str(detail).startswith("No route for")
    return True


@pytest.fixture
def require_route(api_server):
    def require(method: str, path: str, **kwargs) -> None:
        if not route_served(api_server, method, path, **kwargs):
            pytest.skip(f"{method} {path} is not served on this branch yet")

    return require


def seed_facts(client: Hindsight, bank_id: str) -> None:
    client.retain_batch(
        bank_id=bank_id,
        items=[
            {"content": "Alice works at Google as a software engineer", "context": "career"},
            {"content": "Bob is a data scientist in Berlin", "context": "career", "document_id": "bob-doc"},
            {"content": "Alice went hiking in the Alps", "timestamp": datetime(2024, 5, 3)},
        ],
    )


# --- banks and configuration -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_banks_and_configuration_round_trip(client, bank_id, mode):
    profile = call(
        client,
        mode,
        "create_bank",
        bank_id=bank_id,
        name="Assistant",
        background="I am a helpful AI assistant",
        disposition={"skepticism": 4, "literalism": 2, "empathy": 5},
        retain_mission="Track technical decisions",
    )
    assert (profile.bank_id, profile.name, profile.mission) == (bank_id, "Assistant", "I am a helpful AI assistant")
    assert (profile.disposition.skepticism, profile.disposition.literalism, profile.disposition.empathy) == (4, 2, 5)

    updated = call(
        client, mode, "update_bank_config", bank_id, retain_extraction_mode="verbose", retain_chunk_size=1500
    )
    assert updated["overrides"]["retain_extraction_mode"] == "verbose"
    assert updated["overrides"]["retain_mission"] == "Track technical decisions"
    assert updated["config"]["retain_chunk_size"] == 1500
    assert call(client, mode, "get_bank_config", bank_id) == updated

    with pytest.raises(BadRequestError) as refused:
        call(client, mode, "update_bank_config", bank_id, retain_extraction_mode="shouty")
    assert "retain_extraction_mode" in refused.value.detail
    assert call(client, mode, "get_bank_config", bank_id) == updated

    reset = call(client, mode, "reset_bank_config", bank_id)
    assert reset["overrides"] == {}
    assert reset["config"]["retain_extraction_mode"] == "concise"

    listed = call(client, mode, "list_banks", q=bank_id)
    assert [bank.bank_id for bank in listed.banks] == [bank_id]
    assert listed.total == 1 and listed.banks[0].name == "Assistant"

    assert call(client, mode, "delete_bank", bank_id).success is True
    with pytest.raises(NotFoundError) as missing:
        call(client, mode, "get_bank_config", bank_id)
    assert missing.value.detail == f"Bank '{bank_id}' not found"


def test_bank_namespace_profile_and_rename(client, bank_id):
    client.banks.create(bank_id, name="Before")
    renamed = client.banks.update(bank_id, name="After")
    assert renamed.name == "After"
    profile = client.banks.get_profile(bank_id)
    assert (profile.name, profile.disposition.empathy) == ("After", 3)
    assert client.banks.get_config(bank_id)["bank_id"] == bank_id
    assert [bank.bank_id for bank in client.banks.list(q=bank_id)] == [bank_id]
    client.banks.delete(bank_id)
    assert client.banks.list(q=bank_id).total == 0


def test_the_upstream_low_level_bank_calls_work_on_our_server(client, bank_id):
    async def drive():
        await client.acreate_bank(bank_id, name="Low level")
        patched = await client.banks.update_bank(bank_id, {"name": "Renamed"})
        disposition = await client.banks.update_bank_disposition(
            bank_id, {"disposition": {"skepticism": 1, "literalism": 5, "empathy": 3}}
        )
        profile = await client.banks.get_bank_profile(bank_id)
        config = await client.banks.get_bank_config(bank_id)
        health = await client.monitoring.health_endpoint_health_get()
        return patched, disposition, profile, config, health

    patched, disposition, profile, config, health = asyncio.run(drive())
    assert patched.name == "Renamed"
    assert disposition.disposition.skepticism == 1 and profile.disposition.literalism == 5
    assert config.config["disposition_skepticism"] == 1 and config["bank_id"] == bank_id
    assert health["status"] == "healthy"


def test_version_and_health(client):
    version = client.get_version()
    assert version.api_version == "1.1.0"
    assert isinstance(version.features.bank_config_api, bool)
    assert client.health()["status"] == "healthy"


def test_request_shape_errors_are_422_with_the_list_detail(client, bank_id):
    with pytest.raises(UnprocessableEntityError) as raised:
        client.create_bank(bank_id, disposition_skepticism=9)
    assert raised.value.detail[0]["loc"] == ["body", "disposition_skepticism"]


# --- retain, recall, operations --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_retain_then_recall_with_entities_and_chunks(client, bank_id, mode):
    retained = call(
        client,
        mode,
        "retain",
        bank_id=bank_id,
        content="Alice works at Google as a software engineer",
        context="career update",
        timestamp=datetime(2024, 1, 15),
        document_id="conversation_001",
        metadata={"source": "slack"},
    )
    assert (retained.success, retained.bank_id, retained.items_count, retained.var_async) == (True, bank_id, 1, False)
    batch = call(
        client,
        mode,
        "retain_batch",
        bank_id=bank_id,
        items=[
            {"content": "Bob is a data scientist in Berlin", "context": "career"},
            {"content": "Alice went hiking in the Alps", "timestamp": datetime(2024, 5, 3)},
        ],
        document_id="conversation_002",
    )
    assert batch.items_count == 2

    results = call(client, mode, "recall", bank_id=bank_id, query="What does Alice do?")
    texts = [r.text for r in results]
    assert texts == [r.text for r in results.results] and len(results) == len(texts) > 0
    assert "Alice works at Google" in results[0].text
    assert results[0].scores.final >= results[-1].scores.final
    assert results[0].metadata == {"source": "slack"} and results[0].document_id == "conversation_001"

    full = call(
        client,
        mode,
        "recall",
        bank_id=bank_id,
        query="What does Alice do?",
        types=["world", "opinion"],
        budget="high",
        include_entities=True,
        include_chunks=True,
    )
    assert "Alice" in full.entities and full.entities["Alice"].name == "Alice"
    assert any("Alice works at Google" in chunk.text for chunk in full.chunks.values())


def test_recall_in_an_unknown_bank_is_empty(client, bank_id):
    response = client.recall(bank_id=bank_id, query="anything")
    assert len(response) == 0 and list(response) == []


@pytest.mark.parametrize("mode", MODES)
def test_an_async_retain_can_be_followed_cancelled_retried_and_deleted(client, bank_id, mode):
    # No worker runs here, so the operation stays pending until we act on it.
    submitted = call(client, mode, "retain", bank_id=bank_id, content="Carol plays the violin", retain_async=True)
    assert submitted.var_async is True and submitted.operation_id
    operation_id = submitted.operation_id

    status = call(client, mode, "get_operation", bank_id, operation_id)
    assert status.status == "pending" and status.operation_id == operation_id
    listed = call(client, mode, "list_operations", bank_id)
    assert [op.id for op in listed.operations] == [operation_id]

    assert call(client, mode, "cancel_operation", bank_id, operation_id).success is True
    assert call(client, mode, "get_operation", bank_id, operation_id).status == "cancelled"
    with pytest.raises(ConflictError):
        call(client, mode, "cancel_operation", bank_id, operation_id)
    assert call(client, mode, "retry_operation", bank_id, operation_id).success is True
    assert call(client, mode, "get_operation", bank_id, operation_id).status == "pending"
    call(client, mode, "cancel_operation", bank_id, operation_id)

    assert call(client, mode, "delete_operation", bank_id, operation_id).success is True
    with pytest.raises(NotFoundError):
        call(client, mode, "get_operation", bank_id, operation_id)


def test_an_idempotent_async_retain_reuses_its_operation(client, bank_id):
    operation_id = str(uuid.uuid4())
    items = [{"content": "Dana moved to Lisbon", "document_id": "dana", "timestamp": datetime(2024, 2, 1)}]
    first = client.retain_batch(bank_id=bank_id, items=items, retain_async=True, operation_id=operation_id)
    again = client.retain_batch(bank_id=bank_id, items=items, retain_async=True, operation_id=operation_id)
    assert first.operation_id == again.operation_id == operation_id
    client.cancel_operation(bank_id, operation_id)


def test_a_worker_completes_an_async_retain_the_client_waits_for(client, bank_id, workers):
    workers("client")
    submitted = client.retain_batch(
        bank_id=bank_id, items=[{"content": "Erin teaches chemistry in Oslo"}], retain_async=True
    )
    status = client.operations.wait(bank_id, submitted.operation_id, timeout=120, poll_interval=0.2)
    assert status.status == "completed", status
    assert "Erin teaches chemistry" in client.recall(bank_id=bank_id, query="What does Erin teach?")[0].text


def test_the_async_namespace_calls_the_contract_scripts_use(client, bank_id):
    async def drive():
        submitted = await client.aretain_batch(bank_id=bank_id, items=[{"content": "Finn sails"}], retain_async=True)
        status = await client.operations.get_operation_status(bank_id, submitted.operation_id)
        listing = await client.operations.list_operations(bank_id)
        await client.operations.cancel_operation(bank_id, submitted.operation_id)
        return submitted, status, listing

    submitted, status, listing = asyncio.run(drive())
    assert status.status == "pending"
    assert status.model_dump()["operation_id"] == submitted.operation_id
    assert listing.model_dump()["operations"][0]["id"] == submitted.operation_id


# --- routes being built on other branches ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_reflect_answers_from_memory(client, bank_id, require_route, mode):
    require_route("POST", f"{BANKS}/{bank_id}/reflect", json={})
    seed_facts(client, bank_id)
    answer = call(client, mode, "reflect", bank_id=bank_id, query="Tell me about Alice", context="meeting prep")
    assert isinstance(answer.text, str) and answer.text.strip()
    assert "Alice" in answer.text or "Google" in answer.text


@pytest.mark.parametrize("mode", MODES)
def test_directives_lifecycle(client, bank_id, require_route, mode):
    require_route("GET", f"{BANKS}/{bank_id}/directives")
    client.create_bank(bank_id)
    created = call(
        client, mode, "create_directive", bank_id, "Be concise", "Always answer briefly", priority=5, tags=["style"]
    )
    assert (created.bank_id, created.name, created.content, created.priority, created.tags) == (
        bank_id,
        "Be concise",
        "Always answer briefly",
        5,
        ["style"],
    )
    listed = call(client, mode, "list_directives", bank_id)
    assert [d.id for d in listed.items] == [created.id] and listed.total == 1
    assert call(client, mode, "get_directive", bank_id, created.id).content == "Always answer briefly"
    updated = call(
        client, mode, "update_directive", bank_id, created.id, content="One sentence at most", is_active=False
    )
    assert (updated.content, updated.is_active, updated.name) == ("One sentence at most", False, "Be concise")
    call(client, mode, "delete_directive", bank_id, created.id)
    with pytest.raises(NotFoundError):
        call(client, mode, "get_directive", bank_id, created.id)


@pytest.mark.parametrize("mode", MODES)
def test_mental_models_lifecycle(client, bank_id, require_route, mode):
    require_route("GET", f"{BANKS}/{bank_id}/mental-models")
    seed_facts(client, bank_id)
    created = call(client, mode, "create_mental_model", bank_id, "Career", "What do people do for work?", tags=["work"])
    assert created.operation_id
    model_id = created.mental_model_id or call(client, mode, "list_mental_models", bank_id).items[0].id
    got = call(client, mode, "get_mental_model", bank_id, model_id)
    assert (got.id, got.bank_id, got.name, got.source_query) == (
        model_id,
        bank_id,
        "Career",
        "What do people do for work?",
    )
    assert [mm.id for mm in call(client, mode, "list_mental_models", bank_id, tags=["work"])] == [model_id]
    assert call(client, mode, "update_mental_model", bank_id, model_id, name="Jobs").name == "Jobs"
    call(client, mode, "delete_mental_model", bank_id, model_id)
    with pytest.raises(NotFoundError):
        call(client, mode, "get_mental_model", bank_id, model_id)


@pytest.mark.parametrize("mode", MODES)
def test_documents_are_read_and_deleted_through_the_client(client, bank_id, require_route, mode):
    require_route("GET", f"{BANKS}/{bank_id}/documents/probe")
    client.retain(bank_id=bank_id, content="Gina repairs bicycles in Ghent", document_id="notes/2024")
    document = call(client, mode, "get_document", bank_id, "notes/2024")
    assert (document.id, document.bank_id) == ("notes/2024", bank_id)
    assert document.original_text == "Gina repairs bicycles in Ghent"
    assert document.memory_unit_count >= 1
    assert "notes/2024" in [d.id for d in call(client, mode, "list_documents", bank_id)]
    deleted = call(client, mode, "delete_document", bank_id, "notes/2024")
    assert deleted.success is True and deleted.memory_units_deleted >= 1
    with pytest.raises(NotFoundError):
        call(client, mode, "get_document", bank_id, "notes/2024")
    assert len(client.recall(bank_id=bank_id, query="Who repairs bicycles?")) == 0


@pytest.mark.parametrize("mode", MODES)
def test_list_memories_pages_and_filters(client, bank_id, require_route, mode):
    require_route("GET", f"{BANKS}/{bank_id}/memories/list")
    seed_facts(client, bank_id)
    page = call(client, mode, "list_memories", bank_id=bank_id, limit=100, offset=0)
    assert page.total >= 3 and len(page.items) == page.total
    assert all(isinstance(item.entities, str) for item in page)
    alice = call(client, mode, "list_memories", bank_id=bank_id, search_query="Alice")
    assert alice.total >= 2 and all("Alice" in item.text for item in alice)
    first = call(client, mode, "list_memories", bank_id=bank_id, limit=1, offset=0)
    assert (len(first.items), first.limit, first.total) == (1, 1, page.total)


def test_an_async_retain_resent_without_a_timestamp_is_still_idempotent(client, bank_id):
    """The arrival time and a generated document id are not part of the work: a resend is the same operation."""
    operation_id = str(uuid.uuid4())
    items = [{"content": "Hana collects stamps"}]
    first = client.retain_batch(bank_id=bank_id, items=items, retain_async=True, operation_id=operation_id)
    try:
        again = client.retain_batch(bank_id=bank_id, items=items, retain_async=True, operation_id=operation_id)
        assert again.operation_id == first.operation_id
    finally:
        client.cancel_operation(bank_id, operation_id)
