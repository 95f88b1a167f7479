"""What a bank remembers: documents and their chunks, memory units (facts and observations), the entity graph,
links between units, and the durable record of asynchronous work.

Ownership cascades are enforced by PostgreSQL (``DbCascadeForeignKey``): deleting a bank, a document or a unit is
one statement that takes everything beneath it along.
"""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models.functions import Coalesce, Lower
from pgvector.django import HnswIndex, VectorField

from hindsight_site.db.fields import DbCascadeForeignKey

EMBEDDING_DIMENSIONS = 384


def _tags_field() -> ArrayField:
    return ArrayField(models.CharField(max_length=255), default=list, blank=True)


class FactType(models.TextChoices):
    WORLD = "world", "World"
    EXPERIENCE = "experience", "Experience"
    OBSERVATION = "observation", "Observation"


class FactKind(models.TextChoices):
    EVENT = "event", "Event"
    ONGOING = "ongoing", "Ongoing"


class UnitState(models.TextChoices):
    VALID = "valid", "Valid"
    INVALIDATED = "invalidated", "Invalidated"


class Document(models.Model):
    """A retained document (one per client ``document_id`` in a bank), with its original text."""

    bank = DbCascadeForeignKey("banks.Bank", related_name="documents")
    document_id = models.CharField(max_length=512)
    original_text = models.TextField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, null=True, blank=True)
    tags = _tags_field()
    metadata = models.JSONField(default=dict, blank=True)
    retain_params = models.JSONField(
        default=dict, blank=True, help_text="How it was retained (context, timestamp, mode), for re-processing."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bank", "document_id"], name="document_unique_per_bank"),
        ]
        indexes = [
            GinIndex(fields=["tags"], name="document_tags_gin"),
            models.Index(fields=["bank", "-updated_at"], name="document_bank_recent_idx"),
        ]

    def __str__(self) -> str:
        return self.document_id


class Chunk(models.Model):
    """One piece of a document's text, the unit of extraction; its hash lets unchanged chunks skip re-extraction."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    bank = DbCascadeForeignKey("banks.Bank", related_name="chunks")
    document = DbCascadeForeignKey(Document, related_name="chunks")
    chunk_index = models.PositiveIntegerField()
    text = models.TextField()
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["document", "chunk_index"]
        constraints = [
            models.UniqueConstraint(fields=["document", "chunk_index"], name="chunk_unique_index_per_document"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.chunk_index}"


class TextTokenCount(models.PositiveIntegerField):
    """The token count (tiktoken cl100k, the unit recall budgets in) of the row's ``text``, computed whenever the row
    is saved: ``save()``, ``bulk_create`` and the retain path's COPY all call ``pre_save``. ``MemoryUnit.save`` adds
    it to ``update_fields`` that name ``text``; a queryset ``update(text=...)`` would skip it, so none is used."""

    def pre_save(self, model_instance, add):
        from memories.recall import count_tokens

        value = count_tokens(model_instance.text or "")
        setattr(model_instance, self.attname, value)
        return value


class MemoryUnit(models.Model):
    """A fact (world or experience) or an observation synthesised from facts, with its embedding and times."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Every query on units names the bank first; the composite indexes below all lead with it, so the foreign key
    # needs no index of its own (each index is written on every one of the ~20 rows a fact brings).
    bank = DbCascadeForeignKey("banks.Bank", related_name="memory_units", db_index=False)
    document = DbCascadeForeignKey(Document, null=True, blank=True, related_name="memory_units")
    chunk = DbCascadeForeignKey(Chunk, null=True, blank=True, related_name="memory_units")
    text = models.TextField()
    # The text's length in tokens, kept beside it so recall fills its token budget without a tokenizer pass over
    # hundreds of results. NULL only on rows written before the column existed (recall counts those itself).
    token_count = TextTokenCount(null=True, blank=True, editable=False)
    fact_type = models.CharField(max_length=16, choices=FactType.choices, default=FactType.WORLD)
    fact_kind = models.CharField(max_length=16, choices=FactKind.choices, blank=True, default="")
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True, default="")
    context = models.TextField(blank=True, default="")
    occurred_start = models.DateTimeField(null=True, blank=True)
    occurred_end = models.DateTimeField(null=True, blank=True)
    mentioned_at = models.DateTimeField(null=True, blank=True)
    # When the memory happened, else when it was said: the time temporal links and temporal recall work on.
    event_time = models.GeneratedField(
        expression=Coalesce("occurred_start", "mentioned_at"),
        output_field=models.DateTimeField(),
        db_persist=True,
    )
    metadata = models.JSONField(default=dict, blank=True, help_text="String keys to string values.")
    tags = _tags_field()
    # Observation lineage: the facts an observation rests on.
    source_memory_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    proof_count = models.PositiveIntegerField(default=1)
    observation_scopes = models.JSONField(null=True, blank=True)
    # Entity names and date tokens appended to the keyword index, so "Alice" finds "she" facts about Alice.
    text_signals = models.TextField(blank=True, default="")
    search_vector = models.GeneratedField(
        expression=SearchVector("text", "context", "text_signals", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    consolidated_at = models.DateTimeField(null=True, blank=True)
    consolidation_failed_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=UnitState.choices, default=UnitState.VALID)
    invalidation_reason = models.TextField(blank=True, default="")
    invalidated_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # One index for every bank: the count never grows with the number of banks. Recall filters by bank
            # with pgvector's iterative index scans; small banks use the (bank, fact_type) btree and exact distance.
            HnswIndex(
                name="unit_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            # New entries wait in a GIN's pending list, which every search reads through from start to end: at the
            # default 4 MB limit a bank that was just filled made each keyword search ~2x slower until a vacuum.
            # 256 kB keeps that read short; the inserting backend merges the list into the index more often.
            GinIndex(fields=["search_vector"], name="unit_search_vector_gin", gin_pending_list_limit=256),
            GinIndex(fields=["tags"], name="unit_tags_gin", gin_pending_list_limit=256),
            GinIndex(fields=["source_memory_ids"], name="unit_sources_gin", gin_pending_list_limit=256),
            models.Index(fields=["bank", "fact_type", "-created_at"], name="unit_bank_type_created_idx"),
            models.Index(fields=["bank", "fact_type", "occurred_start"], name="unit_occurred_start_idx"),
            models.Index(fields=["bank", "fact_type", "occurred_end"], name="unit_occurred_end_idx"),
            models.Index(fields=["bank", "fact_type", "mentioned_at"], name="unit_mentioned_at_idx"),
            models.Index(fields=["bank", "event_time"], name="unit_event_time_idx"),
            models.Index(
                fields=["bank", "created_at"],
                name="unit_consolidation_backlog_idx",
                condition=models.Q(consolidated_at__isnull=True, fact_type__in=["world", "experience"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(occurred_end__isnull=True)
                | models.Q(occurred_start__isnull=True)
                | models.Q(occurred_end__gte=models.F("occurred_start")),
                name="unit_occurred_range_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.text[:80]

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "text" in update_fields and "token_count" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "token_count"]
        super().save(*args, **kwargs)


class ObservationChange(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    MERGED = "merged", "Merged"


class ObservationHistory(models.Model):
    """One change to an observation (created, updated, merged into), with the facts that change rested on."""

    bank = DbCascadeForeignKey("banks.Bank", related_name="observation_history")
    observation = DbCascadeForeignKey(MemoryUnit, related_name="history")
    action = models.CharField(max_length=16, choices=ObservationChange.choices)
    text = models.TextField()
    previous_text = models.TextField(blank=True, default="")
    # The facts this change brought in (for a merge: the sources of the observation merged away).
    source_memory_ids = ArrayField(models.UUIDField(), default=list, blank=True)
    reason = models.TextField(blank=True, default="")
    operation_id = models.UUIDField(null=True, blank=True, help_text="The consolidation run that made the change.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "observation history"
        indexes = [models.Index(fields=["observation", "created_at"], name="observation_history_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.observation_id}"


class EntityKind(models.TextChoices):
    REGULAR = "regular", "Regular"
    LABEL = "label", "Label"


class Entity(models.Model):
    """A person, place, thing or ``key:value`` label mentioned by a bank's memories."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    bank = DbCascadeForeignKey("banks.Bank", related_name="entities", db_index=False)  # entity_bank_mentions_idx
    canonical_name = models.CharField(max_length=512)
    kind = models.CharField(max_length=16, choices=EntityKind.choices, default=EntityKind.REGULAR)
    mention_count = models.PositiveIntegerField(default=0)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    units = models.ManyToManyField(MemoryUnit, through="UnitEntity", related_name="entities")

    class Meta:
        verbose_name_plural = "entities"
        constraints = [
            models.UniqueConstraint(Lower("canonical_name"), "bank", name="entity_unique_name_per_bank"),
        ]
        indexes = [
            GinIndex(OpClass(Lower("canonical_name"), name="gin_trgm_ops"), name="entity_name_trgm_idx"),
            models.Index(fields=["bank", "-mention_count"], name="entity_bank_mentions_idx"),
        ]

    def __str__(self) -> str:
        return self.canonical_name


class UnitEntity(models.Model):
    """A memory unit mentions an entity."""

    # Both keys lead an index of the Meta (unit_entity_unique, unit_entity_by_entity_idx): no single-column copies.
    unit = DbCascadeForeignKey(MemoryUnit, related_name="unit_entities", db_index=False)
    entity = DbCascadeForeignKey(Entity, related_name="unit_entities", db_index=False)

    class Meta:
        verbose_name_plural = "unit entities"
        constraints = [models.UniqueConstraint(fields=["unit", "entity"], name="unit_entity_unique")]
        # (entity, newest first): "the latest units mentioning this entity" stays an index scan for busy entities.
        indexes = [models.Index(fields=["entity", "-id"], name="unit_entity_by_entity_idx")]

    def __str__(self) -> str:
        return f"{self.unit_id} mentions {self.entity_id}"


class EntityCooccurrence(models.Model):
    """Two entities mentioned together; stored once per pair with the smaller id first."""

    bank = DbCascadeForeignKey("banks.Bank", related_name="entity_cooccurrences")
    # cooccurrence_unique_pair leads with entity_1, cooccurrence_second_idx is entity_2's.
    entity_1 = DbCascadeForeignKey(Entity, related_name="cooccurrences_as_first", db_index=False)
    entity_2 = DbCascadeForeignKey(Entity, related_name="cooccurrences_as_second", db_index=False)
    count = models.PositiveIntegerField(default=1)
    last_cooccurred = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["entity_1", "entity_2"], name="cooccurrence_unique_pair"),
            models.CheckConstraint(condition=models.Q(entity_1__lt=models.F("entity_2")), name="cooccurrence_ordered"),
        ]
        indexes = [models.Index(fields=["entity_2"], name="cooccurrence_second_idx")]

    def __str__(self) -> str:
        return f"{self.entity_1_id} + {self.entity_2_id} ({self.count})"


class LinkType(models.TextChoices):
    TEMPORAL = "temporal", "Temporal"
    SEMANTIC = "semantic", "Semantic"
    ENTITY = "entity", "Entity"
    CAUSED_BY = "caused_by", "Caused by"


class MemoryLink(models.Model):
    """A weighted, typed edge between two memory units, walked by graph retrieval."""

    # A fact brings about 20 links, so every index here is paid about 20 times per fact: only those that a query
    # needs. link_unique leads with from_unit (links out of a unit), to_unit keeps its own index (links into a
    # unit), link_bank_type_idx leads with bank; entity's index serves deleting an entity.
    bank = DbCascadeForeignKey("banks.Bank", related_name="memory_links", db_index=False)
    from_unit = DbCascadeForeignKey(MemoryUnit, related_name="links_out", db_index=False)
    to_unit = DbCascadeForeignKey(MemoryUnit, related_name="links_in")
    link_type = models.CharField(max_length=16, choices=LinkType.choices)
    entity = DbCascadeForeignKey(Entity, null=True, blank=True, related_name="links")
    weight = models.FloatField(default=1.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["from_unit", "to_unit", "link_type", "entity"],
                name="link_unique",
                nulls_distinct=False,
            ),
            models.CheckConstraint(condition=models.Q(weight__gte=0, weight__lte=1), name="link_weight_0_to_1"),
            models.CheckConstraint(condition=~models.Q(from_unit=models.F("to_unit")), name="link_not_self"),
        ]
        indexes = [models.Index(fields=["bank", "link_type"], name="link_bank_type_idx")]

    def __str__(self) -> str:
        return f"{self.from_unit_id} -{self.link_type}-> {self.to_unit_id}"


class OperationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATUSES = (OperationStatus.COMPLETED, OperationStatus.FAILED, OperationStatus.CANCELLED)


class Operation(models.Model):
    """Durable asynchronous work. The row is the truth; a broker message only wakes a worker to claim it.

    A worker claims a pending row with a conditional update, holds a lease it renews by heartbeat, and any worker
    may reclaim a row whose lease has expired, so a dead worker never leaves work stuck in ``processing``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    bank = DbCascadeForeignKey("banks.Bank", related_name="operations")
    parent = DbCascadeForeignKey("self", null=True, blank=True, related_name="children")
    operation_type = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=OperationStatus.choices, default=OperationStatus.PENDING)
    payload = models.JSONField(default=dict, blank=True)
    payload_hash = models.CharField(
        max_length=64, blank=True, default="", help_text="Fingerprint of the work, to refuse a reused id."
    )
    result = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=5)
    progress = models.JSONField(default=dict, blank=True)
    serialization_key = models.CharField(
        max_length=600, blank=True, default="", help_text="Work sharing a key runs in creation order."
    )
    cancel_requested = models.BooleanField(default=False)
    worker_id = models.CharField(max_length=255, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["bank", "-created_at"], name="operation_bank_recent_idx"),
            models.Index(
                fields=["next_attempt_at", "created_at"],
                name="operation_pending_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["lease_expires_at"],
                name="operation_lease_idx",
                condition=models.Q(status="processing"),
            ),
            models.Index(
                fields=["serialization_key", "created_at"],
                name="operation_serial_idx",
                condition=models.Q(status__in=["pending", "processing"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in OperationStatus]), name="operation_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation_type} {self.id} ({self.status})"
