"""The 401/403/404 matrix: who may reach which route with which key, and when the API runs open."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from apikeys import services
from banks.models import Bank
from memories.models import Chunk
from tests.apikeys.conftest import client_with
from tests.factories import populated_bank

pytestmark = pytest.mark.django_db

B = "/v1/default/banks"


def test_with_no_key_defined_a_loopback_server_is_open():
    api = APIClient()
    assert api.put(f"{B}/open-bank", {}, format="json").status_code == 200
    assert api.get(f"{B}/open-bank/config").status_code == 200
    assert api.get("/metrics").status_code == 200
    assert api.get("/v1/admin/api-keys").json() == {"items": []}


def test_an_open_server_ignores_credentials_it_does_not_know():
    # A client configured with a key keeps working against a server that runs open (upstream behaves so too).
    assert client_with("hsk_unknownunknownunknown").get(B).status_code == 200
    assert client_with("garbage", bearer=False).get(B).status_code == 200


@override_settings(HINDSIGHT_HOST="0.0.0.0")
def test_beyond_loopback_with_no_key_every_api_route_is_closed():
    response = APIClient().get(B)
    assert response.status_code == 401
    assert "HINDSIGHT_ALLOW_OPEN" in response.json()["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert APIClient().get("/health").status_code == 200


@override_settings(HINDSIGHT_HOST="0.0.0.0", HINDSIGHT_ALLOW_OPEN=True)
def test_beyond_loopback_the_operator_may_run_open_explicitly():
    assert APIClient().get(B).status_code == 200


def test_once_a_key_exists_a_request_without_one_gets_401(make_key):
    make_key()
    response = APIClient().get(B)
    assert response.status_code == 401
    assert response.json() == {"detail": "An API key is required: send 'Authorization: Bearer <key>'."}
    assert response["WWW-Authenticate"] == 'Bearer realm="hindsight"'
    assert APIClient().post(f"{B}/x/memories/recall", {"query": "q"}, format="json").status_code == 401
    assert APIClient().get("/metrics").status_code == 401


def test_wrong_and_revoked_keys_get_401_without_echoing_the_key(make_key):
    api_key, raw = make_key()
    wrong = raw[:-4] + "abcd"
    response = client_with(wrong).get(B)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert wrong not in response.content.decode() and raw[4:12] not in response.content.decode()
    assert client_with(raw).get(B).status_code == 200
    services.revoke_api_key(key_id=api_key.pk)
    revoked = client_with(raw).get(B)
    assert revoked.status_code == 401 and raw not in revoked.content.decode()


@pytest.mark.parametrize("header", ["Bearer {raw}", "bearer {raw}", "BEARER  {raw} ", "{raw}"])
def test_bearer_and_bare_keys_are_both_accepted(make_key, header):
    _, raw = make_key()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=header.format(raw=raw))
    assert api.get(B).status_code == 200


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc", "hsk_\x00bad", "Bearer " + "a" * 10000]
)
def test_malformed_authorization_headers_get_401_never_500(make_key, header):
    make_key()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=header)
    response = api.get(B)
    assert response.status_code == 401 and "detail" in response.json()


@pytest.mark.parametrize(
    "path",
    ["/health", "/health/ready", "/health/live", "/version", "/v1/bank-template-schema", "/openapi.json", "/docs"],
)
def test_probes_and_docs_answer_without_a_key_even_with_a_bad_one(make_key, path):
    make_key()
    assert APIClient().get(path).status_code == 200
    assert client_with("hsk_wrongwrongwrongwrong").get(path).status_code == 200


def test_metrics_need_a_key_limited_to_no_bank(make_key):
    _, scoped = make_key(banks=["a"])
    _, monitor = make_key(read_only=True)
    assert client_with(scoped).get("/metrics").status_code == 403
    assert client_with(monitor).get("/metrics").status_code == 200


def test_a_scoped_key_gets_404_for_another_bank_exactly_as_for_a_missing_bank(make_key):
    populated_bank("mine")
    populated_bank("theirs")
    _, raw = make_key(banks=["mine"])
    api = client_with(raw)
    assert api.get(f"{B}/mine/config").status_code == 200
    out_of_scope = api.get(f"{B}/theirs/config")
    _, unscoped = make_key()
    missing = client_with(unscoped).get(f"{B}/nowhere/config")
    assert out_of_scope.status_code == missing.status_code == 404
    assert out_of_scope.json() == {"detail": "Bank 'theirs' not found"}
    assert missing.json() == {"detail": "Bank 'nowhere' not found"}
    assert api.put(f"{B}/theirs", {"name": "stolen"}, format="json").status_code == 404
    assert api.delete(f"{B}/theirs").status_code == 404
    assert Bank.objects.get(bank_id="theirs").name == "theirs"


def test_a_scoped_key_may_create_a_bank_in_its_scope(make_key):
    _, raw = make_key(banks=["future"])
    assert client_with(raw).put(f"{B}/future", {"name": "Future"}, format="json").status_code == 200
    assert Bank.objects.filter(bank_id="future").exists()


def test_the_bank_list_shows_only_the_keys_banks(make_key):
    for bank_id in ("a", "b", "c"):
        Bank.objects.create(bank_id=bank_id)
    _, scoped = make_key(banks=["a", "c"])
    _, unscoped = make_key()
    listed = client_with(scoped).get(B).json()
    assert sorted(b["bank_id"] for b in listed["banks"]) == ["a", "c"] and listed["total"] == 2
    assert client_with(scoped).get(B, {"q": "b"}).json()["total"] == 0
    assert client_with(unscoped).get(B).json()["total"] == 3


def test_a_chunk_of_another_bank_is_not_found_by_id(make_key):
    populated_bank("mine")
    populated_bank("theirs")
    theirs = Chunk.objects.get(bank__bank_id="theirs")
    mine = Chunk.objects.get(bank__bank_id="mine")
    _, raw = make_key(banks=["mine"])
    api = client_with(raw)
    assert api.get(f"/v1/default/chunks/{mine.pk}").status_code == 200
    response = api.get(f"/v1/default/chunks/{theirs.pk}")
    assert response.status_code == 404
    assert response.json() == {"detail": f"Chunk '{theirs.pk}' not found"}
    _, unscoped = make_key()
    assert client_with(unscoped).get(f"/v1/default/chunks/{theirs.pk}").status_code == 200


def test_a_read_only_key_reads_including_read_only_posts_and_gets_403_on_writes(make_key):
    populated_bank("ro")
    _, raw = make_key(read_only=True)
    api = client_with(raw)
    assert api.get(f"{B}/ro/memories/list").status_code == 200
    assert api.post(f"{B}/ro/memories/recall", {"query": "Alice"}, format="json").status_code == 200
    assert api.post(f"{B}/ro/reflect", {"query": "Who is Alice?"}, format="json").status_code == 200
    assert api.post(f"{B}/ro/memories/dry-run-extract", {"content": "Ada likes tea."}, format="json").status_code == 200
    for method, path, body in [
        ("post", f"{B}/ro/memories", {"items": [{"content": "x"}]}),
        ("patch", f"{B}/ro/config", {"updates": {"retain_chunk_size": 1000}}),
        ("put", f"{B}/ro", {"name": "renamed"}),
        ("delete", f"{B}/ro", None),
        ("post", f"{B}/ro/directives", {"name": "n", "content": "c"}),
        ("post", f"{B}/ro/consolidate", {}),
    ]:
        response = getattr(api, method)(path, body, format="json")
        assert response.status_code == 403, (method, path, response.content)
        assert response.json() == {"detail": "This API key is read-only."}
    assert Bank.objects.get(bank_id="ro").name == "ro"


def test_a_scoped_read_only_key_gets_404_before_403_for_another_bank(make_key):
    populated_bank("theirs")
    _, raw = make_key(banks=["mine"], read_only=True)
    assert client_with(raw).delete(f"{B}/theirs").status_code == 404


def test_the_key_never_appears_in_logs_even_at_debug(make_key, caplog):
    populated_bank("logged")
    _, raw = make_key(banks=["logged"])
    api = client_with(raw)
    with caplog.at_level(logging.DEBUG):
        api.get(f"{B}/logged/memories/list")
        api.post(f"{B}/logged/memories/recall", {"query": "Alice"}, format="json")
        api.get(f"{B}/other/config")
        client_with(raw + "x").get(B)
        client_with(raw[:-1]).get(B)
        api.post(f"{B}/logged/memories/recall", {"query": 5}, format="json")
    assert caplog.records, "nothing was logged: the check would prove nothing"
    text = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert raw not in text and raw[12:] not in text and raw[:-1] not in text


def test_revoking_the_last_key_reopens_a_loopback_server_but_the_revoked_key_stays_refused(make_key):
    api_key, raw = make_key()
    assert APIClient().get(B).status_code == 401
    services.revoke_api_key(key_id=api_key.pk)
    assert APIClient().get(B).status_code == 200
    assert client_with(raw).get(B).status_code == 401
