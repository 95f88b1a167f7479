"""Forms of the control plane's reflect, directives and mental-models tabs (shape only; rules stay in services)."""

from __future__ import annotations

from django import forms

from memories.forms import BUDGET_CHOICES, TagsField

INT32 = 2**31 - 1


class ReflectForm(forms.Form):
    query = forms.CharField(
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What do we know about Alice's work?"}),
        label="Question",
    )
    budget = forms.ChoiceField(
        choices=BUDGET_CHOICES,
        initial="low",
        required=False,
        help_text="How much the agent may search: higher budgets take longer and read more memories.",
    )
    tags = TagsField(label="Tags", help_text="Optional: only memories (and directives) with these tags.")

    def clean(self):
        """Validate through the API's own ReflectRequest serializer (the page and ``POST …/reflect`` refuse the
        same input); ``reflect_request`` is the result, asking for the facts it rests on and its tool calls."""
        from directives.api.serializers import ReflectRequestSerializer, to_reflect_request

        data = super().clean()
        if self.errors:
            return data
        body = {
            "query": data["query"],
            "budget": data.get("budget") or "low",
            "tags": data.get("tags") or None,
            "include": {"facts": {}, "tool_calls": {"output": False}},
        }
        serializer = ReflectRequestSerializer(data=body)
        if serializer.is_valid():
            data["reflect_request"] = to_reflect_request(serializer.validated_data)
        else:
            for name, messages in serializer.errors.items():
                for message in messages if isinstance(messages, list) else [messages]:
                    self.add_error(name if name in self.fields else None, str(message))
        return data

    def reflect_request(self):
        return self.cleaned_data["reflect_request"]


class DirectiveForm(forms.Form):
    name = forms.CharField(max_length=256, widget=forms.TextInput(attrs={"placeholder": "Answer formally"}))
    content = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Always answer in formal English."}),
        label="Rule",
        help_text="What every reflect answer must follow.",
    )
    priority = forms.IntegerField(
        initial=0, min_value=-INT32 - 1, max_value=INT32, help_text="Higher priorities are stated first."
    )
    tags = TagsField(label="Tags", help_text="Optional. Untagged directives apply to every answer.")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")


class MentalModelForm(forms.Form):
    name = forms.CharField(max_length=256, widget=forms.TextInput(attrs={"placeholder": "Alice's career"}))
    source_query = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What do we know about Alice's career?"}),
        label="Question",
        help_text="Reflect answers it from the bank's memories; the answer is the model's content.",
    )
    mental_model_id = forms.RegexField(
        regex=r"^[a-z0-9][a-z0-9_-]{0,127}$",
        required=False,
        label="Id",
        help_text="Optional: lowercase letters, digits, '-' or '_'. Generated when empty.",
        error_messages={"invalid": "Use lowercase letters, digits, '-' or '_' (at most 128 characters)."},
    )
    tags = TagsField(label="Tags", help_text="Optional: the model reads only memories with all these tags.")
    max_tokens = forms.IntegerField(initial=2048, min_value=256, max_value=8192, label="Max tokens")
    refresh_after_consolidation = forms.BooleanField(
        required=False, label="Refresh automatically", help_text="After new observations are consolidated."
    )
