"""Browser fixtures: real headless Chromium (Debian's ``chromium``) driven by Playwright against the session gunicorn.

The browser is the system's Chromium, launched through ``executable_path``; Playwright's own browser downloads
(``playwright install``) are never used. ``.ci/run`` installs the ``chromium`` package on a fresh machine.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("HINDSIGHT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A laptop screen: the screenshots in docs/screenshots/ are taken at this size.
VIEWPORT = {"width": 1280, "height": 800}
PASSWORD = "correct-horse-battery-staple"


def chromium_path() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not path:
        message = f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module.

    Not per session: while Playwright's sync API is open its event loop counts as running in this thread, so any
    later test calling ``asyncio.run`` (the client's async tests) would fail. Closing it after each module keeps the
    loop confined to the browser tests.
    """
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    # Playwright's sync API runs an event loop in this thread; the ORM calls tests make around it are ordinary
    # blocking calls, which Django would otherwise refuse while a loop is running.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def live_url(api_server) -> str:
    """Base URL of the session's gunicorn (it serves the control plane, the API and static files)."""
    return api_server


@pytest.fixture
def page(browser, live_url):
    """A fresh browser context (no cookies) and page at a laptop's size; console errors fail the test."""
    context = browser.new_context(viewport=VIEWPORT, base_url=live_url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def control_user(transactional_db):
    """A committed staff user the browser can sign in as (the test database is flushed after the test)."""
    from django.contrib.auth import get_user_model

    username = f"operator-{uuid.uuid4().hex[:8]}"
    return get_user_model().objects.create_user(username=username, password=PASSWORD, is_staff=True)


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/banks/")


@pytest.fixture
def signed_in_page(page, control_user):
    """A page signed in through the login form as ``control_user``."""
    sign_in(page, control_user.username)
    return page
