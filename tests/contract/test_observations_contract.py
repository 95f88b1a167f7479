"""Consolidation and observation routes through the real hindsight-client 1.1.0."""

from datetime import UTC, datetime

import pytest

from memories.models import MemoryUnit, ObservationHistory, Operation
from tests.factories import populated_bank

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_real_client_drives_consolidation_and_observations(run_contract_script, bank_id):
    bank = populated_bank(bank_id)
    facts = list(MemoryUnit.objects.filter(bank=bank).exclude(fact_type="observation").order_by("text"))
    [friends] = MemoryUnit.objects.filter(bank=bank, fact_type="observation")
    lyon = MemoryUnit.objects.create(
        bank=bank, text="Bob lives in Lyon", fact_type="observation", tags=["people"], source_memory_ids=[facts[1].id]
    )
    MemoryUnit.objects.filter(pk=facts[2].pk).update(consolidation_failed_at=datetime(2024, 5, 2, tzinfo=UTC))
    source = friends.source_memory_ids[0]

    out = run_contract_script("observations", bank_id, str(friends.pk), str(source))

    assert out["recall_types"] == ["observation"]
    assert out["recall_source_fact_ids"] == [str(source)]
    assert sorted(map(str, out["scopes"])) == sorted(
        map(str, [{"tags": [], "count": 1}, {"tags": ["people"], "count": 1}])
    )
    assert out["scopes_total"] == 2
    [change] = out["history"]
    assert change["action"] == "created"
    assert [fact["id"] for fact in change["source_facts"]] == [str(source)]
    assert out["clear_memory_observations"] == 1
    assert not MemoryUnit.objects.filter(pk=friends.pk).exists()
    assert not ObservationHistory.objects.filter(observation_id=friends.pk).exists()
    (first, first_dedup), (again, again_dedup), (scoped, scoped_dedup) = out["trigger"]
    assert (first_dedup, again, again_dedup, scoped_dedup) == (False, first, True, False)
    assert scoped != first
    assert Operation.objects.get(pk=scoped).payload["observation_scopes"] == [["people"]]
    assert out["operation_type"] == "consolidation"
    assert out["recovered"] == 1
    assert out["clear_observations"] == [True, 1]
    assert not MemoryUnit.objects.filter(pk=lyon.pk).exists()
    assert out["regenerate"] == 410
    assert out["missing_history"] == 404
