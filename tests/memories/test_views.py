"""The control plane's memory tabs through Django's test client: memories, entities, documents (retain) and recall.

Every page needs a signed-in user, answers 404 for an unknown bank or another bank's object, shows bad input inline
(never a 500), works as plain HTML forms and answers htmx requests with fragments.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from banks import services as bank_services
from memories.models import Document, Entity, MemoryUnit, Operation
from memories.services import RetainItem, retain_items

pytestmark = pytest.mark.django_db

ALICE = "Alice works at Google as a software engineer. Alice moved to Zurich in March 2024 with Bob."
BOB = "Bob is a data scientist in Berlin. Bob met Alice at a conference in Lisbon."
HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx(target: str) -> dict:
    return {**HTMX, "HTTP_HX_TARGET": target}


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="operator", password="a-long-password-1")


@pytest.fixture
def page(client, user):
    """A browser session signed in as an operator."""
    client.force_login(user)
    return client


def retained(bank_id: str, *texts: str, document_id: str | None = None, tags: list[str] | None = None):
    bank = bank_services.get_or_create_bank(bank_id=bank_id)
    retain_items(
        bank=bank,
        items=[RetainItem(content=text, document_id=document_id, tags=list(tags or [])) for text in texts],
    )
    return bank


@pytest.fixture
def bank(bank_id):
    retained(bank_id, ALICE, document_id="doc-alice", tags=["team:a"])
    retained(bank_id, BOB, document_id="notes/bob")
    return bank_id


def url(name: str, bank_id: str, **kwargs) -> str:
    return reverse(name, kwargs={"bank_id": bank_id, **kwargs})


def unit(bank_id: str, starts: str) -> MemoryUnit:
    return MemoryUnit.objects.get(bank__bank_id=bank_id, text__startswith=starts)


# --- access -------------------------------------------------------------------------------------------------------

TABS = ("control-bank-memories", "control-bank-entities", "control-bank-documents", "control-bank-recall")


@pytest.mark.parametrize("name", TABS)
def test_every_tab_sends_an_anonymous_visitor_to_sign_in(client, bank, name):
    response = client.get(url(name, bank))
    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.parametrize("name", TABS)
def test_every_tab_of_an_unknown_bank_is_404_and_creates_no_bank(page, name):
    from banks.models import Bank

    assert page.get(url(name, "no-such-bank")).status_code == 404
    assert not Bank.objects.filter(bank_id="no-such-bank").exists()


def test_posts_without_a_csrf_token_are_refused(bank, user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.post(url("control-bank-documents", bank), {"content": "Carol likes tea."})
    assert response.status_code == 403


# --- memories -----------------------------------------------------------------------------------------------------


def test_memories_tab_lists_the_banks_facts_newest_first(page, bank):
    response = page.get(url("control-bank-memories", bank))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Alice works at Google as a software engineer" in body
    assert "Bob is a data scientist in Berlin" in body
    assert 'aria-current="page" id="tab-memories"' in body or "tab-memories" in body


def test_memories_can_be_filtered_by_search_type_tags_and_document(page, bank):
    by_search = page.get(url("control-bank-memories", bank), {"q": "data scientist"}).content.decode()
    assert "Bob is a data scientist" in by_search and "Alice works at Google" not in by_search
    by_tag = page.get(url("control-bank-memories", bank), {"tags": "team:a"}).content.decode()
    assert "Alice works at Google" in by_tag and "Bob is a data scientist" not in by_tag
    by_document = page.get(url("control-bank-memories", bank), {"document": "notes/bob"}).content.decode()
    assert "Bob met Alice" in by_document and "Alice works at Google" not in by_document
    by_type = page.get(url("control-bank-memories", bank), {"type": "observation"}).content.decode()
    assert "No memory matches these filters" in by_type


def test_a_bad_filter_is_shown_inline_not_a_500(page, bank):
    response = page.get(url("control-bank-memories", bank), {"type": "opinion", "page": "-3"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()


def test_empty_bank_explains_how_to_add_memories(page, bank_id):
    bank_services.get_or_create_bank(bank_id=bank_id)
    body = page.get(url("control-bank-memories", bank_id)).content.decode()
    assert "This bank has no memories yet" in body
    assert url("control-bank-documents", bank_id) in body


def test_memories_list_pages_and_costs_the_same_queries_whatever_the_page_size(page, bank_id, monkeypatch):
    from memories import views

    retained(bank_id, *[f"Person{i} visited Oslo with Friend{i} on a sunny day." for i in range(12)])
    total = MemoryUnit.objects.filter(bank__bank_id=bank_id).count()
    assert total >= 12
    monkeypatch.setattr(views, "PAGE_SIZE", 5)
    pages = -(-total // 5)
    first = page.get(url("control-bank-memories", bank_id)).content.decode()
    assert f"Page 1 of {pages}" in first and "page=2" in first
    assert first.count('class="memory-link"') == 5
    last = page.get(url("control-bank-memories", bank_id), {"page": pages}).content.decode()
    assert f"Page {pages} of {pages}" in last and f"page={pages - 1}" in last
    assert last.count('class="memory-link"') == total - 5 * (pages - 1)

    def queries(size: int) -> int:
        monkeypatch.setattr(views, "PAGE_SIZE", size)
        with CaptureQueriesContext(connection) as captured:
            assert page.get(url("control-bank-memories", bank_id)).status_code == 200
        return len(captured)

    assert queries(2) == queries(12)


def test_htmx_filter_request_gets_only_the_list_fragment(page, bank):
    response = page.get(url("control-bank-memories", bank), {"q": "Berlin"}, **htmx("memory-list"))
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith("<section") and 'id="memory-list"' in body
    assert "<html" not in body and "Bob is a data scientist" in body


def test_memory_detail_shows_entities_dates_source_chunk_and_links(page, bank):
    fact = unit(bank, "Bob met Alice")
    response = page.get(url("control-memory-detail", bank, memory_id=fact.pk))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Bob met Alice at a conference in Lisbon" in body
    assert "Source text" in body and "Bob is a data scientist in Berlin." in body  # the chunk holds both sentences
    assert ">Alice<" in body and ">Bob<" in body  # entities
    assert "Links" in body
    assert "Mentioned" in body and "notes/bob" in body


def test_memory_detail_fragment_for_htmx(page, bank):
    fact = unit(bank, "Alice works at Google")
    response = page.get(url("control-memory-detail", bank, memory_id=fact.pk), **htmx("detail-panel"))
    body = response.content.decode()
    assert "<html" not in body and "Alice works at Google" in body and "Invalidate" in body


@pytest.mark.parametrize("memory_id", ["not-a-uuid", str(uuid.uuid4())])
def test_unknown_memory_is_404(page, bank, memory_id):
    assert page.get(url("control-memory-detail", bank, memory_id=memory_id)).status_code == 404


def test_another_banks_memory_is_404_everywhere(page, bank):
    other = retained("other-bank", "Carol is a pilot in Madrid.")
    foreign = MemoryUnit.objects.filter(bank=other).first().pk
    for name in ("control-memory-detail", "control-memory-edit", "control-memory-delete"):
        assert page.get(url(name, bank, memory_id=foreign)).status_code == 404, name
    assert page.post(url("control-memory-delete", bank, memory_id=foreign)).status_code == 404
    assert page.post(url("control-memory-state", bank, memory_id=foreign), {"state": "invalidated"}).status_code == 404
    assert MemoryUnit.objects.filter(pk=foreign, state="valid").exists()


def test_editing_a_memory_without_javascript_saves_and_redirects(page, bank):
    fact = unit(bank, "Alice works at Google")
    form = page.get(url("control-memory-edit", bank, memory_id=fact.pk))
    assert form.status_code == 200 and "Alice works at Google" in form.content.decode()
    response = page.post(
        url("control-memory-edit", bank, memory_id=fact.pk),
        {
            "text": "Alice works at DeepMind as a research engineer.",
            "context": "",
            "fact_type": "world",
            "entities": "Alice, DeepMind",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url("control-memory-detail", bank, memory_id=fact.pk)
    fact.refresh_from_db()
    assert fact.text == "Alice works at DeepMind as a research engineer." and fact.edited_at is not None
    assert Entity.objects.filter(bank=fact.bank, canonical_name="DeepMind").exists()


def test_editing_a_memory_with_blank_text_shows_the_error_inline(page, bank):
    fact = unit(bank, "Alice works at Google")
    response = page.post(url("control-memory-edit", bank, memory_id=fact.pk), {"text": "  ", "fact_type": "world"})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    fact.refresh_from_db()
    assert fact.text.startswith("Alice works at Google")


def test_edit_dates_in_the_wrong_order_are_refused_inline(page, bank):
    fact = unit(bank, "Alice works at Google")
    response = page.post(
        url("control-memory-edit", bank, memory_id=fact.pk),
        {
            "text": fact.text,
            "fact_type": "world",
            "occurred_start": "2024-05-02T10:00",
            "occurred_end": "2024-05-01T10:00",
        },
    )
    assert response.status_code == 400 and "must not be before the start" in response.content.decode()


def test_htmx_edit_answers_with_the_panel_and_refreshes_the_list(page, bank):
    fact = unit(bank, "Alice works at Google")
    response = page.post(
        url("control-memory-edit", bank, memory_id=fact.pk),
        {"text": "Alice works at Google in Zurich.", "fact_type": "world", "entities": "Alice, Google"},
        **htmx("detail-panel"),
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "memories-changed"
    assert "Memory saved." in response.content.decode() and "<html" not in response.content.decode()


def test_invalidating_and_restoring_a_memory(page, bank):
    fact = unit(bank, "Bob is a data scientist")
    response = page.post(
        url("control-memory-state", bank, memory_id=fact.pk), {"state": "invalidated", "reason": "He changed jobs"}
    )
    assert response.status_code == 302
    fact.refresh_from_db()
    assert fact.state == "invalidated" and fact.invalidation_reason == "He changed jobs"
    listed = page.get(url("control-bank-memories", bank)).content.decode()
    assert "Bob is a data scientist" not in listed
    shown = page.get(url("control-bank-memories", bank), {"state": "invalidated"}).content.decode()
    assert "Bob is a data scientist" in shown
    detail = page.get(url("control-memory-detail", bank, memory_id=fact.pk)).content.decode()
    assert "He changed jobs" in detail and "Restore" in detail
    page.post(url("control-memory-state", bank, memory_id=fact.pk), {"state": "valid"})
    fact.refresh_from_db()
    assert fact.state == "valid"


def test_a_bad_state_change_is_an_inline_error(page, bank):
    fact = unit(bank, "Bob is a data scientist")
    response = page.post(
        url("control-memory-state", bank, memory_id=fact.pk), {"state": "gone"}, **htmx("detail-panel")
    )
    assert response.status_code == 400 and "Choose to invalidate or restore" in response.content.decode()
    fact.refresh_from_db()
    assert fact.state == "valid"


def test_deleting_a_memory_asks_first_then_deletes(page, bank):
    fact = unit(bank, "Bob is a data scientist")
    confirm = page.get(url("control-memory-delete", bank, memory_id=fact.pk))
    assert confirm.status_code == 200 and "Delete this memory?" in confirm.content.decode()
    assert MemoryUnit.objects.filter(pk=fact.pk).exists()
    response = page.post(url("control-memory-delete", bank, memory_id=fact.pk))
    assert response.status_code == 302 and response["Location"] == url("control-bank-memories", bank)
    assert not MemoryUnit.objects.filter(pk=fact.pk).exists()


def test_observations_cannot_be_edited(page, bank):
    bank_row = MemoryUnit.objects.filter(bank__bank_id=bank).first().bank
    observation = MemoryUnit.objects.create(
        bank=bank_row, text="Alice and Bob know each other", fact_type="observation"
    )
    assert page.get(url("control-memory-edit", bank, memory_id=observation.pk)).status_code == 404
    detail = page.get(url("control-memory-detail", bank, memory_id=observation.pk)).content.decode()
    assert "Observations are derived from facts" in detail


# --- entities -----------------------------------------------------------------------------------------------------


def test_entities_tab_lists_entities_by_mentions(page, bank):
    body = page.get(url("control-bank-entities", bank)).content.decode()
    names = re.findall(r'/entities/[0-9a-f-]+/">([^<]+)</a>', body)
    assert names[:2] == ["Alice", "Bob"] or names[:2] == ["Bob", "Alice"]
    counts = {e.canonical_name: e.mention_count for e in Entity.objects.filter(bank__bank_id=bank)}
    assert counts[names[0]] >= counts[names[-1]]
    searched = page.get(url("control-bank-entities", bank), {"q": "lisb"}).content.decode()
    assert "Lisbon" in searched and ">Alice<" not in searched


def test_entity_detail_shows_its_memories_and_co_occurring_entities(page, bank):
    alice = Entity.objects.get(bank__bank_id=bank, canonical_name="Alice")
    body = page.get(url("control-entity-detail", bank, entity_id=alice.pk)).content.decode()
    assert "Alice works at Google" in body and "Bob met Alice" in body
    assert "Mentioned together with" in body and ">Bob</a>" in body
    assert "Bob is a data scientist in Berlin" not in body  # does not mention Alice


def test_another_banks_entity_is_404(page, bank):
    retained("other-bank", "Carol is a pilot in Madrid.")
    carol = Entity.objects.get(bank__bank_id="other-bank", canonical_name="Carol")
    assert page.get(url("control-entity-detail", bank, entity_id=carol.pk)).status_code == 404
    assert page.get(url("control-entity-detail", bank, entity_id="nope")).status_code == 404


def test_entities_list_costs_the_same_queries_whatever_the_page_size(page, bank, monkeypatch):
    from memories import views

    def queries(size: int) -> int:
        monkeypatch.setattr(views, "PAGE_SIZE", size)
        with CaptureQueriesContext(connection) as captured:
            assert page.get(url("control-bank-entities", bank)).status_code == 200
        return len(captured)

    assert queries(1) == queries(50)


# --- documents and retain -----------------------------------------------------------------------------------------


def test_documents_tab_lists_documents_and_offers_the_retain_form(page, bank):
    body = page.get(url("control-bank-documents", bank)).content.decode()
    assert "doc-alice" in body and "notes/bob" in body
    assert 'name="content"' in body and 'type="file"' in body and 'name="run_async"' in body


def test_retaining_text_without_javascript_redirects_to_its_memories(page, bank_id):
    bank_services.get_or_create_bank(bank_id=bank_id)
    response = page.post(
        url("control-bank-documents", bank_id),
        {
            "content": "Carol is a pilot in Madrid. Carol flies to Lima every June.",
            "document_id": "carol",
            "tags": "crew, pilots",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url("control-bank-memories", bank_id) + "?document=carol"
    memories = page.get(response["Location"]).content.decode()
    assert "Carol is a pilot in Madrid" in memories and "Retained document carol" in memories
    assert set(MemoryUnit.objects.filter(bank__bank_id=bank_id).values_list("tags", flat=True).first()) >= {
        "crew",
        "pilots",
    }


def test_retaining_with_htmx_redirects_the_page_with_hx_redirect(page, bank_id):
    bank_services.get_or_create_bank(bank_id=bank_id)
    response = page.post(
        url("control-bank-documents", bank_id), {"content": "Dan sells bikes in Porto."}, **htmx("retain-form")
    )
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(url("control-bank-memories", bank_id) + "?document=")


def test_retaining_an_uploaded_markdown_file_names_the_document_after_it(page, bank_id):
    bank_services.get_or_create_bank(bank_id=bank_id)
    upload = SimpleUploadedFile("notes.md", b"# Notes\n\nErin teaches maths in Oslo.", content_type="text/markdown")
    response = page.post(url("control-bank-documents", bank_id), {"file": upload})
    assert response.status_code == 302
    assert Document.objects.filter(bank__bank_id=bank_id, document_id="notes.md").exists()
    assert MemoryUnit.objects.filter(bank__bank_id=bank_id, text__contains="Erin teaches maths").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"content": "   "}, "Type some text or upload a file."),
        ({"file": SimpleUploadedFile("a.pdf", b"%PDF-1.4")}, "Upload a .txt or .md file."),
        ({"file": SimpleUploadedFile("a.txt", b"\xff\xfe\x00bad")}, "not UTF-8"),
        ({"content": "Fine text.", "timestamp": "yesterday-ish"}, "Enter a valid date/time."),
        ({"content": "Fine text.", "document_id": "x" * 600}, "at most 512 characters"),
    ],
)
def test_bad_retain_input_is_shown_inline_and_stores_nothing(page, bank_id, data, message):
    bank_services.get_or_create_bank(bank_id=bank_id)
    response = page.post(url("control-bank-documents", bank_id), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not MemoryUnit.objects.filter(bank__bank_id=bank_id).exists()


def test_an_async_retain_queues_an_operation_and_shows_its_progress(page, bank_id, django_capture_on_commit_callbacks):
    bank_services.get_or_create_bank(bank_id=bank_id)
    with django_capture_on_commit_callbacks(execute=False):
        response = page.post(
            url("control-bank-documents", bank_id), {"content": "Fay paints murals in Quito.", "run_async": "on"}
        )
    operation = Operation.objects.get(bank__bank_id=bank_id)
    assert response.status_code == 302
    assert response["Location"] == url("control-operation", bank_id, operation_id=operation.pk)
    progress = page.get(response["Location"]).content.decode()
    assert "pending" in progress and 'http-equiv="refresh"' in progress  # reloads itself without JavaScript
    fragment = page.get(response["Location"], **htmx("operation-progress")).content.decode()
    assert 'hx-trigger="every 1s"' in fragment and "<html" not in fragment


def test_htmx_async_retain_swaps_in_the_polling_progress_fragment(page, bank_id, django_capture_on_commit_callbacks):
    bank_services.get_or_create_bank(bank_id=bank_id)
    with django_capture_on_commit_callbacks(execute=False):
        response = page.post(
            url("control-bank-documents", bank_id),
            {"content": "Gus repairs boats in Split.", "run_async": "on"},
            **htmx("retain-form"),
        )
    assert response.status_code == 202
    body = response.content.decode()
    assert 'id="operation-progress"' in body and "every 1s" in body


def test_a_finished_operation_stops_polling_and_links_to_the_memories(page, bank):
    bank_row = bank_services.get_or_create_bank(bank_id=bank)
    operation = Operation.objects.create(
        bank=bank_row, operation_type="retain", status="completed", result={"units_created": 3}
    )
    body = page.get(url("control-operation", bank, operation_id=operation.pk), **htmx("operation-progress"))
    text = body.content.decode()
    assert "every 1s" not in text and "Done: 3 new memories" in text
    assert body["HX-Trigger"] == "documents-changed"


def test_another_banks_operation_is_404(page, bank):
    other = bank_services.get_or_create_bank(bank_id="other-bank")
    operation = Operation.objects.create(bank=other, operation_type="retain")
    assert page.get(url("control-operation", bank, operation_id=operation.pk)).status_code == 404


def test_document_detail_shows_text_and_chunks_and_deletes_after_confirmation(page, bank):
    detail_url = url("control-document-detail", bank, document_id="notes/bob")
    body = page.get(detail_url).content.decode()
    assert "Bob met Alice at a conference in Lisbon" in body and "Chunk 0" in body
    confirm = page.get(detail_url, {"confirm": "delete"}).content.decode()
    assert "Delete document “notes/bob”?" in confirm
    response = page.post(detail_url)
    assert response.status_code == 302 and response["Location"] == url("control-bank-documents", bank)
    assert not Document.objects.filter(bank__bank_id=bank, document_id="notes/bob").exists()
    assert not MemoryUnit.objects.filter(bank__bank_id=bank, text__startswith="Bob met Alice").exists()


def test_another_banks_document_is_404(page, bank):
    retained("other-bank", "Carol is a pilot in Madrid.", document_id="carol")
    assert page.get(url("control-document-detail", bank, document_id="carol")).status_code == 404
    assert page.post(url("control-document-detail", bank, document_id="carol")).status_code == 404
    assert Document.objects.filter(bank__bank_id="other-bank", document_id="carol").exists()


# --- recall -------------------------------------------------------------------------------------------------------


def test_recall_playground_shows_results_with_each_channels_score_and_the_trace(page, bank):
    response = page.get(url("control-bank-recall", bank), {"query": "Where does Bob work?", "budget": "low"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Bob is a data scientist in Berlin" in body
    for column in ("Semantic", "Keyword", "Graph", "Temporal", "Final"):
        assert f">{column}</th>" in body
    assert re.search(r'data-channel="semantic">0\.\d{3}', body)
    assert "Trace" in body and "Timings" in body


def test_recall_filters_by_type_and_tags(page, bank):
    body = page.get(url("control-bank-recall", bank), {"query": "Alice", "tags": "team:a", "tags_match": "all_strict"})
    text = body.content.decode()
    assert "Alice works at Google" in text and "Bob met Alice" not in text
    none = page.get(url("control-bank-recall", bank), {"query": "Alice", "types": "observation"}).content.decode()
    assert "Nothing recalled" in none


def test_recall_without_a_question_shows_the_form_and_a_bad_one_an_inline_error(page, bank):
    empty = page.get(url("control-bank-recall", bank))
    assert empty.status_code == 200 and "Type a question" in empty.content.decode()
    bad = page.get(url("control-bank-recall", bank), {"query": "  ", "budget": "huge"})
    assert bad.status_code == 400
    assert "Type a question." in bad.content.decode() or "This field is required" in bad.content.decode()


def test_recall_htmx_gets_only_the_results(page, bank):
    response = page.get(url("control-bank-recall", bank), {"query": "Lisbon"}, **htmx("recall-results"))
    body = response.content.decode()
    assert "<html" not in body and 'id="recall-results"' in body and "Bob met Alice" in body


def test_recall_never_shows_another_banks_memories(page, bank):
    retained("other-bank", "Bob is a secret agent in Berlin.")
    body = page.get(url("control-bank-recall", bank), {"query": "Bob Berlin"}).content.decode()
    assert "secret agent" not in body


def test_documents_list_costs_the_same_queries_whatever_the_page_size(page, bank, monkeypatch):
    from memories import views

    retained(bank, "Carol is a pilot in Madrid.", document_id="carol")

    def queries(size: int) -> int:
        monkeypatch.setattr(views, "PAGE_SIZE", size)
        with CaptureQueriesContext(connection) as captured:
            assert page.get(url("control-bank-documents", bank)).status_code == 200
        return len(captured)

    assert queries(1) == queries(50)


def test_memory_detail_costs_a_fixed_number_of_queries(page, bank, django_assert_max_num_queries):
    fact = unit(bank, "Bob met Alice")
    with django_assert_max_num_queries(14):
        assert (
            page.get(url("control-memory-detail", bank, memory_id=fact.pk), **htmx("detail-panel")).status_code == 200
        )


def test_an_htmx_history_restore_gets_the_whole_page(page, bank):
    fact = unit(bank, "Bob met Alice")
    response = page.get(
        url("control-memory-detail", bank, memory_id=fact.pk),
        **htmx("detail-panel"),
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )
    assert "<html" in response.content.decode()
