"""Template tags of the control plane: links that degrade safely when a page is not installed."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

register = template.Library()

# The bank's tabs in display order: (slug, label). URL names are ``control-bank-<slug>`` with kwarg ``bank_id``.
BANK_TABS = (
    ("overview", "Overview"),
    ("memories", "Memories"),
    ("entities", "Entities"),
    ("documents", "Documents"),
    ("recall", "Recall"),
    ("reflect", "Reflect"),
    ("directives", "Directives"),
    ("mental-models", "Mental models"),
    ("configuration", "Configuration"),
)


@register.simple_tag
def url_or_none(name: str, *args, **kwargs) -> str | None:
    """``reverse(name)``, or None when no such URL is installed (``{% url_or_none 'x' as x_url %}``)."""
    try:
        return reverse(name, args=args, kwargs=kwargs)
    except NoReverseMatch:
        return None


@register.simple_tag
def bank_tabs(bank, current: str) -> str:
    """The bank's tab bar: a link per installed tab, a disabled label for a tab whose page is not installed."""

    def one(slug: str, label: str):
        url = url_or_none(f"control-bank-{slug}", bank_id=bank.bank_id)
        if url is None:
            return ('<span class="disabled" aria-disabled="true" title="Not available">{}</span>', (label,))
        if slug == current:
            return ('<a href="{}" aria-current="page" id="tab-{}">{}</a>', (url, slug, label))
        return ('<a href="{}" id="tab-{}">{}</a>', (url, slug, label))

    parts = [one(slug, label) for slug, label in BANK_TABS]
    return format_html_join("", "{}", ((format_html(fmt, *args),) for fmt, args in parts))


@register.filter
def ago(moment: datetime | None) -> str:
    """'just now' under a minute, else Django's '3 hours ago' (one unit, the largest)."""
    if moment is None:
        return "never"
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment, depth=1)} ago"


@register.filter
def run_time(operation) -> str:
    """How long a finished operation ran, in words a person reads at a glance ('1.4 s', '3 min')."""
    seconds = (operation.completed_at - operation.started_at).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    return timesince(operation.started_at, operation.completed_at, depth=2)
