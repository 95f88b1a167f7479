"""``manage.py apikey create|list|revoke|count``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apikeys import selectors
from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("apikey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_the_key_once_and_list_shows_only_its_prefix():
    out, err = run("create", "--name", "ci", "--bank", "b1", "--bank", "b2", "--read-only")
    raw = out.strip()
    assert raw.startswith("hsk_") and "\n" not in raw
    assert "cannot be shown again" in err and "read-only" in err and "b1, b2" in err
    api_key = selectors.authenticate_key(raw)
    assert api_key.banks == ["b1", "b2"] and api_key.read_only is True and api_key.name == "ci"
    listing, _ = run("list")
    assert "ci" in listing and api_key.prefix in listing and raw not in listing and "b1,b2" in listing
    assert "read-only" in listing and "active" in listing
    assert run("count")[0].strip() == "1"


def test_revoke_by_id():
    raw = run("create", "--name", "old")[0].strip()
    api_key = selectors.authenticate_key(raw)
    out, _ = run("revoke", str(api_key.pk))
    assert "Revoked" in out and selectors.authenticate_key(raw) is None
    assert "revoked" in run("list")[0]
    assert run("count")[0].strip() == "0"


def test_mistakes_are_reported_in_one_line():
    with pytest.raises(CommandError, match="not found"):
        run("revoke", "nope")
    with pytest.raises(CommandError, match="banks"):
        run("create", "--name", "x", "--bank", "a/b")
    with pytest.raises(CommandError, match="name"):
        run("create", "--name", " ")
    assert ApiKey.objects.count() == 0


def test_list_with_no_keys_says_so():
    assert run("list")[0].strip() == "No API keys."
