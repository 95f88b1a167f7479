"""Reflect through the API: the offline answer, the tool loop and its citations, budgets, timeouts, who is answering,
directives enforced by regeneration, and structured output."""

from __future__ import annotations

import time

import pytest

from directives.prompts import DEFAULT_ROLE, DISPOSITION_RULES
from directives.reflect import BUDGETS, EXTRACTIVE_LABEL, ReflectBudget
from tests.directives.conftest import memory_id, reflect, tool

pytestmark = pytest.mark.django_db


# --- without a language model -----------------------------------------------------------------------------------


def test_without_an_llm_reflect_answers_extractively_with_citations(api, bank_id, memories):
    body = reflect(api, bank_id, "Where does Alice work?", include={"facts": {}})
    assert body["text"].startswith(EXTRACTIVE_LABEL)
    google = memory_id(memories, "Alice works at Google")
    assert f"[{google}]" in body["text"]
    cited = [m["id"] for m in body["based_on"]["memories"]]
    assert google in cited
    assert all(f"[{pk}]" in body["text"] for pk in cited)
    assert body["usage"]["total_tokens"] == 0
    assert body["structured_output"] is None


def test_without_an_llm_a_schema_gets_an_explanation_instead_of_structured_output(api, bank_id, memories):
    body = reflect(api, bank_id, "Where does Alice work?", response_schema={"type": "object"})
    assert body["structured_output"] is None
    assert "needs a language model" in body["structured_output_error"]


def test_reflect_on_an_unknown_bank_answers_without_creating_it(api, bank_id):
    from banks.models import Bank

    body = reflect(api, bank_id, "Anything?", include={"facts": {}})
    assert "no memories" in body["text"]
    assert body["based_on"] == {"memories": [], "mental_models": [], "directives": []}
    assert not Bank.objects.filter(bank_id=bank_id).exists()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "query"]),
        ({"query": "q", "budget": "huge"}, ["body", "budget"]),
        ({"query": "q", "response_schema": {"type": "nonsense"}}, ["body", "response_schema"]),
        ({"query": "q", "fact_types": ["opinion"]}, ["body", "fact_types", 0]),
        ({"query": "q", "tags_match": "some"}, ["body", "tags_match"]),
        ({"query": "q", "include": {"tool_calls": {"output": "loud"}}}, ["body", "include", "tool_calls", "output"]),
    ],
)
def test_bad_reflect_requests_answer_422_naming_the_field(api, bank_id, body, loc):
    response = api.post(f"/v1/default/banks/{bank_id}/reflect", body, format="json")
    assert response.status_code == 422, response.json()
    assert response.json()["detail"][0]["loc"] == loc


# --- the agent loop ---------------------------------------------------------------------------------------------


def test_the_agent_calls_tools_and_cites_only_memories_it_retrieved(api, bank_id, memories, scripted):
    google = memory_id(memories, "Alice works at Google")
    scripted.push(tool_calls=[tool("recall", query="Alice employer", reason="facts about Alice's job")])
    scripted.push(
        tool_calls=[tool("done", answer="Alice is a software engineer at Google.", memory_ids=[google, "invented-id"])]
    )
    body = reflect(api, bank_id, "Where does Alice work?", include={"facts": {}, "tool_calls": {}})
    assert body["text"] == "Alice is a software engineer at Google."
    assert [m["id"] for m in body["based_on"]["memories"]] == [google]  # the invented id is dropped
    assert body["based_on"]["memories"][0]["text"].startswith("Alice works at Google")
    [call] = body["trace"]["tool_calls"]
    assert call["tool"] == "recall" and call["iteration"] == 1
    assert call["input"]["query"] == "Alice employer"
    assert any(m["id"] == google for m in call["output"]["memories"])
    assert [c["scope"] for c in body["trace"]["llm_calls"]] == ["agent_1", "agent_2"]
    # The model saw the recalled memory as the tool's answer, and was offered the retrieval tools.
    second = scripted.calls[1].messages
    assert any(m["role"] == "tool" and "Alice works at Google" in m["content"] for m in second)
    offered = {t["function"]["name"] for t in scripted.calls[0].tools}
    assert {"recall", "search_observations", "expand", "done"} <= offered
    assert "search_mental_models" not in offered  # the bank has none
    assert body["usage"]["total_tokens"] > 0
    assert scripted.pending() == 0


def test_the_agent_may_not_answer_before_retrieving_anything(api, bank_id, memories, scripted):
    scripted.push(tool_calls=[tool("done", answer="From my own knowledge.")])
    scripted.push(tool_calls=[tool("recall", query="Alice")])
    scripted.push(tool_calls=[tool("done", answer="From the memories.")])
    body = reflect(api, bank_id, "Who is Alice?")
    assert body["text"] == "From the memories."
    refusal = [m for m in scripted.calls[1].messages if m["role"] == "tool"]
    assert "Retrieve evidence" in refusal[0]["content"]


def test_expand_returns_the_source_chunk_of_a_retrieved_memory(api, bank_id, memories, scripted):
    zurich = memory_id(memories, "Alice moved to Zurich")
    scripted.push(tool_calls=[tool("recall", query="Alice moved")])
    scripted.push(tool_calls=[tool("expand", memory_ids=[zurich, "not-retrieved"], depth="chunk")])
    scripted.push(tool_calls=[tool("done", answer="Zurich.", memory_ids=[zurich])])
    body = reflect(api, bank_id, "Where did Alice move?", budget="mid", include={"tool_calls": {"output": True}})
    expand = body["trace"]["tool_calls"][1]
    assert expand["tool"] == "expand"
    assert [s["memory_id"] for s in expand["output"]["sources"]] == [zurich]
    assert "Zurich" in expand["output"]["sources"][0]["text"]


def test_the_iteration_budget_forces_an_answer_and_then_a_synthesis(api, bank_id, memories, scripted):
    # low allows 3 agent turns; the last one offers only done. A model that keeps searching gets a tool-less
    # synthesis call instead of more turns.
    scripted.push(tool_calls=[tool("recall", query="Alice")], times=3)
    scripted.push("Alice works at Google (synthesised).")
    body = reflect(api, bank_id, "Who is Alice?", include={"tool_calls": {"output": False}})
    assert body["text"] == "Alice works at Google (synthesised)."
    scopes = [c["scope"] for c in body["trace"]["llm_calls"]]
    assert scopes == ["agent_1", "agent_2", "agent_3", "final"]
    assert [t["function"]["name"] for t in scripted.calls[2].tools] == ["done"]
    assert scripted.calls[3].tools is None
    assert len(body["trace"]["tool_calls"]) == 2  # the third search was refused
    assert all(call["output"] is None for call in body["trace"]["tool_calls"])  # output: false


def test_tool_output_is_capped_by_the_budget(api, bank_id, scripted, monkeypatch):
    from tests.directives.conftest import retain

    retain(api, bank_id, *[f"Alice visited museum number {n} in Paris and liked its paintings." for n in range(60)])
    monkeypatch.setitem(
        BUDGETS,
        "low",
        ReflectBudget(
            max_iterations=3, wall_seconds=45, tool_tokens=120, evidence_tokens=300, regenerations=1, offline_facts=5
        ),
    )
    scripted.push(tool_calls=[tool("recall", query="Alice museum Paris", max_tokens=100000)])
    scripted.push(tool_calls=[tool("done", answer="Many museums.")])
    body = reflect(api, bank_id, "Which museums did Alice visit?", include={"tool_calls": {}})
    from memories.recall import count_tokens

    texts = " ".join(m["text"] for m in body["trace"]["tool_calls"][0]["output"]["memories"])
    assert 0 < count_tokens(texts) <= 120


def test_a_slow_provider_gets_a_timeout_answer_not_a_hung_request(api, bank_id, memories, scripted, monkeypatch):
    monkeypatch.setitem(
        BUDGETS,
        "low",
        ReflectBudget(
            max_iterations=3, wall_seconds=1, tool_tokens=1500, evidence_tokens=4000, regenerations=1, offline_facts=5
        ),
    )
    scripted.push(tool_calls=[tool("recall", query="Alice")], delay=4)
    started = time.monotonic()
    body = reflect(api, bank_id, "Where does Alice work?", include={"facts": {}})
    assert time.monotonic() - started < 3
    assert body["text"].startswith("**Timed out**")
    assert "1-second limit" in body["text"]
    assert body["based_on"]["memories"]  # the timeout answer still cites what the memories say


def test_provider_failures_answer_503_when_transient_and_502_when_refused(api, bank_id, memories, scripted):
    scripted.push_error("rate_limit", times=10)
    assert api.post(f"/v1/default/banks/{bank_id}/reflect", {"query": "q"}, format="json").status_code == 503
    scripted.reset()
    scripted.push_error("auth")
    response = api.post(f"/v1/default/banks/{bank_id}/reflect", {"query": "q"}, format="json")
    assert response.status_code == 502
    assert "refused" in response.json()["detail"]


# --- who is answering -------------------------------------------------------------------------------------------


def test_mission_and_disposition_are_in_the_system_prompt(api, bank_id, memories, scripted):
    mission = "I am Alice's career coach; I ground every answer in her documented decisions."
    response = api.patch(
        f"/v1/default/banks/{bank_id}/config",
        {
            "updates": {
                "reflect_mission": mission,
                "disposition_skepticism": 5,
                "disposition_literalism": 1,
                "disposition_empathy": 4,
            }
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    scripted.push(tool_calls=[tool("recall", query="Alice")])
    scripted.push(tool_calls=[tool("done", answer="ok")])
    reflect(api, bank_id, "How is Alice doing?")
    system = scripted.calls[0].system
    assert mission in system
    assert "skepticism=5, literalism=1, empathy=4" in system
    assert DISPOSITION_RULES["skepticism"]["high"] in system
    assert DISPOSITION_RULES["literalism"]["low"] in system
    assert DISPOSITION_RULES["empathy"]["high"] in system
    assert DISPOSITION_RULES["skepticism"]["low"] not in system


def test_a_default_bank_is_balanced_and_uses_the_default_role(api, bank_id, memories, scripted):
    scripted.push(tool_calls=[tool("recall", query="Alice")])
    scripted.push(tool_calls=[tool("done", answer="ok")])
    reflect(api, bank_id, "How is Alice doing?")
    system = scripted.calls[0].system
    assert DEFAULT_ROLE in system
    assert "skepticism=3, literalism=3, empathy=3" in system
    assert not any(rule in system for rules in DISPOSITION_RULES.values() for rule in rules.values())


# --- directives -------------------------------------------------------------------------------------------------


def create_directive(api, bank_id, name, content, **fields):
    response = api.post(
        f"/v1/default/banks/{bank_id}/directives", {"name": name, "content": content, **fields}, format="json"
    )
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_directive_violation_triggers_a_regeneration(api, bank_id, memories, scripted):
    rule = create_directive(api, bank_id, "No employers", "Never name the company a person works for.", priority=5)
    scripted.push(tool_calls=[tool("recall", query="Alice work")])
    scripted.push(tool_calls=[tool("done", answer="Alice works at Google.")])
    scripted.push({"violations": [{"directive": 1, "reason": "names Google"}]})
    scripted.push("Alice works as a software engineer.")
    scripted.push({"violations": []})
    body = reflect(api, bank_id, "Where does Alice work?", include={"facts": {}, "tool_calls": {}})
    assert body["text"] == "Alice works as a software engineer."
    assert body["based_on"]["directives"] == [{"id": rule["id"], "name": rule["name"], "content": rule["content"]}]
    scopes = [c["scope"] for c in body["trace"]["llm_calls"]]
    assert scopes == ["agent_1", "agent_2", "directive_check_1", "regenerate_1", "directive_check_2"]
    # The rule is stated as a hard rule to the agent, and the rewrite is told what it broke.
    assert "Never name the company a person works for." in scripted.calls[0].system
    assert "REJECTED" in scripted.calls[0].system
    assert "names Google" in scripted.calls[3].user
    assert "Alice works at Google." in scripted.calls[2].user  # the checker saw the draft
    assert scripted.pending() == 0


def test_an_answer_that_keeps_violating_is_refused_not_returned(api, bank_id, memories, scripted):
    create_directive(api, bank_id, "No employers", "Never name the company a person works for.")
    scripted.push(tool_calls=[tool("recall", query="Alice work")])
    scripted.push(tool_calls=[tool("done", answer="Alice works at Google.")])
    scripted.push({"violations": [{"directive": 1, "reason": "names Google"}]})
    scripted.push("Google employs Alice.")
    scripted.push({"violations": [{"directive": 1, "reason": "still names Google"}]})
    body = reflect(api, bank_id, "Where does Alice work?")  # low: one regeneration
    assert "Google" not in body["text"]
    assert "No employers" in body["text"]


def test_directives_apply_by_tag_scope_and_priority(api, bank_id, memories, scripted):
    create_directive(api, bank_id, "Global low", "Answer in English.", priority=1)
    create_directive(api, bank_id, "Global high", "Be brief.", priority=9)
    create_directive(api, bank_id, "Finance only", "Never give investment advice.", tags=["finance"])
    create_directive(api, bank_id, "Inactive", "Shout.", is_active=False)

    def applied(**body):
        scripted.reset()
        scripted.push(tool_calls=[tool("recall", query="Alice")])
        scripted.push(tool_calls=[tool("done", answer="ok")])
        scripted.push({"violations": []})
        result = reflect(api, bank_id, "Who is Alice?", include={"facts": {}}, **body)
        return [d["name"] for d in result["based_on"]["directives"]]

    assert applied() == ["Global high", "Global low"]
    assert applied(tags=["finance"]) == ["Global high", "Global low", "Finance only"]
    assert applied(tags=["sports"]) == ["Global high", "Global low"]
    assert applied(apply_all_directives=True) == ["Global high", "Global low", "Finance only"]


# --- structured output ------------------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"employer": {"type": "string"}, "role": {"type": "string"}},
    "required": ["employer"],
    "additionalProperties": False,
}


def test_structured_output_is_validated_against_the_schema_and_retried_once(api, bank_id, memories, scripted):
    scripted.push(tool_calls=[tool("recall", query="Alice work")])
    scripted.push(tool_calls=[tool("done", answer="Alice is a software engineer at Google.")])
    scripted.push({"company": "Google"})  # invalid: employer missing, extra key
    scripted.push({"employer": "Google", "role": "software engineer"})
    body = reflect(api, bank_id, "Where does Alice work?", response_schema=SCHEMA)
    assert body["structured_output"] == {"employer": "Google", "role": "software engineer"}
    assert body["text"] == "Alice is a software engineer at Google."
    assert scripted.calls[2].response_format["json_schema"]["schema"] == SCHEMA
    assert "employer" in scripted.calls[3].user  # told why the first attempt was refused


def test_structured_output_that_never_matches_is_reported_not_invented(api, bank_id, memories, scripted):
    scripted.push(tool_calls=[tool("recall", query="Alice work")])
    scripted.push(tool_calls=[tool("done", answer="Alice is at Google.")])
    scripted.push({"employer": 42}, times=2)
    body = reflect(api, bank_id, "Where does Alice work?", response_schema=SCHEMA)
    assert body["structured_output"] is None
    assert "does not match the schema" in body["structured_output_error"]


# --- prompt preview ---------------------------------------------------------------------------------------------


def test_the_reflect_prompt_preview_shows_mission_disposition_and_directives_as_blocks(api, bank_id, memories):
    api.patch(
        f"/v1/default/banks/{bank_id}/config",
        {"updates": {"reflect_mission": "I coach Alice.", "disposition_empathy": 5}},
        format="json",
    )
    create_directive(api, bank_id, "Polite", "Always be polite.")
    response = api.post(f"/v1/default/banks/{bank_id}/prompts/preview", {"operation": "reflect"}, format="json")
    assert response.status_code == 200, response.json()
    system, user = response.json()["messages"]
    blocks = {b["section"]: b for b in system["blocks"] if b["section"]}
    assert "I coach Alice." in blocks["bank_identity"]["text"]
    assert blocks["bank_identity"]["field"] == "reflect_mission" and blocks["bank_identity"]["editable"] is True
    assert DISPOSITION_RULES["empathy"]["high"] in blocks["disposition"]["text"]
    assert "Always be polite." in blocks["directives"]["text"] and blocks["directives"]["active"] is True
    assert user["blocks"][0]["text"] == "{query}"
    other = api.post(f"/v1/default/banks/{bank_id}/prompts/preview", {"operation": "retain"}, format="json")
    assert other.status_code == 501
