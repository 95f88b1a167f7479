"""The data routes through the real hindsight-client 1.1.0: ``list_memories`` (sync and async) and every method of
the ``memory``, ``documents``, ``entities`` and ``banks`` namespaces that maps to them. The namespaces are the
generated async API objects; they are awaited on the client's own loop, as the SDK's sync wrappers do.

``python data_routes.py BASE_URL BANK_ID``; prints one JSON object.
"""

import asyncio
import json
import sys

from hindsight_client_api.exceptions import ApiException
from hindsight_client_api.models import DryRunExtractRequest, UpdateDocumentRequest, UpdateMemoryRequest
from hindsight_client_api.models.content import Content

from hindsight_client import Hindsight

base_url, bank_id = sys.argv[1], sys.argv[2]
other_bank = f"{bank_id}-other"
client = Hindsight(base_url=base_url, timeout=120)
loop = asyncio.get_event_loop()


def run(coro):
    return loop.run_until_complete(coro)


def status_of(coro) -> int:
    try:
        run(coro)
    except ApiException as exc:
        return exc.status
    return 200


client.retain_batch(
    bank_id=bank_id,
    items=[
        {
            "content": "Alice works at Google in Zurich. Alice plays the violin.",
            "document_id": "doc-alice",
            "tags": ["team:a"],
            "metadata": {"source": "chat"},
            "timestamp": "2024-05-08T10:00:00Z",
        },
        {
            "content": "Bob repairs motorcycles in Berlin. Bob met Alice in Lisbon.",
            "document_id": "notes/bob",
            "tags": ["team:b"],
            "timestamp": "2024-06-01T09:00:00Z",
        },
    ],
)
client.retain(bank_id=other_bank, content="Eve keeps bees in Lyon.", document_id="doc-eve")
out: dict = {}

# --- memories ---------------------------------------------------------------------------------------------------
listed = client.list_memories(bank_id)
out["list"] = {"total": listed.total, "limit": listed.limit, "offset": listed.offset}
out["list_items"] = [
    {k: getattr(i, k) for k in ("id", "text", "entities", "document_id", "tags", "metadata", "state", "fact_type")}
    for i in listed.items
]
out["list_by_doc"] = [i.document_id for i in client.list_memories(bank_id, document_id="notes/bob").items]
out["list_search"] = [i.text for i in client.list_memories(bank_id, search_query="violin").items]
out["list_page"] = [i.id for i in client.list_memories(bank_id, limit=2, offset=1).items]
out["alist_tags"] = [
    i.tags for i in run(client.alist_memories(bank_id, tags=["team:b"], tags_match="all_strict")).items
]
out["alist_type"] = run(client.alist_memories(bank_id, type="experience")).total
out["list_missing_bank"] = status_of(client.alist_memories(f"{bank_id}-missing"))

violin = next(i for i in listed.items if "violin" in i.text)
google = next(i for i in listed.items if "Google" in i.text)
out["get_memory"] = run(client.memory.get_memory(bank_id, violin.id))
out["update_memory"] = run(
    client.memory.update_memory(bank_id, violin.id, UpdateMemoryRequest(text="Alice plays the cello."))
)
out["invalidate"] = run(
    client.memory.update_memory(
        bank_id, google.id, UpdateMemoryRequest(state="invalidated", reason="Alice changed jobs")
    )
)
out["recall_after_invalidate"] = [r.id for r in client.recall(bank_id=bank_id, query="Where does Alice work?")]
out["foreign_memory"] = status_of(client.memory.get_memory(other_bank, violin.id))
out["graph"] = run(client.memory.get_graph(bank_id, limit=10)).to_dict()
out["tags"] = run(client.memory.list_tags(bank_id, q="team:*")).to_dict()
out["dry_run"] = run(
    client.memory.dry_run_extract_memories(
        bank_id, DryRunExtractRequest(content=Content("Grace moved to Oslo. Grace adopted a dog."))
    )
).to_dict()
out["after_dry_run_total"] = client.list_memories(bank_id).total

# --- documents and chunks ---------------------------------------------------------------------------------------
documents = run(client.documents.list_documents(bank_id))
out["documents"] = documents.to_dict()
out["documents_search"] = [d.id for d in run(client.documents.list_documents(bank_id, q="lisbon")).items]
out["document"] = run(client.documents.get_document(bank_id, "notes/bob")).to_dict()
out["update_document"] = run(
    client.documents.update_document(bank_id, "notes/bob", UpdateDocumentRequest(tags=["team:b", "reviewed"]))
).to_dict()
out["document_tags_after"] = run(client.documents.get_document(bank_id, "notes/bob")).tags
chunks = run(client.documents.list_document_chunks(bank_id, "notes/bob"))
out["chunks"] = chunks.to_dict()
out["chunk"] = run(client.documents.get_chunk(chunks.items[0].chunk_id)).to_dict()
reprocess = run(client.documents.reprocess_document(bank_id, "doc-alice"))
out["reprocess"] = reprocess.to_dict()
out["history"] = run(client.documents.get_document_history(bank_id, "doc-alice")).to_dict()
out["foreign_document"] = status_of(client.documents.get_document(other_bank, "notes/bob"))

# --- entities and stats -----------------------------------------------------------------------------------------
entities = run(client.entities.list_entities(bank_id))
out["entities"] = entities.to_dict()
out["entity"] = run(client.entities.get_entity(bank_id, entities.items[0].id)).to_dict()
out["entity_graph"] = run(client.entities.get_entity_graph(bank_id)).to_dict()
out["foreign_entity"] = status_of(client.entities.get_entity(other_bank, entities.items[0].id))
out["stats"] = run(client.banks.get_agent_stats(bank_id)).to_dict()
out["timeseries"] = run(client.banks.get_memories_timeseries(bank_id, period="1d")).to_dict()

# --- deletes ----------------------------------------------------------------------------------------------------
out["delete_document"] = run(client.documents.delete_document(bank_id, "notes/bob")).to_dict()
out["recall_after_delete"] = [r.text for r in client.recall(bank_id=bank_id, query="Who repairs motorcycles?")]
out["deleted_document"] = status_of(client.documents.get_document(bank_id, "notes/bob"))
out["clear_world"] = run(client.memory.clear_bank_memories(bank_id, type="world")).to_dict()
out["after_clear_total"] = client.list_memories(bank_id).total
out["other_bank_total"] = client.list_memories(other_bank).total
client.close()
print(json.dumps(out, default=str))
