"""Recall with the real hindsight-client 1.1.0: iterate the result, use .results, len(), [0], arecall.

``python recall.py BASE_URL BANK_ID``; prints one JSON object.
"""

import asyncio
import json
import sys
from datetime import datetime

from hindsight_client import Hindsight

base_url, bank_id = sys.argv[1], sys.argv[2]
client = Hindsight(base_url=base_url, timeout=120)
client.retain_batch(
    bank_id=bank_id,
    items=[
        {"content": "Alice works at Google as a software engineer", "context": "career"},
        {"content": "Bob is a data scientist in Berlin", "context": "career"},
        {"content": "Alice went hiking in the Alps", "timestamp": datetime(2024, 5, 3)},
    ],
)
out = {}
results = client.recall(bank_id=bank_id, query="What does Alice do?")
out["iterated"] = [r.text for r in results]
out["results"] = [r.text for r in results.results]
out["len"] = len(results)
out["first"] = results[0].text
out["scores"] = [r.scores.final for r in results]
out["types"] = [r.type for r in results]
full = client.recall(
    bank_id=bank_id,
    query="What does Alice do?",
    types=["world", "opinion"],
    budget="high",
    max_tokens=4096,
    include_entities=True,
    max_entity_tokens=500,
    include_chunks=True,
)
out["entities"] = sorted(full.entities) if full.entities else []
out["chunks"] = len(full.chunks or {})
dated = client.recall(bank_id=bank_id, query="What did Alice do in May 2024?", query_timestamp="2024-06-01T00:00:00")
out["dated_first"] = dated.results[0].text if dated.results else None
out["arecall"] = [
    r.text for r in asyncio.get_event_loop().run_until_complete(client.arecall(bank_id=bank_id, query="Hello Bob"))
]
client.close()
print(json.dumps(out, default=str))
