"""Reflect and directives with the real hindsight-client 1.1.0 (server with or without an LLM).

``python reflect_directives.py BASE_URL BANK_ID``; prints one JSON object.
"""

import asyncio
import json
import sys

from hindsight_client import Hindsight

base_url, bank_id = sys.argv[1], sys.argv[2]
client = Hindsight(base_url=base_url, timeout=120)
client.retain_batch(
    bank_id=bank_id,
    items=[
        {"content": "Alice works at Google as a software engineer", "context": "career"},
        {"content": "Bob is a data scientist in Berlin", "context": "career"},
    ],
)
out = {}
directive = client.create_directive(bank_id=bank_id, name="Be concise", content="Always answer briefly", priority=5)
tagged = client.create_directive(bank_id=bank_id, name="Finance", content="No investment advice", tags=["finance"])
out["created"] = {"id": directive.id, "name": directive.name, "priority": directive.priority, "tags": tagged.tags}
out["listed"] = [d.name for d in client.list_directives(bank_id=bank_id).items]
out["listed_finance"] = [d.name for d in client.list_directives(bank_id=bank_id, tags=["finance"], limit=10).items]
out["got"] = client.get_directive(bank_id=bank_id, directive_id=directive.id).content
updated = client.update_directive(bank_id=bank_id, directive_id=tagged.id, is_active=False)
out["updated_active"] = updated.is_active

answer = client.reflect(bank_id=bank_id, query="Where does Alice work?", include_facts=True, include_tool_calls=True)
out["text"] = answer.text
out["memories"] = [m.text for m in answer.based_on.memories]
out["directives"] = [d.name for d in answer.based_on.directives]
out["tool_calls"] = [c.tool for c in answer.trace.tool_calls]
out["usage_total"] = answer.usage.total_tokens if answer.usage else None
plain = client.reflect(bank_id=bank_id, query="Where does Alice work?")
out["plain_based_on"] = plain.based_on
schema = {"type": "object", "properties": {"employer": {"type": "string"}}, "required": ["employer"]}
structured = client.reflect(bank_id=bank_id, query="Where does Alice work?", response_schema=schema)
out["structured_output"] = structured.structured_output
out["structured_output_error"] = structured.structured_output_error
loop = asyncio.get_event_loop()
bob = loop.run_until_complete(client.areflect(bank_id=bank_id, query="What does Bob do?", budget="mid"))
out["areflect"] = bob.text

out["deleted"] = client.delete_directive(bank_id=bank_id, directive_id=directive.id) is not None
out["after_delete"] = [d.name for d in client.list_directives(bank_id=bank_id).items]
client.close()
print(json.dumps(out, default=str))
