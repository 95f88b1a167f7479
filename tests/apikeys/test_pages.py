"""The control plane's API keys page (``/keys/``): sign-in required, create shows the key once, revoke."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apikeys import selectors, services
from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db

KEYS_PAGE = "/keys/"


@pytest.fixture
def operator(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("operator", password="a-long-password"))
    return client


def test_the_page_is_mounted_where_the_control_plane_links_to_it():
    assert reverse("control-api-keys") == KEYS_PAGE


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(KEYS_PAGE)
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.post(KEYS_PAGE, {"name": "x"}).status_code == 302
    assert ApiKey.objects.count() == 0


def test_an_empty_list_says_the_api_is_open_and_how_to_add_a_key(operator):
    page = operator.get(KEYS_PAGE).content.decode()
    assert "No API keys yet" in page and 'id="open-access"' in page
    assert 'aria-current="page"' in page  # the top bar marks the page


def test_creating_a_key_shows_it_once_then_only_its_prefix(operator):
    response = operator.post(KEYS_PAGE, {"name": "support bot", "bank_ids": "alpha\nbeta", "read_only": "on"})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") and "no-store" in response["Cache-Control"]
    page = response.content.decode()
    raw = re.search(r'id="new-key-value"[^>]*value="(hsk_[A-Za-z0-9_-]+)"', page).group(1)
    assert "cannot be shown again" in page and "limited to alpha, beta" in page and 'id="open-access"' not in page
    api_key = selectors.authenticate_key(raw)
    assert api_key.name == "support bot" and api_key.banks == ["alpha", "beta"] and api_key.read_only
    later = operator.get(KEYS_PAGE).content.decode()
    assert raw not in later and api_key.key_hash not in later
    assert f"{api_key.prefix}…" in later and "read-only" in later and "alpha, beta" in later


def test_mistakes_are_shown_next_to_the_field_and_nothing_is_created(operator):
    response = operator.post(KEYS_PAGE, {"name": " ", "bank_ids": "a/b"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "must not contain" in page and 'id="id_bank_ids-error"' in page and 'id="id_name-error"' in page
    assert ApiKey.objects.count() == 0


def test_with_htmx_the_create_form_answers_with_the_panel_only(operator):
    response = operator.post(KEYS_PAGE, {"name": "htmx"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200 and page.lstrip().startswith('<div id="keys-panel">')
    assert "<html" not in page and re.search(r'value="hsk_', page)


def test_revoking_from_the_page(operator):
    api_key, raw = services.create_api_key(name="leaked")
    response = operator.post(reverse("control-api-key-revoke", kwargs={"key_id": api_key.pk}), follow=True)
    assert "revoked: it no longer works" in response.content.decode()
    assert selectors.authenticate_key(raw) is None
    assert 'class="badge failed">revoked' in response.content.decode()
    htmx = operator.post(reverse("control-api-key-revoke", kwargs={"key_id": api_key.pk}), HTTP_HX_REQUEST="true")
    assert htmx.status_code == 204 and htmx["HX-Redirect"] == KEYS_PAGE
    missing = operator.post(reverse("control-api-key-revoke", kwargs={"key_id": "nope"}), follow=True)
    assert "not found" in missing.content.decode()
    assert operator.get(reverse("control-api-key-revoke", kwargs={"key_id": api_key.pk})).status_code == 405
