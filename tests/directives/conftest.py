"""Fixtures for reflect, directives and mental models: an API client, a bank with memories, the scripted LLM."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from hindsight_site import llm
from hindsight_site.llm_testing import scripted_llm
from memories.models import MemoryUnit

MEMORIES = [
    "Alice works at Google as a software engineer.",
    "Alice moved to Zurich in March 2024.",
    "Bob is a data scientist in Berlin.",
    "Alice felt anxious before her promotion review.",
]


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def retain(api: APIClient, bank_id: str, *contents: str, **fields) -> None:
    items = [{"content": c, "timestamp": "2024-05-08T10:00:00Z", **fields} for c in contents]
    response = api.post(f"/v1/default/banks/{bank_id}/memories", {"items": items}, format="json")
    assert response.status_code == 200, response.json()


@pytest.fixture
def memories(api, bank_id) -> dict[str, str]:
    """The bank filled with MEMORIES (offline extraction); text → memory id."""
    retain(api, bank_id, *MEMORIES)
    return {text: str(pk) for text, pk in MemoryUnit.objects.filter(bank__bank_id=bank_id).values_list("text", "id")}


def memory_id(memories: dict[str, str], start: str) -> str:
    return next(pk for text, pk in memories.items() if text.startswith(start))


@pytest.fixture
def scripted(settings, monkeypatch):
    """Reflect (only) through the scripted test provider, so retain stays offline; backoff sleeps are instant."""
    settings.HINDSIGHT_LLM_REFLECT_MODEL = "hindsight-test/reflect"
    monkeypatch.setattr(llm, "_sleep", lambda seconds: None)
    scripted_llm.reset()
    yield scripted_llm
    scripted_llm.reset()


def reflect(api: APIClient, bank_id: str, query: str, status: int = 200, **body) -> dict:
    response = api.post(f"/v1/default/banks/{bank_id}/reflect", {"query": query, **body}, format="json")
    assert response.status_code == status, response.json()
    return response.json()


def tool(name: str, **arguments) -> dict:
    return {"name": name, "arguments": arguments}
