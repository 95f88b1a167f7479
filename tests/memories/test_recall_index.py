"""The in-process recall index: a copy is used only while nothing it did not see has changed its bank.

(That it answers as PostgreSQL does is tested by tests/memories/test_recall.py, which runs every test both ways.)
These tests commit (transaction=True): the copy's coherence is about other transactions.
"""

import threading
import time

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from banks.models import Bank
from memories import recall_index
from memories.models import Document, Entity, MemoryLink, MemoryUnit, UnitEntity

pytestmark = pytest.mark.django_db(transaction=True)

FACTS = [
    "Alice adopted a beagle named Pepper.",
    "Bob moved to Lisbon for a new job.",
    "Alice's manager is Bob.",
    "Carol ran a half marathon in Porto.",
]


@pytest.fixture(autouse=True)
def no_copies(settings):
    """No copy carried between tests, and none built in the background unless a test asks."""
    settings.HINDSIGHT_RECALL_INDEX_MIN_UNITS = 1_000_000
    recall_index.forget()
    yield
    recall_index.forget()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def retain(api, bank_id, *contents):
    items = [{"content": c, "timestamp": "2024-05-08T10:00:00Z"} for c in contents]
    response = api.post(f"/v1/default/banks/{bank_id}/memories", {"items": items}, format="json")
    assert response.status_code == 200, response.json()


def recall(api, bank_id, query, **body):
    response = api.post(
        f"/v1/default/banks/{bank_id}/memories/recall", {"query": query, "trace": True, **body}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response.json()


def copied(bank_id: str) -> Bank:
    bank = Bank.objects.get(bank_id=bank_id)
    index = recall_index.build(bank.pk)
    assert index is not None
    recall_index.install(index)
    return bank


def other_connection() -> psycopg.Connection:
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params)


def test_a_fresh_copy_answers_and_a_committed_retain_sends_recall_to_the_database(api):
    retain(api, "coherent", *FACTS)
    bank = copied("coherent")
    body = recall(api, "coherent", "Who adopted a dog?")
    assert body["trace"]["read_from"] == "memory"
    assert body["results"][0]["text"].startswith("Alice adopted a beagle")

    retain(api, "coherent", "Dmitri adopted a greyhound puppy.")
    body = recall(api, "coherent", "Who adopted a dog?")
    assert body["trace"]["read_from"] == "database"
    assert any("greyhound" in r["text"] for r in body["results"])  # read-your-writes
    assert recall_index._indexes.get(bank.pk) is None  # the stale copy is dropped


def test_a_deleted_document_never_comes_back_from_a_copy(api):
    retain(api, "forgetful", *FACTS)
    bank = copied("forgetful")
    for document in Document.objects.filter(bank=bank):
        response = api.delete(f"/v1/default/banks/forgetful/documents/{document.document_id}")
        assert response.status_code == 200, response.content
    body = recall(api, "forgetful", "Who adopted a dog?")
    assert body["trace"]["read_from"] == "database"
    assert body["results"] == []


def test_changes_to_another_bank_or_rolled_back_leave_the_copy_in_use(api):
    retain(api, "steady", *FACTS)
    retain(api, "neighbour", "Erin paints watercolours.")
    copied("steady")
    retain(api, "neighbour", "Erin sold a painting.")
    with other_connection() as conn:
        conn.execute("UPDATE memories_memoryunit SET text = text || '!' WHERE text LIKE 'Carol%%'")
        conn.rollback()
    assert recall(api, "steady", "Who ran a marathon?")["trace"]["read_from"] == "memory"


def test_a_transaction_running_while_the_copy_was_read_makes_it_stale_when_it_commits(api):
    retain(api, "racing", *FACTS)
    with other_connection() as conn:
        conn.execute("UPDATE memories_memoryunit SET context = 'edited' WHERE text LIKE 'Carol%%'")
        copied("racing")  # its snapshot does not see the edit, still uncommitted
        assert recall(api, "racing", "Who ran a marathon?")["trace"]["read_from"] == "memory"
        conn.commit()
    body = recall(api, "racing", "Who ran a marathon?")
    assert body["trace"]["read_from"] == "database"
    assert body["results"][0]["context"] == "edited"


def changed_banks_after(action) -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(xid::text::bigint), 0) FROM memories_bankchange")
        before = cursor.fetchone()[0]
        action()
        cursor.execute("SELECT DISTINCT bank_id FROM memories_bankchange WHERE xid::text::bigint > %s", [before])
        return {row[0] for row in cursor.fetchall()}


@pytest.mark.parametrize(
    "write",
    [
        "unit insert",
        "unit update",
        "unit delete",
        "link update",
        "link delete",
        "entity rename",
        "unit entity delete",
        "document update",
    ],
)
def test_every_write_that_recall_reads_is_logged_for_its_bank(api, write):
    retain(api, "logged", *FACTS)
    retain(api, "unrelated", "Erin paints watercolours.")
    bank = Bank.objects.get(bank_id="logged")
    unit = MemoryUnit.objects.filter(bank=bank).first()
    link = MemoryLink.objects.filter(bank=bank).first()
    entity = Entity.objects.filter(bank=bank).first()
    actions = {
        "unit insert": lambda: MemoryUnit.objects.create(bank=bank, text="A new fact.", fact_type="world"),
        "unit update": lambda: MemoryUnit.objects.filter(pk=unit.pk).update(context="changed"),
        "unit delete": lambda: MemoryUnit.objects.filter(pk=unit.pk).delete(),
        "link update": lambda: MemoryLink.objects.filter(pk=link.pk).update(weight=0.5),
        "link delete": lambda: MemoryLink.objects.filter(pk=link.pk).delete(),
        "entity rename": lambda: Entity.objects.filter(pk=entity.pk).update(canonical_name="Renamed"),
        "unit entity delete": lambda: UnitEntity.objects.filter(entity=entity).delete(),
        "document update": lambda: Document.objects.filter(pk=unit.document_id).update(document_id="renamed"),
    }
    assert changed_banks_after(actions[write]) == {bank.pk}


def test_a_large_bank_gets_its_copy_built_in_the_background_in_web_processes_only(api, settings, monkeypatch):
    retain(api, "background", *FACTS)
    settings.HINDSIGHT_RECALL_INDEX_MIN_UNITS = 1
    assert recall(api, "background", "Who adopted a dog?")["trace"]["read_from"] == "database"
    assert not recall_index.building(Bank.objects.get(bank_id="background").pk)  # not a web process: no build
    recall_index.forget()
    monkeypatch.setattr(recall_index, "BUILDS_ENABLED", True)  # what hindsight_site/wsgi.py does
    bank = Bank.objects.get(bank_id="background")
    assert recall(api, "background", "Who adopted a dog?")["trace"]["read_from"] == "database"
    deadline = time.monotonic() + 30
    while recall_index._indexes.get(bank.pk) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recall(api, "background", "Who adopted a dog?")["trace"]["read_from"] == "memory"
    assert not any(t.name.startswith("recall-index-") for t in threading.enumerate() if t.is_alive())


def test_tag_filters_are_left_to_the_database(api):
    retain(api, "tags", *FACTS)
    copied("tags")
    assert recall(api, "tags", "Who adopted a dog?", tags=["pets"])["trace"]["read_from"] == "database"
    assert recall(api, "tags", "Who adopted a dog?", tags_match="exact")["trace"]["read_from"] == "database"
    assert recall(api, "tags", "Who adopted a dog?")["trace"]["read_from"] == "memory"


def test_copies_beyond_the_unit_cap_are_dropped_least_recently_used_first(api, settings):
    for name in ("first", "second", "third"):
        retain(api, name, *FACTS)
    settings.HINDSIGHT_RECALL_INDEX_MAX_UNITS = 2 * len(FACTS)
    first, second, third = (copied(name) for name in ("first", "second", "third"))
    assert set(recall_index._indexes) == {second.pk, third.pk}
    assert first.pk not in recall_index._indexes


def test_pruning_the_change_log_makes_older_copies_stale(api):
    retain(api, "pruned", *FACTS)
    bank = copied("pruned")
    assert recall_index.prune_changes(keep=0) > 0
    assert recall(api, "pruned", "Who adopted a dog?")["trace"]["read_from"] == "database"
    copied("pruned")  # a copy built after the pruning is not stale
    assert recall(api, "pruned", "Who adopted a dog?")["trace"]["read_from"] == "memory"
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM memories_bankchange WHERE bank_id = %s", [bank.pk])
        assert cursor.fetchone()[0] == 0


def test_a_copy_left_unused_is_dropped(api, monkeypatch):
    retain(api, "idle", *FACTS)
    bank = copied("idle")
    recall_index._indexes[bank.pk].used_at -= recall_index.IDLE_SECONDS + 1
    assert recall(api, "idle", "Who adopted a dog?")["trace"]["read_from"] == "database"
    assert bank.pk not in recall_index._indexes


def test_web_processes_build_copies(monkeypatch):
    import importlib

    import hindsight_site.wsgi

    monkeypatch.setattr(recall_index, "BUILDS_ENABLED", False)
    importlib.reload(hindsight_site.wsgi)
    assert recall_index.BUILDS_ENABLED is True


def test_a_bank_with_a_unit_lacking_an_embedding_is_not_copied(api):
    retain(api, "partial", *FACTS)
    bank = Bank.objects.get(bank_id="partial")
    MemoryUnit.objects.filter(bank=bank).update(embedding=None)
    assert recall_index.build(bank.pk) is None


def test_a_stale_copy_is_rebuilt_after_twenty_build_times_or_the_configured_seconds(monkeypatch, settings):
    started = []

    class RecordedThread:
        def __init__(self, *, target, args, name, daemon):
            self.bank_pk = args[0]

        def start(self):
            started.append(self.bank_pk)

    monkeypatch.setattr(recall_index.threading, "Thread", RecordedThread)
    settings.HINDSIGHT_RECALL_INDEX_REBUILD_SECONDS = 300
    now = time.monotonic()
    recall_index._build_took.update({1: 0.5, 2: 20.0})
    recall_index._build_started.update({1: now - 5, 2: now - 200})
    recall_index._start_build(1)  # 5 s < 20 x 0.5 s: too soon
    recall_index._start_build(2)  # 200 s < min(300, 20 x 20 s): too soon
    assert started == []
    recall_index._build_started.update({1: now - 11, 2: now - 301})
    recall_index._start_build(1)
    recall_index._start_build(2)
    assert started == [1, 2]
    recall_index._building.clear()
