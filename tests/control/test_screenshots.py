"""The main pages at a laptop's size (1280x800): nothing overflows sideways; the README's screenshots come from here.

``HINDSIGHT_TEST_UPDATE_SCREENSHOTS=1 scripts/test tests/control/test_screenshots.py`` rewrites docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil

import httpx
import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = REPO / "docs" / "screenshots"


def _populate(live_url: str) -> None:
    api = httpx.Client(base_url=f"{live_url}/v1/default", timeout=120)
    api.put(
        "/banks/support-assistant",
        json={
            "name": "Support assistant",
            "mission": "I am Acme's support assistant. I remember customers, their setups and what we promised them.",
            "disposition": {"skepticism": 4, "literalism": 2, "empathy": 5},
        },
    ).raise_for_status()
    api.patch(
        "/banks/support-assistant/config",
        json={
            "updates": {
                "retain_extraction_mode": "verbose",
                "entity_labels": [
                    {"key": "priority", "description": "How urgent a request is", "values": ["high", "low"]},
                ],
            }
        },
    ).raise_for_status()
    api.post(
        "/banks/support-assistant/memories",
        json={
            "items": [
                {"content": "Alice from Initech called on Monday. Their Postgres cluster in Frankfurt is slow."},
                {"content": "Bob promised Alice a fix by Friday. Initech pays for the premium plan."},
            ]
        },
    ).raise_for_status()
    api.post(
        "/banks/support-assistant/memories",
        json={"items": [{"content": "Carol asked about invoices for March."}], "async": True},
    ).raise_for_status()
    for bank_id, name in (("research-notes", "Research notes"), ("sales-agent", "Sales agent")):
        api.put(f"/banks/{bank_id}", json={"name": name}).raise_for_status()
    api.post("/banks/research-notes/memories", json={"items": [{"content": "Paris is the capital of France."}]})


@pytest.mark.parametrize("viewport_width", [1280])
def test_the_main_pages_fit_a_laptop_screen(signed_in_page, live_url, tmp_path, viewport_width):
    page = signed_in_page
    _populate(live_url)
    shots = {
        "banks.png": "/banks/",
        "overview.png": "/banks/support-assistant/",
        "configuration.png": "/banks/support-assistant/configuration/",
        "entity-labels.png": "/banks/support-assistant/configuration/#group-entities-and-labels",
    }
    for filename, path in shots.items():
        page.goto(path)
        page.wait_for_load_state("networkidle") if filename != "overview.png" else page.wait_for_timeout(300)
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= viewport_width, f"{path} is {overflow}px wide at a {viewport_width}px window"
        page.screenshot(path=tmp_path / filename)
        assert (tmp_path / filename).stat().st_size > 10_000
    if os.environ.get("HINDSIGHT_TEST_UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for filename in shots:
            shutil.copy(tmp_path / filename, SCREENSHOTS / filename)
