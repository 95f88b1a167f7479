"""Retain through the real hindsight-client 1.1.0 over HTTP, sync and async (real worker), no LLM configured."""

import pytest

from memories.models import Document, Entity, MemoryUnit
from tests.conftest import require_locomo

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_real_client_retains_a_locomo_session_sync_and_async(run_contract_script, workers, bank_id):
    locomo = require_locomo()
    workers("contract")
    out = run_contract_script("retain_locomo", bank_id, str(locomo))

    for key in ("retain_simple", "retain_options", "retain_batch", "locomo_sync", "aretain"):
        assert out[key]["success"] is True, key
        assert out[key]["async"] is False, key
    assert out["retain_batch"]["items_count"] == 2
    assert out["locomo_async"]["async"] is True
    operation = out["locomo_async_operation"]["status"]
    assert operation["status"] == "completed", operation
    assert [op["id"] for op in out["locomo_async_operation"]["list"]["operations"]] == [operation["operation_id"]]

    promoted = MemoryUnit.objects.get(bank__bank_id=bank_id, document__document_id="conversation_001")
    assert promoted.metadata == {"source": "slack"}
    assert promoted.context == "career update"
    assert promoted.mentioned_at.isoformat() == "2024-01-15T00:00:00+00:00"
    assert Document.objects.get(bank__bank_id=bank_id, document_id="conversation_002").chunks.count() == 2

    sync_facts = MemoryUnit.objects.filter(bank__bank_id=f"{bank_id}-locomo")
    async_facts = MemoryUnit.objects.filter(bank__bank_id=f"{bank_id}-locomo-async")
    assert sync_facts.count() > 5
    assert sorted(sync_facts.values_list("text", flat=True)) == sorted(async_facts.values_list("text", flat=True))
    for facts in (sync_facts, async_facts):
        speakers = {fact.metadata.get("speaker") for fact in facts}
        assert speakers == {"Caroline", "Melanie"}
        assert all(fact.metadata.get("turn_id", "").startswith("D1:") for fact in facts)
        assert all(fact.mentioned_at.date().isoformat() == "2023-05-08" for fact in facts)
        support_group = facts.get(metadata__turn_id="D1:3")
        assert support_group.occurred_start.date().isoformat() == "2023-05-07"
    names = set(Entity.objects.filter(bank__bank_id=f"{bank_id}-locomo").values_list("canonical_name", flat=True))
    assert {"Caroline", "Melanie", "LGBTQ"} <= names
