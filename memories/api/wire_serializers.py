"""Schema-only serializers for the routes whose views parse requests by hand (retain, recall, operations).

The views validate with ``memories.api.serializers.parse_retain_request`` / ``parse_recall_request`` (richer errors
than a serializer gives); these classes only tell drf-spectacular the wire shapes, which follow the 1.1.0 contract's
``RetainRequest``, ``RecallResponse``, ``OperationStatusResponse``, ... field for field.
"""

from rest_framework import serializers

from directives.api.serializers import TokenUsageSerializer


class EntityInputSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True)
    type = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class MemoryItemSerializer(serializers.Serializer):
    content = serializers.JSONField()
    timestamp = serializers.JSONField(required=False, allow_null=True)
    context = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    metadata = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, allow_null=True)
    document_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    entities = EntityInputSerializer(many=True, required=False, allow_null=True)
    resolve_entities = serializers.BooleanField(required=False)
    tags = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False, allow_null=True)
    observation_scopes = serializers.JSONField(required=False, allow_null=True)
    strategy = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    update_mode = serializers.ChoiceField(choices=["replace", "append"], required=False, allow_null=True)


class RetainRequestSerializer(serializers.Serializer):
    items = MemoryItemSerializer(many=True)
    document_tags = serializers.ListField(
        child=serializers.CharField(allow_blank=True), required=False, allow_null=True
    )
    operation_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)


# "async" is a Python keyword: declared after the class body.
RetainRequestSerializer._declared_fields["async"] = serializers.BooleanField(required=False)


class RetainResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    bank_id = serializers.CharField(allow_blank=True)
    items_count = serializers.IntegerField()
    operation_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    operation_ids = serializers.ListField(
        child=serializers.CharField(allow_blank=True), required=False, allow_null=True
    )
    usage = TokenUsageSerializer(required=False, allow_null=True)


# "async" is a Python keyword: declared after the class body.
RetainResponseSerializer._declared_fields["async"] = serializers.BooleanField()


class EntityIncludeOptionsSerializer(serializers.Serializer):
    max_tokens = serializers.IntegerField(required=False)


class ChunkIncludeOptionsSerializer(serializers.Serializer):
    max_tokens = serializers.IntegerField(required=False)


class SourceFactsIncludeOptionsSerializer(serializers.Serializer):
    max_tokens = serializers.IntegerField(required=False)
    max_tokens_per_observation = serializers.IntegerField(required=False)


class IncludeOptionsSerializer(serializers.Serializer):
    entities = EntityIncludeOptionsSerializer(required=False, allow_null=True)
    chunks = ChunkIncludeOptionsSerializer(required=False, allow_null=True)
    source_facts = SourceFactsIncludeOptionsSerializer(required=False, allow_null=True)


class MinScoresSerializer(serializers.Serializer):
    semantic = serializers.FloatField(required=False, allow_null=True)
    keyword = serializers.FloatField(required=False, allow_null=True)
    reranker = serializers.FloatField(required=False, allow_null=True)
    final = serializers.FloatField(required=False, allow_null=True)


class TemporalWindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class RecallRequestSerializer(serializers.Serializer):
    query = serializers.CharField(allow_blank=True)
    types = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False, allow_null=True)
    prefer_observations = serializers.BooleanField(required=False, allow_null=True)
    budget = serializers.ChoiceField(choices=["low", "mid", "high"], required=False)
    max_tokens = serializers.IntegerField(required=False)
    trace = serializers.BooleanField(required=False)
    query_timestamp = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    include = IncludeOptionsSerializer(required=False)
    tags = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False, allow_null=True)
    tags_match = serializers.ChoiceField(choices=["any", "all", "any_strict", "all_strict", "exact"], required=False)
    tag_groups = serializers.ListField(child=serializers.JSONField(), required=False, allow_null=True)
    min_scores = MinScoresSerializer(required=False, allow_null=True)
    temporal_window = TemporalWindowSerializer(required=False, allow_null=True)


class RecallScoresSerializer(serializers.Serializer):
    final = serializers.FloatField()
    reranker = serializers.FloatField(required=False, allow_null=True)
    semantic = serializers.FloatField(required=False, allow_null=True)
    keyword = serializers.FloatField(required=False, allow_null=True)


class ChunkAttachmentSerializer(serializers.Serializer):
    id = serializers.CharField(allow_blank=True)
    hash = serializers.CharField(allow_blank=True)
    kind = serializers.CharField(allow_blank=True)
    media_type = serializers.CharField(allow_blank=True)
    byte_size = serializers.IntegerField()
    filename = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    url = serializers.CharField(allow_blank=True)


class RecallResultSerializer(serializers.Serializer):
    id = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
    type = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    entities = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False, allow_null=True)
    context = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    occurred_start = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    occurred_end = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    mentioned_at = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    document_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    metadata = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, allow_null=True)
    chunk_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False, allow_null=True)
    source_fact_ids = serializers.ListField(
        child=serializers.CharField(allow_blank=True), required=False, allow_null=True
    )
    scores = RecallScoresSerializer(required=False, allow_null=True)
    attachments = ChunkAttachmentSerializer(many=True, required=False, allow_null=True)


class EntityObservationResponseSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True)
    mentioned_at = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class EntityStateResponseSerializer(serializers.Serializer):
    entity_id = serializers.CharField(allow_blank=True)
    canonical_name = serializers.CharField(allow_blank=True)
    observations = EntityObservationResponseSerializer(many=True)


class ChunkDataSerializer(serializers.Serializer):
    id = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
    chunk_index = serializers.IntegerField()
    truncated = serializers.BooleanField(required=False)
    attachments = ChunkAttachmentSerializer(many=True, required=False, allow_null=True)


class RecallResponseSerializer(serializers.Serializer):
    results = RecallResultSerializer(many=True)
    trace = serializers.DictField(required=False, allow_null=True)
    entities = serializers.DictField(child=EntityStateResponseSerializer(), required=False, allow_null=True)
    chunks = serializers.DictField(child=ChunkDataSerializer(), required=False, allow_null=True)
    source_facts = serializers.DictField(child=RecallResultSerializer(), required=False, allow_null=True)
    source_facts_truncated = serializers.BooleanField(required=False, allow_null=True)


class RefreshMentalModelOperationDetailsSerializer(serializers.Serializer):
    operation_type = serializers.CharField(required=False, allow_blank=True)
    outcome = serializers.ChoiceField(
        choices=[
            "content_written",
            "content_unchanged",
            "content_preserved_no_new_facts",
            "refresh_failed_empty_candidate",
            "refresh_failed_delta_not_applied",
            "refresh_failed_structured_output",
            "refresh_failed_error",
        ]
    )
    failure_reason = serializers.ChoiceField(
        choices=[
            "empty_candidate",
            "structured_doc_unreadable",
            "delta_ops_failed",
            "delta_ops_all_skipped",
            "delta_not_applied",
            "structured_output_failed",
            "retrieval_failed",
            "no_answer",
            "unexpected_error",
        ],
        required=False,
        allow_null=True,
    )


class OperationProgressSerializer(serializers.Serializer):
    stage = serializers.CharField(allow_blank=True)
    at = serializers.CharField(allow_blank=True)
    processed = serializers.IntegerField(required=False, allow_null=True)
    total = serializers.IntegerField(required=False, allow_null=True)
    detail = serializers.DictField(child=serializers.IntegerField(), required=False, allow_null=True)


class OperationResponseSerializer(serializers.Serializer):
    id = serializers.CharField(allow_blank=True)
    task_type = serializers.CharField(allow_blank=True)
    operation_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    operation_type = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    items_count = serializers.IntegerField()
    document_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    filename = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    mental_model_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    details = RefreshMentalModelOperationDetailsSerializer(required=False, allow_null=True)
    created_at = serializers.CharField(allow_blank=True)
    updated_at = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    status = serializers.CharField(allow_blank=True)
    error_message = serializers.CharField(allow_null=True, allow_blank=True)
    retry_count = serializers.IntegerField(required=False, allow_null=True)
    next_retry_at = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    progress = OperationProgressSerializer(required=False, allow_null=True)


class OperationsListResponseSerializer(serializers.Serializer):
    bank_id = serializers.CharField(allow_blank=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    operations = OperationResponseSerializer(many=True)


class ChildOperationStatusSerializer(serializers.Serializer):
    operation_id = serializers.CharField(allow_blank=True)
    status = serializers.CharField(allow_blank=True)
    sub_batch_index = serializers.IntegerField(required=False, allow_null=True)
    items_count = serializers.IntegerField(required=False, allow_null=True)
    error_message = serializers.CharField(required=False, allow_null=True, allow_blank=True)


class OperationStatusResponseSerializer(serializers.Serializer):
    operation_id = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=["pending", "processing", "completed", "failed", "cancelled", "not_found"])
    operation_type = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    task_type = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    mental_model_id = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    created_at = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    updated_at = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    completed_at = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    error_message = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    retry_count = serializers.IntegerField(required=False, allow_null=True)
    next_retry_at = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    progress = OperationProgressSerializer(required=False, allow_null=True)
    result_metadata = serializers.DictField(required=False, allow_null=True)
    details = RefreshMentalModelOperationDetailsSerializer(required=False, allow_null=True)
    child_operations = ChildOperationStatusSerializer(many=True, required=False, allow_null=True)
    task_payload = serializers.DictField(required=False, allow_null=True)


class CancelOperationResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField(allow_blank=True)
    operation_id = serializers.CharField(allow_blank=True)


class RetryOperationResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField(allow_blank=True)
    operation_id = serializers.CharField(allow_blank=True)


class DeleteOperationResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField(allow_blank=True)
    operation_id = serializers.CharField(allow_blank=True)
