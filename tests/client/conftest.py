"""Helpers for the client tests: a scripted ``httpx.MockTransport`` that records every request it answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from hindsight_client import Hindsight


@dataclass
class Sent:
    method: str
    path: str  # as sent on the wire (percent-encoding kept)
    query: list[tuple[str, str]]
    headers: httpx.Headers
    body: Any


@dataclass
class FakeServer:
    """Answers requests from a queue of responses (or a default), and remembers what it was sent."""

    default: Callable[[httpx.Request], httpx.Response] | None = None
    queue: list[httpx.Response] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)

    def respond(self, *responses: httpx.Response) -> FakeServer:
        self.queue.extend(responses)
        return self

    def handle(self, request: httpx.Request) -> httpx.Response:
        content = request.content
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = content
        self.sent.append(
            Sent(
                method=request.method,
                path=request.url.raw_path.decode().split("?")[0],
                query=list(request.url.params.multi_items()),
                headers=request.headers,
                body=body,
            )
        )
        if self.queue:
            return self.queue.pop(0)
        if self.default is not None:
            return self.default(request)
        return httpx.Response(200, json={})

    @property
    def last(self) -> Sent:
        return self.sent[-1]

    def client(self, **kwargs: Any) -> Hindsight:
        client = Hindsight(
            "http://hindsight.test/",
            transport=httpx.MockTransport(self.handle),
            async_transport=httpx.MockTransport(self.handle),
            **kwargs,
        )
        # Retry waits are recorded, not slept.
        client.waits = []  # type: ignore[attr-defined]
        client._conn.sleep = client.waits.append  # type: ignore[attr-defined]

        async def asleep(seconds: float) -> None:
            client.waits.append(seconds)  # type: ignore[attr-defined]

        client._conn.asleep = asleep
        return client


@pytest.fixture
def fake() -> FakeServer:
    return FakeServer()
