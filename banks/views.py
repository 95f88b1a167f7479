"""Control-plane pages of banks: the list, create, delete, the Overview tab and the Configuration tab.

Thin adapters: parse the request, fetch through selectors, write through ``banks.services`` and
``memories.operations`` (the same functions the REST API calls), render. Every URL name starts with ``control-``,
so ``ControlPlaneLoginRequiredMiddleware`` requires a signed-in user for all of them.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods, require_POST

from banks import config_registry, forms, selectors, services
from banks.config_registry import ConfigValidationError
from banks.forms import BankCreateForm
from banks.models import DISPOSITION_TRAITS
from hindsight_site.control import bank_context, bank_or_404, redirect_after_post
from hindsight_site.errors import DomainError
from memories import operations
from memories import selectors as memory_selectors
from memories.models import TERMINAL_STATUSES

BANKS_PER_PAGE = 25
RECENT_OPERATIONS = 15


@require_http_methods(["GET"])
def bank_list(request: HttpRequest) -> HttpResponse:
    q = (request.GET.get("q") or "").strip()
    try:
        page_number = max(int(request.GET.get("page") or 1), 1)
    except ValueError:
        page_number = 1
    offset = (page_number - 1) * BANKS_PER_PAGE
    banks, total = selectors.bank_summaries(q=q or None, limit=BANKS_PER_PAGE, offset=offset)
    pages = max((total + BANKS_PER_PAGE - 1) // BANKS_PER_PAGE, 1)
    context = {
        "nav": "banks",
        "banks": banks,
        "q": q,
        "total": total,
        "page_number": page_number,
        "previous_page": page_number - 1 if page_number > 1 else None,
        "next_page": page_number + 1 if page_number < pages else None,
        "pages": pages,
    }
    partial = request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request
    template = "control/_bank_table.html" if partial else "control/bank_list.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def bank_create(request: HttpRequest) -> HttpResponse:
    defaults = selectors.server_defaults()
    initial = {trait: str(defaults[f"disposition_{trait}"]) for trait in DISPOSITION_TRAITS}
    form = BankCreateForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        # Only traits that differ from the server default become overrides, so the bank keeps following the
        # server-wide default for the rest.
        disposition = {
            trait: value for trait, value in form.disposition().items() if value != defaults[f"disposition_{trait}"]
        }
        try:
            bank = services.create_or_update_bank(
                bank_id=form.cleaned_data["bank_id"],
                name=form.cleaned_data["name"],
                mission=form.cleaned_data["mission"] or None,
                disposition=disposition,
            )
        except DomainError as exc:
            form.add_error(None, exc.detail)
        except ConfigValidationError as exc:
            form.add_error("mission" if exc.field == "reflect_mission" else None, exc.message)
        else:
            messages.success(request, f"Bank '{bank.bank_id}' created.")
            return redirect_after_post(request, reverse("control-bank-overview", kwargs={"bank_id": bank.bank_id}))
    status = 400 if request.method == "POST" else 200
    return render(request, "control/bank_create.html", {"nav": "banks", "form": form}, status=status)


@require_http_methods(["GET", "POST"])
def bank_delete(request: HttpRequest, bank_id: str) -> HttpResponse:
    bank = bank_or_404(bank_id)
    if request.method == "POST":
        if request.POST.get("confirm_bank_id", "").strip() != bank.bank_id:
            summary = selectors.bank_deletion_summary(bank=bank)
            context = bank_context(bank, "overview", summary=summary, error="Type the bank id exactly to confirm.")
            return render(request, "control/bank_delete.html", context, status=400)
        services.delete_bank(bank=bank)
        messages.success(request, f"Bank '{bank_id}' and everything in it were deleted.")
        return redirect_after_post(request, reverse("control-banks"))
    summary = selectors.bank_deletion_summary(bank=bank)
    return render(request, "control/bank_delete.html", bank_context(bank, "overview", summary=summary))


# --- Overview tab -----------------------------------------------------------------------------------------------


def _operations_context(bank) -> dict:
    recent = selectors.recent_operations(bank=bank, limit=RECENT_OPERATIONS)
    running = any(op.status not in TERMINAL_STATUSES for op in recent)
    return {"operations": recent, "running": running}


@require_http_methods(["GET"])
def bank_overview(request: HttpRequest, bank_id: str) -> HttpResponse:
    bank = bank_or_404(bank_id)
    stats = memory_selectors.bank_stats(bank=bank)
    if request.htmx and request.GET.get("part") == "operations":
        # The poll refreshes the table and, out of band, the counts above it.
        context = {"bank": bank, "stats": stats, "stats_oob": True, **_operations_context(bank)}
        return render(request, "control/_operations_poll.html", context)
    context = bank_context(
        bank,
        "overview",
        stats=stats,
        profile=selectors.profile_payload(bank),
        **_operations_context(bank),
    )
    return render(request, "control/bank_overview.html", context)


@require_POST
def operation_cancel(request: HttpRequest, bank_id: str, operation_id: str) -> HttpResponse:
    return _operation_action(request, bank_id, operation_id, "cancel")


@require_POST
def operation_retry(request: HttpRequest, bank_id: str, operation_id: str) -> HttpResponse:
    return _operation_action(request, bank_id, operation_id, "retry")


def _operation_action(request: HttpRequest, bank_id: str, operation_id: str, action: str) -> HttpResponse:
    bank = bank_or_404(bank_id)
    try:
        operation = memory_selectors.get_operation(bank=bank, operation_id=operation_id)
    except DomainError as exc:
        raise Http404(exc.detail) from None
    try:
        if action == "cancel":
            outcome = operations.cancel(operation)
            text = "Operation cancelled." if outcome == "cancelled" else "Cancellation requested; it stops soon."
        else:
            operations.retry(operation)
            text = "Operation queued again."
    except DomainError as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, text)
    if request.htmx:
        # Swap the operations table (with its message) and the counts in place.
        context = {
            "bank": bank,
            "stats": memory_selectors.bank_stats(bank=bank),
            "stats_oob": True,
            "flash": list(messages.get_messages(request)),
            **_operations_context(bank),
        }
        return render(request, "control/_operations_poll.html", context)
    return redirect_after_post(request, reverse("control-bank-overview", kwargs={"bank_id": bank.bank_id}))


# --- Configuration tab --------------------------------------------------------------------------------------------


def _display(config_field: config_registry.ConfigField, value) -> str:
    """A value as the form shows it in its input."""
    if value is None:
        return ""
    if config_field.kind == "json":
        return json.dumps(value, indent=2)
    if config_field.kind == "float":
        return repr(float(value))
    return str(value)


def _describe(value) -> str:
    """A value as the page describes it in words ("server default: 3000")."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, dict)):
        text = json.dumps(value)
        return text if len(text) <= 80 else text[:77] + "…"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _label_groups_for_editor(value, data=None) -> list[dict]:
    """The entity_labels editor's rows: each group with its values, plus blank rows to add to (no JavaScript)."""
    groups = []
    if data is not None:
        parsed = forms.parse_entity_labels(data)
        source = parsed or []
    else:
        source = value or []
    for group in source:
        values = [dict(v) for v in group.get("values", [])]
        values.append({"value": "", "description": ""})
        groups.append({**group, "values": values})
    groups.append(
        {
            "key": "",
            "description": "",
            "type": "value",
            "values": [{"value": "", "description": ""}],
            "optional": True,
            "tag": False,
            "blank": True,
        }
    )
    return groups


def _mcp_tools(value, data=None) -> dict:
    """The MCP allow-list as checkboxes: 'every tool' (null) or the ticked tools."""
    if data is not None:
        every = bool(data.get("mcp_enabled_tools-all"))
        ticked = set(data.getlist("mcp_enabled_tools"))
    else:
        every = value is None
        ticked = set(value or [])
    return {"every": every, "tools": [(tool, tool in ticked) for tool in config_registry.MCP_TOOL_NAMES]}


def _configuration_context(bank, *, data=None, errors=None) -> dict:
    errors = errors or {}
    resolved = selectors.resolved_config(bank)
    overrides = bank.get_overrides()
    defaults = selectors.server_defaults()
    groups = []
    for group_name in config_registry.GROUPS:
        rows = []
        for config_field in config_registry.FIELDS:
            if config_field.group != group_name:
                continue
            name = config_field.name
            if config_field.kind == "bool":
                current = data.get(name) in ("on", "true", "1") if data is not None else bool(resolved[name])
            elif data is not None and name != "entity_labels":
                current = data.get(name, "")
            else:
                current = _display(config_field, resolved[name])
            rows.append(
                {
                    "field": config_field,
                    "name": name,
                    "value": current,
                    "checked": current is True,
                    "resolved": _describe(resolved[name]),
                    "default": _describe(defaults[name]),
                    "overridden": name in overrides,
                    "error": errors.get(name),
                    "mcp_tools": _mcp_tools(resolved[name], data) if name == "mcp_enabled_tools" else None,
                    "label_groups": (
                        _label_groups_for_editor(resolved[name], data) if name == "entity_labels" else None
                    ),
                }
            )
        groups.append({"name": group_name, "slug": slugify(group_name), "rows": rows})
    return bank_context(
        bank,
        "configuration",
        groups=groups,
        errors=errors,
        override_count=len(overrides),
        label_types=config_registry.ENTITY_LABEL_TYPES,
    )


@require_http_methods(["GET", "POST"])
def bank_configuration(request: HttpRequest, bank_id: str) -> HttpResponse:
    bank = bank_or_404(bank_id)
    if request.method == "GET":
        return render(request, "control/bank_configuration.html", _configuration_context(bank))
    changed, errors = forms.config_changes(request.POST, selectors.resolved_config(bank))
    if not errors and changed:
        try:
            services.update_bank_config(bank=bank, updates=changed)
        except ConfigValidationError as exc:  # the same service as PATCH …/config; reported on its field
            errors[
                config_registry.normalize_key(exc.field) if exc.field in config_registry.FIELDS_BY_NAME else exc.field
            ] = f"{exc.field} {exc.message}"
    if errors:
        context = _configuration_context(bank, data=request.POST, errors=errors)
        return render(request, "control/bank_configuration.html", context, status=400)
    if changed:
        messages.success(
            request, f"Saved {len(changed)} setting{'s' if len(changed) != 1 else ''}: {', '.join(changed)}."
        )
    else:
        messages.info(request, "Nothing changed.")
    return redirect_after_post(request, reverse("control-bank-configuration", kwargs={"bank_id": bank.bank_id}))


@require_http_methods(["GET", "POST"])
def bank_configuration_reset(request: HttpRequest, bank_id: str) -> HttpResponse:
    """POST ``field=<name>`` resets one field; POST without it resets every override (GET asks to confirm)."""
    bank = bank_or_404(bank_id)
    url = reverse("control-bank-configuration", kwargs={"bank_id": bank.bank_id})
    if request.method == "GET":
        context = bank_context(bank, "configuration", overrides=sorted(bank.get_overrides().items()))
        return render(request, "control/bank_configuration_reset.html", context)
    field_name = request.POST.get("field")
    if field_name:
        if field_name not in config_registry.FIELDS_BY_NAME:
            messages.error(request, f"{field_name} is not a configurable bank setting.")
            return redirect_after_post(request, url)
        services.reset_bank_config(bank=bank, fields=[field_name])
        messages.success(request, f"{field_name} is back to the server default.")
        return redirect_after_post(request, f"{url}#field-{field_name}")
    services.reset_bank_config(bank=bank)
    messages.success(request, "Every setting is back to the server default.")
    return redirect_after_post(request, url)
