"""Bank, configuration, retain and recall calls written only against the public API both clients share.

``python dropin_banks.py BASE_URL BANK_ID``; prints one JSON object. tests/client/test_dropin.py runs it with the real
hindsight-client 1.1.0 (its own venv) and with ours (in-process) and compares the two outputs. Errors are reported
by status only: the real client raises aiohttp or generated exceptions, ours ``ApiError``; both carry ``.status``.
"""

import asyncio
import json
import sys
from datetime import datetime

from hindsight_client import Hindsight

base_url, bank_id = sys.argv[1], sys.argv[2]
out: dict = {}


def status_of(call):
    try:
        call()
    except Exception as exc:
        return getattr(exc, "status", repr(exc))
    return None


with Hindsight(base_url=base_url, timeout=60) as client:
    out["create_bank"] = client.create_bank(
        bank_id=bank_id,
        name="Drop-in",
        background="I am a careful assistant",
        disposition={"skepticism": 4, "literalism": 2, "empathy": 5},
        retain_mission="Track technical decisions",
    ).model_dump()
    out["update_bank_config"] = client.update_bank_config(
        bank_id,
        retain_extraction_mode="verbose",
        retain_chunk_size=1500,
        disposition_empathy=2,
        entity_labels=[{"key": "topic", "type": "multi-values", "values": [{"value": "work"}], "tag": True}],
    )
    out["get_bank_config"] = client.get_bank_config(bank_id)
    out["rejected"] = [
        status_of(lambda: client.update_bank_config(bank_id, retain_extraction_mode="shouty")),
        status_of(lambda: client.update_bank_config(bank_id, disposition_skepticism=9)),
        status_of(lambda: client.get_bank_config(bank_id + "-missing")),
        status_of(lambda: client.delete_bank(bank_id + "-missing")),
    ]
    out["reset_bank_config"] = client.reset_bank_config(bank_id)
    out["version"] = client.get_version().model_dump()

    out["retain"] = client.retain(
        bank_id=bank_id,
        content="Alice works at Google as a software engineer",
        context="career update",
        timestamp=datetime(2024, 1, 15),
        document_id="conversation_001",
        metadata={"source": "slack"},
        tags=["work"],
    ).model_dump(by_alias=True)
    out["retain_batch"] = client.retain_batch(
        bank_id=bank_id,
        items=[
            {
                "content": "Bob is a data scientist in Berlin",
                "context": "career",
                "tags": ["work"],
                "timestamp": datetime(2024, 2, 1),
            },
            {"content": "Alice went hiking in the Alps", "timestamp": datetime(2024, 5, 3)},
        ],
        document_id="conversation_002",
    ).model_dump(by_alias=True)
    recalled = client.recall(
        bank_id=bank_id, query="What does Alice do?", include_entities=True, include_chunks=True, trace=False
    )
    out["recall"] = {
        # Ids are minted per run; everything else must match.
        "results": [
            {k: v for k, v in r.model_dump(exclude_none=True).items() if k not in ("id", "chunk_id")} for r in recalled
        ],
        "entities": sorted(recalled.entities or {}),
        "chunks": sorted(chunk.text for chunk in (recalled.chunks or {}).values()),
        "prompt": recalled.to_prompt_string(),
        "len": len(recalled),
    }
    tagged = client.recall(bank_id=bank_id, query="Who works?", tags=["work"], tags_match="all_strict")
    out["recall_tagged"] = sorted(r.text for r in tagged)

    async def async_part():
        result = {}
        result["acreate_bank"] = (await client.acreate_bank(bank_id=bank_id + "-a", name="Async")).model_dump()
        result["aupdate_bank_config"] = await client.aupdate_bank_config(bank_id + "-a", retain_chunk_size=4000)
        result["aretain"] = (
            await client.aretain(bank_id=bank_id + "-a", content="Carol plays the violin")
        ).model_dump()
        result["arecall"] = [r.text for r in await client.arecall(bank_id=bank_id + "-a", query="Who plays music?")]
        result["adelete_bank"] = (await client.adelete_bank(bank_id + "-a")).model_dump()
        return result

    out.update(asyncio.get_event_loop().run_until_complete(async_part()))
    out["delete_bank"] = client.delete_bank(bank_id).model_dump()

print(json.dumps(out, default=str))
