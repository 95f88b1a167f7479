"""Retain with the real hindsight-client 1.1.0: the seed's examples and a LoCoMo session, sync and async.

``python retain_locomo.py BASE_URL BANK_ID LOCOMO_JSON``; prints one JSON object with what the SDK returned.
The LoCoMo file is read from the shared folder at run time (non-commercial licence: never copied into the repo).
"""

import asyncio
import json
import sys
import time
from datetime import datetime

from hindsight_client import Hindsight

base_url, bank_id, locomo_path = sys.argv[1], sys.argv[2], sys.argv[3]
with open(locomo_path) as handle:
    sample = json.load(handle)[0]
conversation = sample["conversation"]
turns = [{"speaker": t["speaker"], "dia_id": t["dia_id"], "text": t["text"]} for t in conversation["session_1"]]
when = datetime.strptime(conversation["session_1_date_time"], "%I:%M %p on %d %B, %Y")
context = f"conversation between {conversation['speaker_a']} and {conversation['speaker_b']}"
out: dict = {"session_date": when.isoformat(), "turns": len(turns)}

client = Hindsight(base_url=base_url, timeout=120)

# The seed's examples, as written there.
simple = client.retain(bank_id=bank_id, content="Alice works at Google as a software engineer")
out["retain_simple"] = simple.model_dump(by_alias=True)
out["retain_options"] = client.retain(
    bank_id=bank_id,
    content="Alice got promoted",
    context="career update",
    timestamp=datetime(2024, 1, 15),
    document_id="conversation_001",
    metadata={"source": "slack"},
).model_dump(by_alias=True)
out["retain_batch"] = client.retain_batch(
    bank_id=bank_id,
    items=[
        {"content": "Alice works at Google", "context": "career"},
        {"content": "Bob is a data scientist", "context": "career"},
    ],
    document_id="conversation_002",
    retain_async=False,
).model_dump(by_alias=True)

# A LoCoMo session, synchronously into one bank and asynchronously into another.
out["locomo_sync"] = client.retain(
    bank_id=f"{bank_id}-locomo",
    content=json.dumps(turns),
    context=context,
    timestamp=when,
    document_id="conv-26-session-1",
).model_dump(by_alias=True)
submitted = client.retain_batch(
    bank_id=f"{bank_id}-locomo-async",
    items=[{"content": json.dumps(turns), "context": context, "timestamp": when, "document_id": "conv-26-session-1"}],
    retain_async=True,
)
out["locomo_async"] = submitted.model_dump(by_alias=True)


async def wait_for_operation(operation_id: str) -> dict:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = await client.operations.get_operation_status(f"{bank_id}-locomo-async", operation_id)
        if status.status in ("completed", "failed", "cancelled"):
            listing = await client.operations.list_operations(f"{bank_id}-locomo-async")
            return {"status": status.model_dump(), "list": listing.model_dump()}
        await asyncio.sleep(0.25)
    return {"status": {"status": "timed out"}}


out["locomo_async_operation"] = asyncio.get_event_loop().run_until_complete(wait_for_operation(submitted.operation_id))
out["aretain"] = (
    asyncio.get_event_loop()
    .run_until_complete(client.aretain(bank_id=bank_id, content="Carol plays the violin"))
    .model_dump(by_alias=True)
)
client.close()
print(json.dumps(out, default=str))
