"""API plumbing shared by every app: the one exception handler and the JSON error views.

Every error leaves as ``{"detail": ...}``. Request-shape errors use the contract's 422 list form
(``[{"loc", "msg", "type"}]``, as the real SDK parses them); domain and configuration errors are a 400 with one
sentence naming the field; nothing a client can send produces a 500 without a JSON body.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DataError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework import exceptions, status
from rest_framework.response import Response

from banks.config_registry import ConfigValidationError
from hindsight_site.errors import DomainError

logger = logging.getLogger("hindsight.api")


def _flatten(detail: Any, loc: list[Any]) -> list[dict[str, Any]]:
    if isinstance(detail, dict):
        items = []
        for key, value in detail.items():
            sub_loc = loc if key == "non_field_errors" else [*loc, key]
            items.extend(_flatten(value, sub_loc))
        return items
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [
                {"loc": loc, "msg": str(item), "type": getattr(item, "code", "value_error") or "value_error"}
                for item in detail
            ]
        items = []
        for index, item in enumerate(detail):
            items.extend(_flatten(item, [*loc, index]))
        return items
    return [{"loc": loc, "msg": str(detail), "type": getattr(detail, "code", "value_error") or "value_error"}]


def iso(value) -> str | None:
    """A datetime as the contract writes it (ISO 8601), or None."""
    return value.isoformat() if value else None


def validation_error_body(detail: Any, location: str = "body") -> dict[str, Any]:
    return {"detail": _flatten(detail, [location])}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, DomainError):
        return Response({"detail": exc.detail}, status=exc.status_code)
    provider_error = _provider_error(exc)
    if provider_error is not None:
        return provider_error
    if isinstance(exc, ConfigValidationError):
        return Response({"detail": f"{exc.field} {exc.message}"}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.ValidationError):
        location = getattr(exc, "location", "body")
        return Response(validation_error_body(exc.detail, location), status=status.HTTP_422_UNPROCESSABLE_ENTITY)
    if isinstance(exc, exceptions.ParseError):
        return Response({"detail": f"The request body is not valid JSON: {exc.detail}"}, status=400)
    if isinstance(exc, Http404):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            {"detail": f"The request body is larger than this server accepts ({limit} bytes)."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, SuspiciousOperation):
        return Response({"detail": f"The request was refused: {exc}"}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DataError):
        # A value PostgreSQL cannot hold (a NUL character in text, a number beyond its column) reached the
        # database: the client's input, refused whole (the request's transaction rolled back).
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        return Response(
            {"detail": f"A value in the request cannot be stored: {reason}."}, status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        if getattr(exc, "auth_header", None):  # 401: how to authenticate (set by DRF from the authenticator)
            headers["WWW-Authenticate"] = exc.auth_header
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return Response({"detail": detail}, status=exc.status_code, headers=headers)
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__ if context else "view")
    return Response({"detail": "Internal server error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)


def _provider_error(exc: Exception) -> Response | None:
    """Model-provider failures: 503 when retrying later may help, 502 when the provider refused; 409 for vectors
    from a different embedding model than the bank's."""
    from memories.extraction.types import ExtractionError

    if isinstance(exc, ExtractionError):
        code = status.HTTP_503_SERVICE_UNAVAILABLE if exc.transient else status.HTTP_502_BAD_GATEWAY
        return Response({"detail": f"Fact extraction failed: {exc}"}, status=code)
    try:
        from memories.embeddings import EmbeddingDimensionMismatch, EmbeddingError
    except ImportError:  # pragma: no cover - the module is part of the project
        return None
    if isinstance(exc, EmbeddingDimensionMismatch):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, EmbeddingError):
        return Response({"detail": f"Embedding failed: {exc}"}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    return None


def not_found(request, exception=None) -> HttpResponse:
    """JSON for the API; a page for a person's browser on the control plane (its own 404s name what is missing)."""
    if not request.path.startswith("/v1/") and "text/html" in request.headers.get("Accept", ""):
        message = str(exception.args[0]) if exception is not None and exception.args else ""
        if not isinstance(message, str) or message.startswith("{") or "Resolver404" in message:
            message = ""
        return render(request, "control/404.html", {"message": message}, status=404)
    return JsonResponse({"detail": f"No route for {request.method} {request.path}."}, status=404)


def bad_request(request, exception=None) -> JsonResponse:
    """Django's own 400s (a Host header not allowed here, a request too large or malformed to read)."""
    reason = str(exception).strip() if exception is not None and str(exception).strip() else "Bad request."
    if exception is not None and exception.__class__.__name__ == "DisallowedHost":
        reason = "The Host header names a host this server does not answer for."
    return JsonResponse({"detail": reason}, status=400)


def permission_denied(request, exception=None) -> JsonResponse:
    return JsonResponse({"detail": "You do not have permission to do this."}, status=403)


def server_error(request) -> JsonResponse:
    return JsonResponse({"detail": "Internal server error."}, status=500)
