"""API keys in the Django admin: create (the key is shown once, on the page that answers the form), list, revoke.

The hash is never shown; keys are revoked, not deleted, so the list keeps a trace of every key that existed.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from apikeys import services
from apikeys.forms import ApiKeyCreateForm
from apikeys.models import ApiKey

DISPLAY_FIELDS = ("name", "prefix", "banks", "read_only", "created_at", "last_used_at", "revoked_at")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "shown_prefix", "scope", "read_only", "created_at", "last_used_at", "status")
    list_filter = ("read_only", ("revoked_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "prefix")
    actions = ["revoke"]
    exclude = ("key_hash",)

    @admin.display(description="Key")
    def shown_prefix(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…"

    @admin.display(description="Banks")
    def scope(self, obj: ApiKey) -> str:
        return ", ".join(obj.banks) if obj.banks else "every bank"

    @admin.display(description="Status")
    def status(self, obj: ApiKey) -> str:
        return "revoked" if obj.revoked_at else "active"

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
            kwargs["fields"] = ["name", "bank_ids", "read_only"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # An existing key is only looked at and revoked: its scope is part of what was handed out.
        return DISPLAY_FIELDS if obj is not None else ()

    def get_fields(self, request, obj=None):
        return ["name", "bank_ids", "read_only"] if obj is None else list(DISPLAY_FIELDS)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        if change:
            return
        api_key, raw = form.create()
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(api_key, field.attname))
        obj._state.adding = False
        obj._state.db = api_key._state.db
        # Kept on the instance for the one response that shows it; never stored in the session or a message.
        obj._plaintext_key = raw

    def response_add(self, request, obj, post_url_continue=None):
        return TemplateResponse(
            request,
            "admin/apikeys/apikey/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "api_key": obj,
                "plaintext_key": obj._plaintext_key,
                "title": "API key created",
            },
        )

    @admin.action(description="Revoke the selected API keys", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            services.revoke_api_key(key_id=api_key.pk)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)
