"""The control plane's reflect playground, directives and mental-models tabs through Django's test client."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from banks import services as bank_services
from directives.models import Directive, MentalModel, MentalModelHistory
from memories.models import Operation
from memories.services import RetainItem, retain_items

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx(target: str) -> dict:
    return {**HTMX, "HTTP_HX_TARGET": target}


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="operator", password="a-long-password-1")


@pytest.fixture
def page(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def bank(bank_id):
    bank = bank_services.get_or_create_bank(bank_id=bank_id)
    retain_items(
        bank=bank,
        items=[
            RetainItem(content="Alice works at Google as a software engineer."),
            RetainItem(content="Bob is a data scientist in Berlin."),
        ],
    )
    return bank


def url(name: str, bank, **kwargs) -> str:
    bank_id = bank if isinstance(bank, str) else bank.bank_id
    return reverse(name, kwargs={"bank_id": bank_id, **kwargs})


TABS = ("control-bank-reflect", "control-bank-directives", "control-bank-mental-models")


@pytest.mark.parametrize("name", TABS)
def test_every_tab_sends_an_anonymous_visitor_to_sign_in(client, bank, name):
    response = client.get(url(name, bank))
    assert response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize("name", TABS)
def test_every_tab_of_an_unknown_bank_is_404(page, name):
    assert page.get(url(name, "no-such-bank")).status_code == 404


# --- reflect --------------------------------------------------------------------------------------------------------


def test_reflect_without_a_model_gives_the_extractive_answer_with_its_citations(page, bank):
    Directive.objects.create(bank=bank, name="Formal", content="Answer formally.")
    response = page.post(url("control-bank-reflect", bank), {"query": "What does Alice do?", "budget": "low"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Answer" in body and "Alice works at Google" in body
    assert "Memories it rests on" in body and 'class="citation"' in body
    assert "Formal" in body and "Answer formally." in body  # the directive it applied
    assert "extractive answer" in body


def test_reflect_page_offers_the_form_first(page, bank):
    body = page.get(url("control-bank-reflect", bank)).content.decode()
    assert 'name="query"' in body and 'name="budget"' in body and "Ask a question" in body


def test_reflect_with_an_empty_question_is_an_inline_error(page, bank):
    response = page.post(url("control-bank-reflect", bank), {"query": "   ", "budget": "enormous"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "This field is required" in body and "Select a valid choice" in body


def test_reflect_htmx_gets_only_the_answer(page, bank):
    response = page.post(url("control-bank-reflect", bank), {"query": "Bob?"}, **htmx("reflect-results"))
    body = response.content.decode()
    assert "<html" not in body and 'id="reflect-results"' in body and "Bob is a data scientist" in body


def test_reflect_never_cites_another_banks_memories(page, bank):
    other = bank_services.get_or_create_bank(bank_id="other-bank")
    retain_items(bank=other, items=[RetainItem(content="Alice is a spy working for nobody.")])
    body = page.post(url("control-bank-reflect", bank), {"query": "What is Alice?"}).content.decode()
    assert "spy" not in body


# --- directives ------------------------------------------------------------------------------------------------------


def test_creating_a_directive_without_javascript(page, bank):
    response = page.post(
        url("control-bank-directives", bank),
        {
            "name": "Formal",
            "content": "Always answer formally.",
            "priority": "5",
            "tags": "support, legal",
            "is_active": "on",
        },
    )
    assert response.status_code == 302 and response["Location"] == url("control-bank-directives", bank)
    directive = Directive.objects.get(bank=bank)
    assert (directive.name, directive.priority, directive.tags, directive.is_active) == (
        "Formal",
        5,
        ["support", "legal"],
        True,
    )
    body = page.get(url("control-bank-directives", bank)).content.decode()
    assert "Always answer formally." in body and "Directive “Formal” created." in body


def test_creating_a_directive_with_htmx_swaps_the_list(page, bank):
    response = page.post(
        url("control-bank-directives", bank),
        {"name": "Short", "content": "Keep answers short.", "priority": "0"},
        **htmx("directives-body"),
    )
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body and "Keep answers short." in body
    assert Directive.objects.get(bank=bank).is_active is False  # an unticked checkbox means inactive


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "content": "x", "priority": "0"}, "This field is required"),
        ({"name": "A", "content": "   ", "priority": "0"}, "This field is required"),
        ({"name": "A", "content": "x", "priority": "high"}, "Enter a whole number"),
        ({"name": "A", "content": "x", "priority": str(2**40)}, "less than or equal to"),
    ],
)
def test_bad_directive_input_is_shown_inline(page, bank, data, message):
    response = page.post(url("control-bank-directives", bank), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Directive.objects.filter(bank=bank).exists()


def test_toggling_a_directive_inline(page, bank):
    directive = Directive.objects.create(bank=bank, name="Formal", content="Be formal")
    response = page.post(
        url("control-directive-toggle", bank, directive_id=directive.pk),
        {"is_active": "off"},
        **htmx(f"directive-{directive.pk}"),
    )
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith("<tr") and "Inactive" in body
    directive.refresh_from_db()
    assert directive.is_active is False
    plain = page.post(url("control-directive-toggle", bank, directive_id=directive.pk), {"is_active": "on"})
    assert plain.status_code == 302
    directive.refresh_from_db()
    assert directive.is_active is True


def test_editing_a_directive(page, bank):
    directive = Directive.objects.create(bank=bank, name="Formal", content="Be formal", tags=["a"])
    form = page.get(url("control-directive-edit", bank, directive_id=directive.pk)).content.decode()
    assert "Be formal" in form and 'value="a"' in form
    response = page.post(
        url("control-directive-edit", bank, directive_id=directive.pk),
        {"name": "Formal", "content": "Be very formal", "priority": "2", "tags": "", "is_active": "on"},
    )
    assert response.status_code == 302
    directive.refresh_from_db()
    assert (directive.content, directive.priority, directive.tags) == ("Be very formal", 2, [])
    bad = page.post(url("control-directive-edit", bank, directive_id=directive.pk), {"name": "", "content": "x"})
    assert bad.status_code == 400 and "This field is required" in bad.content.decode()


def test_deleting_a_directive_asks_first(page, bank):
    directive = Directive.objects.create(bank=bank, name="Formal", content="Be formal")
    confirm = page.get(url("control-directive-delete", bank, directive_id=directive.pk)).content.decode()
    assert "Delete the directive “Formal”?" in confirm
    assert Directive.objects.filter(pk=directive.pk).exists()
    assert page.post(url("control-directive-delete", bank, directive_id=directive.pk)).status_code == 302
    assert not Directive.objects.filter(pk=directive.pk).exists()


def test_another_banks_directive_is_404_everywhere(page, bank):
    other = bank_services.get_or_create_bank(bank_id="other-bank")
    foreign = Directive.objects.create(bank=other, name="Secret", content="Keep secrets")
    for name in ("control-directive-edit", "control-directive-delete"):
        assert page.get(url(name, bank, directive_id=foreign.pk)).status_code == 404
    for name in ("control-directive-edit", "control-directive-toggle", "control-directive-delete"):
        assert page.post(url(name, bank, directive_id=foreign.pk), {"is_active": "off"}).status_code == 404
    assert page.get(url("control-directive-edit", bank, directive_id="not-a-uuid")).status_code == 404
    foreign.refresh_from_db()
    assert foreign.is_active and foreign.name == "Secret"


def test_empty_directives_tab_explains_what_directives_are(page, bank):
    body = page.get(url("control-bank-directives", bank)).content.decode()
    assert "No directives yet" in body and "New directive" in body


def test_directives_list_costs_the_same_queries_for_one_or_many(page, bank, django_assert_max_num_queries):
    for i in range(30):
        Directive.objects.create(bank=bank, name=f"Rule {i}", content="Be brief")
    with django_assert_max_num_queries(8):
        assert page.get(url("control-bank-directives", bank)).status_code == 200


# --- mental models ---------------------------------------------------------------------------------------------------


def test_creating_a_mental_model_queues_its_generation_and_shows_it(page, bank, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = page.post(
            url("control-bank-mental-models", bank),
            {
                "name": "Alice's career",
                "source_query": "What does Alice do?",
                "mental_model_id": "alice",
                "tags": "",
                "max_tokens": "2048",
            },
        )
    assert response.status_code == 302
    assert response["Location"] == url("control-mental-model", bank, mental_model_id="alice")
    model = MentalModel.objects.get(bank=bank, mental_model_id="alice")
    assert Operation.objects.filter(
        bank=bank, operation_type="refresh_mental_model", payload__mental_model_id="alice"
    ).exists()
    detail = page.get(response["Location"]).content.decode()
    assert "being generated" in detail and 'hx-trigger="every 2s"' in detail
    listed = page.get(url("control-bank-mental-models", bank)).content.decode()
    assert model.name.replace("'", "&#x27;") in listed and "being generated" in listed


def test_a_mental_model_shows_its_content_staleness_and_history(page, bank):
    model = MentalModel.objects.create(
        bank=bank, mental_model_id="people", name="People", source_query="Who?", content="Alice is an engineer."
    )
    MentalModelHistory.objects.create(mental_model=model, content="Alice is a student.")
    body = page.get(url("control-mental-model", bank, mental_model_id="people")).content.decode()
    assert "Alice is an engineer." in body and "Alice is a student." in body
    assert "stale" in body  # memories exist that it has never seen
    assert "every 2s" not in body  # nothing is refreshing


def test_refreshing_a_mental_model_queues_an_operation(page, bank, django_capture_on_commit_callbacks):
    MentalModel.objects.create(bank=bank, mental_model_id="people", name="People", source_query="Who?")
    with django_capture_on_commit_callbacks(execute=False):
        response = page.post(url("control-mental-model-refresh", bank, mental_model_id="people"))
    assert response.status_code == 302
    assert Operation.objects.filter(bank=bank, operation_type="refresh_mental_model").count() == 1
    with django_capture_on_commit_callbacks(execute=False):
        fragment = page.post(
            url("control-mental-model-refresh", bank, mental_model_id="people"), **htmx("model-content")
        ).content.decode()
    assert "<html" not in fragment and "refreshing" in fragment


def test_a_refresh_run_by_the_operation_handler_fills_the_content(page, bank, django_capture_on_commit_callbacks):
    from memories import operations

    with django_capture_on_commit_callbacks(execute=False):
        page.post(
            url("control-bank-mental-models", bank),
            {"name": "Work", "source_query": "Where does Bob work?", "mental_model_id": "work", "max_tokens": "2048"},
        )
    operation = Operation.objects.get(bank=bank, operation_type="refresh_mental_model")
    operations.run(operation.pk, worker_id="test")
    body = page.get(url("control-mental-model", bank, mental_model_id="work")).content.decode()
    assert "Bob is a data scientist in Berlin" in body and "fresh" in body


@pytest.mark.parametrize(
    ("data", "message", "status"),
    [
        ({"name": "", "source_query": "Q?", "max_tokens": "2048"}, "This field is required", 400),
        ({"name": "A", "source_query": "Q?", "mental_model_id": "Bad Id!", "max_tokens": "2048"}, "lowercase", 400),
        ({"name": "A", "source_query": "Q?", "max_tokens": "10"}, "greater than or equal to 256", 400),
        ({"name": "A", "source_query": "Q?", "mental_model_id": "taken", "max_tokens": "2048"}, "already exists", 409),
    ],
)
def test_bad_mental_model_input_is_shown_inline(page, bank, data, message, status):
    MentalModel.objects.create(bank=bank, mental_model_id="taken", name="Taken", source_query="?")
    response = page.post(url("control-bank-mental-models", bank), data)
    assert response.status_code == status and message in response.content.decode()
    assert MentalModel.objects.filter(bank=bank).count() == 1


def test_deleting_a_mental_model_asks_first(page, bank):
    MentalModel.objects.create(bank=bank, mental_model_id="people", name="People", source_query="Who?")
    confirm = page.get(url("control-mental-model-delete", bank, mental_model_id="people")).content.decode()
    assert "Delete the mental model “People”?" in confirm
    assert page.post(url("control-mental-model-delete", bank, mental_model_id="people")).status_code == 302
    assert not MentalModel.objects.filter(bank=bank).exists()


def test_another_banks_mental_model_is_404(page, bank):
    other = bank_services.get_or_create_bank(bank_id="other-bank")
    MentalModel.objects.create(bank=other, mental_model_id="secret", name="Secret", source_query="?")
    assert page.get(url("control-mental-model", bank, mental_model_id="secret")).status_code == 404
    assert page.post(url("control-mental-model-refresh", bank, mental_model_id="secret")).status_code == 404
    assert page.post(url("control-mental-model-delete", bank, mental_model_id="secret")).status_code == 404
    assert MentalModel.objects.filter(bank=other).exists()


def test_mental_models_list_costs_the_same_queries_for_many_models(page, bank, django_assert_max_num_queries):
    for i in range(20):
        MentalModel.objects.create(bank=bank, mental_model_id=f"m{i}", name=f"M{i}", source_query="?")
    with django_assert_max_num_queries(9):
        assert page.get(url("control-bank-mental-models", bank)).status_code == 200


def test_unknown_ids_are_404(page, bank):
    assert page.get(url("control-mental-model", bank, mental_model_id=uuid.uuid4().hex)).status_code == 404
