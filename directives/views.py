"""The control plane's reflect playground and its directives and mental-models tabs: thin adapters over
``directives.services`` / ``directives.selectors`` and ``directives.reflect``.

Like the memory tabs, every page works without JavaScript; htmx requests that target a fragment get only that.
"""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from directives import selectors, services
from directives.forms import DirectiveForm, MentalModelForm, ReflectForm
from hindsight_site import llm
from hindsight_site.errors import DomainError
from memories import selectors as memory_selectors
from memories.models import TERMINAL_STATUSES
from memories.views import bank_tab, htmx_target, render_tab

LIST_LIMIT = 500


# --- reflect --------------------------------------------------------------------------------------------------------


@bank_tab
@require_http_methods(["GET", "POST"])
def reflect_tab(request, bank):
    """Ask the bank a question (POST: reflect may call a language model, so it is never a prefetchable GET)."""
    from directives.reflect import reflect

    form = ReflectForm(request.POST or None, initial={"budget": "low"})
    context = {
        "bank": bank,
        "tab": "reflect",
        "form": form,
        "response": None,
        "llm_configured": llm.llm_configured("reflect"),
    }
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                context["response"] = reflect(bank=bank, request=form.reflect_request())
            except DomainError as exc:
                form.add_error(None, exc.detail)
                status = exc.status_code if exc.status_code < 500 else 502
        else:
            status = 400
    if htmx_target(request) == "reflect-results":
        return render_tab(request, "directives/_reflect_results.html", context, status=status)
    return render_tab(request, "directives/reflect.html", context, status=status)


# --- directives -----------------------------------------------------------------------------------------------------


def _directives_context(bank, form=None) -> dict:
    directives, total = selectors.list_directives(
        bank=bank, tags=None, tags_match="any", active_only=False, limit=LIST_LIMIT, offset=0
    )
    return {
        "bank": bank,
        "tab": "directives",
        "directives": directives,
        "total": total,
        "form": form or DirectiveForm(initial={"priority": 0, "is_active": True}),
    }


@bank_tab
@require_http_methods(["GET", "POST"])
def directives_tab(request, bank):
    """The bank's directives (active and inactive) and the form that creates one (POST)."""
    form = None
    status = 200
    if request.method == "POST":
        form = DirectiveForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            directive = services.create_directive(
                bank=bank,
                name=data["name"],
                content=data["content"],
                priority=data["priority"],
                is_active=data["is_active"],
                tags=data["tags"],
            )
            message = f"Directive “{directive.name}” created."
            if htmx_target(request):
                context = {**_directives_context(bank), "notice": message}
                return render_tab(request, "directives/_directives_body.html", context)
            messages.success(request, message)
            return redirect("control-bank-directives", bank_id=bank.bank_id)
        status = 400
    context = _directives_context(bank, form)
    if htmx_target(request) == "directives-body":
        return render_tab(request, "directives/_directives_body.html", context, status=status)
    return render_tab(request, "directives/directives.html", context, status=status)


def _directive(bank, directive_id: str):
    return selectors.get_directive(bank=bank, directive_id=directive_id)


@bank_tab
@require_http_methods(["GET", "POST"])
def directive_edit(request, bank, directive_id: str):
    directive = _directive(bank, directive_id)
    initial = {
        "name": directive.name,
        "content": directive.content,
        "priority": directive.priority,
        "tags": ", ".join(directive.tags),
        "is_active": directive.is_active,
    }
    form = DirectiveForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        services.update_directive(directive=directive, changes=form.cleaned_data)
        messages.success(request, f"Directive “{directive.name}” saved.")
        if htmx_target(request):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = _tab_url(bank, "directives")
            return response
        return redirect("control-bank-directives", bank_id=bank.bank_id)
    context = {"bank": bank, "tab": "directives", "directive": directive, "form": form}
    return render_tab(request, "directives/directive_edit.html", context, status=400 if form.errors else 200)


@bank_tab
@require_POST
def directive_toggle(request, bank, directive_id: str):
    """Switch a directive on or off (``is_active`` = ``on``/``off``; absent flips it)."""
    directive = _directive(bank, directive_id)
    wanted = request.POST.get("is_active")
    is_active = {"on": True, "off": False}.get(wanted, not directive.is_active)
    directive = services.update_directive(directive=directive, changes={"is_active": is_active})
    if htmx_target(request):
        context = {"bank": bank, "tab": "directives", "directive": directive}
        return render_tab(request, "directives/_directive_row.html", context)
    state = "active" if directive.is_active else "inactive"
    messages.success(request, f"Directive “{directive.name}” is now {state}.")
    return redirect("control-bank-directives", bank_id=bank.bank_id)


@bank_tab
@require_http_methods(["GET", "POST"])
def directive_delete(request, bank, directive_id: str):
    directive = _directive(bank, directive_id)
    if request.method == "POST":
        services.delete_directive(directive=directive)
        messages.success(request, f"Directive “{directive.name}” deleted.")
        if htmx_target(request):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = _tab_url(bank, "directives")
            return response
        return redirect("control-bank-directives", bank_id=bank.bank_id)
    return render_tab(
        request, "directives/directive_delete.html", {"bank": bank, "tab": "directives", "directive": directive}
    )


def _tab_url(bank, tab: str) -> str:
    from django.urls import reverse

    return reverse(f"control-bank-{tab}", kwargs={"bank_id": bank.bank_id})


# --- mental models --------------------------------------------------------------------------------------------------


@bank_tab
@require_http_methods(["GET", "POST"])
def mental_models_tab(request, bank):
    """The bank's mental models with their staleness, and the form that creates one (its content is generated by
    a background refresh)."""
    form = MentalModelForm(request.POST or None, initial={"max_tokens": 2048})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            trigger = {"refresh_after_consolidation": True} if data["refresh_after_consolidation"] else {}
            try:
                with transaction.atomic():
                    model, _ = services.create_mental_model(
                        bank=bank,
                        name=data["name"],
                        source_query=data["source_query"],
                        mental_model_id=data["mental_model_id"] or None,
                        tags=data["tags"],
                        max_tokens=data["max_tokens"],
                        trigger=trigger,
                    )
            except DomainError as exc:
                form.add_error("mental_model_id" if exc.status_code == 409 else None, exc.detail)
                status = exc.status_code
            else:
                messages.success(request, f"Mental model “{model.name}” created; its content is being generated.")
                return redirect("control-mental-model", bank_id=bank.bank_id, mental_model_id=model.mental_model_id)
        else:
            status = 400
    models, total = selectors.list_mental_models(bank=bank, tags=None, tags_match="any", limit=LIST_LIMIT, offset=0)
    stale = selectors.staleness(models)
    rows = [{"model": model, "is_stale": stale[model.pk]} for model in models]
    context = {"bank": bank, "tab": "mental-models", "rows": rows, "total": total, "form": form}
    return render_tab(request, "directives/mental_models.html", context, status=status)


def _model_context(bank, model) -> dict:
    operation = selectors.latest_refresh(model)
    running = operation is not None and operation.status not in TERMINAL_STATUSES
    return {
        "bank": bank,
        "tab": "mental-models",
        "model": model,
        "is_stale": selectors.is_stale(model),
        "history": selectors.history_payload(model, limit=20),
        "refresh": memory_selectors.operation_status(operation) if operation else None,
        "refreshing": running,
    }


@bank_tab
def mental_model_detail(request, bank, mental_model_id: str):
    model = selectors.get_mental_model(bank=bank, mental_model_id=mental_model_id)
    context = _model_context(bank, model)
    if htmx_target(request) == "model-content":
        return render_tab(request, "directives/_mental_model_content.html", context)
    return render_tab(request, "directives/mental_model_detail.html", context)


@bank_tab
@require_POST
def mental_model_refresh(request, bank, mental_model_id: str):
    model = selectors.get_mental_model(bank=bank, mental_model_id=mental_model_id)
    with transaction.atomic():
        services.submit_refresh(model=model)
    if htmx_target(request):
        return render_tab(request, "directives/_mental_model_content.html", _model_context(bank, model))
    messages.success(request, "Refresh queued: the content is being generated again.")
    return redirect("control-mental-model", bank_id=bank.bank_id, mental_model_id=model.mental_model_id)


@bank_tab
@require_http_methods(["GET", "POST"])
def mental_model_delete(request, bank, mental_model_id: str):
    model = selectors.get_mental_model(bank=bank, mental_model_id=mental_model_id)
    if request.method == "POST":
        services.delete_mental_model(model=model)
        messages.success(request, f"Mental model “{model.name}” deleted.")
        return redirect("control-bank-mental-models", bank_id=bank.bank_id)
    context = {"bank": bank, "tab": "mental-models", "model": model}
    return render_tab(request, "directives/mental_model_delete.html", context)
