"""The optional reranker: off by default, an LLM through the scripted test provider, a cross-encoder's failure modes."""

import importlib.util
import json

import pytest
from rest_framework.test import APIClient

from hindsight_site.llm_testing import scripted_llm
from memories.rerank import RerankError, _parse_llm_scores

pytestmark = pytest.mark.django_db

FACTS = [
    "Alice adopted a grey cat named Pixel.",
    "Alice moved to Lyon for a new job.",
    "Alice's cat Pixel likes to sleep on the piano.",
    "Bob repaired the roof of the barn in April.",
]
QUERY = "What is the name of Alice's cat?"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def llm_reranker(settings):
    settings.HINDSIGHT_RERANKER_PROVIDER = "litellm"
    settings.HINDSIGHT_RERANKER_MODEL = "hindsight-test/reranker"
    settings.HINDSIGHT_LLM_RERANK_MODEL = "hindsight-test/reranker"
    settings.HINDSIGHT_RERANKER_MAX_CANDIDATES = 3
    settings.HINDSIGHT_LLM_MAX_RETRIES = 0
    scripted_llm.reset()
    yield scripted_llm
    scripted_llm.reset()


def retain(api, bank_id):
    items = [{"content": fact, "timestamp": "2024-05-08T10:00:00Z"} for fact in FACTS]
    response = api.post(f"/v1/default/banks/{bank_id}/memories", {"items": items}, format="json")
    assert response.status_code == 200, response.json()


def recall(api, bank_id):
    response = api.post(f"/v1/default/banks/{bank_id}/memories/recall", {"query": QUERY, "trace": True}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_without_a_reranker_the_fused_order_stands(api):
    retain(api, "plain")
    body = recall(api, "plain")
    assert body["trace"]["reranker"] is None
    assert "rerank" not in body["trace"]["timings_ms"]
    assert all(result["scores"]["reranker"] is None for result in body["results"])


def test_the_llm_reranker_reorders_the_capped_head_and_reports_its_scores(api, llm_reranker):
    retain(api, "llm")
    fused = recall(api, "llm")  # unscripted: the reranker fails, the fused order stands
    assert "error" in fused["trace"]["reranker"]
    head = [result["text"] for result in fused["results"][:3]]
    # Rate the fused third first, the fused first last.
    llm_reranker.push(
        json.dumps({"scores": [{"index": 0, "score": 1}, {"index": 1, "score": 5}, {"index": 2, "score": 9}]})
    )
    body = recall(api, "llm")
    texts = [result["text"] for result in body["results"]]
    assert texts[:3] == [head[2], head[1], head[0]]
    assert [result["scores"]["reranker"] for result in body["results"][:3]] == [9, 5, 1]
    assert all(result["scores"]["reranker"] is None for result in body["results"][3:])
    assert body["trace"]["reranker"] == {"provider": "litellm", "model": "hindsight-test/reranker", "candidates": 3}
    assert "rerank" in body["trace"]["timings_ms"]
    call = llm_reranker.calls[-1]
    assert call.model == "hindsight-test/reranker"
    prompt = call.messages[-1]["content"]
    assert QUERY in prompt and all(f"[{index}] {text}" in prompt for index, text in enumerate(head))
    assert texts[3] not in prompt  # beyond the cap: never sent


def test_a_failing_llm_reranker_keeps_the_fused_order(api, llm_reranker):
    retain(api, "failing")
    llm_reranker.push("not json at all")
    first = recall(api, "failing")
    assert "not JSON" in first["trace"]["reranker"]["error"]
    llm_reranker.push_error("bad_request")
    second = recall(api, "failing")
    assert "failed" in second["trace"]["reranker"]["error"]
    assert [r["id"] for r in first["results"]] == [r["id"] for r in second["results"]]
    assert all(result["scores"]["reranker"] is None for result in second["results"])


def test_a_bank_can_turn_reranking_off(api, llm_reranker):
    retain(api, "off")
    response = api.patch("/v1/default/banks/off/config", {"updates": {"enable_reranking": False}}, format="json")
    assert response.status_code == 200, response.json()
    body = recall(api, "off")
    assert body["trace"]["reranker"] is None
    assert llm_reranker.calls == []


@pytest.mark.skipif(importlib.util.find_spec("sentence_transformers") is not None, reason="sentence-transformers here")
def test_a_cross_encoder_without_its_package_is_reported_not_fatal(api, settings):
    settings.HINDSIGHT_RERANKER_PROVIDER = "sentence-transformers"
    settings.HINDSIGHT_RERANKER_MODEL = "cross-encoder/ms-marco-MiniLM-L-6-v2"
    retain(api, "cross")
    body = recall(api, "cross")
    assert body["results"]
    assert body["trace"]["reranker"]["provider"] == "sentence-transformers"
    assert "sentence-transformers package" in body["trace"]["reranker"]["error"]


def test_llm_scores_are_read_leniently_but_never_invented():
    assert _parse_llm_scores('```json\n{"scores": [{"index": 1, "score": 7}]}\n```', 3) == [0.0, 7.0, 0.0]
    assert _parse_llm_scores('{"scores": [{"index": 9, "score": 7}, "x", {"index": 0, "score": "high"}]}', 2) == [
        0.0,
        0.0,
    ]
    with pytest.raises(RerankError):
        _parse_llm_scores("I think memory 2", 3)
    with pytest.raises(RerankError):
        _parse_llm_scores('{"ranking": []}', 3)
