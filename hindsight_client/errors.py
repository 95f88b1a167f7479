"""Exceptions the client raises.

Every error is a ``HindsightError``. A response the server answered with a non-2xx status is an ``ApiError`` carrying
``status_code`` and ``detail`` (the server's ``{"detail": ...}``: a string, or the 422 list form), plus the raw
``body`` and ``headers``. Status-specific subclasses let callers catch what they handle (``NotFoundError``,
``RateLimitError``, ...). The ``*Exception`` aliases carry the names the upstream SDK's generated layer uses
(``ApiException``, ``NotFoundException``, ``ServiceException``, ...) and ``.status``/``.reason``/``.body``, so code
that reads those attributes keeps working.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any


class HindsightError(Exception):
    """Base of every error this client raises. ``status_code`` is None when no HTTP response was received."""

    status_code: int | None = None
    detail: Any = None

    def __init__(self, message: str, *, status_code: int | None = None, detail: Any = None):
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail

    @property
    def status(self) -> int:
        """The upstream SDK's name for the status code (0 when there was no response, as there)."""
        return self.status_code or 0


class HindsightConnectionError(HindsightError):
    """The server could not be reached, or the connection broke before a response arrived."""


class HindsightTimeoutError(HindsightConnectionError):
    """No response within the client's timeout. A write may or may not have been applied: check before re-sending."""


class ApiError(HindsightError):
    """The server answered with an error status (or an unusable body)."""

    def __init__(
        self,
        status_code: int,
        detail: Any = None,
        *,
        body: str = "",
        headers: Mapping[str, str] | None = None,
        method: str = "",
        url: str = "",
    ):
        self.body = body
        self.headers = dict(headers or {})
        self.method = method
        self.url = url
        try:
            self.reason = HTTPStatus(status_code).phrase
        except ValueError:
            self.reason = ""
        shown = detail if isinstance(detail, str) else json.dumps(detail) if detail is not None else self.reason
        where = f" ({method} {url})" if method else ""
        super().__init__(f"{status_code} {shown}{where}", status_code=status_code, detail=detail)

    @property
    def data(self) -> Any:
        """The parsed error body, as the upstream exception's ``data``."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None


class BadRequestError(ApiError):
    """400: the request was understood but refused (an invalid setting, a query too long, ...)."""


class UnauthorizedError(ApiError):
    """401: missing or wrong API key."""


class ForbiddenError(ApiError):
    """403: the API key may not touch this bank."""


class NotFoundError(ApiError):
    """404: unknown bank, memory, directive, document, operation, ... (or a route the server does not serve)."""


class ConflictError(ApiError):
    """409: the request conflicts with stored state (a reused operation id, another embedding model, ...)."""


class GoneError(ApiError):
    """410: a retired route; ``detail`` says what replaced it."""


class UnprocessableEntityError(ApiError):
    """422: the request body or query did not match the API's shape; ``detail`` is the list of problems."""


class RateLimitError(ApiError):
    """429: too many requests (reads were already retried, honouring ``Retry-After``)."""


class ServerError(ApiError):
    """5xx: the server failed or is temporarily unavailable."""


class ServiceUnavailableError(ServerError):
    """503: temporarily unavailable (reads were already retried, honouring ``Retry-After``)."""


class UnexpectedResponseError(ApiError):
    """A 2xx response whose body is not the JSON the API promises (a proxy's HTML page, for instance)."""


# The upstream SDK's generated exception names, so ``except ApiException`` / ``except NotFoundException`` keep working.
ApiException = ApiError
BadRequestException = BadRequestError
UnauthorizedException = UnauthorizedError
ForbiddenException = ForbiddenError
NotFoundException = NotFoundError
ConflictException = ConflictError
UnprocessableEntityException = UnprocessableEntityError
ServiceException = ServerError

_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_class(status_code: int) -> type[ApiError]:
    """The most specific ``ApiError`` subclass for a status code."""
    if status_code in _BY_STATUS:
        return _BY_STATUS[status_code]
    return ServerError if status_code >= 500 else ApiError


__all__ = [
    "ApiError",
    "ApiException",
    "BadRequestError",
    "BadRequestException",
    "ConflictError",
    "ConflictException",
    "ForbiddenError",
    "ForbiddenException",
    "GoneError",
    "HindsightConnectionError",
    "HindsightError",
    "HindsightTimeoutError",
    "NotFoundError",
    "NotFoundException",
    "RateLimitError",
    "ServerError",
    "ServiceException",
    "ServiceUnavailableError",
    "UnauthorizedError",
    "UnauthorizedException",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "UnprocessableEntityException",
    "error_class",
]
