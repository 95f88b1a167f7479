from django.contrib import admin

from directives.models import Directive, MentalModel, MentalModelHistory


@admin.register(Directive)
class DirectiveAdmin(admin.ModelAdmin):
    list_display = ["name", "bank", "priority", "is_active", "updated_at"]
    search_fields = ["name", "content", "bank__bank_id"]
    list_filter = ["is_active"]
    list_editable = ["is_active"]
    raw_id_fields = ["bank"]
    list_select_related = ["bank"]
    readonly_fields = ["id", "created_at", "updated_at"]


class MentalModelHistoryInline(admin.TabularInline):
    model = MentalModelHistory
    extra = 0
    can_delete = False
    readonly_fields = ["content", "source_query", "changed_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(MentalModel)
class MentalModelAdmin(admin.ModelAdmin):
    list_display = ["name", "mental_model_id", "bank", "last_refreshed_at", "updated_at"]
    search_fields = ["name", "mental_model_id", "source_query", "bank__bank_id"]
    list_filter = ["last_refreshed_at"]
    raw_id_fields = ["bank"]
    list_select_related = ["bank"]
    exclude = ["embedding"]
    readonly_fields = [
        "embedding_model",
        "last_refreshed_at",
        "last_memory_seen_at",
        "last_refresh_failed_at",
        "created_at",
        "updated_at",
    ]
    inlines = [MentalModelHistoryInline]


@admin.register(MentalModelHistory)
class MentalModelHistoryAdmin(admin.ModelAdmin):
    list_display = ["mental_model", "changed_at"]
    search_fields = ["mental_model__name", "content"]
    list_filter = ["changed_at"]
    raw_id_fields = ["mental_model"]
    readonly_fields = ["mental_model", "content", "source_query", "changed_at"]

    def has_add_permission(self, request):
        return False
