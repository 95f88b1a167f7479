"""Control-plane views through Django's test client: sign-in rules, CSRF, 404s and forms that work without JS."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from banks import services
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
