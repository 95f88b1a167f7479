"""The browser infrastructure itself: Chromium starts, pages load, sign-in works."""

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_signing_in_through_the_form_lands_on_the_bank_list(signed_in_page):
    page = signed_in_page
    assert page.get_by_role("heading", name="Memory banks").is_visible()
    assert page.evaluate("typeof htmx") == "object"
