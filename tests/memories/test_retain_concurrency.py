"""Concurrent retains into one bank that mention the same people: both commit, and the counts add up.

Each large request is written in two parts inside its transaction; entity rows and co-occurrence pairs are still
locked in one sorted pass per statement, so two writers queue instead of deadlocking.
"""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

from banks.models import Bank
from memories.models import Entity, EntityCooccurrence, MemoryUnit
from memories.services import RetainItem, retain_items

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = ["Alice", "Bob", "Carol", "Dmitri", "Esther", "Farid"]
# Writer 0's first documents name the first three people and its last documents the other three; writer 1 the other
# way round: written part by part with locks taken per part, each writer would hold what the other needs next.
GROUPS = [NAMES[:3], NAMES[3:]]
ROUNDS = 4


def _items(writer: int, round_: int) -> list[RetainItem]:
    items = []
    for document in range(6):
        group = GROUPS[(document >= 3) ^ writer]
        sentences = [
            f"{group[j % 3]} met {group[(j + 1) % 3]} and {group[(j + 2) % 3]} at cafe {writer}{round_}{document}{j}."
            for j in range(12)
        ]
        items.append(
            RetainItem(
                content=" ".join(sentences),
                document_id=f"w{writer}-r{round_}-d{document}",
                timestamp=datetime(2024, 5, 1 + document, tzinfo=UTC),
            )
        )
    return items


def test_two_writers_mentioning_the_same_people_both_commit():
    bank = Bank.objects.create(bank_id="together", name="together")
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for round_ in range(ROUNDS):
                retain_items(bank=bank, items=_items(number, round_))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(number,)) for number in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors
    units = MemoryUnit.objects.filter(bank=bank)
    assert units.count() == 2 * ROUNDS * 6 * 12
    for entity in Entity.objects.filter(bank=bank, canonical_name__in=NAMES):
        assert entity.mention_count == units.filter(unit_entities__entity=entity).count(), entity.canonical_name
    assert EntityCooccurrence.objects.filter(bank=bank).exists()
