"""Mental models with the real hindsight-client 1.1.0 against a server with a real worker.

``python mental_models.py BASE_URL BANK_ID``; prints one JSON object.
"""

import json
import sys
import time

from hindsight_client import Hindsight

base_url, bank_id = sys.argv[1], sys.argv[2]
client = Hindsight(base_url=base_url, timeout=120)
client.retain_batch(bank_id=bank_id, items=[{"content": "Alice works at Google as a software engineer"}])


def wait_refreshed(mental_model_id, after=None):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        model = client.get_mental_model(bank_id=bank_id, mental_model_id=mental_model_id)
        if model.last_refreshed_at and model.last_refreshed_at != after:
            return model
        time.sleep(0.3)
    raise SystemExit("mental model was never refreshed")


out = {}
created = client.create_mental_model(
    bank_id=bank_id,
    name="Alice's career",
    source_query="Where does Alice work?",
    tags=None,
    trigger={"refresh_after_consolidation": True},
    id="alice-career",
)
out["created"] = {"mental_model_id": created.mental_model_id, "has_operation": bool(created.operation_id)}
model = wait_refreshed("alice-career")
out["content"] = model.content
out["is_stale"] = model.is_stale
out["trigger_after_consolidation"] = model.trigger.refresh_after_consolidation
listed = client.list_mental_models(bank_id=bank_id)
out["listed"] = [(m.id, m.content) for m in listed.items]
out["listed_content"] = [m.content for m in client.list_mental_models(bank_id=bank_id, detail="content").items]
client.retain_batch(bank_id=bank_id, items=[{"content": "Alice joined Google DeepMind in 2025"}])
out["stale_after_retain"] = client.get_mental_model(bank_id=bank_id, mental_model_id="alice-career").is_stale
dry = client.dry_run_refresh_mental_model(bank_id=bank_id, mental_model_id="alice-career")
out["dry_run"] = {"outcome": dry.outcome, "has_diff": bool(dry.diff), "would_persist": dry.would_persist}
submitted = client.refresh_mental_model(bank_id=bank_id, mental_model_id="alice-career", mode="full")
out["refresh_status"] = submitted.status
model = wait_refreshed("alice-career", after=model.last_refreshed_at)
out["refreshed_content"] = model.content
out["history"] = client.get_mental_model_history(bank_id=bank_id, mental_model_id="alice-career")
updated = client.update_mental_model(bank_id=bank_id, mental_model_id="alice-career", name="Career")
out["updated_name"] = updated.name
out["cleared"] = client.clear_mental_model(bank_id=bank_id, mental_model_id="alice-career").content
out["deleted"] = client.delete_mental_model(bank_id=bank_id, mental_model_id="alice-career") is not None
out["after_delete"] = client.list_mental_models(bank_id=bank_id).total
client.close()
print(json.dumps(out, default=str))
