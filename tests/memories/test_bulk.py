"""The binary COPY insert that retain uses writes exactly the rows ``bulk_create`` writes, generated columns
included, inside the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
from django.db import IntegrityError, connection, transaction

from banks.models import Bank
from memories import bulk
from memories.models import Chunk, Document, MemoryUnit

pytestmark = pytest.mark.django_db(transaction=True)

IGNORED = {"id", "created_at", "updated_at"}


def _units(bank, document, chunk, seed):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(3, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    common = dict(bank=bank, document=document, chunk=chunk, embedding_model="local:test")
    return [
        MemoryUnit(
            id=uuid.uuid4(),
            text="Alice moved to Lyon on 7 May 2024.",
            fact_type="world",
            fact_kind="event",
            embedding=vectors[0],
            context="daily log",
            occurred_start=datetime(2024, 5, 7, tzinfo=UTC),
            occurred_end=datetime(2024, 5, 7, 23, 59, tzinfo=UTC),
            mentioned_at=datetime(2024, 5, 8, 13, 56, tzinfo=UTC),
            metadata={"speaker": "Alice", "turn_id": "D1:3"},
            tags=["user:alice", "trip"],
            observation_scopes=[["user:alice"]],
            text_signals="Alice Lyon",
            **common,
        ),
        MemoryUnit(id=uuid.uuid4(), text="Bob likes tea — très chaud, 'quoted'.", embedding=list(vectors[1]), **common),
        MemoryUnit(id=uuid.uuid4(), text="No vector, no times.", embedding=None, fact_type="experience", **common),
    ]


def _rows(ids):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM memories_memoryunit WHERE id = ANY(%s) ORDER BY array_position(%s, id)", [ids, ids]
        )
        names = [column.name for column in cursor.description]
        return [{k: v for k, v in zip(names, row, strict=True) if k not in IGNORED} for row in cursor.fetchall()]


def test_copy_insert_writes_the_same_rows_as_bulk_create():
    bank = Bank.objects.create(bank_id="bulk")
    document = Document.objects.create(bank=bank, document_id="d")
    chunk = Chunk.objects.create(bank=bank, document=document, chunk_index=0, text="t", content_hash="h")
    by_orm, by_copy = _units(bank, document, chunk, 1), _units(bank, document, chunk, 1)
    with transaction.atomic():
        MemoryUnit.objects.bulk_create(by_orm)
        bulk.copy_insert(by_copy)
    orm_rows, copy_rows = _rows([u.id for u in by_orm]), _rows([u.id for u in by_copy])
    assert len(orm_rows) == len(copy_rows) == 3
    for orm_row, copy_row in zip(orm_rows, copy_rows, strict=True):
        assert copy_row == orm_row
    # Generated columns came out of the database, and the vector survived the float32 trip bit for bit.
    assert copy_rows[0]["search_vector"] and "lyon" in copy_rows[0]["search_vector"]
    assert copy_rows[0]["event_time"] == datetime(2024, 5, 7, tzinfo=UTC)
    stored = MemoryUnit.objects.get(id=by_copy[0].id)
    assert np.array_equal(np.asarray(stored.embedding, dtype=np.float32), by_copy[0].embedding)
    assert stored.created_at is not None and stored.updated_at is not None


def test_copy_insert_is_part_of_the_callers_transaction():
    bank = Bank.objects.create(bank_id="bulk-atomic")
    document = Document.objects.create(bank=bank, document_id="d")
    units = _units(bank, document, None, 2)
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.copy_insert(units[:2])
        bulk.copy_insert(units[1:])  # a duplicate primary key fails the statement and the whole transaction
    assert not MemoryUnit.objects.filter(bank=bank).exists()
    bulk.copy_insert([])  # nothing to do is not an error
