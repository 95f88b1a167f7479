"""The schema the migrations build: extensions, search indexes, database-enforced cascades."""

import io

import pytest
from django.core.management import call_command
from django.db import connection

from banks import services
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
from tests.factories import populated_bank

pytestmark = pytest.mark.django_db

BANK_OWNED = [
    Document,
    Chunk,
    MemoryUnit,
    Entity,
    UnitEntity,
    EntityCooccurrence,
    MemoryLink,
    Directive,
    MentalModel,
    MentalModelHistory,
    Operation,
    ObservationHistory,
]


def _scalar(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def test_migrations_enable_pgvector_and_trigram_search():
    installed = _scalar("SELECT array_agg(extname::text) FROM pg_extension")
    assert {"vector", "pg_trgm"} <= set(installed)


def test_models_and_migrations_agree():
    out = io.StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_memory_embeddings_have_one_global_hnsw_cosine_index():
    definitions = _scalar(
        "SELECT array_agg(indexdef) FROM pg_indexes WHERE tablename = %s AND indexdef ILIKE %s",
        [MemoryUnit._meta.db_table, "%USING hnsw%"],
    )
    assert len(definitions) == 1
    assert "vector_cosine_ops" in definitions[0]
    assert "WHERE" not in definitions[0]  # not partial: the index count never grows with the number of banks


def test_creating_banks_adds_no_indexes():
    before = _scalar("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'")
    for index in range(5):
        populated_bank(f"idx-{index}")
    assert _scalar("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'") == before


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ("memories_memoryunit", "USING gin (search_vector)"),
        ("memories_memoryunit", "USING gin (tags)"),
        ("memories_entity", "gin_trgm_ops"),
        ("memories_memoryunit", "(bank_id, fact_type, occurred_start)"),
        ("memories_memoryunit", "(bank_id, fact_type, mentioned_at)"),
        ("directives_directive", "USING gin (tags)"),
    ],
)
def test_search_indexes_exist(table, fragment):
    definitions = _scalar("SELECT array_agg(indexdef) FROM pg_indexes WHERE tablename = %s", [table])
    assert any(fragment in definition for definition in definitions), definitions


def test_every_ownership_foreign_key_cascades_in_the_database():
    rows = _scalar(
        """
        SELECT array_agg(conrelid::regclass::text || '.' || conname || '=' || confdeltype::text)
        FROM pg_constraint
        WHERE contype = 'f' AND conrelid::regclass::text LIKE ANY (ARRAY['banks_%%', 'memories_%%', 'directives_%%'])
        """
    )
    assert rows, "no foreign keys found"
    assert all(row.endswith("=c") for row in rows), [row for row in rows if not row.endswith("=c")]


def test_the_full_text_vector_is_generated_from_text_context_and_signals():
    bank = Bank.objects.create(bank_id="fts")
    unit = MemoryUnit.objects.create(bank=bank, text="Alice adopted a puppy", context="chat", text_signals="Rex")
    found = MemoryUnit.objects.filter(search_vector="puppies").values_list("id", flat=True)
    assert list(found) == [unit.id]
    assert MemoryUnit.objects.filter(search_vector="rex").exists()


def _counts(bank: Bank) -> dict[str, int]:
    """How many rows of each bank-owned table belong to this bank."""
    return {
        "documents": Document.objects.filter(bank=bank).count(),
        "chunks": Chunk.objects.filter(bank=bank).count(),
        "units": MemoryUnit.objects.filter(bank=bank).count(),
        "entities": Entity.objects.filter(bank=bank).count(),
        "unit_entities": UnitEntity.objects.filter(unit__bank=bank).count(),
        "cooccurrences": EntityCooccurrence.objects.filter(bank=bank).count(),
        "links": MemoryLink.objects.filter(bank=bank).count(),
        "directives": Directive.objects.filter(bank=bank).count(),
        "mental_models": MentalModel.objects.filter(bank=bank).count(),
        "mental_model_history": MentalModelHistory.objects.filter(mental_model__bank=bank).count(),
        "operations": Operation.objects.filter(bank=bank).count(),
    }


def test_deleting_a_bank_removes_everything_in_it_and_nothing_else():
    doomed = populated_bank("doomed")
    survivor = populated_bank("survivor")
    doomed_pk = doomed.pk
    survivor_before = _counts(survivor)
    assert all(survivor_before.values())
    totals_before = {model: model.objects.count() for model in BANK_OWNED}

    deleted_units = services.delete_bank(bank=doomed)

    assert deleted_units == 4
    assert not Bank.objects.filter(pk=doomed_pk).exists()
    assert _counts(survivor) == survivor_before
    for model in BANK_OWNED:
        # Exactly the doomed bank's rows went: as many as the survivor (built the same way) still has.
        assert (
            totals_before[model] - model.objects.count()
            == model.objects.filter(
                **({"bank": survivor} if hasattr(model, "bank") else _owner_filter(model, survivor))
            ).count()
        ), model.__name__


def _owner_filter(model, bank: Bank) -> dict:
    return {"unit__bank": bank} if model is UnitEntity else {"mental_model__bank": bank}


def test_deleting_a_bank_is_one_statement(django_assert_max_num_queries):
    bank = populated_bank("quick")
    with django_assert_max_num_queries(4):  # savepoint, count, delete, release
        services.delete_bank(bank=bank)


def test_the_database_refuses_an_out_of_range_disposition():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Bank.objects.create(bank_id="bad", disposition_empathy=9)
