"""API keys in the Django admin: create shows the key once, the hash never shows, revoke is an action."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apikeys import selectors, services
from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(client, django_user_model):
    user = django_user_model.objects.create_superuser("operator", "op@example.com", "a-long-password")
    client.force_login(user)
    return client


def test_adding_a_key_shows_it_once_and_stores_only_its_hash(operator):
    add_url = reverse("admin:apikeys_apikey_add")
    form = operator.get(add_url).content.decode()
    assert 'name="bank_ids"' in form and 'name="key_hash"' not in form
    response = operator.post(add_url, {"name": "from admin", "bank_ids": "b1\nb2, b3", "read_only": "on"})
    assert response.status_code == 200
    page = response.content.decode()
    raw = re.search(r'value="(hsk_[A-Za-z0-9_-]+)"', page).group(1)
    assert "shown this once" in page
    api_key = selectors.authenticate_key(raw)
    assert api_key.name == "from admin" and api_key.banks == ["b1", "b2", "b3"] and api_key.read_only
    # Nowhere afterwards: not in the list, the change page, or a message waiting in the session.
    for url in (reverse("admin:apikeys_apikey_changelist"), reverse("admin:apikeys_apikey_change", args=[api_key.pk])):
        later = operator.get(url).content.decode()
        assert raw not in later and api_key.key_hash not in later and api_key.prefix in later


def test_a_bad_bank_id_is_an_inline_error(operator):
    response = operator.post(reverse("admin:apikeys_apikey_add"), {"name": "x", "bank_ids": "a/b"})
    assert response.status_code == 200 and "must not contain" in response.content.decode()
    assert ApiKey.objects.count() == 0


def test_revoke_is_an_action_and_keys_cannot_be_deleted(operator):
    api_key, raw = services.create_api_key(name="doomed")
    response = operator.post(
        reverse("admin:apikeys_apikey_changelist"),
        {"action": "revoke", "_selected_action": [str(api_key.pk)]},
        follow=True,
    )
    assert "Revoked 1 API key" in response.content.decode()
    assert selectors.authenticate_key(raw) is None
    assert operator.get(reverse("admin:apikeys_apikey_delete", args=[api_key.pk])).status_code == 403
