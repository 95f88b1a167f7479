"""Cross-key isolation on every route family, driven from the URLconf so a new route cannot be forgotten.

Every pattern with ``{bank_id}`` is called with each method its view serves, by a key limited to bank A, on bank B:
the answer must be the 404 of a missing bank and bank B must be unchanged. The same call with a key limited to B
must get past the key check (a positive control, so the 404 is not an accident of the test data). Routes naming no
bank are listed explicitly below, each with the check that proves it cannot reach another key's banks; a new one
fails ``test_every_route_without_a_bank_is_classified`` until it is added there.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from banks.models import Bank
from directives.models import Directive, MentalModel
from memories.models import Chunk, Document, Entity, MemoryUnit, Operation
from tests.apikeys.conftest import client_with
from tests.factories import populated_bank

pytestmark = pytest.mark.django_db

A, B = "bank-a", "bank-b"
METHODS = ("get", "post", "put", "patch", "delete")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def api_routes() -> list[tuple[str, type[APIView]]]:
    """Every DRF route of the URLconf (the admin and pages are not API routes)."""
    routes = []
    for route, callback in _walk(get_resolver().url_patterns):
        view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if view_class is not None and issubclass(view_class, APIView):
            routes.append((route, view_class))
    return routes


def _methods(view_class) -> list[str]:
    from hindsight_site.api.unserved import NotOfferedView

    if issubclass(view_class, NotOfferedView):
        return ["get"]  # one view answers every method of the routes not offered (501) the same way
    return [m for m in METHODS if hasattr(view_class, m)]


BANK_ROUTE_CASES = [
    pytest.param(route, method, id=f"{method.upper()} {route.removeprefix('v1/default/banks/<str:bank_id>')}")
    for route, view_class in api_routes()
    if "<str:bank_id>" in route
    for method in _methods(view_class)
]


def _ids(bank: Bank) -> dict[str, str]:
    """Real ids of bank ``bank``'s objects for the path parameters, so the positive control reaches real rows."""
    return {
        "bank_id": bank.bank_id,
        "memory_id": str(MemoryUnit.objects.filter(bank=bank).exclude(fact_type="observation").first().pk),
        "document_id": Document.objects.filter(bank=bank).first().document_id,
        "chunk_id": str(Chunk.objects.filter(bank=bank).first().pk),
        "entity_id": str(Entity.objects.filter(bank=bank).first().pk),
        "operation_id": str(Operation.objects.filter(bank=bank).first().pk),
        "directive_id": str(Directive.objects.filter(bank=bank).first().pk),
        "mental_model_id": MentalModel.objects.filter(bank=bank).first().mental_model_id,
    }


def _path(route: str, ids: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        return ids.get(match.group("name"), "some-id")

    return "/" + re.sub(r"<(?:\w+:)?(?P<name>\w+)>", value, route)


def _snapshot(bank_id: str) -> dict:
    bank = Bank.objects.get(bank_id=bank_id)
    return {
        "bank": (bank.name, bank.mission, bank.get_overrides(), bank.disposition_skepticism),
        "units": sorted(MemoryUnit.objects.filter(bank=bank).values_list("id", "text", "state", "tags")),
        "documents": sorted(Document.objects.filter(bank=bank).values_list("document_id", "tags")),
        "chunks": Chunk.objects.filter(bank=bank).count(),
        "entities": Entity.objects.filter(bank=bank).count(),
        "directives": sorted(Directive.objects.filter(bank=bank).values_list("id", "content", "is_active")),
        "models": sorted(MentalModel.objects.filter(bank=bank).values_list("mental_model_id", "name", "content")),
        "operations": sorted(Operation.objects.filter(bank=bank).values_list("id", "status")),
    }


BODY = {"query": "Alice", "content": "Ada", "items": [{"content": "Ada likes tea."}], "updates": {}, "name": "n"}


@pytest.mark.parametrize(("route", "method"), BANK_ROUTE_CASES)
def test_a_key_limited_to_one_bank_never_reaches_another(make_key, route, method):
    bank_b = populated_bank(B)
    ids = _ids(bank_b)
    path = _path(route, ids)
    before = _snapshot(B)

    _, key_a = make_key(banks=[A])
    response = getattr(client_with(key_a), method)(path, BODY, format="json")
    assert response.status_code == 404, (path, response.status_code, response.content[:300])
    assert response.json() == {"detail": f"Bank '{B}' not found"}
    assert _snapshot(B) == before

    # Positive control: B's own key gets past the key check on the same call.
    _, key_b = make_key(banks=[B])
    allowed = getattr(client_with(key_b), method)(path, BODY, format="json")
    assert allowed.status_code not in (401, 403), (path, allowed.status_code)
    assert allowed.json() != {"detail": f"Bank '{B}' not found"}, path


def test_the_table_covers_every_route_family():
    """A guard on the guard: the URLconf walk finds the families the issue lists."""
    routes = {route for route, _ in api_routes()}
    for family in (
        "config",
        "profile",
        "memories",
        "memories/recall",
        "memories/list",
        "memories/<str:memory_id>",
        "documents",
        "documents/<path:document_id>/chunks",
        "entities",
        "entities/graph",
        "graph",
        "tags",
        "stats",
        "operations",
        "reflect",
        "directives",
        "mental-models",
        "observations",
        "consolidate",
        "export",
        "import",
    ):
        assert f"v1/default/banks/<str:bank_id>/{family}" in routes, family
    assert len(BANK_ROUTE_CASES) > 80


# Routes that name no bank: how each one keeps a scoped key inside its banks.
NON_BANK_ROUTES = {
    "health": "public probe: no bank data",
    "health/ready": "public probe: no bank data",
    "health/live": "public probe: no bank data",
    "version": "public: version and feature flags",
    "metrics": "server-wide: needs a key limited to no bank",
    "v1/bank-template-schema": "public: a static JSON Schema",
    "openapi.json": "public: the OpenAPI document (no data)",
    "docs": "public: the interactive docs page over it",
    "v1/default/banks": "lists only the key's banks",
    "v1/default/chunks/<str:chunk_id>": "looks the chunk up in the key's banks only",
    "v1/default/files/download/<path:key>": "not offered: 501 for everyone",
    "v1/admin/api-keys": "key management: needs a key limited to no bank",
    "v1/admin/api-keys/<str:key_id>": "key management: needs a key limited to no bank",
}


def test_every_route_without_a_bank_is_classified():
    unclassified = [route for route, _ in api_routes() if "<str:bank_id>" not in route]
    assert sorted(set(unclassified) - set(NON_BANK_ROUTES)) == []


def test_routes_without_a_bank_keep_a_scoped_key_inside_its_banks(make_key):
    populated_bank(A)
    bank_b = populated_bank(B)
    _, key_a = make_key(banks=[A])
    api = client_with(key_a)
    assert [b["bank_id"] for b in api.get("/v1/default/banks").json()["banks"]] == [A]
    chunk_b = Chunk.objects.filter(bank=bank_b).first()
    assert api.get(f"/v1/default/chunks/{chunk_b.pk}").status_code == 404
    assert api.get("/metrics").status_code == 403
    assert api.get("/v1/admin/api-keys").status_code == 403
    assert api.post("/v1/admin/api-keys", {"name": "escalate"}, format="json").status_code == 403
    assert api.get("/v1/default/files/download/x").status_code == 501


def test_every_api_view_uses_the_key_mechanism():
    """No view opts out by overriding its authentication or permission classes."""
    from apikeys.api.authentication import ApiKeyAuthentication, ApiKeyPermission

    offenders = [
        route
        for route, view_class in api_routes()
        if view_class.authentication_classes != [ApiKeyAuthentication]
        or view_class.permission_classes != [ApiKeyPermission]
    ]
    assert offenders == []
