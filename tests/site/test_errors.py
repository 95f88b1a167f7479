"""One error envelope everywhere: every error a client can provoke answers a 4xx (or a deliberate 501) with
``{"detail": ...}``, whether DRF, Django's URL resolver or our own services raised it. Also the regression tests of
what the fuzzer (tests/site/test_fuzz.py) found."""

from __future__ import annotations

import pytest

from banks import services

pytestmark = pytest.mark.django_db

BANK = "/v1/default/banks/errs"
HUGE = "461108803864085331968"  # beyond PostgreSQL's bigint


@pytest.fixture
def bank():
    return services.create_or_update_bank(bank_id="errs", name="Errors")


def _detail(response) -> object:
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"detail"}, body
    assert body["detail"], body
    return body["detail"]


@pytest.mark.parametrize(
    "route",
    [
        "/v1/default/banks",
        f"{BANK}/operations",
        f"{BANK}/observations/scopes",
        f"{BANK}/directives",
        f"{BANK}/mental-models",
        f"{BANK}/memories/list",
        f"{BANK}/documents",
        f"{BANK}/entities",
        f"{BANK}/tags",
    ],
)
def test_an_offset_beyond_a_bigint_is_a_422_naming_offset_not_a_500(client, bank, route):
    response = client.get(route, {"offset": HUGE})
    assert response.status_code == 422, response.content
    detail = _detail(response)
    assert any(item["loc"] == ["query", "offset"] for item in detail), detail


def test_an_unknown_route_is_a_json_404(client):
    response = client.get("/v1/default/no-such-thing")
    assert response.status_code == 404
    assert "/v1/default/no-such-thing" in _detail(response)


def test_a_method_the_route_does_not_allow_is_a_json_405(client, bank):
    response = client.put(f"{BANK}/memories/list")
    assert response.status_code == 405
    assert "PUT" in _detail(response)


def test_malformed_json_is_a_400_saying_so(client, bank):
    response = client.post(f"{BANK}/memories/recall", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in _detail(response)


def test_an_unsupported_media_type_is_a_json_415(client, bank):
    response = client.post(f"{BANK}/memories/recall", "query=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "application/x-www-form-urlencoded" in _detail(response)


def test_a_body_that_is_not_an_object_is_a_422(client, bank):
    response = client.patch(f"{BANK}/config", [1, 2], content_type="application/json")
    assert response.status_code == 422
    assert isinstance(_detail(response), list)


def test_an_unknown_bank_is_a_json_404(client):
    response = client.get("/v1/default/banks/nobody-here/config")
    assert response.status_code == 404
    assert "nobody-here" in _detail(response)


def test_a_route_we_do_not_offer_is_a_501_with_a_detail(client, bank):
    response = client.get(f"{BANK}/webhooks")
    assert response.status_code == 501
    assert "not offered" in _detail(response)


def test_an_unacceptable_accept_header_still_gets_a_json_error(client, bank):
    response = client.get(f"{BANK}/config", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert _detail(response)


def test_a_nul_character_in_a_query_tag_is_a_400_not_a_500(client, bank):
    # Found by schemathesis: PostgreSQL text cannot hold NUL, and the directive list's tag filter reached it.
    response = client.get(f"{BANK}/directives", {"tags": "a\x00b"})
    assert response.status_code == 400, response.content
    assert "NUL" in _detail(response)


def test_a_nul_character_in_an_imported_template_is_a_400_and_nothing_is_stored(client, bank):
    # Found by schemathesis: a mental model tag with a NUL character in a bank template.
    from directives.models import MentalModel

    manifest = {
        "version": "1",
        "mental_models": [{"id": "m1", "name": "Team", "source_query": "Who?", "tags": ["ok", "bad\x00tag"]}],
    }
    response = client.post(f"{BANK}/import", manifest, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "NUL" in _detail(response)
    assert not MentalModel.objects.filter(bank__bank_id="errs").exists()


def test_a_host_the_server_does_not_answer_for_is_a_json_400(client):
    response = client.get("/v1/default/banks", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert "Host" in _detail(response)


def test_a_body_beyond_the_upload_limit_is_a_413_saying_so_not_a_500(client, bank, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post(f"{BANK}/memories/recall", {"query": "x" * 5000}, content_type="application/json")
    assert response.status_code == 413, response.content
    assert "1000 bytes" in _detail(response)


def test_a_retain_body_above_djangos_default_limit_is_read_and_validated_not_refused(client, bank):
    # Two items of 1.5 million characters each (3 MB, above Django's 2.5 MB default) are within the retain limits;
    # the bad timestamp of the second shows the body was parsed, and nothing was stored.
    items = [{"content": "a" * 1_500_000}, {"content": "b" * 1_500_000, "timestamp": "not a date"}]
    response = client.post(f"{BANK}/memories", {"items": items}, content_type="application/json")
    assert response.status_code == 422, response.content[:300]
    assert "timestamp" in str(response.json()["detail"])
    assert client.get(f"{BANK}/documents").json()["items"] == []


def test_an_unpaired_surrogate_in_a_retained_text_is_a_400_naming_it_and_nothing_is_stored(client, bank):
    # Found by a hand fuzz: JSON may escape half a surrogate pair, which Python cannot encode (the hash failed: 500).
    body = '{"items": [{"content": "Alice met Bob"}, {"content": "Alice met Bob \\ud800 today"}]}'
    response = client.post(f"{BANK}/memories", body, content_type="application/json")
    assert response.status_code == 400, response.content
    detail = _detail(response)
    assert "items[1].content" in detail and "\\ud800" in detail, detail
    assert client.get(f"{BANK}/documents").json()["items"] == []


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"query": "who? \\udc00"}', "query"),
        ('{"query": "who?", "tags": ["ok", "x\\udbff"]}', "tags[1]"),
        ('{"query": "who?", "include": {"\\ud800": 1}}', "a key of include"),
    ],
)
def test_an_unpaired_surrogate_anywhere_in_a_body_is_a_400_naming_where(client, bank, body, where):
    response = client.post(f"{BANK}/memories/recall", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert where in _detail(response)


def test_an_escaped_surrogate_pair_is_one_character_and_is_kept(client, bank):
    body = '{"items": [{"content": "Alice loves pizza \\ud83c\\udf55 and Bob", "document_id": "emoji"}]}'
    response = client.post(f"{BANK}/memories", body, content_type="application/json")
    assert response.status_code == 200, response.content
    [document] = client.get(f"{BANK}/documents").json()["items"]
    assert document["id"] == "emoji"
    text = client.get(f"{BANK}/documents/emoji").json()["original_text"]
    assert "\U0001f355" in text


def test_a_time_expression_beyond_the_calendar_is_ignored_by_recall_and_retain(client, bank):
    # Found by a hand fuzz: "next year" said on 31 December 9999 names year 10000, which Python cannot hold (500).
    late = "9999-12-31T12:00:00Z"
    item = {"content": "Alice will move to Lisbon next year.", "timestamp": late, "document_id": "late"}
    response = client.post(f"{BANK}/memories", {"items": [item]}, content_type="application/json")
    assert response.status_code == 200, response.content
    response = client.post(
        f"{BANK}/memories/recall",
        {"query": "Where will Alice live next year?", "query_timestamp": late, "trace": True},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["trace"]["time_ranges"] == []
    assert any("Lisbon" in result["text"] for result in body["results"])


def test_json_nested_beyond_what_the_decoder_can_follow_is_a_400(client, bank):
    # Found by a hand fuzz: the decoder's RecursionError was not a parse error (500).
    body = "[" * 100_000 + "]" * 100_000
    response = client.post(f"{BANK}/memories/recall", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "nested too deeply" in _detail(response)
