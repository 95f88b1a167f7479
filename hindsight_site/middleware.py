"""Middleware of the control plane."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

CONTROL_URL_PREFIX = "control-"


class ControlPlaneLoginRequiredMiddleware:
    """Every control-plane page needs a signed-in user; the REST API and the admin keep their own rules.

    A page belongs to the control plane when its URL name starts with ``control-`` (``control-banks``,
    ``control-bank-overview``, ...), so a page added in any app is protected by being named like its siblings.
    An htmx request from an expired session gets ``HX-Redirect`` to the sign-in page instead of a login form
    swapped into the middle of the page.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponse | None:
        match = request.resolver_match
        if match is None or not (match.url_name or "").startswith(CONTROL_URL_PREFIX):
            return None
        if request.user.is_authenticated:
            return None
        response = redirect_to_login(request.get_full_path())
        if request.headers.get("HX-Request") == "true":
            redirect = HttpResponse(status=204)
            redirect["HX-Redirect"] = response["Location"]
            return redirect
        return response
