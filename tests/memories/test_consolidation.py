"""Consolidation of facts into observations, with the scripted test provider standing in for the model.

Runs are performed in this process (``operations.run`` or ``run_consolidation``); the end-to-end path with a real
Celery worker is in ``test_consolidation_async.py``.
"""

from __future__ import annotations

import json
import uuid

import pytest
from rest_framework.test import APIClient

from hindsight_site import llm
from hindsight_site.llm_testing import scripted_llm
from memories import consolidation, operations
from memories.consolidation import _Fact, _Observation, _parse, run_consolidation, schedule_consolidation
from memories.embeddings import get_embedding_provider
from memories.models import MemoryUnit, ObservationHistory, Operation
from memories.recall import count_tokens
from tests.factories import populated_bank

pytestmark = pytest.mark.django_db

EMPTY = {"creates": [], "updates": [], "deletes": []}


@pytest.fixture
def scripted(settings, monkeypatch):
    """A consolidation model only: retain stays on the offline extractor."""
    settings.HINDSIGHT_LLM_MODEL = None
    settings.HINDSIGHT_LLM_RETAIN_MODEL = None
    settings.HINDSIGHT_LLM_CONSOLIDATION_MODEL = "hindsight-test/consolidation"
    monkeypatch.setattr(llm, "_sleep", lambda seconds: None)
    scripted_llm.reset()
    yield scripted_llm
    scripted_llm.reset()


@pytest.fixture
def offline(settings):
    settings.HINDSIGHT_LLM_MODEL = None
    settings.HINDSIGHT_LLM_RETAIN_MODEL = None
    settings.HINDSIGHT_LLM_CONSOLIDATION_MODEL = None


def api() -> APIClient:
    return APIClient()


def retain(bank_id: str, *sentences: str, **fields) -> list[MemoryUnit]:
    """One request per sentence, so facts are created (and consolidated) in the order given."""
    units = []
    for sentence in sentences:
        before = set(MemoryUnit.objects.filter(bank__bank_id=bank_id).values_list("id", flat=True))
        body = {"items": [{"content": sentence, "timestamp": "2024-05-08T10:00:00Z", **fields}]}
        response = api().post(f"/v1/default/banks/{bank_id}/memories", body, format="json")
        assert response.status_code == 200, response.json()
        units.extend(MemoryUnit.objects.filter(bank__bank_id=bank_id).exclude(id__in=before).order_by("created_at"))
    return units


def configure(bank_id: str, **updates) -> None:
    response = api().patch(f"/v1/default/banks/{bank_id}/config", {"updates": updates}, format="json")
    assert response.status_code == 200, response.json()


def observation(bank, text: str, sources: list[MemoryUnit], tags: list[str] | None = None) -> MemoryUnit:
    return MemoryUnit.objects.create(
        bank=bank,
        text=text,
        fact_type="observation",
        embedding=get_embedding_provider().embed_documents([text])[0],
        embedding_model=get_embedding_provider().model_id,
        tags=sorted(tags or []),
        source_memory_ids=[unit.id for unit in sources],
        proof_count=len(sources),
    )


def run_as_operation(bank) -> Operation:
    """Queue a run and perform it the way a worker does (claim, lease, fence, completion)."""
    queued = schedule_consolidation(bank=bank)
    assert operations.run(queued.pk, "test-worker") == "completed"
    return Operation.objects.get(pk=queued.pk)


def observations_of(bank_id: str):
    return MemoryUnit.objects.filter(bank__bank_id=bank_id, fact_type="observation").order_by("created_at")


# --- decisions and lineage -------------------------------------------------------------------------------------------


def test_new_facts_become_observations_with_lineage_history_mission_and_token_usage(scripted, bank_id):
    configure(bank_id, observations_mission="Only durable drink preferences.")
    tea, coffee, rain = retain(bank_id, "Alice drinks green tea every morning.", "Alice avoids coffee.", "It rained.")
    scripted.push(
        {
            "creates": [
                {"text": "Alice prefers tea to coffee.", "source_facts": ["F1", "F2"], "reason": "durable taste"},
                {"text": "Invented lineage is dropped.", "source_facts": ["F9"], "reason": "unknown fact"},
            ],
            "updates": [],
            "deletes": [],
        },
        usage={"prompt_tokens": 300, "completion_tokens": 50},
    )
    operation = run_as_operation(tea.bank)

    [created] = observations_of(bank_id)
    assert created.text == "Alice prefers tea to coffee."
    assert created.source_memory_ids == [tea.id, coffee.id]
    assert created.proof_count == 2
    assert created.tags == []
    assert created.embedding is not None
    assert created.mentioned_at == tea.mentioned_at  # times follow the source facts
    assert MemoryUnit.objects.filter(pk__in=[tea.pk, coffee.pk, rain.pk], consolidated_at__isnull=False).count() == 3
    [history] = ObservationHistory.objects.filter(observation=created)
    assert (history.action, history.source_memory_ids, history.operation_id) == (
        "created",
        [tea.id, coffee.id],
        operation.pk,
    )

    call = scripted.calls[0]
    assert call.model == "hindsight-test/consolidation"
    assert "Only durable drink preferences." in call.user
    assert "[F1] Alice drinks green tea every morning." in call.user
    assert "[F3] It rained." in call.user
    assert call.temperature == 0.0 and call.max_tokens <= consolidation.OUTPUT_TOKENS_MAX
    assert operation.result["usage"]["input_tokens"] == 300
    assert operation.result["usage"]["output_tokens"] == 50
    assert operation.result["observations_created"] == 1
    assert operation.result["facts_consolidated"] == 3
    assert scripted.pending() == 0


def test_updates_and_deletes_apply_to_the_related_observations_shown_to_the_model(scripted, bank_id, monkeypatch):
    monkeypatch.setattr(consolidation, "RELATED_MIN_SIMILARITY", -1.0)  # show the model every observation
    tea, cats = retain(bank_id, "Alice drinks green tea every morning.", "Alice has two cats.")
    bank = tea.bank
    MemoryUnit.objects.filter(pk__in=[tea.pk, cats.pk]).update(consolidated_at="2024-05-08T10:00:00Z")
    drinks = observation(bank, "Alice enjoys drinking tea.", [tea])
    pets = observation(bank, "Alice has no pets.", [cats])
    [matcha] = retain(bank_id, "Alice switched to matcha tea and adopted a dog.")
    # The refs follow similarity to the new fact: script both orders, the prompt picks one.
    for drinks_ref, pets_ref in (("O1", "O2"), ("O2", "O1")):
        scripted.push(
            {
                "creates": [],
                "updates": [
                    {
                        "observation": drinks_ref,
                        "text": "Alice drinks matcha tea.",
                        "source_facts": ["F1"],
                        "reason": "r",
                    }
                ],
                "deletes": [{"observation": pets_ref, "reason": "she has a dog now"}],
            },
            match=f"[{drinks_ref}] Alice enjoys drinking tea.",
        )
    run = run_consolidation(bank=bank)

    assert "evidence: Alice drinks green tea every morning." in scripted.calls[0].user
    drinks.refresh_from_db()
    assert drinks.text == "Alice drinks matcha tea."
    assert drinks.token_count == count_tokens("Alice drinks matcha tea.")  # saved with the new text
    assert drinks.source_memory_ids == [tea.id, matcha.id]
    assert drinks.proof_count == 2
    assert not MemoryUnit.objects.filter(pk=pets.pk).exists()
    [update] = ObservationHistory.objects.filter(observation=drinks)
    assert (update.action, update.previous_text, update.source_memory_ids) == (
        "updated",
        "Alice enjoys drinking tea.",
        [matcha.id],
    )
    assert run["observations_updated"] == 1 and run["observations_deleted"] == 1


def test_a_near_duplicate_observation_is_merged_into_the_existing_one(scripted, bank_id):
    tea, more_tea = retain(bank_id, "Alice drinks green tea every morning.", "Alice ordered green tea again.")
    bank = tea.bank
    MemoryUnit.objects.filter(pk=tea.pk).update(consolidated_at="2024-05-08T10:00:00Z")
    existing = observation(bank, "Alice loves green tea.", [tea])
    scripted.push(
        {"creates": [{"text": "Alice loves green tea!", "source_facts": ["F1"], "reason": "r"}], **_no("creates")}
    )
    result = run_consolidation(bank=bank)

    [survivor] = observations_of(bank_id)
    assert survivor.pk == existing.pk
    assert survivor.source_memory_ids == [tea.id, more_tea.id]
    assert survivor.proof_count == 2
    assert result["observations_created"] == 1 and result["observations_merged"] == 1
    history = ObservationHistory.objects.filter(observation=survivor).order_by("created_at")
    actions = list(history.values_list("action", flat=True))
    assert actions == ["created", "merged"]  # the duplicate's own history moved to the survivor


def _no(*keys) -> dict:
    return {key: [] for key in ("creates", "updates", "deletes") if key not in keys}


def test_distinct_observations_are_not_merged(scripted, bank_id):
    tea, _ = retain(bank_id, "Alice drinks green tea every morning.", "Bob goes hiking in the Alps.")
    bank = tea.bank
    MemoryUnit.objects.filter(pk=tea.pk).update(consolidated_at="2024-05-08T10:00:00Z")
    observation(bank, "Alice loves green tea.", [tea])
    scripted.push(
        {"creates": [{"text": "Bob is an avid hiker.", "source_facts": ["F1"], "reason": "r"}], **_no("creates")}
    )
    run_consolidation(bank=bank)
    assert sorted(observations_of(bank_id).values_list("text", flat=True)) == [
        "Alice loves green tea.",
        "Bob is an avid hiker.",
    ]


def test_observations_live_in_their_tag_scope_and_per_tag_scopes_consolidate_separately(scripted, bank_id):
    [fact] = retain(bank_id, "Alice leads the Apollo project.", tags=["work", "apollo"], observation_scopes="per_tag")
    scripted.push(
        {"creates": [{"text": "Alice leads Apollo.", "source_facts": ["F1"], "reason": "r"}], **_no("creates")}
    )
    scripted.push({"creates": [{"text": "Alice is a lead.", "source_facts": ["F1"], "reason": "r"}], **_no("creates")})
    run_consolidation(bank=fact.bank)
    assert len(scripted.calls) == 2
    assert sorted(tuple(o.tags) for o in observations_of(bank_id)) == [("apollo",), ("work",)]
    fact.refresh_from_db()
    assert fact.consolidated_at is not None
    scopes = api().get(f"/v1/default/banks/{bank_id}/observations/scopes").json()
    assert scopes["total"] == 2
    assert sorted(scope["tags"] for scope in scopes["scopes"]) == [["apollo"], ["work"]]
    assert {scope["count"] for scope in scopes["scopes"]} == {1}


# --- bounds -------------------------------------------------------------------------------------------------------


def test_facts_go_to_the_model_in_batches_and_a_run_stops_at_its_call_budget(scripted, bank_id, monkeypatch):
    configure(bank_id, consolidation_llm_batch_size=2)
    facts = retain(bank_id, *(f"Alice visited city number {i} in Europe." for i in range(5)))
    monkeypatch.setattr(consolidation, "RUN_MAX_LLM_CALLS", 2)
    scripted.push(EMPTY, times=2)
    operation = run_as_operation(facts[0].bank)

    assert len(scripted.calls) == 2
    assert [call.user.count("\n[F") for call in scripted.calls] == [2, 2]
    assert MemoryUnit.objects.filter(bank__bank_id=bank_id, consolidated_at__isnull=True).count() == 1
    assert operation.result["status"] == "partial"
    assert operation.result["llm_calls"] == 2
    assert "LLM calls per run" in operation.result["stopped_by_budget"]
    # The rest waits for one follow-up run, queued behind this one.
    follow_up = Operation.objects.get(pk=operation.result["follow_up_operation_id"])
    assert (follow_up.status, follow_up.serialization_key) == ("pending", operation.serialization_key)


def test_a_run_takes_at_most_its_fact_cap(scripted, bank_id, monkeypatch):
    facts = retain(bank_id, "Alice likes tea.", "Bob likes coffee.", "Carol likes juice.")
    monkeypatch.setattr(consolidation, "RUN_MAX_FACTS", 2)
    scripted.push(EMPTY)
    result = run_consolidation(bank=facts[0].bank)
    assert result["facts_consolidated"] == 2
    assert "[F3]" not in scripted.calls[0].user
    assert result["follow_up_operation_id"]


def test_source_facts_shown_with_observations_respect_the_token_caps(scripted, bank_id):
    configure(bank_id, consolidation_source_facts_max_tokens_per_observation=12)
    evidence = retain(bank_id, *(f"Alice drank tea with friend number {i}." for i in range(4)))
    bank = evidence[0].bank
    MemoryUnit.objects.filter(bank=bank).update(consolidated_at="2024-05-08T10:00:00Z")
    observation(bank, "Alice drinks tea with friends.", evidence)
    retain(bank_id, "Alice drank tea with her sister.")
    scripted.push(EMPTY)
    run_consolidation(bank=bank)
    shown = [line for line in scripted.calls[0].user.splitlines() if line.strip().startswith("evidence:")]
    assert len(shown) == 1  # each fact is about 11 tokens: one fits under 12
    assert "friend number 3" in shown[0]  # the newest evidence first


def test_an_unusable_answer_splits_the_batch_and_a_lone_failing_fact_is_marked_failed(scripted, bank_id):
    configure(bank_id, consolidation_llm_batch_size=2)
    good, bad = retain(bank_id, "Alice likes tea.", "Bob likes coffee.")
    scripted.push("this is not JSON")
    scripted.push(EMPTY, match="[F1] Alice likes tea.")
    scripted.push("{}", finish_reason="length", match="[F1] Bob likes coffee.")  # truncated: never retried as is
    result = run_consolidation(bank=good.bank)

    assert len(scripted.calls) == 3
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.consolidated_at is not None and good.consolidation_failed_at is None
    assert bad.consolidated_at is None and bad.consolidation_failed_at is not None
    assert result["facts_failed"] == 1

    recovered = api().post(f"/v1/default/banks/{bank_id}/consolidation/recover")
    assert recovered.status_code == 200
    assert recovered.json() == {"retried_count": 1}
    bad.refresh_from_db()
    assert bad.consolidation_failed_at is None


def test_a_provider_outage_retries_the_operation_later_and_keeps_finished_batches(scripted, bank_id, settings):
    settings.HINDSIGHT_LLM_MAX_RETRIES = 0
    configure(bank_id, consolidation_llm_batch_size=1)
    first, second = retain(bank_id, "Alice likes tea.", "Bob likes coffee.")
    scripted.push(EMPTY, usage={"prompt_tokens": 100, "completion_tokens": 10})
    scripted.push_error("rate_limit")
    queued = schedule_consolidation(bank=first.bank)
    assert operations.run(queued.pk, "test-worker") == "pending"  # back in the queue with backoff
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.consolidated_at is not None and second.consolidated_at is None
    queued.refresh_from_db()
    assert queued.result["usage"]["input_tokens"] == 100  # spent tokens are recorded even though the run failed


def test_bad_credentials_fail_the_run_without_marking_facts(scripted, bank_id):
    [fact] = retain(bank_id, "Alice likes tea.")
    scripted.push_error("auth")
    queued = schedule_consolidation(bank=fact.bank)
    assert operations.run(queued.pk, "test-worker") == "failed"
    fact.refresh_from_db()
    assert fact.consolidation_failed_at is None and fact.consolidated_at is None
    assert "cannot be used" in Operation.objects.get(pk=queued.pk).error_message


# --- offline and disabled ------------------------------------------------------------------------------------------


def test_without_a_model_runs_are_skipped_with_a_clear_status_and_facts_stay_pending(offline, bank_id):
    [fact] = retain(bank_id, "Alice likes tea.")
    assert not Operation.objects.filter(bank=fact.bank, operation_type="consolidation").exists()  # none queued
    response = api().post(f"/v1/default/banks/{bank_id}/consolidate", format="json")
    assert response.status_code == 200
    assert operations.run(response.json()["operation_id"], "test-worker") == "completed"
    result = Operation.objects.get(pk=response.json()["operation_id"]).result
    assert result["status"] == "skipped"
    assert "no LLM is configured for consolidation" in result["reason"]
    assert result["usage"]["total_tokens"] == 0
    fact.refresh_from_db()
    assert fact.consolidated_at is None
    assert not observations_of(bank_id).exists()


def test_a_bank_with_observations_disabled_is_skipped(scripted, bank_id):
    configure(bank_id, enable_observations=False)
    [fact] = retain(bank_id, "Alice likes tea.")
    assert not Operation.objects.filter(bank=fact.bank, operation_type="consolidation").exists()
    result = run_consolidation(bank=fact.bank)
    assert result["status"] == "skipped" and "disabled" in result["reason"]
    assert scripted.calls == []


def test_retain_queues_one_consolidation_run_in_its_transaction(scripted, bank_id, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        [fact] = retain(bank_id, "Alice likes tea.")
        retain(bank_id, "Bob likes coffee.")
    queued = Operation.objects.filter(bank=fact.bank, operation_type="consolidation")
    assert queued.count() == 1  # the second retain found the first run still waiting
    assert queued.get().serialization_key == f"consolidation:{fact.bank.pk}"
    assert len(callbacks) >= 1
    configure(bank_id, enable_auto_consolidation=False)
    Operation.objects.filter(bank=fact.bank).delete()
    retain(bank_id, "Carol likes juice.")
    assert not Operation.objects.filter(bank=fact.bank, operation_type="consolidation").exists()


# --- lineage integrity --------------------------------------------------------------------------------------------


def test_replacing_a_source_fact_drops_its_observations_and_requeues_their_other_facts(scripted, bank_id):
    [old] = retain(bank_id, "Alice lives in Paris.", document_id="home")
    [other] = retain(bank_id, "Alice walks along the Seine.")
    bank = old.bank
    MemoryUnit.objects.filter(bank=bank).update(consolidated_at="2024-05-08T10:00:00Z")
    derived = observation(bank, "Alice is a Parisian.", [old, other])
    unrelated = observation(bank, "Alice likes walks.", [other])
    retain(bank_id, "Alice lives in Lyon.", document_id="home")  # replaces the document's facts

    assert not MemoryUnit.objects.filter(pk=derived.pk).exists()
    assert MemoryUnit.objects.filter(pk=unrelated.pk).exists()
    other.refresh_from_db()
    assert other.consolidated_at is None  # consolidated again, without the replaced fact


def test_a_run_repairs_observations_whose_source_fact_was_invalidated(scripted, bank_id):
    tea, coffee = retain(bank_id, "Alice likes tea.", "Alice likes coffee.")
    bank = tea.bank
    MemoryUnit.objects.filter(bank=bank).update(consolidated_at="2024-05-08T10:00:00Z")
    derived = observation(bank, "Alice likes hot drinks.", [tea, coffee])
    MemoryUnit.objects.filter(pk=tea.pk).update(state="invalidated")
    scripted.push(EMPTY)
    result = run_consolidation(bank=bank)
    assert result["lineage_repaired"] == 1
    assert not MemoryUnit.objects.filter(pk=derived.pk).exists()
    assert "[F1] Alice likes coffee." in scripted.calls[0].user  # its remaining fact is consolidated again


# --- routes -------------------------------------------------------------------------------------------------------


def test_trigger_consolidation_answers_an_operation_and_reuses_a_waiting_one(offline, bank_id):
    url = f"/v1/default/banks/{bank_id}/consolidate"
    first = api().post(url, format="json")
    assert first.status_code == 200
    assert first.json()["deduplicated"] is False
    again = api().post(url, None, format="json")
    assert again.json() == {"operation_id": first.json()["operation_id"], "deduplicated": True}
    scoped = api().post(url, {"observation_scopes": [["team"]]}, format="json")
    assert scoped.json()["deduplicated"] is False
    operation = Operation.objects.get(pk=scoped.json()["operation_id"])
    assert operation.operation_type == "consolidation"
    assert operation.payload["observation_scopes"] == [["team"]]
    listed = api().get(f"/v1/default/banks/{bank_id}/operations").json()
    assert {op["operation_type"] for op in listed["operations"]} == {"consolidation"}


@pytest.mark.parametrize(
    "body",
    [{"observation_scopes": "team"}, {"observation_scopes": [["ok"], "team"]}, {"observation_scopes": [[1]]}, [1]],
)
def test_a_malformed_consolidation_request_is_a_422(offline, bank_id, body):
    response = api().post(f"/v1/default/banks/{bank_id}/consolidate", body, format="json")
    assert response.status_code == 422, response.json()
    assert response.json()["detail"][0]["loc"][0] == "body"
    assert not Operation.objects.filter(bank__bank_id=bank_id).exists()


def test_scoped_consolidation_takes_only_facts_within_the_scopes(scripted, bank_id):
    retain(bank_id, "Alice likes tea.", tags=["team", "alice"])
    retain(bank_id, "Bob likes coffee.", tags=["bob"])
    scripted.push(EMPTY)
    from banks.models import Bank

    result = run_consolidation(bank=Bank.objects.get(bank_id=bank_id), observation_scopes=[["team"]])
    assert result["facts_consolidated"] == 1
    assert "Bob" not in scripted.calls[0].user


def test_history_and_clearing_routes(scripted, bank_id):
    tea, coffee = retain(bank_id, "Alice drinks green tea every morning.", "Alice avoids coffee.")
    scripted.push(
        {"creates": [{"text": "Alice prefers tea.", "source_facts": ["F1", "F2"], "reason": "taste"}], **_no("creates")}
    )
    run_consolidation(bank=tea.bank)
    [created] = observations_of(bank_id)
    base = f"/v1/default/banks/{bank_id}"

    history = api().get(f"{base}/memories/{created.pk}/history")
    assert history.status_code == 200
    [change] = history.json()
    assert change["action"] == "created" and change["text"] == "Alice prefers tea." and change["reason"] == "taste"
    assert [fact["text"] for fact in change["source_facts"]] == [tea.text, coffee.text]
    assert api().get(f"{base}/memories/{tea.pk}/history").json() == []  # a fact has no history

    cleared = api().delete(f"{base}/memories/{coffee.pk}/observations")
    assert cleared.status_code == 200
    assert cleared.json() == {"deleted_count": 1}
    assert not observations_of(bank_id).exists()
    tea.refresh_from_db()
    coffee.refresh_from_db()
    assert tea.consolidated_at is None and coffee.consolidated_at is None
    assert Operation.objects.filter(bank=tea.bank, operation_type="consolidation", status="pending").exists()

    observation(tea.bank, "Alice prefers tea.", [tea])
    everything = api().delete(f"{base}/observations")
    assert everything.status_code == 200
    assert everything.json() == {"success": True, "message": "Deleted 1 observations", "deleted_count": 1}
    assert api().delete(f"/v1/default/banks/no-such-bank-{bank_id}/observations").json()["deleted_count"] == 0


def test_another_banks_memory_is_not_found(offline, bank_id):
    other = populated_bank(f"other-{bank_id}")
    theirs = MemoryUnit.objects.filter(bank=other, fact_type="observation").first()
    retain(bank_id, "Alice likes tea.")
    base = f"/v1/default/banks/{bank_id}"
    for response in (
        api().get(f"{base}/memories/{theirs.pk}/history"),
        api().delete(f"{base}/memories/{theirs.pk}/observations"),
        api().get(f"{base}/memories/not-a-uuid/history"),
    ):
        assert response.status_code == 404
        assert "not found" in response.json()["detail"]
    assert MemoryUnit.objects.filter(pk=theirs.pk).exists()
    assert api().get("/v1/default/banks/no-such-bank/observations/scopes").status_code == 404
    assert api().get(f"{base}/observations/scopes", {"limit": 5000}).status_code == 422


def test_regenerating_entity_observations_is_retired(offline, bank_id):
    response = api().post(f"/v1/default/banks/{bank_id}/entities/some-entity/regenerate")
    assert response.status_code == 410
    assert "retired" in response.json()["detail"]


def test_recall_returns_observations_as_their_own_type_with_their_source_facts(scripted, bank_id):
    tea, coffee = retain(bank_id, "Alice drinks green tea every morning.", "Alice avoids coffee.")
    scripted.push(
        {"creates": [{"text": "Alice prefers tea.", "source_facts": ["F1", "F2"], "reason": "r"}], **_no("creates")}
    )
    run_consolidation(bank=tea.bank)
    body = {"query": "What does Alice like to drink?", "types": ["observation"], "include": {"source_facts": {}}}
    response = api().post(f"/v1/default/banks/{bank_id}/memories/recall", body, format="json")
    assert response.status_code == 200, response.json()
    [result] = response.json()["results"]
    assert (result["type"], result["text"]) == ("observation", "Alice prefers tea.")
    assert result["source_fact_ids"] == [str(tea.pk), str(coffee.pk)]
    assert set(response.json()["source_facts"]) == {str(tea.pk), str(coffee.pk)}
    everything = (
        api().post(f"/v1/default/banks/{bank_id}/memories/recall", {"query": "Alice tea"}, format="json").json()
    )
    assert "observation" in {r["type"] for r in everything["results"]}


def test_the_answer_is_held_to_known_references_one_update_per_observation_and_a_create_cap():
    facts = [_Fact(uuid.uuid4(), f"fact {i}", [], None, None, None, []) for i in range(2)]
    known = _Observation("O1", uuid.uuid4(), "old", 1, [])
    answer = {
        "creates": [{"text": f"new {i}", "source_facts": ["F1", "F1", "F7"], "reason": "r"} for i in range(9)]
        + [{"text": "no sources", "source_facts": [], "reason": "r"}],
        "updates": [
            {"observation": "O1", "text": "first", "source_facts": ["F2"], "reason": "r"},
            {"observation": "O1", "text": "second", "source_facts": ["F2"], "reason": "r"},
            {"observation": "O9", "text": "unknown", "source_facts": ["F2"], "reason": "r"},
        ],
        "deletes": [{"observation": "O5", "reason": "unknown"}],
    }
    decisions = _parse(json.dumps(answer), facts, [known])
    assert len(decisions["creates"]) == 4  # at most two new observations per fact in the batch
    assert decisions["creates"][0]["sources"] == [facts[0].id]  # duplicates and unknown refs dropped
    assert [(d["observation"].ref, d["text"]) for d in decisions["updates"]] == [("O1", "first")]
    assert decisions["deletes"] == []
