"""``/v1/admin/api-keys``: list, create (the key only in the 201 answer), revoke; who may call them."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apikeys.models import ApiKey
from tests.apikeys.conftest import client_with

pytestmark = pytest.mark.django_db

KEYS = "/v1/admin/api-keys"
KEY_FIELDS = {"id", "name", "prefix", "banks", "read_only", "created_at", "last_used_at", "revoked_at"}


def test_create_answers_201_with_the_key_once_and_lists_never_show_it():
    # No key yet: the loopback server is open, so the first key can be made over HTTP; from then on, keys rule.
    first = APIClient().post(KEYS, {"name": "admin"}, format="json")
    assert first.status_code == 201
    admin = client_with(first.json()["key"])
    assert APIClient().post(KEYS, {"name": "sneaky"}, format="json").status_code == 401
    created = admin.post(KEYS, {"name": "agent", "banks": ["b1"], "read_only": True}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert set(body) == KEY_FIELDS | {"key"}
    assert body["key"].startswith("hsk_") and body["prefix"] == body["key"][:12]
    assert body["banks"] == ["b1"] and body["read_only"] is True and body["revoked_at"] is None
    listed = admin.get(KEYS)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert [item["name"] for item in items] == ["agent", "admin"]
    assert all(set(item) == KEY_FIELDS for item in items)
    assert body["key"] not in listed.content.decode()
    assert items[1]["last_used_at"] is not None and items[0]["last_used_at"] is None  # only the admin key was used


def test_defaults_are_every_bank_and_read_write():
    body = APIClient().post(KEYS, {"name": "plain"}, format="json").json()
    assert body["banks"] is None and body["read_only"] is False
    admin = client_with(body["key"])
    assert admin.post(KEYS, {"name": "b", "banks": None}, format="json").json()["banks"] is None
    assert admin.post(KEYS, {"name": "c", "banks": []}, format="json").json()["banks"] is None


def test_revoke_answers_success_and_the_key_stops_working():
    admin = client_with(APIClient().post(KEYS, {"name": "admin"}, format="json").json()["key"])
    victim = admin.post(KEYS, {"name": "victim"}, format="json").json()
    assert client_with(victim["key"]).get("/v1/default/banks").status_code == 200
    response = admin.delete(f"{KEYS}/{victim['id']}")
    assert response.status_code == 200 and response.json() == {"success": True}
    assert client_with(victim["key"]).get("/v1/default/banks").status_code == 401
    revoked = next(item for item in admin.get(KEYS).json()["items"] if item["id"] == victim["id"])
    assert revoked["revoked_at"] is not None
    assert admin.delete(f"{KEYS}/{victim['id']}").status_code == 200  # idempotent


def test_revoking_an_unknown_key_is_404():
    for key_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        response = APIClient().delete(f"{KEYS}/{key_id}")
        assert response.status_code == 404 and "detail" in response.json()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "n", "banks": "b1"}, "banks"),
        ({"name": "n", "banks": [1]}, "banks"),
        ({"name": "n", "read_only": "yes"}, "read_only"),
        ({"name": "n", "read_only": 1}, "read_only"),
    ],
)
def test_malformed_bodies_get_422_naming_the_field(body, where):
    response = APIClient().post(KEYS, body, format="json")
    assert response.status_code == 422
    assert any(where in item["loc"] for item in response.json()["detail"])
    assert ApiKey.objects.count() == 0


@pytest.mark.parametrize("banks", [["a/b"], [""], ["x" * 256]])
def test_invalid_bank_ids_get_a_clear_4xx(banks):
    response = APIClient().post(KEYS, {"name": "n", "banks": banks}, format="json")
    assert response.status_code in (400, 422)
    assert "bank" in str(response.json()["detail"])
    assert ApiKey.objects.count() == 0


def test_a_body_that_is_not_an_object_is_refused():
    assert APIClient().post(KEYS, ["name"], format="json").status_code == 422
    assert APIClient().post(KEYS, "x", content_type="application/json").status_code == 400


def test_only_a_key_limited_to_no_bank_and_allowed_to_write_manages_keys(make_key):
    _, admin = make_key()
    _, scoped = make_key(banks=["a"])
    _, read_only = make_key(read_only=True)
    assert client_with(admin).get(KEYS).status_code == 200
    for raw in (scoped, read_only):
        api = client_with(raw)
        assert api.get(KEYS).status_code == 403
        assert api.post(KEYS, {"name": "escalate"}, format="json").status_code == 403
        first = ApiKey.objects.order_by("created_at").first()
        assert api.delete(f"{KEYS}/{first.pk}").status_code == 403
    assert APIClient().get(KEYS).status_code == 401
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 0
    assert ApiKey.objects.count() == 3
