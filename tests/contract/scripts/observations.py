"""Consolidation and observation routes through the real hindsight-client 1.1.0 (its low-level APIs: the
high-level client has no consolidation methods).

``python observations.py BASE_URL BANK_ID OBSERVATION_ID FACT_ID``; prints one JSON object.
"""

import asyncio
import json
import sys

from hindsight_client_api.exceptions import ApiException
from hindsight_client_api.models.consolidation_request import ConsolidationRequest

from hindsight_client import Hindsight

base_url, bank_id, observation_id, fact_id = sys.argv[1:5]
client = Hindsight(base_url=base_url, timeout=120)
run = asyncio.get_event_loop().run_until_complete
out = {}

recalled = client.recall(bank_id=bank_id, query="Alice and Bob are friends", types=["observation"])
out["recall_types"] = sorted({r.type for r in recalled.results})
out["recall_source_fact_ids"] = recalled.results[0].source_fact_ids if recalled.results else None

scopes = run(client.memory.list_observation_scopes(bank_id=bank_id, limit=10, offset=0))
out["scopes"] = [{"tags": s.tags, "count": s.count} for s in scopes.scopes]
out["scopes_total"] = scopes.total

history = run(client.memory.get_observation_history(bank_id=bank_id, memory_id=observation_id))
out["history"] = history

cleared = run(client.memory.clear_memory_observations(bank_id=bank_id, memory_id=fact_id))
out["clear_memory_observations"] = cleared.deleted_count

first = run(client.banks.trigger_consolidation(bank_id=bank_id))
again = run(client.banks.trigger_consolidation(bank_id=bank_id, consolidation_request=ConsolidationRequest()))
scoped = run(
    client.banks.trigger_consolidation(
        bank_id=bank_id, consolidation_request=ConsolidationRequest(observation_scopes=[["people"]])
    )
)
out["trigger"] = [
    [first.operation_id, first.deduplicated],
    [again.operation_id, again.deduplicated],
    [scoped.operation_id, scoped.deduplicated],
]
status = client.operations.get_operation_status(bank_id=bank_id, operation_id=first.operation_id)
out["operation_type"] = run(status).operation_type if asyncio.iscoroutine(status) else status.operation_type

recovered = run(client.banks.recover_consolidation(bank_id=bank_id))
out["recovered"] = recovered.retried_count

deleted = run(client.banks.clear_observations(bank_id=bank_id))
out["clear_observations"] = [deleted.success, deleted.deleted_count]

try:
    run(client.entities.regenerate_entity_observations(bank_id=bank_id, entity_id="anything"))
    out["regenerate"] = None
except ApiException as exc:
    out["regenerate"] = exc.status

try:
    run(client.memory.get_observation_history(bank_id=bank_id, memory_id="00000000-0000-0000-0000-000000000000"))
    out["missing_history"] = None
except ApiException as exc:
    out["missing_history"] = exc.status

client.close()
print(json.dumps(out, default=str))
