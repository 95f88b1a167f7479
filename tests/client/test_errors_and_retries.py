"""Errors become exceptions carrying status and detail; reads are retried on 429/503 honouring Retry-After, a bounded
number of times; writes are never retried. Against a scripted ``httpx.MockTransport``, sync and async.
"""

from __future__ import annotations

import asyncio
import email.utils
import time

import httpx
import pytest

from hindsight_client import (
    ApiError,
    ApiException,
    BadRequestError,
    ConflictError,
    GoneError,
    HindsightConnectionError,
    HindsightError,
    HindsightTimeoutError,
    NotFoundError,
    NotFoundException,
    RateLimitError,
    ServerError,
    ServiceException,
    ServiceUnavailableError,
    UnauthorizedError,
    UnexpectedResponseError,
    UnprocessableEntityError,
)
from hindsight_client._http import retry_after_seconds
from tests.client.test_requests import MODES, call

RECALL = {"results": [{"id": "u1", "text": "Alice works at Google"}]}


@pytest.mark.parametrize(
    ("status", "detail", "error"),
    [
        (400, "Unknown setting 'nope'", BadRequestError),
        (401, "Missing API key", UnauthorizedError),
        (404, "Bank 'x' not found", NotFoundError),
        (409, "operation id reused", ConflictError),
        (410, "Use the config API", GoneError),
        (422, [{"loc": ["body", "query"], "msg": "Field required", "type": "missing"}], UnprocessableEntityError),
        (500, "Internal server error.", ServerError),
        (502, "Bad gateway", ServerError),
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_an_error_status_raises_its_exception_with_status_and_detail(fake, mode, status, detail, error):
    fake.respond(httpx.Response(status, json={"detail": detail}, headers={"X-Request-Id": "r1"}))
    with pytest.raises(error) as raised:
        call(fake.client(), mode, "get_bank_config", "x")
    exc = raised.value
    assert isinstance(exc, ApiError) and isinstance(exc, HindsightError) and isinstance(exc, ApiException)
    assert exc.status_code == exc.status == status
    assert exc.detail == detail
    assert exc.headers["x-request-id"] == "r1"
    assert exc.data == {"detail": detail}
    assert str(status) in str(exc) and "GET http://hindsight.test/v1/default/banks/x/config" in str(exc)


def test_the_upstream_exception_names_catch_ours(fake):
    fake.respond(httpx.Response(404, json={"detail": "gone"}), httpx.Response(500, json={"detail": "boom"}))
    client = fake.client()
    with pytest.raises(NotFoundException):
        client.get_directive("b", "d")
    with pytest.raises(ServiceException) as raised:
        client.get_directive("b", "d")
    assert raised.value.reason == "Internal Server Error"


def test_a_non_json_error_body_is_kept_as_text(fake):
    fake.respond(httpx.Response(502, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"}))
    with pytest.raises(ServerError) as raised:
        fake.client().delete_bank("b")
    assert raised.value.detail == "<html>Bad Gateway</html>"
    assert raised.value.data is None


def test_a_success_that_is_not_json_is_an_unexpected_response(fake):
    fake.respond(httpx.Response(200, text="<html>captive portal</html>", headers={"content-type": "text/html"}))
    with pytest.raises(UnexpectedResponseError) as raised:
        fake.client().recall(bank_id="b", query="q")
    assert raised.value.status_code == 200
    assert "captive portal" in raised.value.body


def test_an_empty_success_body_is_none(fake):
    fake.respond(httpx.Response(204))
    assert fake.client().delete_directive("b", "d") is None


@pytest.mark.parametrize("mode", MODES)
def test_connection_failures_and_timeouts_are_hindsight_errors(mode):
    from hindsight_client import Hindsight

    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    def stall(request):
        raise httpx.ReadTimeout("timed out", request=request)

    for handler, error in ((refuse, HindsightConnectionError), (stall, HindsightTimeoutError)):
        client = Hindsight(
            "http://hindsight.test",
            timeout=1.5,
            transport=httpx.MockTransport(handler),
            async_transport=httpx.MockTransport(handler),
        )
        with pytest.raises(error) as raised:
            call(client, mode, "list_banks")
        assert raised.value.status_code is None
        assert isinstance(raised.value.__cause__, httpx.TransportError)


# --- retries ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("method", "args", "kwargs", "answer"),
    [
        ("recall", (), {"bank_id": "b", "query": "q"}, RECALL),
        ("reflect", (), {"bank_id": "b", "query": "q"}, {"text": "answer"}),
        ("get_bank_config", ("b",), {}, {"bank_id": "b", "config": {}, "overrides": {}}),
        ("list_memories", ("b",), {}, {"items": [], "total": 0, "limit": 100, "offset": 0}),
        ("get_operation", ("b", "op"), {}, {"operation_id": "op", "status": "pending"}),
    ],
)
def test_reads_are_retried_on_503_and_429_waiting_at_least_retry_after(fake, mode, method, args, kwargs, answer):
    fake.respond(
        httpx.Response(503, json={"detail": "busy"}, headers={"Retry-After": "2"}),
        httpx.Response(429, json={"detail": "slow down"}, headers={"Retry-After": "1"}),
        httpx.Response(200, json=answer),
    )
    client = fake.client()
    call(client, mode, method, *args, **kwargs)
    assert len(fake.sent) == 3
    first, second = client.waits
    assert 2 <= first <= 2.3
    assert 1 <= second <= 1.2
    assert fake.sent[0].body == fake.sent[2].body


@pytest.mark.parametrize("mode", MODES)
def test_retries_stop_after_max_attempts_and_raise_the_last_error(fake, mode):
    fake.default = lambda request: httpx.Response(429, json={"detail": "slow down"}, headers={"Retry-After": "0"})
    client = fake.client(max_attempts=4)
    with pytest.raises(RateLimitError) as raised:
        call(client, mode, "recall", bank_id="b", query="q")
    assert len(fake.sent) == 4
    assert len(client.waits) == 3
    assert raised.value.detail == "slow down"


def test_without_retry_after_the_wait_backs_off_exponentially_with_jitter(fake):
    fake.default = lambda request: httpx.Response(503, json={"detail": "busy"})
    client = fake.client()
    with pytest.raises(ServiceUnavailableError):
        client.reflect(bank_id="b", query="q")
    assert len(fake.sent) == 3
    assert 0 <= client.waits[0] <= 0.5 and 0 <= client.waits[1] <= 1.0


def test_a_retry_after_date_is_honoured(fake):
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    fake.respond(httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200, json=RECALL))
    client = fake.client()
    client.recall(bank_id="b", query="q")
    assert 3.5 <= client.waits[0] <= 6.5


def test_a_retry_after_longer_than_a_minute_is_not_waited_out(fake):
    fake.respond(httpx.Response(503, json={"detail": "maintenance"}, headers={"Retry-After": "3600"}))
    client = fake.client()
    with pytest.raises(ServiceUnavailableError) as raised:
        client.list_banks()
    assert client.waits == [] and len(fake.sent) == 1
    assert raised.value.headers["retry-after"] == "3600"


def test_max_attempts_one_means_no_retry(fake):
    fake.respond(httpx.Response(503, headers={"Retry-After": "0"}))
    client = fake.client(max_attempts=1)
    with pytest.raises(ServiceUnavailableError):
        client.recall(bank_id="b", query="q")
    assert len(fake.sent) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(
    ("method", "args", "kwargs"),
    [
        ("retain", (), {"bank_id": "b", "content": "x"}),
        ("retain_batch", (), {"bank_id": "b", "items": [{"content": "x"}], "retain_async": True}),
        ("create_bank", ("b",), {"name": "B"}),
        ("update_bank_config", ("b",), {"retain_chunk_size": 100}),
        ("reset_bank_config", ("b",), {}),
        ("delete_bank", ("b",), {}),
        ("create_directive", ("b", "n", "c"), {}),
        ("create_mental_model", ("b", "n", "q"), {}),
        ("refresh_mental_model", ("b", "mm"), {}),
        ("cancel_operation", ("b", "op"), {}),
        ("retry_operation", ("b", "op"), {}),
    ],
)
def test_writes_are_never_retried(fake, mode, status, method, args, kwargs):
    fake.default = lambda request: httpx.Response(status, json={"detail": "busy"}, headers={"Retry-After": "0"})
    client = fake.client()
    with pytest.raises(ApiError) as raised:
        call(client, mode, method, *args, **kwargs)
    assert raised.value.status_code == status
    assert len(fake.sent) == 1 and client.waits == []


def test_other_errors_on_reads_are_not_retried(fake):
    fake.respond(httpx.Response(500, json={"detail": "boom"}))
    client = fake.client()
    with pytest.raises(ServerError):
        client.recall(bank_id="b", query="q")
    assert len(fake.sent) == 1


def test_the_real_sleep_is_used_by_default():
    from hindsight_client import Hindsight

    client = Hindsight("http://hindsight.test")
    assert client._conn.sleep is time.sleep
    assert client._conn.asleep is asyncio.sleep


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, None), ("3", 3.0), ("0.5", 0.5), ("-4", 0.0), ("soon", None), ("nan", None)],
)
def test_retry_after_parsing(header, expected):
    assert retry_after_seconds(header) == expected
