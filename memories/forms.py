"""Forms of the control plane's memory tabs (memories, entities, documents, recall).

They check the shape of what a person typed; the rules of the domain stay in the services and the API's request
parsers, which the forms call (``parse_retain_request``) or whose errors the views show inline.
"""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.utils import timezone
from rest_framework.exceptions import ValidationError as DRFValidationError

from memories.tags import TAGS_MATCH_MODES

FACT_TYPE_CHOICES = [
    ("", "All types"),
    ("world", "World"),
    ("experience", "Experience"),
    ("observation", "Observation"),
]
STATE_CHOICES = [("valid", "Valid"), ("invalidated", "Invalidated"), ("all", "All")]
BUDGET_CHOICES = [("low", "Low"), ("mid", "Mid"), ("high", "High")]
RECALL_TYPE_CHOICES = [("world", "World"), ("experience", "Experience"), ("observation", "Observation")]
TAGS_MATCH_CHOICES = [(mode, mode.replace("_", " ")) for mode in TAGS_MATCH_MODES]
UPLOAD_SUFFIXES = (".txt", ".md", ".markdown")
# The browser's date-time picker reads and writes this format (times are UTC, the server's time zone).
LOCAL_DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}, format="%Y-%m-%dT%H:%M:%S")


def split_tags(value: str) -> list[str]:
    """Comma-separated tags as a list: trimmed, empty ones dropped, duplicates removed, order kept."""
    return list(dict.fromkeys(tag.strip() for tag in (value or "").split(",") if tag.strip()))


class TagsField(forms.CharField):
    """Tags typed as ``a, b, c``; cleaned to a list."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Comma-separated.")
        super().__init__(**kwargs)

    def clean(self, value):
        tags = split_tags(super().clean(value))
        if any(len(tag) > 255 for tag in tags):
            raise forms.ValidationError("A tag may have at most 255 characters.")
        return tags


class MemoryFilterForm(forms.Form):
    """The memories table's filters (a GET form: the URL is the view)."""

    q = forms.CharField(required=False, label="Search", max_length=500)
    type = forms.ChoiceField(required=False, choices=FACT_TYPE_CHOICES, label="Type")
    tags = TagsField(label="Tags")
    document = forms.CharField(required=False, label="Document", max_length=512)
    state = forms.ChoiceField(required=False, choices=STATE_CHOICES, label="State")
    page = forms.IntegerField(required=False, min_value=1)


class EntityFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=500)
    page = forms.IntegerField(required=False, min_value=1)


class DocumentFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search", max_length=500)
    page = forms.IntegerField(required=False, min_value=1)


class MemoryEditForm(forms.Form):
    """Curate one fact: its text, context, dates and entities (names, comma-separated)."""

    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=20_000)
    context = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=20_000)
    fact_type = forms.ChoiceField(choices=[("world", "World"), ("experience", "Experience")], label="Type")
    occurred_start = forms.DateTimeField(required=False, label="Occurred from", widget=LOCAL_DATETIME)
    occurred_end = forms.DateTimeField(required=False, label="Occurred until", widget=LOCAL_DATETIME)
    entities = forms.CharField(required=False, max_length=5000, help_text="Names, comma-separated.")

    def clean_entities(self):
        return split_tags(self.cleaned_data.get("entities") or "")

    def clean(self):
        data = super().clean()
        start, end = data.get("occurred_start"), data.get("occurred_end")
        if start and end and end < start:
            self.add_error("occurred_end", "must not be before the start.")
        return data


class InvalidateForm(forms.Form):
    reason = forms.CharField(
        required=False, max_length=2000, help_text="Why this memory is wrong (kept with it for audit)."
    )


class RetainForm(forms.Form):
    """Retain text (typed or uploaded) as one document, synchronously or as a background operation.

    ``clean`` builds the same request body the REST API takes and validates it with the API's own parser, so the page
    and the API refuse exactly the same input; ``items`` and ``run_async`` are the parsed result.
    """

    content = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "Paste a note, a transcript, an article…"}),
        label="Text",
    )
    file = forms.FileField(required=False, label="…or upload a .txt or .md file")
    document_id = forms.CharField(
        required=False,
        max_length=512,
        label="Document id",
        help_text="Optional; the same id again replaces it.",
    )
    context = forms.CharField(required=False, max_length=2000, help_text="Optional: where the text comes from.")
    tags = TagsField(label="Tags")
    timestamp = forms.DateTimeField(
        required=False,
        label="When it was said",
        help_text="Optional; now (UTC) when empty.",
        widget=LOCAL_DATETIME,
    )
    run_async = forms.BooleanField(
        required=False, label="Run in the background", help_text="For long texts: shows progress while it runs."
    )

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if upload is None:
            return None
        if Path(upload.name).suffix.lower() not in UPLOAD_SUFFIXES:
            raise forms.ValidationError("Upload a .txt or .md file.")
        limit = settings.HINDSIGHT_RETAIN_MAX_CONTENT_CHARS
        if upload.size > limit * 4:  # UTF-8: at most four bytes per character
            raise forms.ValidationError(f"The file is too large (the limit is {limit} characters).")
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise forms.ValidationError("The file is not UTF-8 text.") from None

    def clean(self):
        from memories.api.serializers import parse_retain_request

        data = super().clean()
        if self.errors:
            return data
        text = data.get("file") or data.get("content") or ""
        if data.get("file") and data.get("content", "").strip():
            raise forms.ValidationError("Type a text or upload a file, not both.")
        if not text.strip():
            self.add_error("content", "Type some text or upload a file.")
            return data
        document_id = (data.get("document_id") or "").strip()
        if not document_id and data.get("file") is not None and self.files.get("file"):
            document_id = self.files["file"].name
        item = {
            "content": text,
            "document_id": document_id or None,
            "context": data.get("context") or None,
            "tags": data.get("tags") or None,
            "timestamp": data["timestamp"].isoformat() if data.get("timestamp") else None,
        }
        try:
            items, run_async, _ = parse_retain_request(
                {"items": [item], "async": bool(data.get("run_async"))}, now=timezone.now()
            )
        except DRFValidationError as exc:
            self._add_api_errors(exc.detail)
            return data
        data["items"], data["run_async"] = items, run_async
        return data

    def _add_api_errors(self, detail) -> None:
        """The API parser's errors (``{"items": {0: {"content": [...]}}}``) on the matching form fields."""
        fields = (detail.get("items") or {}).get(0, {}) if isinstance(detail, dict) else {}
        placed = False
        if isinstance(fields, dict):
            for name, messages in fields.items():
                target = name if name in self.fields else None
                for message in messages if isinstance(messages, list) else [messages]:
                    self.add_error(target, f"{name}: {message}" if target is None else str(message))
                    placed = True
        if not placed:
            self.add_error(None, str(detail))


class RecallForm(forms.Form):
    """The recall playground: a GET form, so a result page can be bookmarked and shared."""

    query = forms.CharField(max_length=5000, widget=forms.TextInput(attrs={"placeholder": "What does Alice do?"}))
    budget = forms.ChoiceField(choices=BUDGET_CHOICES, initial="mid", required=False)
    max_tokens = forms.IntegerField(required=False, min_value=1, max_value=1_000_000, initial=4096, label="Max tokens")
    types = forms.MultipleChoiceField(
        choices=RECALL_TYPE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple, help_text="None: all."
    )
    tags = TagsField(label="Tags")
    tags_match = forms.ChoiceField(choices=TAGS_MATCH_CHOICES, required=False, initial="any", label="Tags match")

    def clean(self):
        """Validate through the API's own recall parser (the page and ``POST …/recall`` refuse the same input);
        ``recall_query`` is the parsed ``RecallQuery``, with the trace on and no entity or chunk includes."""
        from memories.api.serializers import parse_recall_request

        data = super().clean()
        if self.errors:
            return data
        body = {
            "query": data["query"],
            "budget": data.get("budget") or "mid",
            "max_tokens": data.get("max_tokens") or 4096,
            "types": list(data.get("types") or []) or None,
            "tags": data.get("tags") or None,
            "tags_match": data.get("tags_match") or "any",
            "trace": True,
            "include": {},
        }
        try:
            data["recall_query"] = parse_recall_request(body, now=timezone.now())
        except DRFValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"query": exc.detail}
            for name, messages in detail.items():
                for message in messages if isinstance(messages, list) else [messages]:
                    self.add_error(name if name in self.fields else None, str(message))
        return data

    def recall_query(self):
        return self.cleaned_data["recall_query"]
