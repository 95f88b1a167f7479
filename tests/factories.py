"""Small factories: a bank with one of everything in it, built through the ORM."""

from __future__ import annotations

from datetime import UTC, datetime

from banks.models import Bank
from directives.models import Directive, MentalModel, MentalModelHistory
from memories.models import (
    Chunk,
    Document,
    Entity,
    EntityCooccurrence,
    MemoryLink,
    MemoryUnit,
    ObservationHistory,
    Operation,
    UnitEntity,
)


def populated_bank(bank_id: str) -> Bank:
    """A bank holding a document, chunk, three units, entities, links, directives, a mental model and operations."""
    bank = Bank.objects.create(bank_id=bank_id, name=bank_id)
    document = Document.objects.create(bank=bank, document_id="doc-1", original_text="Alice met Bob in Paris.")
    chunk = Chunk.objects.create(bank=bank, document=document, chunk_index=0, text="Alice met Bob.", content_hash="h")
    when = datetime(2024, 5, 1, tzinfo=UTC)
    units = [
        MemoryUnit.objects.create(
            bank=bank,
            document=document,
            chunk=chunk,
            text=text,
            embedding=[0.1] * 384,
            embedding_model="test",
            occurred_start=when,
            tags=["people"],
        )
        for text in ("Alice met Bob", "They were in Paris", "Bob lives in Lyon")
    ]
    observation = MemoryUnit.objects.create(
        bank=bank, text="Alice and Bob are friends", fact_type="observation", source_memory_ids=[units[0].id]
    )
    ObservationHistory.objects.create(
        bank=bank, observation=observation, action="created", text=observation.text, source_memory_ids=[units[0].id]
    )
    alice, bob = sorted(
        [
            Entity.objects.create(bank=bank, canonical_name="Alice", mention_count=2),
            Entity.objects.create(bank=bank, canonical_name="Bob", mention_count=2),
        ],
        key=lambda e: e.id,
    )
    for unit in units[:2]:
        UnitEntity.objects.create(unit=unit, entity=alice)
    UnitEntity.objects.create(unit=units[0], entity=bob)
    EntityCooccurrence.objects.create(bank=bank, entity_1=alice, entity_2=bob, count=1)
    MemoryLink.objects.create(bank=bank, from_unit=units[0], to_unit=units[1], link_type="temporal", weight=0.9)
    MemoryLink.objects.create(
        bank=bank, from_unit=units[0], to_unit=units[2], link_type="entity", entity=bob, weight=1.0
    )
    MemoryLink.objects.create(bank=bank, from_unit=observation, to_unit=units[0], link_type="semantic", weight=0.8)
    Directive.objects.create(bank=bank, name="Formal", content="Be formal")
    model = MentalModel.objects.create(bank=bank, mental_model_id="mm-1", name="People", source_query="Who?")
    MentalModelHistory.objects.create(mental_model=model, content="old")
    parent = Operation.objects.create(bank=bank, operation_type="batch_retain")
    Operation.objects.create(bank=bank, operation_type="retain", parent=parent)
    return bank


def fact(what: str, **fields) -> dict:
    """One fact as the schema asks the model to write it."""
    return {
        "what": what,
        "when": "N/A",
        "where": "N/A",
        "who": "N/A",
        "why": "N/A",
        "fact_kind": "ongoing",
        "fact_type": "world",
        "occurred_start": None,
        "occurred_end": None,
        "entities": [],
        "causal_relations": [],
        "turn_id": None,
        **fields,
    }
