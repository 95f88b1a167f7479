"""The bank pages in real headless Chromium: create, search, configure, delete, follow operations.

Each test signs in through the form, works through the pages as a person would, and checks the result through the
REST API, which the same gunicorn serves.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from tests.control.conftest import VIEWPORT, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def new_bank_id() -> str:
    return f"ui-{uuid.uuid4().hex[:10]}"


def api_config(live_url: str, bank_id: str) -> dict:
    response = httpx.get(f"{live_url}/v1/default/banks/{bank_id}/config", timeout=30)
    response.raise_for_status()
    return response.json()


def create_bank(page, bank_id: str, name: str = "", mission: str = "") -> None:
    page.goto("/banks/")
    page.get_by_role("link", name="New bank").click()
    page.get_by_label("Bank id").fill(bank_id)
    if name:
        page.get_by_label("Name").fill(name)
    if mission:
        page.get_by_label("Mission").fill(mission)
    page.get_by_label("Skepticism").select_option("5")
    page.get_by_role("button", name="Create bank").click()
    page.wait_for_url(f"**/banks/{bank_id}/")


def test_a_person_creates_a_bank_and_finds_it_in_the_list(signed_in_page, live_url):
    page = signed_in_page
    bank_id = new_bank_id()
    create_bank(page, bank_id, name="Support assistant", mission="I help customers of Acme.")
    expect(page.get_by_role("heading", name="Support assistant")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text(f"Bank '{bank_id}' created.")
    expect(page.locator("#stats")).to_contain_text("World facts")

    profile = httpx.get(f"{live_url}/v1/default/banks/{bank_id}/profile", timeout=30).json()
    assert profile["name"] == "Support assistant"
    assert profile["mission"] == "I help customers of Acme."
    assert profile["disposition"]["skepticism"] == 5
    # Only what differs from the server default became an override.
    assert set(api_config(live_url, bank_id)["overrides"]) == {"reflect_mission", "disposition_skepticism"}

    # The same id again is refused on the form, next to the field.
    page.goto("/banks/new/")
    page.get_by_label("Bank id").fill(bank_id)
    page.get_by_role("button", name="Create bank").click()
    expect(page.locator(".has-error")).to_contain_text("already exists")

    other = new_bank_id()
    httpx.put(f"{live_url}/v1/default/banks/{other}", json={"name": "Another"}, timeout=30).raise_for_status()
    page.goto("/banks/")
    expect(page.locator("#bank-table")).to_contain_text("Another")
    page.get_by_role("searchbox").fill("Support assist")
    # htmx replaces the table as the person types; the other bank disappears without a page load.
    expect(page.locator("#bank-table")).not_to_contain_text("Another")
    expect(page.locator("#bank-table")).to_contain_text("Support assistant")
    expect(page).to_have_url(re.compile(r"q=Support"))


def test_an_invalid_value_shows_the_apis_error_inline_and_a_valid_one_is_saved(signed_in_page, live_url):
    page = signed_in_page
    bank_id = new_bank_id()
    httpx.put(f"{live_url}/v1/default/banks/{bank_id}", json={}, timeout=30).raise_for_status()
    page.goto(f"/banks/{bank_id}/configuration/")
    for group in (
        "Retain",
        "Entities and labels",
        "Observations",
        "Reflect and disposition",
        "Recall",
        "MCP",
        "Provider-specific",
    ):
        expect(page.get_by_role("heading", name=group, exact=True)).to_be_visible()
    chunk_size = page.locator("#field-retain_chunk_size")
    expect(chunk_size).to_contain_text("Maximum characters per chunk")
    expect(chunk_size).to_contain_text("server default")

    page.get_by_label("retain_chunk_size", exact=True).fill("50")
    page.get_by_role("button", name="Save changes").click()
    expect(chunk_size.locator(".error")).to_have_text("retain_chunk_size must be at least 200, not 50")
    expect(page.locator("#config-errors")).to_contain_text("Nothing was saved")
    # The same message the API gives for the same value.
    api_error = httpx.patch(
        f"{live_url}/v1/default/banks/{bank_id}/config", json={"updates": {"retain_chunk_size": 50}}, timeout=30
    ).json()["detail"]
    assert api_error == "retain_chunk_size must be at least 200, not 50"
    assert api_config(live_url, bank_id)["overrides"] == {}
    # What the person typed is kept in the field to correct it.
    expect(page.get_by_label("retain_chunk_size", exact=True)).to_have_value("50")

    page.get_by_label("retain_chunk_size", exact=True).fill("1234")
    page.get_by_label("retain_extraction_mode").select_option("verbose")
    page.get_by_label("enable_graph_retrieval").uncheck()
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".messages")).to_contain_text("Saved 3 settings")
    expect(chunk_size).to_contain_text("overridden")
    assert api_config(live_url, bank_id)["overrides"] == {
        "retain_chunk_size": 1234,
        "retain_extraction_mode": "verbose",
        "enable_graph_retrieval": False,
    }

    # Saving again without edits changes nothing.
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".messages")).to_contain_text("Nothing changed")

    # Reset one field, then all of them (with a confirmation that names what goes back).
    page.get_by_role("button", name="Reset retain_chunk_size to the server default").click()
    expect(page.locator(".messages")).to_contain_text("retain_chunk_size is back to the server default")
    assert set(api_config(live_url, bank_id)["overrides"]) == {"retain_extraction_mode", "enable_graph_retrieval"}
    page.get_by_role("link", name=re.compile("Reset all 2 overrides")).click()
    expect(page.locator(".lost-list")).to_contain_text("retain_extraction_mode")
    page.get_by_role("button", name="Reset all settings").click()
    expect(page.locator(".messages")).to_contain_text("Every setting is back to the server default")
    assert api_config(live_url, bank_id)["overrides"] == {}


def test_entity_labels_are_edited_without_writing_json(signed_in_page, live_url):
    page = signed_in_page
    bank_id = new_bank_id()
    httpx.put(f"{live_url}/v1/default/banks/{bank_id}", json={}, timeout=30).raise_for_status()
    page.goto(f"/banks/{bank_id}/configuration/#group-entities-and-labels")
    editor = page.locator("#entity-labels-editor")
    group = editor.locator("fieldset.label-group").first
    group.get_by_label("Name (key)").fill("priority")
    group.get_by_label("Description").first.fill("How urgent a request is")
    group.locator("input[name$='-value-0-value']").fill("high")
    group.get_by_role("button", name="Add a value").click()
    group.locator("input[name$='-value-1-value']").fill("low")
    group.locator("input[name$='-value-1-description']").fill("can wait")
    editor.get_by_role("button", name="Add another group").click()
    second = editor.locator("fieldset.label-group").nth(1)
    second.get_by_label("Name (key)").fill("topic")
    second.get_by_label("Type").select_option("text")
    second.get_by_label("also a tag").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".messages")).to_contain_text("entity_labels")

    labels = api_config(live_url, bank_id)["overrides"]["entity_labels"]
    assert labels == [
        {
            "key": "priority",
            "description": "How urgent a request is",
            "type": "value",
            "values": [{"value": "high", "description": ""}, {"value": "low", "description": "can wait"}],
            "optional": True,
            "tag": False,
        },
        {"key": "topic", "description": "", "type": "text", "values": [], "optional": True, "tag": True},
    ]

    # The editor shows what is stored; remove one value and one group.
    editor = page.locator("#entity-labels-editor")
    expect(editor.locator("input[name='entity_labels-0-key']")).to_have_value("priority")
    editor.locator("input[name='entity_labels-0-value-1-remove']").check()
    editor.locator("input[name='entity_labels-1-remove']").check()
    page.get_by_role("button", name="Save changes").click()
    labels = api_config(live_url, bank_id)["overrides"]["entity_labels"]
    assert [(g["key"], [v["value"] for v in g["values"]]) for g in labels] == [("priority", ["high"])]

    # A value group without values is the registry's error, shown at the editor; nothing is saved.
    page.locator("input[name='entity_labels-0-value-0-remove']").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#field-entity_labels .error")).to_have_text(
        "entity_labels group 'priority' of type 'value' needs at least one allowed value"
    )
    assert len(api_config(live_url, bank_id)["overrides"]["entity_labels"][0]["values"]) == 1


def test_deleting_a_bank_names_what_will_be_lost_and_needs_the_id(signed_in_page, live_url):
    page = signed_in_page
    bank_id = new_bank_id()
    httpx.post(
        f"{live_url}/v1/default/banks/{bank_id}/memories",
        json={"items": [{"content": "Alice works at Google in Paris. Bob likes tea."}]},
        timeout=120,
    ).raise_for_status()
    page.goto(f"/banks/{bank_id}/")
    page.get_by_role("link", name="Delete bank…").click()
    lost = page.locator("#lost")
    expect(lost).to_contain_text("1 document")
    expect(lost).to_contain_text("world fact")
    page.get_by_label("Type the bank id").fill("wrong")
    page.get_by_role("button", name="Delete bank and all its data").click()
    expect(page.locator(".has-error")).to_contain_text("Type the bank id exactly")
    assert httpx.get(f"{live_url}/v1/default/banks/{bank_id}/config", timeout=30).status_code == 200

    page.get_by_label("Type the bank id").fill(bank_id)
    page.get_by_role("button", name="Delete bank and all its data").click()
    page.wait_for_url("**/banks/")
    expect(page.locator(".messages")).to_contain_text(f"Bank '{bank_id}' and everything in it were deleted.")
    assert httpx.get(f"{live_url}/v1/default/banks/{bank_id}/config", timeout=30).status_code == 404


def test_the_overview_follows_an_operation_live_and_cancels_and_retries_it(signed_in_page, live_url, workers):
    page = signed_in_page
    bank_id = new_bank_id()
    operation_id = httpx.post(
        f"{live_url}/v1/default/banks/{bank_id}/memories",
        json={"items": [{"content": "Carol moved to Lyon last year."}], "async": True},
        timeout=30,
    ).json()["operation_id"]
    page.goto(f"/banks/{bank_id}/")
    row = page.locator(f"#op-{operation_id}")
    expect(row.locator(".badge")).to_have_text("Pending")
    expect(page.locator("#operations")).to_have_attribute("data-running", "true")
    pending = page.locator("#stats .stat").filter(has_text="Pending operations").locator("dd")
    expect(pending).to_have_text("1")

    page.once("dialog", lambda dialog: dialog.accept())  # htmx asks before cancelling
    row.get_by_role("button", name="Cancel").click()
    expect(page.locator(f"#op-{operation_id} .badge")).to_have_text("Cancelled")
    expect(page.locator("#operations")).to_contain_text("Operation cancelled.")
    expect(pending).to_have_text("0")
    expect(page.locator("#operations")).to_have_attribute("data-running", "false")

    page.locator(f"#op-{operation_id}").get_by_role("button", name="Retry").click()
    expect(page.locator(f"#op-{operation_id} .badge")).to_have_text("Pending")

    # A worker picks it up; the page, polling, shows it complete without a reload and stops polling.
    workers("ui")
    expect(page.locator(f"#op-{operation_id} .badge")).to_have_text("Completed", timeout=120_000)
    # The counts above the table follow too.
    world_facts = page.locator("#stats .stat").filter(has_text="World facts").locator("dd")
    expect(world_facts).not_to_have_text("0")
    expect(page.locator("#operations")).to_have_attribute("data-running", "false")
    expect(page.locator("#operations")).not_to_have_attribute("hx-trigger", re.compile("every"))


def test_pages_work_without_javascript(browser, live_url, control_user):
    context = browser.new_context(viewport=VIEWPORT, base_url=live_url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, control_user.username)
        bank_id = new_bank_id()
        create_bank(page, bank_id)
        page.goto(f"/banks/{bank_id}/configuration/")
        page.get_by_label("retain_chunk_size", exact=True).fill("2500")
        # The blank group the editor always offers takes a label group with no script at all.
        page.locator("input[name='entity_labels-0-key']").fill("tier")
        page.locator("input[name='entity_labels-0-value-0-value']").fill("gold")
        page.get_by_role("button", name="Save changes").click()
        overrides = api_config(live_url, bank_id)["overrides"]
        assert overrides["retain_chunk_size"] == 2500
        assert overrides["entity_labels"][0]["values"] == [{"value": "gold", "description": ""}]
        page.goto("/banks/?q=" + bank_id)
        expect(page.locator("#bank-table")).to_contain_text(bank_id)
    finally:
        context.close()
