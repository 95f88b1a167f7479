"""The bank tabs in a real headless Chromium against the session's gunicorn: retain a text and see its memories,
search and open a memory, recall with channel scores, reflect with citations, directives, mental models."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from banks import services as bank_services
from directives.models import Directive, MentalModel
from memories.models import MemoryUnit
from memories.services import RetainItem, retain_items
from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# HINDSIGHT_TEST_UPDATE_SCREENSHOTS=1 rewrites the README's screenshots of these tabs in docs/screenshots/.
SCREENSHOTS = REPO / "docs" / "screenshots"
README_SHOTS = {"memory-detail", "recall"}

NOTES = (
    "Alice works at Google as a software engineer. Alice moved to Zurich in March 2024. "
    "Bob is a data scientist in Berlin. Bob met Alice at a conference in Lisbon."
)


def shot(page, name: str) -> None:
    """The page fits a laptop screen (nothing scrolls sideways); optionally its screenshot goes to the README."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{name} is {width}px wide"
    if name in README_SHOTS and os.environ.get("HINDSIGHT_TEST_UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png")


@pytest.fixture
def bank(bank_id):
    bank = bank_services.get_or_create_bank(bank_id=bank_id)
    bank.name = "Team notes"
    bank.save()
    return bank


@pytest.fixture
def filled_bank(bank):
    spoken = datetime(2024, 5, 8, 10, 0, tzinfo=UTC)
    retain_items(bank=bank, items=[RetainItem(content=NOTES, document_id="notes", timestamp=spoken)])
    return bank


def test_retain_a_text_and_see_its_memories_appear(signed_in_page, bank):
    page = signed_in_page
    page.goto(f"/banks/{bank.bank_id}/documents/")
    expect(page.get_by_text("No documents yet")).to_be_visible()
    shot(page, "documents-empty")
    page.get_by_label("Text", exact=True).fill(NOTES)
    page.get_by_label("Document id").fill("meeting-notes")
    page.get_by_label("Tags").fill("work")
    page.get_by_role("button", name="Retain").click()
    page.wait_for_url(re.compile(r"/memories/\?document=meeting-notes"))
    expect(page.get_by_text("Retained document meeting-notes")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Alice works at Google"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Bob is a data scientist in Berlin"))).to_be_visible()
    assert MemoryUnit.objects.filter(bank=bank, document__document_id="meeting-notes").count() >= 4
    shot(page, "memories-after-retain")


def test_an_async_retain_shows_progress_until_a_real_worker_finishes(signed_in_page, bank, workers):
    workers("pages")
    page = signed_in_page
    page.goto(f"/banks/{bank.bank_id}/documents/")
    page.get_by_label("Text", exact=True).fill("Carol is a pilot in Madrid. Carol flies to Lima every June.")
    page.get_by_label("Run in the background").check()
    page.get_by_role("button", name="Retain").click()
    expect(page.locator("#operation-progress")).to_be_visible()
    expect(page.locator("#operation-status")).to_have_text("completed", timeout=120_000)
    expect(page.get_by_text(re.compile(r"Done: \d+ new memor"))).to_be_visible()
    page.get_by_role("link", name="See the memories").click()
    expect(page.get_by_role("link", name=re.compile("Carol is a pilot in Madrid"))).to_be_visible()


def test_search_memories_and_open_a_memorys_detail(signed_in_page, filled_bank):
    page = signed_in_page
    page.goto(f"/banks/{filled_bank.bank_id}/memories/")
    page.get_by_label("Search").fill("data scientist")
    page.get_by_label("Search").press("Enter")
    rows = page.locator("#memory-list tbody tr")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=data(\+|%20)scientist"))
    page.get_by_role("link", name=re.compile("Bob is a data scientist")).click()
    panel = page.locator("#detail-panel")
    expect(panel.get_by_role("heading", name=re.compile("Bob is a data scientist"))).to_be_visible()
    expect(panel.get_by_text("Source text")).to_be_visible()
    expect(panel.get_by_role("link", name="Bob", exact=True)).to_be_visible()
    expect(page).to_have_url(re.compile(r"/memories/[0-9a-f-]{36}/"))
    shot(page, "memory-detail")
    # Invalidate it from the panel: the list refreshes itself and no longer shows it.
    panel.get_by_text("Invalidate…").click()
    panel.get_by_label("Reason").fill("He changed jobs")
    panel.get_by_role("button", name="Invalidate memory").click()
    expect(panel.get_by_text("Memory invalidated")).to_be_visible()
    expect(page.locator("#memory-list").get_by_text("No memory matches these filters")).to_be_visible()


def test_run_recall_and_see_each_channels_score(signed_in_page, filled_bank):
    page = signed_in_page
    page.goto(f"/banks/{filled_bank.bank_id}/recall/")
    page.get_by_label("Query").fill("Where does Bob work?")
    page.get_by_role("button", name="Recall").click()
    results = page.locator("#recall-results tr.result")
    expect(results.first).to_be_visible()
    expect(results.filter(has_text="Bob is a data scientist in Berlin")).to_have_count(1)
    semantic = results.first.locator('[data-channel="semantic"]')
    expect(semantic).to_have_text(re.compile(r"0\.\d{3}"))
    expect(page.locator("#recall-results").get_by_text("Timings")).to_be_visible()
    expect(page).to_have_url(re.compile(r"query=Where"))
    shot(page, "recall")


def test_run_reflect_and_see_its_answer_and_citations(signed_in_page, filled_bank):
    Directive.objects.create(bank=filled_bank, name="Formal", content="Answer formally.")
    page = signed_in_page
    page.goto(f"/banks/{filled_bank.bank_id}/reflect/")
    page.get_by_label("Question").fill("What does Alice do?")
    page.get_by_role("button", name="Reflect").click()
    answer = page.locator("#reflect-results")
    expect(answer.get_by_role("heading", name="Answer")).to_be_visible()
    expect(answer.locator(".answer-text")).to_contain_text("Alice works at Google")
    expect(answer.locator("li.citation").first).to_be_visible()
    expect(answer.get_by_text("Answer formally.")).to_be_visible()
    shot(page, "reflect")


def test_create_and_deactivate_a_directive(signed_in_page, bank):
    page = signed_in_page
    page.goto(f"/banks/{bank.bank_id}/directives/")
    expect(page.get_by_text("No directives yet")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Formal")
    page.get_by_label("Rule").fill("Always answer in formal English.")
    page.get_by_label("Priority").fill("3")
    page.get_by_role("button", name="Create directive").click()
    row = page.locator("tr.directive", has_text="Formal")
    expect(row).to_be_visible()
    switch = row.get_by_role("switch")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(row.get_by_role("switch")).to_have_attribute("aria-checked", "false")
    expect(row).to_have_class(re.compile("inactive"))
    assert Directive.objects.get(bank=bank, name="Formal").is_active is False
    shot(page, "directives")


def test_create_a_mental_model(signed_in_page, filled_bank):
    page = signed_in_page
    page.goto(f"/banks/{filled_bank.bank_id}/mental-models/")
    expect(page.get_by_text("No mental models yet")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Alice's career")
    page.get_by_label("Question").fill("What does Alice do?")
    page.get_by_label("Id", exact=True).fill("alice-career")
    page.get_by_role("button", name="Create mental model").click()
    page.wait_for_url(re.compile(r"/mental-models/alice-career/$"))
    expect(page.get_by_role("heading", name="Alice's career")).to_be_visible()
    expect(page.locator("#model-content")).to_contain_text("being generated")
    assert MentalModel.objects.filter(bank=filled_bank, mental_model_id="alice-career").exists()
