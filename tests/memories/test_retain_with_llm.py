"""Retain through the API with an LLM configured: the scripted test provider stands in for a hosted model."""

import pytest
from rest_framework.test import APIClient

from hindsight_site import llm
from hindsight_site.llm_testing import scripted_llm
from memories.models import Document, MemoryLink, MemoryUnit
from tests.factories import fact

pytestmark = pytest.mark.django_db


@pytest.fixture
def scripted(settings, monkeypatch):
    settings.HINDSIGHT_LLM_MODEL = "hindsight-test/general"
    settings.HINDSIGHT_LLM_RETAIN_MODEL = "hindsight-test/retain"
    monkeypatch.setattr(llm, "_sleep", lambda seconds: None)
    scripted_llm.reset()
    yield scripted_llm
    scripted_llm.reset()


def retain(bank_id, content, **fields):
    body = {"items": [{"content": content, "timestamp": "2024-05-08T10:00:00Z", **fields}]}
    return APIClient().post(f"/v1/default/banks/{bank_id}/memories", body, format="json")


def test_facts_come_from_the_retain_model_with_causes_linked_and_usage_reported(scripted):
    scripted.push(
        {
            "facts": [
                fact("Alice missed the train", fact_kind="event", entities=["Alice"], occurred_start="2024-05-07"),
                fact(
                    "Alice was late to work",
                    fact_kind="event",
                    entities=["Alice"],
                    causal_relations=[{"target_index": 0}],
                ),
            ]
        },
        usage={"prompt_tokens": 120, "completion_tokens": 40},
    )
    response = retain("llm-bank", "Alice missed her train yesterday, so she was late to work.")
    assert response.status_code == 200, response.json()
    assert response.json()["usage"]["input_tokens"] == 120
    assert response.json()["usage"]["output_tokens"] == 40
    assert scripted.calls[0].model == "hindsight-test/retain"
    late = MemoryUnit.objects.get(bank__bank_id="llm-bank", text__startswith="Alice was late")
    missed = MemoryUnit.objects.get(bank__bank_id="llm-bank", text__startswith="Alice missed")
    assert missed.occurred_start.date().isoformat() == "2024-05-07"
    assert MemoryLink.objects.filter(from_unit=late, to_unit=missed, link_type="caused_by").exists()
    assert scripted.pending() == 0


def test_a_provider_failure_answers_an_error_and_writes_nothing(scripted):
    scripted.push_error("bad_request", "model refused the request")
    response = retain("failing-bank", "Alice likes tea.", document_id="doc")
    assert response.status_code == 502
    assert response.json()["detail"].startswith("Fact extraction failed")
    assert not Document.objects.filter(bank__bank_id="failing-bank").exists()
    assert not MemoryUnit.objects.filter(bank__bank_id="failing-bank").exists()


def test_an_overloaded_provider_answers_503_after_its_retries(scripted, settings):
    settings.HINDSIGHT_LLM_MAX_RETRIES = 2
    scripted.push_error("rate_limit", times=3)
    response = retain("busy-bank", "Alice likes tea.")
    assert response.status_code == 503
    assert not MemoryUnit.objects.filter(bank__bank_id="busy-bank").exists()


def test_chunks_mode_never_calls_the_model(scripted):
    APIClient().patch(
        "/v1/default/banks/raw-bank/config", {"updates": {"retain_extraction_mode": "chunks"}}, format="json"
    )
    response = retain("raw-bank", "Alice likes tea. Bob likes coffee.")
    assert response.status_code == 200
    assert scripted.calls == []
    assert list(MemoryUnit.objects.filter(bank__bank_id="raw-bank").values_list("text", flat=True)) == [
        "Alice likes tea. Bob likes coffee."
    ]
