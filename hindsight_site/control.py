"""Helpers every control-plane page uses (banks, memories, directives and keys pages alike).

* ``bank_or_404``: the bank named in the URL, or a 404 page.
* ``bank_context``: the context ``control/bank_base.html`` needs (``bank``, ``tab``, ``nav``).
* ``redirect_after_post``: after a successful POST, ``HX-Redirect`` for htmx and a plain 303 for a form without
  JavaScript, so every form works both ways.

Pages are protected by ``hindsight_site.middleware.ControlPlaneLoginRequiredMiddleware`` as long as their URL name
starts with ``control-``.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect

from banks.models import Bank


def bank_or_404(bank_id: str) -> Bank:
    try:
        return Bank.objects.get(bank_id=bank_id)
    except Bank.DoesNotExist:
        raise Http404(f"Bank '{bank_id}' not found") from None


def bank_context(bank: Bank, tab: str, **extra: Any) -> dict[str, Any]:
    return {"bank": bank, "tab": tab, "nav": "banks", **extra}


def redirect_after_post(request: HttpRequest, url: str) -> HttpResponse:
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url, status=303)
