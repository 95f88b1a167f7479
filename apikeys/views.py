"""The control plane's API keys page (``/keys/``): list, create (the key is shown once), revoke.

Thin adapters over ``apikeys.services`` (the same functions the REST routes, the command and the admin call). URL
names start with ``control-``, so ``ControlPlaneLoginRequiredMiddleware`` requires a signed-in user. Plain forms
work without JavaScript; with htmx the create form swaps only the keys panel.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from apikeys import selectors, services
from apikeys.forms import ApiKeyCreateForm
from hindsight_site.control import redirect_after_post
from hindsight_site.errors import DomainError


def _render(request: HttpRequest, form: ApiKeyCreateForm, *, created=None, raw: str | None = None, status=200):
    context = {
        "nav": "keys",
        "form": form,
        "keys": selectors.list_api_keys(),
        "created": created,
        "plaintext_key": raw,
        "open_access": not selectors.keys_exist() and selectors.open_access_allowed(),
    }
    template = "apikeys/_keys_panel.html" if request.htmx and not request.htmx.boosted else "apikeys/keys.html"
    return render(request, template, context, status=status)


# The answer that shows a new key must never be cached by the browser or a proxy.
@never_cache
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render(request, ApiKeyCreateForm())
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _render(request, form, status=400)
    api_key, raw = form.create()
    # The key is rendered in this one answer and kept nowhere (no message, no session, so no redirect either): it
    # cannot be shown again.
    return _render(request, ApiKeyCreateForm(), created=api_key, raw=raw)


@require_POST
def api_key_revoke(request: HttpRequest, key_id: str) -> HttpResponse:
    try:
        api_key = services.revoke_api_key(key_id=key_id)
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"API key '{api_key.name}' ({api_key.prefix}…) revoked: it no longer works.")
    return redirect_after_post(request, reverse("control-api-keys"))
