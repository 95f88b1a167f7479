"""The API keys page in real headless Chromium: a person creates a limited key, uses it, and revokes it.

It lives beside the other browser tests so that it shares their one session browser: Playwright's sync API keeps an
event loop running in the main thread, which must start after the suite's asyncio tests have run.
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_person_creates_a_scoped_read_only_key_uses_it_and_revokes_it(signed_in_page, live_url):
    page = signed_in_page
    page.get_by_role("link", name="API keys").click()
    page.wait_for_url("**/keys/")
    expect(page.locator("#open-access")).to_be_visible()

    page.get_by_label("Name").fill("dashboard")
    page.get_by_label("Banks").fill("shown-bank")
    page.get_by_label("Read-only").check()
    page.get_by_role("button", name="Create key").click()
    key_field = page.locator("#new-key-value")
    expect(key_field).to_have_value(re.compile(r"^hsk_[A-Za-z0-9_-]{43}$"))
    raw = key_field.input_value()
    expect(page.locator("#key-table")).to_contain_text("dashboard")
    expect(page.locator("#open-access")).to_have_count(0)
    assert page.url.endswith("/keys/")  # htmx swapped the panel in place

    headers = {"Authorization": f"Bearer {raw}"}
    api = httpx.Client(base_url=live_url, timeout=30)
    admin = api.post("/v1/admin/api-keys", json={"name": "admin"}, headers=headers)
    assert admin.status_code == 403  # a scoped, read-only key cannot make keys
    assert api.get("/v1/default/banks", headers=headers).json()["banks"] == []
    assert api.get("/v1/default/banks/other-bank/config", headers=headers).status_code == 404
    assert api.put("/v1/default/banks/shown-bank", json={}, headers=headers).status_code == 403
    assert api.get("/v1/default/banks").status_code == 401

    # After a reload the key is gone from the page for good: only its prefix remains.
    page.reload()
    assert raw not in page.content() and raw[:12] in page.content()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("revoked: it no longer works")).to_be_visible()
    expect(page.locator("#key-table")).to_contain_text("revoked")
    assert api.get("/v1/default/banks/shown-bank/config", headers=headers).status_code == 401
