"""Control-plane views through Django's test client: sign-in rules, CSRF, 404s and forms that work without JS."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from banks import selectors, services
from banks.models import Bank

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user(username="operator", password="pw-operator-123", is_staff=True)


@pytest.fixture
def client(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/banks/", "/banks/new/", "/banks/b1/", "/banks/b1/configuration/"])
def test_every_control_page_sends_an_anonymous_visitor_to_sign_in(path):
    services.get_or_create_bank(bank_id="b1")
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_an_htmx_request_without_a_session_is_told_to_redirect_to_sign_in():
    response = Client().get("/banks/", headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith("/login/")


def test_the_api_keeps_its_own_rules_and_needs_no_session():
    response = Client().get("/v1/default/banks")
    assert response.status_code == 200


def test_root_goes_to_the_bank_list(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/banks/"


def test_signing_in_with_the_form_and_out_with_a_post(user):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/login/")
    token = page.cookies["csrftoken"].value
    credentials = {"username": "operator", "password": "pw-operator-123", "csrfmiddlewaretoken": token}
    response = browser.post("/login/", credentials)
    assert response.status_code == 302 and response["Location"] == "/banks/"
    assert browser.get("/banks/").status_code == 200
    token = browser.cookies["csrftoken"].value
    assert browser.post("/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert browser.get("/banks/").status_code == 302


def test_a_post_without_a_csrf_token_is_refused(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post("/banks/new/", {"bank_id": "x", "skepticism": 3, "literalism": 3, "empathy": 3})
    assert response.status_code == 403
    assert not Bank.objects.filter(bank_id="x").exists()


def test_an_unknown_bank_is_a_404_page(client):
    response = client.get("/banks/nope/", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert b"Bank &#x27;nope&#x27; not found" in response.content


def test_bank_pages_render(client):
    services.create_or_update_bank(bank_id="shown", name="Shown bank")
    assert b"Shown bank" in client.get("/banks/").content
    assert client.get("/banks/shown/").status_code == 200
    assert client.get("/banks/shown/configuration/").status_code == 200
    assert client.get("/banks/shown/delete/").status_code == 200
    assert client.get("/banks/shown/configuration/reset/").status_code == 200


def test_the_bank_list_costs_the_same_queries_for_one_bank_or_many(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    services.create_or_update_bank(bank_id="first")
    with CaptureQueriesContext(connection) as one:
        assert client.get("/banks/").status_code == 200
    for n in range(12):
        services.create_or_update_bank(bank_id=f"more-{n}", name=f"More {n}")
    with CaptureQueriesContext(connection) as many:
        response = client.get("/banks/")
    assert response.status_code == 200 and b"More 11" in response.content
    assert len(many) == len(one)


def test_the_bank_list_counts_memories_by_type_documents_entities_and_pending_work(client):
    from memories.models import Document, Entity, MemoryUnit, Operation

    bank = services.create_or_update_bank(bank_id="counted")
    document = Document.objects.create(bank=bank, document_id="d1")
    for fact_type, n in (("world", 3), ("experience", 2), ("observation", 1)):
        for i in range(n):
            MemoryUnit.objects.create(bank=bank, document=document, fact_type=fact_type, text=f"{fact_type} {i}")
    MemoryUnit.objects.create(bank=bank, fact_type="world", text="gone", state="invalidated")
    Entity.objects.create(bank=bank, canonical_name="Alice")
    Operation.objects.create(bank=bank, operation_type="retain", status="pending")
    Operation.objects.create(bank=bank, operation_type="retain", status="completed")
    banks, total = selectors.bank_summaries(q="counted")
    assert total == 1
    row = banks[0]
    counts = (row.world_count, row.experience_count, row.observation_count, row.document_count, row.entity_count)
    assert counts == (3, 2, 1, 1, 1)
    assert row.pending_operation_count == 1
    assert row.last_activity_at is not None
    assert b"counted" in client.get("/banks/?q=count").content
    assert b"counted" not in client.get("/banks/?q=zzz").content


def test_creating_a_bank_without_javascript_redirects_to_its_overview(client):
    response = client.post(
        "/banks/new/", {"bank_id": "plain", "name": "Plain", "skepticism": 3, "literalism": 1, "empathy": 3}
    )
    assert response.status_code == 303
    assert response["Location"] == "/banks/plain/"
    assert Bank.objects.get(bank_id="plain").get_overrides() == {"disposition_literalism": 1}


def test_a_bad_bank_id_is_an_error_on_the_form(client):
    response = client.post("/banks/new/", {"bank_id": "a/b", "skepticism": 3, "literalism": 3, "empathy": 3})
    assert response.status_code == 400
    assert b"bank_id must not contain &#x27;/&#x27;" in response.content
    assert not Bank.objects.filter(bank_id="a/b").exists()


def test_an_htmx_create_answers_with_hx_redirect(client):
    response = client.post(
        "/banks/new/",
        {"bank_id": "hx", "skepticism": 3, "literalism": 3, "empathy": 3},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 204 and response["HX-Redirect"] == "/banks/hx/"


def test_configuration_errors_name_every_bad_field_and_save_nothing(client):
    services.create_or_update_bank(bank_id="cfg")
    page = client.get("/banks/cfg/configuration/")
    form = _form_values(page.content.decode())
    form.update({"retain_chunk_size": "abc", "consolidation_llm_batch_size": "0", "mcp_enabled_tools": ["nope"]})
    form.pop("mcp_enabled_tools-all")
    response = client.post("/banks/cfg/configuration/", form)
    assert response.status_code == 400
    text = response.content.decode()
    assert "retain_chunk_size must be a whole number, not &#x27;abc&#x27;" in text
    assert "consolidation_llm_batch_size must be at least 1, not 0" in text
    assert "mcp_enabled_tools unknown tool name(s): nope" in text
    assert Bank.objects.get(bank_id="cfg").get_overrides() == {}


def test_saving_the_configuration_unchanged_stores_nothing_and_a_change_stores_only_itself(client):
    services.create_or_update_bank(bank_id="cfg2")
    form = _form_values(client.get("/banks/cfg2/configuration/").content.decode())
    assert client.post("/banks/cfg2/configuration/", form).status_code == 303
    assert Bank.objects.get(bank_id="cfg2").get_overrides() == {}
    form["recall_budget_adaptive_low"] = "0.05"
    form.pop("mcp_enabled_tools-all")  # untick "every tool", tick two
    form["mcp_enabled_tools"] = ["recall", "retain"]
    assert client.post("/banks/cfg2/configuration/", form).status_code == 303
    assert Bank.objects.get(bank_id="cfg2").get_overrides() == {
        "recall_budget_adaptive_low": 0.05,
        "mcp_enabled_tools": ["recall", "retain"],
    }
    assert client.post("/banks/cfg2/configuration/reset/", {"field": "mcp_enabled_tools"}).status_code == 303
    assert Bank.objects.get(bank_id="cfg2").get_overrides() == {"recall_budget_adaptive_low": 0.05}


def test_operations_cancel_and_retry_without_javascript(client):
    from memories.models import Operation

    bank = services.create_or_update_bank(bank_id="ops")
    operation = Operation.objects.create(bank=bank, operation_type="retain", status="pending")
    response = client.post(f"/banks/ops/operations/{operation.pk}/cancel/")
    assert response.status_code == 303 and response["Location"] == "/banks/ops/"
    operation.refresh_from_db()
    assert operation.status == "cancelled"
    assert client.post(f"/banks/ops/operations/{operation.pk}/cancel/").status_code == 303  # a message, not a 500
    assert client.post(f"/banks/ops/operations/{operation.pk}/retry/").status_code == 303
    operation.refresh_from_db()
    assert operation.status == "pending"
    other = services.create_or_update_bank(bank_id="other-ops")
    foreign = Operation.objects.create(bank=other, operation_type="retain", status="pending")
    assert client.post(f"/banks/ops/operations/{foreign.pk}/cancel/").status_code == 404


def test_the_overview_polls_only_while_something_runs(client):
    from memories.models import Operation

    bank = services.create_or_update_bank(bank_id="poll")
    assert b'hx-trigger="every 2s"' not in client.get("/banks/poll/").content
    Operation.objects.create(bank=bank, operation_type="retain", status="processing")
    assert b'hx-trigger="every 2s"' in client.get("/banks/poll/").content
    partial = client.get("/banks/poll/?part=operations", headers={"HX-Request": "true"})
    assert b'id="operations"' in partial.content
    assert b"<html" not in partial.content


def _form_values(html: str) -> dict:
    """The values a browser would post from the configuration form (inputs, checked boxes, selects, textareas)."""
    import re
    from html import unescape

    values: dict = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or name.group(1) == "csrfmiddlewaretoken":
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        if kind and kind.group(1) == "checkbox":
            value = re.search(r'value="([^"]*)"', tag)
            if " checked" in tag and value:
                values.setdefault(name.group(1), []).append(value.group(1))
            elif " checked" in tag:
                values[name.group(1)] = "on"
            continue
        value = re.search(r'value="([^"]*)"', tag)
        values[name.group(1)] = unescape(value.group(1)) if value else ""
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        selected = re.search(r'<option value="([^"]*)" selected', body)
        values[name] = selected.group(1) if selected else re.search(r'<option value="([^"]*)"', body).group(1)
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        values[name] = unescape(body)
    return values


def test_the_mcp_allow_list_is_ticked_not_typed(client):
    services.create_or_update_bank(bank_id="mcp")
    form = _form_values(client.get("/banks/mcp/configuration/").content.decode())
    assert form["mcp_enabled_tools-all"] == "on" and "mcp_enabled_tools" not in form
    form.pop("mcp_enabled_tools-all")  # nothing ticked: no tool allowed, which is not the same as null
    assert client.post("/banks/mcp/configuration/", form).status_code == 303
    assert Bank.objects.get(bank_id="mcp").get_overrides() == {"mcp_enabled_tools": []}
    page = client.get("/banks/mcp/configuration/").content.decode()
    assert 'name="mcp_enabled_tools-all">' in page  # shown unticked now


def test_a_page_past_the_end_says_so_instead_of_claiming_there_are_no_banks(client):
    services.create_or_update_bank(bank_id="only-one")
    page = client.get("/banks/?page=7").content.decode()
    assert "There is no page 7." in page
    assert "No memory banks yet" not in page
