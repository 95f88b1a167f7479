"""One place that sends requests: headers, timeouts, error mapping and the retry policy, for sync and async.

Every public method builds a ``Call`` (method, encoded path, query, body, how to parse the answer, whether it may be
retried) and hands it to ``Connection.send`` or ``Connection.asend``; the two share everything but the I/O.

Retry policy: only reads are retried (GET, and the POST reads recall and reflect), only on 429 and 503, at most
``max_attempts`` attempts in all. ``Retry-After`` (seconds or an HTTP date) is honoured as a lower bound, with a little
jitter on top so a burst of clients does not come back in lockstep; without it the wait is exponential with full
jitter. A ``Retry-After`` longer than ``MAX_RETRY_AFTER`` is not waited out: the caller gets the error at once.
Writes are never retried: a lost response does not tell whether the write happened.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from hindsight_client.errors import (
    HindsightConnectionError,
    HindsightTimeoutError,
    UnexpectedResponseError,
    error_class,
)

T = TypeVar("T")

BANKS = "/v1/default/banks"
#: Longest server-requested wait (seconds) the client sits through before retrying.
MAX_RETRY_AFTER = 60.0
#: First fallback backoff (seconds) when a 429/503 carries no usable ``Retry-After``; doubles per attempt.
BACKOFF_BASE = 0.5
RETRY_STATUSES = frozenset({429, 503})

_NO_BODY = object()
_NOT_LOCAL = object()


def path(template: str, *ids: Any) -> str:
    """Fill ``{}`` placeholders with ids percent-encoded with no safe characters (``/`` → ``%2F``), as upstream."""
    return template.format(*(quote(str(i), safe="") for i in ids))


def bank_path(bank_id: str, suffix: str = "", *ids: Any) -> str:
    return path(BANKS + "/{}" + suffix, bank_id, *ids)


def query(**params: Any) -> list[tuple[str, str]]:
    """Query parameters as the API expects them: None dropped, booleans ``true``/``false``, lists as repeated keys."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, bool):
                out.append((key, "true" if item else "false"))
            elif isinstance(item, dict | list):
                out.append((key, json.dumps(item)))
            else:
                out.append((key, str(item)))
    return out


def plain(obj: Any) -> Any:
    """A request body as JSON-ready data: dicts as they are, our models and pydantic models through their dumpers."""
    if obj is None or isinstance(obj, dict | list | str | int | float | bool):
        return obj
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(by_alias=True, exclude_none=True, mode="json")
    raise TypeError(f"cannot send a {type(obj).__name__} as a request body")


@dataclass
class Call(Generic[T]):
    """One request to make, and what to do with its answer."""

    method: str
    path: str
    params: list[tuple[str, str]] | None = None
    json: Any = _NO_BODY
    files: Any = None
    data: Any = None
    parse: Callable[[Any], T] | None = None
    #: True only for reads: the call may be repeated on 429/503.
    retry: bool = False
    #: The raw bytes are the result (downloads).
    raw: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    #: A result decided without a request (retains while suspended).
    local: Any = _NOT_LOCAL

    @classmethod
    def get(cls, path: str, parse: Callable[[Any], T] | None = None, **params: Any) -> Call[T]:
        return cls("GET", path, params=query(**params) or None, parse=parse, retry=True)

    @classmethod
    def resolved(cls, value: T) -> Call[T]:
        return cls("LOCAL", "", local=value)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class Connection:
    """The HTTP side of a ``Hindsight`` client: one ``httpx.Client`` and one ``httpx.AsyncClient`` per event loop."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeout: float,
        user_agent: str,
        max_attempts: int,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max(1, int(max_attempts))
        self.headers = {"User-Agent": user_agent, "Accept": "application/json", **(headers or {})}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self._transport = transport
        self._async_transport = async_transport
        self._sync: httpx.Client | None = None
        self._async: httpx.AsyncClient | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._pending_closes: set[asyncio.Task] = set()
        self.rng = random.Random()  # noqa: S311 - jitter for retry waits, not security
        # Replaced in tests to observe waits without sleeping.
        self.sleep: Callable[[float], None] = time.sleep
        self.asleep: Callable[[float], Any] = asyncio.sleep

    # --- clients ----------------------------------------------------------------------------------------------------

    def _sync_client(self) -> httpx.Client:
        if self._sync is None:
            self._sync = httpx.Client(
                base_url=self.base_url, headers=self.headers, timeout=self.timeout, transport=self._transport
            )
        return self._sync

    def _async_client(self) -> httpx.AsyncClient:
        # An AsyncClient's connections belong to the loop that opened them; a caller running asyncio.run() twice
        # gets a fresh client on the second loop instead of "Event loop is closed".
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            self._discard_async()
            self._async = httpx.AsyncClient(
                base_url=self.base_url, headers=self.headers, timeout=self.timeout, transport=self._async_transport
            )
            self._async_loop = loop
        return self._async

    def _discard_async(self) -> None:
        client, loop = self._async, self._async_loop
        self._async = self._async_loop = None
        if client is None or loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            task = loop.create_task(client.aclose())
            self._pending_closes.add(task)
            task.add_done_callback(self._pending_closes.discard)
        elif not loop.is_running():
            loop.run_until_complete(client.aclose())

    def close(self) -> None:
        """Close the sync client, and the async one (scheduled on its loop when called from inside it)."""
        if self._sync is not None:
            self._sync.close()
            self._sync = None
        self._discard_async()

    async def aclose(self) -> None:
        if self._async is not None and self._async_loop is asyncio.get_running_loop():
            client = self._async
            self._async = self._async_loop = None
            await client.aclose()
        self.close()

    # --- sending ----------------------------------------------------------------------------------------------------

    def _request_kwargs(self, call: Call) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"params": call.params, "headers": call.headers or None}
        if call.json is not _NO_BODY:
            kwargs["json"] = call.json
        if call.files is not None:
            kwargs["files"] = call.files
        if call.data is not None:
            kwargs["data"] = call.data
        return kwargs

    def send(self, call: Call[T]) -> T:
        if call.local is not _NOT_LOCAL:
            return call.local
        client = self._sync_client()
        attempt = 1
        while True:
            try:
                response = client.request(call.method, call.path, **self._request_kwargs(call))
            except httpx.TimeoutException as exc:
                raise HindsightTimeoutError(f"{call.method} {call.path} timed out after {self.timeout}s") from exc
            except httpx.TransportError as exc:
                raise HindsightConnectionError(f"{call.method} {self.base_url}{call.path}: {exc}") from exc
            wait = self._retry_wait(call, response, attempt)
            if wait is None:
                return self._result(call, response)
            response.close()
            self.sleep(wait)
            attempt += 1

    async def asend(self, call: Call[T]) -> T:
        if call.local is not _NOT_LOCAL:
            return call.local
        client = self._async_client()
        attempt = 1
        while True:
            try:
                response = await client.request(call.method, call.path, **self._request_kwargs(call))
            except httpx.TimeoutException as exc:
                raise HindsightTimeoutError(f"{call.method} {call.path} timed out after {self.timeout}s") from exc
            except httpx.TransportError as exc:
                raise HindsightConnectionError(f"{call.method} {self.base_url}{call.path}: {exc}") from exc
            wait = self._retry_wait(call, response, attempt)
            if wait is None:
                return self._result(call, response)
            await response.aclose()
            await self.asleep(wait)
            attempt += 1

    def _retry_wait(self, call: Call, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None when this response is the answer."""
        if not call.retry or response.status_code not in RETRY_STATUSES or attempt >= self.max_attempts:
            return None
        asked = retry_after_seconds(response.headers.get("Retry-After"))
        if asked is None:
            return self.rng.uniform(0, BACKOFF_BASE * 2 ** (attempt - 1))
        if asked > MAX_RETRY_AFTER:
            return None
        return asked + self.rng.uniform(0, min(1.0, 0.1 * asked + 0.05))

    def _result(self, call: Call[T], response: httpx.Response) -> T:
        method, url = call.method, f"{self.base_url}{call.path}"
        if not response.is_success:
            body = response.text
            try:
                decoded = response.json()
                detail = decoded.get("detail", decoded) if isinstance(decoded, dict) else decoded
            except ValueError:
                detail = body.strip()[:500] or None
            raise error_class(response.status_code)(
                response.status_code, detail, body=body, headers=response.headers, method=method, url=url
            )
        if call.raw:
            return response.content  # type: ignore[return-value]
        if response.status_code == 204 or not response.content:
            data = None
        else:
            content_type = response.headers.get("content-type", "")
            if "json" not in content_type:
                raise UnexpectedResponseError(
                    response.status_code,
                    f"expected JSON, got {content_type or 'no content type'}",
                    body=response.text[:2000],
                    headers=response.headers,
                    method=method,
                    url=url,
                )
            try:
                data = response.json()
            except ValueError as exc:
                raise UnexpectedResponseError(
                    response.status_code,
                    "the response body is not valid JSON",
                    body=response.text[:2000],
                    headers=response.headers,
                    method=method,
                    url=url,
                ) from exc
        return call.parse(data) if call.parse is not None else data
