"""Health probes, version flags, Prometheus metrics, the per-bank LLM probe and the 501 answers for routes we lack."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

from hindsight_site.api.unserved import UNSERVED
from hindsight_site.llm_testing import scripted_llm

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "reference" / "hindsight-openapi-1.1.0.json"


def test_liveness_answers_without_touching_the_database(client):
    # No django_db mark: any database access in the view would fail the request.
    response = client.get("/health/live")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "alive"
    assert body["version"]
    assert body["uptime_seconds"] >= 0


@pytest.mark.django_db
def test_readiness_is_the_database_check_under_both_names(client):
    for url in ("/health", "/health/ready"):
        body = client.get(url).json()
        assert body["status"] == "healthy"
        assert body["database"] == "connected"


def test_version_lists_every_contract_feature_flag(client, settings):
    settings.HINDSIGHT_ENABLE_BANK_LLM_HEALTH = False
    body = client.get("/version").json()
    assert body["api_version"] == "1.1.0"
    flags = body["features"]
    assert set(flags) == {
        "observations",
        "mcp",
        "worker",
        "bank_config_api",
        "bank_llm_health",
        "file_upload_api",
        "document_export_api",
        "document_import_api",
        "audit_log",
        "llm_trace",
        "store_document_text",
    }
    assert all(isinstance(value, bool) for value in flags.values())
    assert flags["bank_llm_health"] is False


@pytest.mark.django_db(transaction=True)
def test_metrics_count_requests_by_route_pattern_and_operations(api_server, bank_id):
    import httpx

    api = httpx.Client(base_url=api_server, timeout=60)
    assert api.post(f"/v1/default/banks/{bank_id}/memories", json={"items": [{"content": "Ada likes tea."}]}).is_success
    assert api.post(f"/v1/default/banks/{bank_id}/memories/recall", json={"query": "tea"}).is_success
    response = api.get("/metrics", headers={"Accept": "text/plain;version=0.0.4"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    recall_route = 'route="v1/default/banks/<str:bank_id>/memories/recall"'
    assert re.search(
        r'hindsight_http_request_duration_seconds_count\{method="POST",' + re.escape(recall_route) + r',status="200"\} '
        r"[1-9]",
        text,
    )
    assert re.search(r'hindsight_operation_duration_seconds_count\{operation="retain",outcome="ok"\} [1-9]', text)
    assert re.search(r'hindsight_operation_duration_seconds_count\{operation="recall",outcome="ok"\} [1-9]', text)
    assert re.search(r'hindsight_operations_queue_depth\{status="pending"\} \d', text)
    # Labels are patterns, never values a client sent.
    assert bank_id not in text


@pytest.fixture
def scripted(settings):
    settings.HINDSIGHT_LLM_MODEL = "hindsight-test/probe"
    settings.HINDSIGHT_LLM_RETAIN_MODEL = None
    settings.HINDSIGHT_LLM_REFLECT_MODEL = None
    settings.HINDSIGHT_LLM_CONSOLIDATION_MODEL = None
    settings.HINDSIGHT_LLM_API_KEY = "sk-probe-secret-0123456789"
    settings.HINDSIGHT_LLM_MAX_RETRIES = 0
    scripted_llm.reset()
    yield scripted_llm
    scripted_llm.reset()


@pytest.mark.django_db
def test_llm_probe_calls_each_distinct_model_once_and_discloses_status_only(client, scripted, settings):
    settings.HINDSIGHT_LLM_REFLECT_MODEL = "hindsight-test/reflector"
    scripted.push("OK", times=2)
    response = client.post("/v1/default/banks/probe-bank/health/llm")
    assert response.status_code == 200
    body = response.json()
    assert body["bank_id"] == "probe-bank"
    by_operation = {item["operation"]: item for item in body["operations"]}
    assert set(by_operation) == {"retain", "consolidation", "reflect"}
    assert all(item["ok"] and item["status"] == "connected" for item in by_operation.values())
    assert all(isinstance(item["latency_ms"], float) for item in by_operation.values())
    assert sorted(call.model for call in scripted.calls) == ["hindsight-test/probe", "hindsight-test/reflector"]
    text = json.dumps(body)
    assert "hindsight-test" not in text and "sk-probe" not in text
    # The probe stores nothing: no bank appears.
    assert client.get("/v1/default/banks").json()["total"] == 0


@pytest.mark.django_db
def test_llm_probe_names_auth_failures_and_unconfigured_purposes(client, scripted, settings):
    settings.HINDSIGHT_LLM_MODEL = None
    settings.HINDSIGHT_LLM_RETAIN_MODEL = "hindsight-test/retainer"
    scripted.push_error("auth")
    body = client.post("/v1/default/banks/b/health/llm").json()
    statuses = {item["operation"]: (item["ok"], item["status"]) for item in body["operations"]}
    assert statuses == {
        "retain": (False, "auth_failed"),
        "consolidation": (False, "not_configured"),
        "reflect": (False, "not_configured"),
    }


@pytest.mark.django_db  # the API-key check reads the keys table on every API route
def test_llm_probe_can_be_turned_off(client, settings):
    settings.HINDSIGHT_ENABLE_BANK_LLM_HEALTH = False
    response = client.post("/v1/default/banks/b/health/llm")
    assert response.status_code == 501
    assert "turned off" in response.json()["detail"]


@pytest.mark.django_db  # the API-key check reads the keys table on every API route
@pytest.mark.parametrize(("route", "feature"), UNSERVED)
def test_routes_we_do_not_offer_answer_501_naming_the_feature(client, route, feature):
    url = "/" + re.sub(r"<(?:str|path):(\w+)>", r"x-\1", route)
    for method in ("get", "post", "patch", "delete"):
        response = getattr(client, method)(url, content_type="application/json")
        assert response.status_code == 501, (method, url)
        assert response.json()["detail"] == f"{feature} is not offered by this server."


def test_every_contract_route_resolves_to_a_view_that_accepts_its_method():
    """No contract path falls through to the 404 handler and no contract method is missing (405)."""
    if not CONTRACT.exists():
        pytest.fail(f"the wire contract is missing at {CONTRACT}")
    paths = json.loads(CONTRACT.read_text())["paths"]
    missing = []
    for route, operations in paths.items():
        url = re.sub(r"\{(\w+)\}", r"x-\1", route)
        try:
            match = resolve(url)
        except Resolver404:
            missing.append(f"{route} (no route)")
            continue
        view_class = getattr(match.func, "view_class", None)
        for method in operations:
            if view_class is None or not hasattr(view_class, method):
                missing.append(f"{method.upper()} {route}")
    assert missing == []
