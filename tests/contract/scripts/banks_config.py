"""Drive every bank and configuration call with the real hindsight-client 1.1.0; print what came back as JSON.

Run by tests/contract/test_banks_contract.py inside the SDK's own venv: ``python banks_config.py BASE_URL BANK_ID``.
Every call must parse under the SDK's strict models; the test then checks the values.
"""

import asyncio
import json
import sys

import aiohttp
from hindsight_client_api.models.create_bank_request import CreateBankRequest
from hindsight_client_api.models.disposition_traits import DispositionTraits
from hindsight_client_api.models.update_disposition_request import UpdateDispositionRequest

from hindsight_client import Hindsight

base_url, bank_id = sys.argv[1], sys.argv[2]
async_bank_id = bank_id + "-async"
out: dict = {}


def rejected(call):
    try:
        call()
    except aiohttp.ClientResponseError as exc:
        return {"status": exc.status, "message": exc.message}
    return None


client = Hindsight(base_url=base_url, timeout=60)

# --- the high-level sync methods -----------------------------------------------------------------------------------
profile = client.create_bank(
    bank_id=bank_id,
    name="Contract Bank",
    background="I am a careful assistant",
    disposition={"skepticism": 4, "literalism": 2, "empathy": 5},
    retain_mission="Track technical decisions",
)
out["create_bank"] = profile.model_dump()
out["update_bank_config"] = client.update_bank_config(
    bank_id,
    retain_extraction_mode="verbose",
    retain_chunk_size=1500,
    observations_mission="Durable facts about people",
    entity_labels=[
        {
            "key": "pedagogy",
            "type": "multi-values",
            "values": [{"value": "scaffolding", "description": "Small steps"}, {"value": "socratic"}],
            "tag": True,
        }
    ],
    disposition_empathy=2,
    mcp_enabled_tools=["recall", "reflect"],
)
out["get_bank_config"] = client.get_bank_config(bank_id)
out["rejected_mode"] = rejected(lambda: client.update_bank_config(bank_id, retain_extraction_mode="shouty"))
out["rejected_range"] = rejected(lambda: client.update_bank_config(bank_id, disposition_skepticism=9))
out["rejected_tool"] = rejected(lambda: client.update_bank_config(bank_id, mcp_enabled_tools=["recall", "nope"]))
out["after_rejections"] = client.get_bank_config(bank_id)
out["reset_bank_config"] = client.reset_bank_config(bank_id)
out["missing_bank_config"] = rejected(lambda: client.get_bank_config(bank_id + "-missing"))
out["version"] = client.get_version().model_dump()


# --- async twins and the generated routes (list, PATCH bank, profile, health) ---------------------------------------
async def async_part():
    result = {}
    created = await client.acreate_bank(bank_id=async_bank_id, name="Async Bank", reflect_mission="Answer briefly")
    result["acreate_bank"] = created.model_dump()
    result["aupdate_bank_config"] = await client.aupdate_bank_config(async_bank_id, retain_chunk_size=4000)
    patched = await client.banks.update_bank(async_bank_id, CreateBankRequest(name="Renamed Async Bank"))
    result["update_bank"] = patched.model_dump()
    disposition = await client.banks.update_bank_disposition(
        async_bank_id,
        UpdateDispositionRequest(disposition=DispositionTraits(skepticism=1, literalism=5, empathy=3)),
    )
    result["update_bank_disposition"] = disposition.model_dump()
    result["get_bank_profile"] = (await client.banks.get_bank_profile(async_bank_id)).model_dump()
    listing = await client.banks.list_banks(q=bank_id, limit=10, offset=0)
    result["list_banks"] = listing.model_dump()
    result["health"] = await client.monitoring.health_endpoint_health_get()
    deleted = await client.banks.delete_bank(async_bank_id)
    result["delete_async_bank"] = deleted.model_dump()
    return result


out.update(asyncio.get_event_loop().run_until_complete(async_part()))
out["delete_bank"] = client.delete_bank(bank_id).model_dump()
client.close()
print(json.dumps(out, default=str))
