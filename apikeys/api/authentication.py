"""The one mechanism that enforces API keys on every DRF route (wired in ``REST_FRAMEWORK``).

``ApiKeyAuthentication`` identifies the key (``Authorization: Bearer <key>`` or the bare key); ``ApiKeyPermission``
decides, per route:

* probes (health, readiness, liveness, version) and the static bank-template schema answer without a key;
* with no active key, the API is open on loopback (or when ``HINDSIGHT_ALLOW_OPEN`` says so) and closed otherwise;
* with an active key anywhere, every other route needs a valid key: 401 otherwise (``WWW-Authenticate: Bearer``);
  a revoked key is refused even when the server runs open, an unknown one is ignored there (as upstream does);
* a key limited to some banks gets the same 404 as a missing bank for any other bank (routes with ``{bank_id}``),
  and a ``request.bank_scope`` queryset for routes that name no bank (the bank list, ``/v1/default/chunks/{id}``);
* server-wide routes (metrics) and the key-management routes need a key limited to no bank (403 otherwise);
* a read-only key may use GET and the POSTs that only read (views marked ``read_only_safe``): 403 for any write.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission

from apikeys import selectors, services
from apikeys.models import ApiKey
from banks.models import Bank
from hindsight_site.errors import NotFound

# URL names. Probes must answer load balancers and orchestrators that cannot send a key, and reveal nothing about
# banks; the template schema is the same static JSON Schema on every server; the OpenAPI document and its docs page
# describe the API (no data) and are opened by browsers that send no key.
PUBLIC_ROUTES = frozenset(
    {"health", "health-ready", "health-live", "version", "bank-template-schema", "openapi-schema", "api-docs"}
)
# Server-wide figures: readable with a key that is limited to no bank (a read-only one will do, for a scraper).
SERVER_WIDE_ROUTES = frozenset({"metrics"})
# Managing keys: a key limited to no bank and allowed to write (or the server running open).
KEY_ADMIN_ROUTES = frozenset({"api-key-list", "api-key-detail"})


def _route_name(request) -> str | None:
    match = getattr(request, "resolver_match", None)
    return match.url_name if match is not None else None


def key_from_header(value: str) -> str | None:
    """The key in an ``Authorization`` header: ``Bearer <key>`` (any case) or the bare key; None when absent."""
    value = (value or "").strip()
    if not value:
        return None
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return value


class ApiKeyAuthentication(BaseAuthentication):
    """Identifies the request's API key; ``request.auth`` is the ``ApiKey`` (``request.user`` stays None)."""

    def authenticate(self, request):
        if _route_name(request) in PUBLIC_ROUTES:
            return None
        raw = key_from_header(request.META.get("HTTP_AUTHORIZATION", ""))
        if raw is None:
            return None
        api_key = selectors.find_key(raw)
        if api_key is None or not api_key.is_active:
            if api_key is None and not selectors.keys_exist() and selectors.open_access_allowed():
                # An open server ignores credentials it does not know, as upstream does without a tenant
                # extension: a client configured with a key keeps working. A revoked key stays refused.
                return None
            # Never echo what was sent: the detail names no part of the key.
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        services.record_key_use(api_key=api_key)
        return (None, api_key)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="hindsight"'


def _is_read(request, view) -> bool:
    return request.method in SAFE_METHODS or bool(getattr(view, "read_only_safe", False))


class ApiKeyPermission(BasePermission):
    """Applies the key's limits (see the module docstring); raises the exact error instead of returning False."""

    def has_permission(self, request, view) -> bool:
        route = _route_name(request)
        if route in PUBLIC_ROUTES:
            return True
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        if api_key is None:
            if selectors.keys_exist():
                raise exceptions.NotAuthenticated("An API key is required: send 'Authorization: Bearer <key>'.")
            if not selectors.open_access_allowed():
                raise exceptions.NotAuthenticated(
                    "This server listens beyond loopback and has no API key yet: create one with "
                    "'python manage.py apikey create --name NAME', or set HINDSIGHT_ALLOW_OPEN=true to run open."
                )
            return True  # open: no key exists and the server may run open
        bank_id = view.kwargs.get("bank_id")
        if bank_id is not None and not api_key.allows_bank(bank_id):
            # Exactly what a missing bank answers: a scoped key cannot learn which other banks exist.
            raise NotFound(f"Bank '{bank_id}' not found")
        if api_key.is_scoped:
            request.bank_scope = Bank.objects.for_key(api_key)
            if route in SERVER_WIDE_ROUTES or route in KEY_ADMIN_ROUTES:
                raise exceptions.PermissionDenied("This route needs an API key that is not limited to some banks.")
        if api_key.read_only and (route in KEY_ADMIN_ROUTES or not _is_read(request, view)):
            raise exceptions.PermissionDenied("This API key is read-only.")
        return True
