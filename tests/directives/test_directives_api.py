"""Directive routes: create, list (tags, active filter, paging), get, update, delete, and their errors."""

from __future__ import annotations

import uuid

import pytest

from banks.models import Bank
from directives.models import Directive

pytestmark = pytest.mark.django_db


def url(bank_id, directive_id=None):
    base = f"/v1/default/banks/{bank_id}/directives"
    return f"{base}/{directive_id}" if directive_id else base


def create(api, bank_id, **fields):
    body = {"name": "Be concise", "content": "Always answer briefly", **fields}
    response = api.post(url(bank_id), body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_create_answers_the_directive_and_creates_the_bank(api, bank_id):
    body = create(api, bank_id, priority=5, tags=["style", "style"])
    assert body["bank_id"] == bank_id
    assert body["name"] == "Be concise" and body["content"] == "Always answer briefly"
    assert body["priority"] == 5 and body["is_active"] is True and body["tags"] == ["style"]
    assert body["created_at"] and body["updated_at"]
    uuid.UUID(body["id"])
    assert Bank.objects.filter(bank_id=bank_id).exists()


def test_list_filters_by_tags_keeps_global_ones_and_orders_by_priority(api, bank_id):
    create(api, bank_id, name="global", priority=1)
    create(api, bank_id, name="style", tags=["style"], priority=3)
    create(api, bank_id, name="legal", tags=["legal"], priority=9)
    create(api, bank_id, name="off", is_active=False)
    names = [d["name"] for d in api.get(url(bank_id)).json()["items"]]
    assert names == ["legal", "style", "global"]
    styled = api.get(url(bank_id), {"tags": ["style"]}).json()
    assert [d["name"] for d in styled["items"]] == ["style", "global"]
    assert styled["total"] == 2
    everything = api.get(url(bank_id), {"active_only": "false"}).json()
    assert everything["total"] == 4
    page = api.get(url(bank_id), {"limit": 1, "offset": 1}).json()
    assert [d["name"] for d in page["items"]] == ["style"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)


def test_get_update_and_delete(api, bank_id):
    directive = create(api, bank_id)
    assert api.get(url(bank_id, directive["id"])).json()["name"] == "Be concise"
    updated = api.patch(url(bank_id, directive["id"]), {"is_active": False, "name": None}, format="json").json()
    assert updated["is_active"] is False and updated["name"] == "Be concise"
    assert api.delete(url(bank_id, directive["id"])).status_code == 200
    assert api.get(url(bank_id, directive["id"])).status_code == 404
    assert not Directive.objects.filter(pk=directive["id"]).exists()


def test_unknown_or_malformed_ids_and_banks_answer_404(api, bank_id):
    create(api, bank_id)
    assert api.get(url(bank_id, str(uuid.uuid4()))).status_code == 404
    assert api.get(url(bank_id, "not-a-uuid")).status_code == 404
    assert api.patch(url(bank_id, "not-a-uuid"), {"name": "x"}, format="json").status_code == 404
    assert api.get(url("no-such-bank")).status_code == 404
    assert api.get(url("no-such-bank")).json()["detail"] == "Bank 'no-such-bank' not found"


def test_a_directive_is_only_visible_through_its_own_bank(api, bank_id):
    directive = create(api, bank_id)
    create(api, f"{bank_id}-other", name="other")
    assert api.get(url(f"{bank_id}-other", directive["id"])).status_code == 404
    assert api.delete(url(f"{bank_id}-other", directive["id"])).status_code == 404
    assert Directive.objects.filter(pk=directive["id"]).exists()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"content": "x"}, ["body", "name"]),
        ({"name": "x", "content": "   "}, ["body", "content"]),
        ({"name": "x", "content": "y", "priority": "high"}, ["body", "priority"]),
        ({"name": "x", "content": "y", "tags": "style"}, ["body", "tags"]),
    ],
)
def test_bad_directives_answer_422_and_store_nothing(api, bank_id, body, loc):
    response = api.post(url(bank_id), body, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
    assert not Directive.objects.exists()
