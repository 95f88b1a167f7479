"""Small display filters of the memory and directive tabs."""

from __future__ import annotations

from datetime import datetime

from django import template

register = template.Library()


@register.filter
def when(value) -> str:
    """An ISO 8601 string (as the selectors return them) or a datetime as ``2024-05-01 10:00 UTC``; '' for none."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    text = value.strftime("%Y-%m-%d %H:%M")
    return f"{text} UTC" if value.utcoffset() is not None and not value.utcoffset() else text


@register.filter
def score(value) -> str:
    """A channel score with three decimals, or an en dash when the channel did not find the memory."""
    if value is None or value == "":
        return "\u2013"
    return f"{float(value):.3f}"


@register.filter
def get(mapping, key):
    """``mapping[key]`` in a template (None when absent)."""
    return (mapping or {}).get(key)
