"""The control plane's memory tabs (memories, entities, documents, recall): thin adapters over the selectors and
services the REST API uses.

Every page works without JavaScript (links, GET filter forms, POST forms answered with a redirect); with htmx a
request that targets a fragment (``HX-Target``) gets only that fragment, and a POST answers with the updated
fragment plus an ``HX-Trigger`` event so the rest of the page refreshes itself.
"""

from __future__ import annotations

import math
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from hindsight_site.control import bank_context, bank_or_404
from hindsight_site.errors import DomainError, NotFound
from memories import curation, selectors, services
from memories.curation import UNSET, MemoryEdit
from memories.forms import (
    DocumentFilterForm,
    EntityFilterForm,
    InvalidateForm,
    MemoryEditForm,
    MemoryFilterForm,
    RecallForm,
    RetainForm,
)
from memories.models import TERMINAL_STATUSES

PAGE_SIZE = 50
CHUNKS_SHOWN = 200


# --- shared plumbing of the bank tabs ---------------------------------------------------------------------------


def bank_tab(view):
    """A page of one bank: the bank is loaded from ``bank_id`` (404 when unknown, never created) and passed to the
    view; a domain ``NotFound`` raised below (another bank's id, a malformed id) becomes a 404 page. Sign-in is
    required by ``ControlPlaneLoginRequiredMiddleware`` (every URL name here starts with ``control-``)."""

    @wraps(view)
    def wrapper(request, bank_id: str, *args, **kwargs):
        bank = bank_or_404(bank_id)
        try:
            return view(request, bank, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.detail) from None

    return wrapper


def render_tab(request, template: str, context: dict, status: int = 200) -> HttpResponse:
    """Render a bank tab (or one of its fragments) with the context ``control/bank_base.html`` needs."""
    context = dict(context)
    return render(request, template, bank_context(context.pop("bank"), context.pop("tab"), **context), status=status)


def htmx_target(request) -> str | None:
    """The element id an htmx request will swap (None for a plain browser request, a boosted page load or a
    history restore)."""
    htmx = getattr(request, "htmx", None)
    if not htmx or htmx.boosted or htmx.history_restore_request:  # a history restore wants the whole page
        return None
    return htmx.target


def paging(*, total: int, page: int | None, query: dict[str, str], size: int | None = None) -> dict:
    """Where a paged table is: offset, page numbers and the query strings of the previous and next pages."""
    size = size or PAGE_SIZE
    pages = max(1, math.ceil(total / size))
    page = min(max(page or 1, 1), pages)
    base = {key: value for key, value in query.items() if value not in ("", None) and key != "page"}

    def link(number: int) -> str:
        return "?" + urlencode({**base, "page": number}) if number > 1 else ("?" + urlencode(base) if base else "?")

    return {
        "total": total,
        "page": page,
        "pages": pages,
        "offset": (page - 1) * size,
        "size": size,
        "first": (page - 1) * size + 1 if total else 0,
        "last": min(page * size, total),
        "previous": link(page - 1) if page > 1 else None,
        "next": link(page + 1) if page < pages else None,
    }


def _query_dict(request) -> dict[str, str]:
    return {key: request.GET.get(key, "") for key in request.GET}


# --- memories -----------------------------------------------------------------------------------------------------


def _memory_list_context(request, bank) -> dict:
    form = MemoryFilterForm(request.GET or None)
    filters = selectors.MemoryListFilters()
    page_number = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        state = data.get("state") or "valid"
        filters = selectors.MemoryListFilters(
            fact_type=data.get("type") or None,
            q=data.get("q") or None,
            state=None if state == "all" else state,
            document_id=data.get("document") or None,
            tags=data.get("tags") or None,
            # A person filtering by tags wants the memories carrying them, not the untagged ones too ("any").
            tags_match="any_strict",
        )
        page_number = data.get("page")
    elif form.is_bound:
        filters = selectors.MemoryListFilters(fact_type="__none__")  # show the errors and no rows
    total = selectors.list_memory_units(bank=bank, filters=filters, limit=0, offset=0)[1]
    pager = paging(total=total, page=page_number, query=_query_dict(request))
    items, _ = selectors.list_memory_units(bank=bank, filters=filters, limit=PAGE_SIZE, offset=pager["offset"])
    filtered = any(request.GET.get(key) for key in ("q", "type", "tags", "document")) or request.GET.get(
        "state", "valid"
    ) not in ("", "valid")
    return {"filter_form": form, "memories": items, "pager": pager, "filtered": filtered}


@bank_tab
def memories_tab(request, bank):
    context = {"bank": bank, "tab": "memories", **_memory_list_context(request, bank)}
    if htmx_target(request) == "memory-list":
        return render_tab(request, "memories/_memory_list.html", context)
    return render_tab(request, "memories/memories.html", context)


def _memory_panel_context(bank, memory_id: str, **extra) -> dict:
    memory = selectors.load_memory_detail(bank=bank, memory_id=memory_id)
    return {
        "memory": memory,
        "surroundings": selectors.memory_surroundings(bank=bank, memory=memory),
        "curatable": memory["fact_type"] in curation.CURATABLE_TYPES,
        "invalidate_form": extra.pop("invalidate_form", None) or InvalidateForm(),
        **extra,
    }


@bank_tab
def memory_detail(request, bank, memory_id: str):
    panel = _memory_panel_context(bank, memory_id)
    if htmx_target(request) == "detail-panel":
        return render_tab(request, "memories/_memory_detail.html", {"bank": bank, "tab": "memories", **panel})
    context = {"bank": bank, "tab": "memories", **_memory_list_context(request, bank), **panel}
    return render_tab(request, "memories/memories.html", context)


def _panel_answer(request, bank, memory_id: str | None, message: str):
    """After a write from the detail panel: htmx gets the panel again (or nothing, when the memory went) and the
    list is told to refresh; a plain browser is redirected to the page, with the message."""
    if htmx_target(request):
        if memory_id is None:
            response = HttpResponse(f'<p class="notice" role="status">{message}</p>')
        else:
            response = render_tab(
                request,
                "memories/_memory_detail.html",
                {"bank": bank, "tab": "memories", "notice": message, **_memory_panel_context(bank, memory_id)},
            )
        response["HX-Trigger"] = "memories-changed"
        return response
    messages.success(request, message)
    if memory_id is None:
        return redirect("control-bank-memories", bank_id=bank.bank_id)
    return redirect("control-memory-detail", bank_id=bank.bank_id, memory_id=memory_id)


@bank_tab
@require_http_methods(["GET", "POST"])
def memory_edit(request, bank, memory_id: str):
    unit = selectors.get_memory_unit(bank=bank, memory_id=memory_id)
    if unit.fact_type not in curation.CURATABLE_TYPES:
        raise Http404("Observations are derived from facts and cannot be edited.")
    memory = selectors.load_memory_detail(bank=bank, memory_id=memory_id)
    initial = {
        "text": unit.text,
        "context": unit.context,
        "fact_type": unit.fact_type,
        "occurred_start": unit.occurred_start,
        "occurred_end": unit.occurred_end,
        "entities": ", ".join(memory["entities"]),
    }
    form = MemoryEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changed = {name for name in form.changed_data}
        edit = MemoryEdit(
            text=data["text"] if "text" in changed else UNSET,
            context=data["context"] if "context" in changed else UNSET,
            fact_type=data["fact_type"] if "fact_type" in changed else UNSET,
            occurred_start=data["occurred_start"] if "occurred_start" in changed else UNSET,
            occurred_end=data["occurred_end"] if "occurred_end" in changed else UNSET,
            entities=data["entities"] if "entities" in changed else UNSET,
        )
        try:
            if edit.changes_content():
                curation.update_memory(bank=bank, unit=unit, edit=edit)
        except DomainError as exc:
            form.add_error(None, exc.detail)
        else:
            return _panel_answer(request, bank, memory_id, "Memory saved.")
    context = {"bank": bank, "tab": "memories", "memory": memory, "form": form}
    status = 400 if form.errors else 200
    if htmx_target(request) == "detail-panel":
        return render_tab(request, "memories/_memory_edit.html", context, status=status)
    return render_tab(request, "memories/memory_edit.html", context, status=status)


@bank_tab
@require_POST
def memory_state(request, bank, memory_id: str):
    """Invalidate a fact (with a reason) or restore it (``state`` = ``invalidated`` or ``valid``)."""
    unit = selectors.get_memory_unit(bank=bank, memory_id=memory_id)
    state = request.POST.get("state")
    form = InvalidateForm(request.POST)
    problem = None
    if state not in ("valid", "invalidated") or not form.is_valid():
        problem = "Choose to invalidate or restore; a reason has at most 2000 characters."
    else:
        try:
            curation.update_memory(
                bank=bank, unit=unit, edit=MemoryEdit(state=state, reason=form.cleaned_data["reason"] or UNSET)
            )
        except DomainError as exc:
            problem = exc.detail
    if problem:
        if htmx_target(request):
            panel = _memory_panel_context(bank, memory_id, invalidate_form=form, error=problem)
            return render_tab(
                request, "memories/_memory_detail.html", {"bank": bank, "tab": "memories", **panel}, status=400
            )
        messages.error(request, problem)
        return redirect("control-memory-detail", bank_id=bank.bank_id, memory_id=memory_id)
    return _panel_answer(
        request,
        bank,
        memory_id,
        "Memory invalidated: recall no longer returns it." if state != "valid" else "Memory restored.",
    )


@bank_tab
@require_http_methods(["GET", "POST"])
def memory_delete(request, bank, memory_id: str):
    unit = selectors.get_memory_unit(bank=bank, memory_id=memory_id)
    if request.method == "POST":
        curation.delete_memory(bank=bank, unit=unit)
        return _panel_answer(request, bank, None, "Memory deleted.")
    memory = selectors.load_memory_detail(bank=bank, memory_id=memory_id)
    return render_tab(request, "memories/memory_delete.html", {"bank": bank, "tab": "memories", "memory": memory})


# --- entities -----------------------------------------------------------------------------------------------------


@bank_tab
def entities_tab(request, bank):
    form = EntityFilterForm(request.GET or None)
    q, page = None, None
    if form.is_bound and form.is_valid():
        q, page = form.cleaned_data.get("q") or None, form.cleaned_data.get("page")
    list_entities = dict(bank=bank, q=q, tags=None, tags_match="any", tag_groups=None)
    total = selectors.list_entities(**list_entities, limit=0, offset=0)[1]
    pager = paging(total=total, page=page, query=_query_dict(request))
    items, _ = selectors.list_entities(**list_entities, limit=PAGE_SIZE, offset=pager["offset"])
    context = {"bank": bank, "tab": "entities", "filter_form": form, "entities": items, "pager": pager, "q": q}
    if htmx_target(request) == "entity-list":
        return render_tab(request, "memories/_entity_list.html", context)
    return render_tab(request, "memories/entities.html", context)


@bank_tab
def entity_detail(request, bank, entity_id: str):
    entity = selectors.entity_detail(bank=bank, entity_id=entity_id, tags=None, tags_match="any", tag_groups=None)
    page = request.GET.get("page")
    filters = selectors.MemoryListFilters(entity_id=selectors._uuid_or_none(entity_id))
    total = selectors.list_memory_units(bank=bank, filters=filters, limit=0, offset=0)[1]
    pager = paging(total=total, page=int(page) if (page or "").isdigit() else None, query=_query_dict(request))
    memories, _ = selectors.list_memory_units(bank=bank, filters=filters, limit=PAGE_SIZE, offset=pager["offset"])
    context = {
        "bank": bank,
        "tab": "entities",
        "entity": entity,
        "memories": memories,
        "pager": pager,
        "cooccurring": selectors.cooccurring_entities(bank=bank, entity_id=entity_id),
    }
    if htmx_target(request) == "detail-panel":
        return render_tab(request, "memories/_entity_detail.html", context)
    return render_tab(request, "memories/entity_detail.html", context)


# --- documents and retain -----------------------------------------------------------------------------------------


def _document_list_context(request, bank) -> dict:
    form = DocumentFilterForm(request.GET or None)
    q, page = None, None
    if form.is_bound and form.is_valid():
        q, page = form.cleaned_data.get("q") or None, form.cleaned_data.get("page")
    arguments = dict(bank=bank, q=q, tags=None, tags_match="any", time_field=None, start=None, end=None)
    total = selectors.list_documents(**arguments, limit=0, offset=0)[1]
    pager = paging(total=total, page=page, query=_query_dict(request))
    items, _ = selectors.list_documents(**arguments, limit=PAGE_SIZE, offset=pager["offset"])
    return {"filter_form": form, "documents": items, "pager": pager, "q": q}


@bank_tab
@require_http_methods(["GET", "POST"])
def documents_tab(request, bank):
    """The documents list and the retain form; a POST retains (synchronously, or queues an operation and shows
    its progress)."""
    retain_form = RetainForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if retain_form.is_valid():
            items, run_async = retain_form.cleaned_data["items"], retain_form.cleaned_data["run_async"]
            try:
                if run_async:
                    with transaction.atomic():
                        operation = services.submit_retain(bank=bank, items=items)
                    url = reverse("control-operation", kwargs={"bank_id": bank.bank_id, "operation_id": operation.pk})
                    if htmx_target(request):
                        return _operation_response(request, bank, operation, status=202)
                    return redirect(url)
                outcome = services.retain_items(bank=bank, items=items)
            except DomainError as exc:
                retain_form.add_error(None, exc.detail)
                status = exc.status_code
            else:
                document_id = outcome.document_ids[0] if outcome.document_ids else ""
                count = outcome.units_created
                messages.success(
                    request,
                    f"Retained document {document_id}: {count} new {'memory' if count == 1 else 'memories'}.",
                )
                url = (
                    reverse("control-bank-memories", kwargs={"bank_id": bank.bank_id})
                    + "?"
                    + urlencode({"document": document_id})
                )
                if getattr(request, "htmx", None):
                    response = HttpResponse(status=204)
                    response["HX-Redirect"] = url
                    return response
                return redirect(url)
        else:
            status = 400
    if htmx_target(request) == "retain-form":
        return render_tab(
            request,
            "memories/_retain_form.html",
            {"bank": bank, "tab": "documents", "retain_form": retain_form},
            status=status,
        )
    context = {"bank": bank, "tab": "documents", "retain_form": retain_form, **_document_list_context(request, bank)}
    if htmx_target(request) == "document-list":
        return render_tab(request, "memories/_document_list.html", context)
    return render_tab(request, "memories/documents.html", context, status=status)


@bank_tab
@require_http_methods(["GET", "POST"])
def document_detail(request, bank, document_id: str):
    """A document's text and chunks; ``?confirm=delete`` asks before a POST deletes it with its memories."""
    document = selectors.get_document(bank=bank, document_id=document_id)
    if request.method == "POST":
        deleted = curation.delete_document(bank=bank, document=document)
        message = f"Document {document_id} and its {deleted} {'memory' if deleted == 1 else 'memories'} deleted."
        messages.success(request, message)
        if getattr(request, "htmx", None):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = reverse("control-bank-documents", kwargs={"bank_id": bank.bank_id})
            return response
        return redirect("control-bank-documents", bank_id=bank.bank_id)
    chunks, chunk_total = selectors.list_document_chunks(
        bank=bank, document_id=document_id, limit=CHUNKS_SHOWN, offset=0
    )
    context = {
        "bank": bank,
        "tab": "documents",
        "document": selectors.document_detail(bank=bank, document_id=document_id),
        "chunks": chunks,
        "chunk_total": chunk_total,
        "confirm_delete": request.GET.get("confirm") == "delete",
    }
    return render_tab(request, "memories/document_detail.html", context)


def _operation_response(request, bank, operation, status: int = 200):
    payload = selectors.operation_status(operation)
    finished = operation.status in TERMINAL_STATUSES
    context = {"bank": bank, "tab": "documents", "operation": payload, "finished": finished}
    if htmx_target(request):
        response = render_tab(request, "memories/_operation.html", context, status=status)
        if finished:
            response["HX-Trigger"] = "documents-changed"
        return response
    return render_tab(request, "memories/operation.html", context, status=status)


@bank_tab
def operation_progress(request, bank, operation_id):
    """An operation's status: polled by htmx every second until it ends; without JavaScript the page reloads."""
    operation = selectors.get_operation(bank=bank, operation_id=str(operation_id))
    return _operation_response(request, bank, operation)


# --- recall -------------------------------------------------------------------------------------------------------


@bank_tab
def recall_tab(request, bank):
    from memories.recall import recall

    form = RecallForm(request.GET or None, initial={"budget": "mid", "tags_match": "any", "max_tokens": 4096})
    context = {"bank": bank, "tab": "recall", "form": form, "response": None}
    status = 200
    if form.is_bound and form.is_valid():
        try:
            response = recall(bank=bank, query=form.recall_query())
        except DomainError as exc:
            form.add_error(None, exc.detail)
            status = exc.status_code
        else:
            channels = response["trace"]["result_channels"]
            for result in response["results"]:
                result["channels"] = channels.get(result["id"], {})
            context["response"] = response
    elif form.is_bound:
        status = 400
    if htmx_target(request) == "recall-results":
        return render_tab(request, "memories/_recall_results.html", context, status=status)
    return render_tab(request, "memories/recall.html", context, status=status)
