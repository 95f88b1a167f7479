"""Request and response shapes of the bank routes, named as in the contract's schemas."""

from rest_framework import serializers

from hindsight_site.api.parsing import MAX_OFFSET

# CreateBankRequest fields that are per-bank configuration; they go through the configuration registry.
CREATE_BANK_CONFIG_FIELDS = (
    "reflect_mission",
    "retain_mission",
    "retain_extraction_mode",
    "retain_custom_instructions",
    "retain_chunk_size",
    "retain_structured_chunk_size",
    "retain_max_attachments_per_chunk",
    "enable_observations",
    "observations_mission",
    "enable_text_search",
    "enable_temporal_retrieval",
    "enable_graph_retrieval",
    "enable_reranking",
)


class DispositionTraitsSerializer(serializers.Serializer):
    skepticism = serializers.IntegerField(min_value=1, max_value=5)
    literalism = serializers.IntegerField(min_value=1, max_value=5)
    empathy = serializers.IntegerField(min_value=1, max_value=5)


class CreateBankRequestSerializer(serializers.Serializer):
    """CreateBankRequest: profile fields are checked here; configuration fields by the registry (strictly)."""

    name = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=255)
    disposition = DispositionTraitsSerializer(required=False, allow_null=True)
    disposition_skepticism = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    disposition_literalism = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    disposition_empathy = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=5)
    mission = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)
    background = serializers.CharField(required=False, allow_null=True, allow_blank=True, trim_whitespace=False)


def _optional(field_class: type[serializers.Field], **kwargs) -> serializers.Field:
    return field_class(required=False, allow_null=True, **kwargs)


class CreateBankRequestSchemaSerializer(CreateBankRequestSerializer):
    """CreateBankRequest as the OpenAPI document shows it: the profile fields plus the configuration fields the view
    passes to the registry (``CREATE_BANK_CONFIG_FIELDS``), which validates them strictly (400 naming the field)."""

    reflect_mission = _optional(serializers.CharField, allow_blank=True)
    retain_mission = _optional(serializers.CharField, allow_blank=True)
    retain_extraction_mode = _optional(serializers.CharField)
    retain_custom_instructions = _optional(serializers.CharField, allow_blank=True)
    retain_chunk_size = _optional(serializers.IntegerField)
    retain_structured_chunk_size = _optional(serializers.IntegerField)
    retain_max_attachments_per_chunk = _optional(serializers.IntegerField)
    enable_observations = _optional(serializers.BooleanField)
    observations_mission = _optional(serializers.CharField, allow_blank=True)
    enable_text_search = _optional(serializers.BooleanField)
    enable_temporal_retrieval = _optional(serializers.BooleanField)
    enable_graph_retrieval = _optional(serializers.BooleanField)
    enable_reranking = _optional(serializers.BooleanField)

    class Meta:
        ref_name = "CreateBankRequest"


class UpdateDispositionRequestSerializer(serializers.Serializer):
    disposition = DispositionTraitsSerializer()


class BankConfigUpdateSerializer(serializers.Serializer):
    updates = serializers.DictField(help_text="Overrides keyed by field name or HINDSIGHT_API_ name.")


class BankListQuerySerializer(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, max_length=255)
    limit = serializers.IntegerField(required=False, min_value=0, max_value=1000, default=100)
    offset = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_OFFSET)


class BankProfileResponseSerializer(serializers.Serializer):
    bank_id = serializers.CharField()
    name = serializers.CharField()
    disposition = DispositionTraitsSerializer()
    mission = serializers.CharField()
    background = serializers.CharField(allow_null=True)


class BankConfigResponseSerializer(serializers.Serializer):
    bank_id = serializers.CharField()
    config = serializers.DictField()
    overrides = serializers.DictField()


class DeleteResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField(allow_null=True)
    deleted_count = serializers.IntegerField(allow_null=True)


class LlmOperationHealthSerializer(serializers.Serializer):
    operation = serializers.ChoiceField(choices=["retain", "consolidation", "reflect"])
    ok = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["connected", "not_configured", "auth_failed", "unreachable", "timeout"])
    latency_ms = serializers.FloatField(allow_null=True)


class BankLlmHealthResponseSerializer(serializers.Serializer):
    bank_id = serializers.CharField()
    operations = LlmOperationHealthSerializer(many=True)


class TemplateImportQuerySerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False, help_text="Validate only, do not apply changes")


class BankTemplateImportResponseSerializer(serializers.Serializer):
    bank_id = serializers.CharField()
    config_applied = serializers.BooleanField()
    mental_models_created = serializers.ListField(child=serializers.CharField())
    mental_models_updated = serializers.ListField(child=serializers.CharField())
    directives_created = serializers.ListField(child=serializers.CharField())
    directives_updated = serializers.ListField(child=serializers.CharField())
    operation_ids = serializers.ListField(child=serializers.CharField())
    dry_run = serializers.BooleanField()


class BankListItemSerializer(serializers.Serializer):
    bank_id = serializers.CharField(allow_blank=True)
    name = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    disposition = DispositionTraitsSerializer()
    mission = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    created_at = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    updated_at = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    fact_count = serializers.IntegerField(required=False)
    last_document_at = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    last_write_at = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    display_alias = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    matched_aliases = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)


class BankListResponseSerializer(serializers.Serializer):
    banks = BankListItemSerializer(many=True)
    total = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
