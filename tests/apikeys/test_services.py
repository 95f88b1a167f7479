"""Creating, authenticating and revoking keys: only a hash is stored, compared in constant time."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys import selectors, services
from apikeys.models import ApiKey
from banks.models import Bank
from hindsight_site.errors import BadRequest, NotFound

pytestmark = pytest.mark.django_db


def test_a_created_key_is_returned_once_and_only_its_sha256_is_stored():
    api_key, raw = services.create_api_key(name="ci")
    assert raw.startswith("hsk_") and len(raw) >= 4 + 43  # 32 random bytes, urlsafe base64
    stored = ApiKey.objects.values().get(pk=api_key.pk)
    assert raw not in {str(value) for value in stored.values()}
    assert stored["key_hash"] == hashlib.sha256(raw.encode()).hexdigest()
    assert stored["prefix"] == raw[:12]
    assert not any(raw[12:20] in str(value) for value in stored.values())


def test_two_keys_are_never_the_same():
    raws = {services.create_api_key(name=f"k{i}")[1] for i in range(20)}
    assert len(raws) == 20


def test_authenticate_key_finds_active_keys_only():
    api_key, raw = services.create_api_key(name="app")
    assert selectors.authenticate_key(raw) == api_key
    assert selectors.authenticate_key(raw + "x") is None
    assert selectors.authenticate_key(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert selectors.authenticate_key("") is None
    assert selectors.authenticate_key(None) is None
    assert selectors.authenticate_key("hsk_") is None
    assert selectors.authenticate_key("not-a-key") is None
    assert selectors.authenticate_key("hsk_" + "a" * 5000) is None
    assert selectors.authenticate_key("hsk_\x00\udcff") is None
    assert selectors.authenticate_key("hsk_\x00" + "a" * 40) is None  # never reaches PostgreSQL (no NUL in text)
    assert selectors.authenticate_key("hsk_é" + "a" * 40) is None
    services.revoke_api_key(key_id=api_key.pk)
    assert selectors.authenticate_key(raw) is None


def test_a_prefix_shared_by_two_keys_still_tells_them_apart():
    first, raw = services.create_api_key(name="first")
    second = ApiKey.objects.create(name="twin", prefix=first.prefix, key_hash="0" * 64)
    assert selectors.authenticate_key(raw) == first
    assert selectors.authenticate_key(first.prefix + "x" * 40) is None
    assert second.pk != first.pk


def test_banks_are_validated_deduplicated_and_empty_means_every_bank():
    api_key, _ = services.create_api_key(name="a", banks=["b1", "b2", "b1"])
    assert api_key.banks == ["b1", "b2"] and api_key.is_scoped
    assert services.create_api_key(name="b", banks=[])[0].banks is None
    assert services.create_api_key(name="c", banks=None)[0].is_scoped is False
    for bad in (["a/b"], [""], ["x" * 256], "bank", [3], ["tab\there"]):
        with pytest.raises(BadRequest, match="banks"):
            services.create_api_key(name="bad", banks=bad)


def test_a_key_needs_a_name_and_a_boolean_read_only_flag():
    for bad in ("", "   ", None, "x" * 201):
        with pytest.raises(BadRequest, match="name"):
            services.create_api_key(name=bad)
    with pytest.raises(BadRequest, match="read_only"):
        services.create_api_key(name="n", read_only="yes")
    assert ApiKey.objects.count() == 0


def test_revoking_is_idempotent_and_unknown_ids_are_not_found():
    api_key, _ = services.create_api_key(name="old")
    first = services.revoke_api_key(key_id=str(api_key.pk)).revoked_at
    assert first is not None
    assert services.revoke_api_key(key_id=api_key.pk).revoked_at == first
    for unknown in ("nope", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(NotFound):
            services.revoke_api_key(key_id=unknown)


def test_last_used_is_written_at_most_once_a_minute(django_assert_num_queries):
    api_key, _ = services.create_api_key(name="busy")
    with django_assert_num_queries(1):
        services.record_key_use(api_key=api_key)
    first = ApiKey.objects.get(pk=api_key.pk).last_used_at
    assert first is not None
    with django_assert_num_queries(0):
        services.record_key_use(api_key=api_key)
    api_key.last_used_at = timezone.now() - timedelta(minutes=2)
    with django_assert_num_queries(1):
        services.record_key_use(api_key=api_key)
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at > first


def test_bank_scoping_is_a_queryset_method():
    for bank_id in ("a", "b", "c"):
        Bank.objects.create(bank_id=bank_id)
    scoped, _ = services.create_api_key(name="s", banks=["a", "c", "not-yet"])
    unscoped, _ = services.create_api_key(name="u")
    assert sorted(Bank.objects.for_key(scoped).values_list("bank_id", flat=True)) == ["a", "c"]
    assert Bank.objects.for_key(unscoped).count() == 3
    assert Bank.objects.for_key(None).count() == 3


LOOPBACK = ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"]
NOT_LOOPBACK = ["0.0.0.0", "::", "10.0.0.5", "example.org", ""]


@pytest.mark.parametrize(("host", "loopback"), [(h, True) for h in LOOPBACK] + [(h, False) for h in NOT_LOOPBACK])
def test_loopback_addresses_are_recognised(host, loopback):
    assert selectors.is_loopback(host) is loopback


def test_the_key_object_never_holds_the_hash():
    api_key, raw = services.create_api_key(name="p", banks=["x"], read_only=True)
    payload = selectors.api_key_payload(api_key)
    assert set(payload) == {"id", "name", "prefix", "banks", "read_only", "created_at", "last_used_at", "revoked_at"}
    assert api_key.key_hash not in str(payload) and raw not in str(payload)
    assert payload["banks"] == ["x"] and payload["read_only"] is True
