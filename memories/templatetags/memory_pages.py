"""Small display filters of the memory and directive tabs."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe

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


_CITATION = re.compile(r"\[([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\]")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


@register.simple_tag
def answer_html(text: str, bank_id: str, memories: list | None) -> str:
    """A reflect answer as safe HTML: the text escaped, ``**bold**`` and ``- `` lists kept, and each ``[memory id]``
    citation turned into a numbered link to that memory (numbered as in the list of memories it rests on)."""
    numbers = {memory["id"]: index for index, memory in enumerate(memories or [], start=1)}

    def cite(match: re.Match) -> str:
        memory_id = match.group(1)
        url = reverse("control-memory-detail", kwargs={"bank_id": bank_id, "memory_id": memory_id})
        label = f"[{numbers[memory_id]}]" if memory_id in numbers else "[memory]"
        return format_html('<a class="cite" href="{}" title="Memory {}">{}</a>', url, memory_id, label)

    html: list[str] = []
    in_list = False
    for line in (text or "").splitlines():
        body = _CITATION.sub(cite, _BOLD.sub(r"<strong>\1</strong>", escape(line)))
        if line.lstrip().startswith(("- ", "* ")):
            if not in_list:
                html.append("<ul>")
                in_list = True
            html.append(f"<li>{body.lstrip()[2:]}</li>")
            continue
        if in_list:
            html.append("</ul>")
            in_list = False
        if line.strip():
            html.append(f"<p>{body}</p>")
    if in_list:
        html.append("</ul>")
    return mark_safe("".join(html))  # noqa: S308 - every piece of the text was escaped above
