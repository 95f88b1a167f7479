"""Operator views of what banks remember. Embeddings, search vectors and operation state are read-only: editing
them by hand would break invariants the code relies on (vector/model agreement, lease ownership)."""

from django.contrib import admin

from memories.models import (
    Chunk,
    Document,
    Entity,
    EntityCooccurrence,
    MemoryLink,
    MemoryUnit,
    ObservationHistory,
    Operation,
    UnitEntity,
)


class BankScopedAdmin(admin.ModelAdmin):
    """Large, bank-scoped tables: search by bank id, no full counts, foreign keys by id."""

    list_select_related = ["bank"]
    show_full_result_count = False
    list_per_page = 50


@admin.register(Document)
class DocumentAdmin(BankScopedAdmin):
    list_display = ["document_id", "bank", "updated_at", "created_at"]
    search_fields = ["document_id", "bank__bank_id"]
    list_filter = ["created_at"]
    raw_id_fields = ["bank"]
    readonly_fields = ["content_hash", "created_at", "updated_at"]


@admin.register(Chunk)
class ChunkAdmin(BankScopedAdmin):
    list_display = ["id", "bank", "document", "chunk_index", "created_at"]
    search_fields = ["=id", "bank__bank_id", "document__document_id"]
    list_filter = ["created_at"]
    raw_id_fields = ["bank", "document"]
    readonly_fields = ["content_hash", "created_at"]


@admin.register(MemoryUnit)
class MemoryUnitAdmin(BankScopedAdmin):
    list_display = ["short_text", "bank", "fact_type", "state", "occurred_start", "mentioned_at", "created_at"]
    search_fields = ["text", "=id", "bank__bank_id", "document__document_id"]
    list_filter = ["fact_type", "state", "fact_kind", "created_at"]
    raw_id_fields = ["bank", "document", "chunk"]
    exclude = ["embedding"]
    readonly_fields = ["id", "embedding_model", "search_vector", "source_memory_ids", "created_at", "updated_at"]

    @admin.display(description="text")
    def short_text(self, obj: MemoryUnit) -> str:
        return obj.text[:100]


@admin.register(Entity)
class EntityAdmin(BankScopedAdmin):
    list_display = ["canonical_name", "bank", "kind", "mention_count", "first_seen", "last_seen"]
    search_fields = ["canonical_name", "bank__bank_id"]
    list_filter = ["kind"]
    raw_id_fields = ["bank"]
    readonly_fields = ["id", "created_at"]


@admin.register(UnitEntity)
class UnitEntityAdmin(admin.ModelAdmin):
    list_display = ["unit", "entity"]
    search_fields = ["entity__canonical_name", "=unit__id"]
    list_filter = ["entity__kind", "unit__fact_type"]
    raw_id_fields = ["unit", "entity"]
    list_select_related = ["unit", "entity"]
    show_full_result_count = False


@admin.register(EntityCooccurrence)
class EntityCooccurrenceAdmin(BankScopedAdmin):
    list_display = ["entity_1", "entity_2", "count", "last_cooccurred", "bank"]
    search_fields = ["entity_1__canonical_name", "entity_2__canonical_name", "bank__bank_id"]
    list_filter = ["last_cooccurred"]
    raw_id_fields = ["bank", "entity_1", "entity_2"]
    list_select_related = ["bank", "entity_1", "entity_2"]


@admin.register(MemoryLink)
class MemoryLinkAdmin(BankScopedAdmin):
    list_display = ["from_unit", "link_type", "to_unit", "weight", "bank"]
    search_fields = ["=from_unit__id", "=to_unit__id", "bank__bank_id"]
    list_filter = ["link_type"]
    raw_id_fields = ["bank", "from_unit", "to_unit", "entity"]
    list_select_related = ["bank", "from_unit", "to_unit"]


@admin.register(ObservationHistory)
class ObservationHistoryAdmin(BankScopedAdmin):
    """A record of what consolidation did; written only by consolidation, so read-only here."""

    list_display = ["observation", "action", "bank", "created_at"]
    search_fields = ["=observation__id", "bank__bank_id", "text"]
    list_filter = ["action", "created_at"]
    raw_id_fields = ["bank", "observation"]
    readonly_fields = ["created_at"]


@admin.register(Operation)
class OperationAdmin(BankScopedAdmin):
    list_display = ["id", "operation_type", "status", "bank", "attempts", "created_at", "completed_at"]
    search_fields = ["=id", "bank__bank_id", "operation_type"]
    list_filter = ["status", "operation_type", "created_at"]
    raw_id_fields = ["bank", "parent"]
    readonly_fields = [
        "id",
        "bank",
        "parent",
        "operation_type",
        "status",
        "payload",
        "payload_hash",
        "result",
        "error_message",
        "attempts",
        "max_attempts",
        "progress",
        "serialization_key",
        "cancel_requested",
        "worker_id",
        "lease_expires_at",
        "heartbeat_at",
        "next_attempt_at",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
    ]

    def has_add_permission(self, request):
        return False
