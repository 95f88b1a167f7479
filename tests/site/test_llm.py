"""The LLM door: per-purpose models, retries on transient errors only, bounded backoff, no leaked keys, and the
scripted ``hindsight-test/`` provider (in-process queue and script file for subprocess servers)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import traceback
from pathlib import Path

import pytest

from hindsight_site import llm
from hindsight_site.llm_testing import scripted_llm

REPO = Path(__file__).resolve().parents[2]
SECRET = "sk-test-0123456789abcdefSECRET"
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]


@pytest.fixture(autouse=True)
def scripted(settings):
    """Every test talks to the scripted provider with a known key; sleeps are recorded, never slept."""
    settings.HINDSIGHT_LLM_MODEL = "hindsight-test/base"
    settings.HINDSIGHT_LLM_RETAIN_MODEL = None
    settings.HINDSIGHT_LLM_REFLECT_MODEL = None
    settings.HINDSIGHT_LLM_CONSOLIDATION_MODEL = None
    settings.HINDSIGHT_LLM_API_KEY = SECRET
    settings.HINDSIGHT_LLM_BASE_URL = None
    settings.HINDSIGHT_LLM_MAX_RETRIES = 3
    settings.HINDSIGHT_LLM_TIMEOUT = 120
    scripted_llm.reset()
    yield scripted_llm
    scripted_llm.reset()


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(llm, "_sleep", recorded.append)
    return recorded


def test_each_purpose_uses_its_own_model_and_falls_back_to_the_default(settings):
    settings.HINDSIGHT_LLM_REFLECT_MODEL = "hindsight-test/reflector"
    assert llm.model_for("retain") == "hindsight-test/base"
    assert llm.model_for("reflect") == "hindsight-test/reflector"
    assert llm.model_for("consolidation") == "hindsight-test/base"
    assert llm.llm_configured("reflect")

    scripted_llm.push("ok")
    response = llm.complete(purpose="reflect", messages=MESSAGES)
    assert response.model == "hindsight-test/reflector"
    assert scripted_llm.calls[-1].model == "hindsight-test/reflector"


def test_no_model_means_not_configured_and_a_clear_error(settings):
    settings.HINDSIGHT_LLM_MODEL = None
    assert not llm.llm_configured("retain")
    with pytest.raises(llm.LLMError, match="HINDSIGHT_LLM_MODEL") as raised:
        llm.complete(purpose="retain", messages=MESSAGES)
    assert raised.value.kind == "not_configured" and not raised.value.transient


def test_unknown_purpose_is_refused():
    with pytest.raises(ValueError, match="unknown LLM purpose"):
        llm.model_for("summarise")


def test_a_reply_carries_content_usage_and_the_recorded_call():
    schema = {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": {"type": "object"}}}
    scripted_llm.push(
        {"answer": 42},
        usage={"prompt_tokens": 100, "completion_tokens": 7, "cached_tokens": 60, "reasoning_tokens": 3},
    )
    response = llm.complete(purpose="retain", messages=MESSAGES, response_format=schema, temperature=0.1)

    assert json.loads(response.content) == {"answer": 42}
    assert response.finish_reason == "stop"
    assert response.usage.as_dict() == {
        "input_tokens": 100,
        "output_tokens": 7,
        "total_tokens": 107,
        "cached_tokens": 60,
        "thoughts_tokens": 3,
    }
    call = scripted_llm.calls[-1]
    assert call.messages == MESSAGES
    assert call.user == "hello there"
    assert call.system == "be brief"
    assert call.response_format == schema
    assert call.temperature == 0.1
    assert scripted_llm.pending() == 0


def test_tool_calls_come_back_parsed_and_can_be_echoed_into_the_conversation():
    tools = [{"type": "function", "function": {"name": "recall", "parameters": {"type": "object"}}}]
    scripted_llm.push(tool_calls=[{"id": "c1", "name": "recall", "arguments": {"query": "Caroline"}}])
    response = llm.complete(purpose="reflect", messages=MESSAGES, tools=tools)

    assert response.content is None
    assert response.tool_calls == [
        {"id": "c1", "name": "recall", "arguments": {"query": "Caroline"}, "raw_arguments": '{"query": "Caroline"}'}
    ]
    assert response.assistant_message()["tool_calls"][0]["function"] == {
        "name": "recall",
        "arguments": '{"query": "Caroline"}',
    }
    assert scripted_llm.calls[-1].tools == tools


def test_a_rate_limit_is_retried_with_bounded_backoff_then_succeeds(sleeps):
    scripted_llm.push_error("rate_limit", times=2)
    scripted_llm.push("finally")
    response = llm.complete(purpose="retain", messages=MESSAGES)

    assert response.content == "finally"
    assert len(scripted_llm.calls) == 3
    assert len(sleeps) == 2
    for attempt, delay in enumerate(sleeps):
        assert 0 <= delay <= min(llm.BACKOFF_CAP_SECONDS, llm.BACKOFF_BASE_SECONDS * 2**attempt)


def test_backoff_never_exceeds_the_cap():
    for attempt in range(20):
        assert llm.backoff_delay(attempt) <= llm.BACKOFF_CAP_SECONDS


@pytest.mark.parametrize("error", ["timeout", "server_error", "connection"])
def test_other_transient_errors_are_retried(error, sleeps):
    scripted_llm.push_error(error)
    scripted_llm.push("ok")
    assert llm.complete(purpose="retain", messages=MESSAGES).content == "ok"
    assert len(sleeps) == 1


def test_transient_errors_give_up_after_max_retries(settings, sleeps):
    settings.HINDSIGHT_LLM_MAX_RETRIES = 2
    scripted_llm.push_error("timeout", times=5)
    with pytest.raises(llm.LLMError, match="gave up after 3 attempts") as raised:
        llm.complete(purpose="retain", messages=MESSAGES)
    assert raised.value.transient and raised.value.kind == "timeout"
    assert len(scripted_llm.calls) == 3
    assert len(sleeps) == 2


def test_retries_stop_when_the_total_time_budget_is_spent(monkeypatch, sleeps):
    clock = iter([0.0, 0.0, 500.0, 500.0])  # the first attempt "takes" 500s of a 3 x 120s budget
    monkeypatch.setattr(llm, "_monotonic", lambda: next(clock))
    scripted_llm.push_error("rate_limit", times=5)
    with pytest.raises(llm.LLMError, match="no time left") as raised:
        llm.complete(purpose="retain", messages=MESSAGES)
    assert raised.value.transient
    assert len(scripted_llm.calls) == 1 and sleeps == []


@pytest.mark.parametrize(("error", "kind"), [("bad_request", "bad_request"), ("auth", "auth")])
def test_permanent_errors_are_not_retried(error, kind, sleeps):
    scripted_llm.push_error(error)
    scripted_llm.push("never reached")
    with pytest.raises(llm.LLMError) as raised:
        llm.complete(purpose="retain", messages=MESSAGES)
    assert raised.value.kind == kind and not raised.value.transient
    assert len(scripted_llm.calls) == 1 and sleeps == []
    assert scripted_llm.pending() == 1


def test_a_context_window_overflow_is_reported_as_such():
    scripted_llm.push_error("context_window", "maximum context length is 8192 tokens")
    with pytest.raises(llm.LLMError) as raised:
        llm.complete(purpose="retain", messages=MESSAGES)
    assert raised.value.kind == "context_window" and not raised.value.transient


def test_the_api_key_never_appears_in_errors_or_logs(caplog, sleeps):
    caplog.set_level(logging.DEBUG)
    for name in ("LiteLLM", "LiteLLM Router", "hindsight_site.llm"):
        caplog.set_level(logging.DEBUG, logger=name)
    # Providers do echo keys back ("Incorrect API key provided: sk-..."): simulate that on a retried and a fatal error.
    scripted_llm.push_error("rate_limit", f"slow down, key {SECRET}")
    scripted_llm.push_error("auth", f"Incorrect API key provided: {SECRET}")
    with pytest.raises(llm.LLMError) as raised:
        llm.complete(purpose="retain", messages=MESSAGES)

    error = raised.value
    assert error.kind == "auth"
    shown = "".join(traceback.format_exception(error))
    assert SECRET not in str(error) and SECRET not in repr(error) and SECRET not in shown
    assert "[redacted]" in str(error)
    assert "slow down" in caplog.text  # the retry was logged ...
    assert SECRET not in caplog.text  # ... without the key


def test_an_unscripted_call_fails_loudly_and_is_not_retried(sleeps):
    scripted_llm.push("only for Melanie", match="Melanie")
    with pytest.raises(llm.LLMError, match="no scripted response") as raised:
        llm.complete(purpose="retain", messages=MESSAGES)
    assert raised.value.kind == "unscripted" and not raised.value.transient
    assert sleeps == []
    assert "hello there" in str(raised.value)  # the message shows which call went unanswered


def test_queued_replies_are_matched_by_the_last_user_message():
    scripted_llm.push("about Melanie", match="Melanie")
    scripted_llm.push("anything else")
    first = llm.complete(purpose="retain", messages=[{"role": "user", "content": "tell me about Caroline"}])
    second = llm.complete(purpose="retain", messages=[{"role": "user", "content": "and Melanie?"}])
    assert (first.content, second.content) == ("anything else", "about Melanie")


def test_the_script_file_answers_in_process_with_times_and_fallthrough(tmp_path, monkeypatch, sleeps):
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {"match": "Caroline", "response": {"facts": []}},
                {"match": None, "error": "rate_limit", "times": 1},
                {"match": None, "response": "fallback"},
            ]
        )
    )
    monkeypatch.setenv("HINDSIGHT_TEST_LLM_SCRIPT", str(script))
    assert (
        llm.complete(purpose="retain", messages=[{"role": "user", "content": "Caroline?"}]).content == '{"facts": []}'
    )
    assert llm.complete(purpose="retain", messages=MESSAGES).content == "fallback"  # after one scripted 429
    assert len(sleeps) == 1


def test_a_bad_script_file_fails_loudly(tmp_path, monkeypatch):
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"match": None, "error": "meteor"}]))
    monkeypatch.setenv("HINDSIGHT_TEST_LLM_SCRIPT", str(script))
    with pytest.raises(llm.LLMError, match="unknown scripted error 'meteor'"):
        llm.complete(purpose="retain", messages=MESSAGES)


def test_a_subprocess_is_answered_from_the_script_file_and_records_its_calls(tmp_path):
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {"match": "weather", "response": "sunny"},
                {"match": "tools", "response": None, "tool_calls": [{"name": "recall", "arguments": {"q": "x"}}]},
            ]
        )
    )
    record = tmp_path / "calls.jsonl"
    code = textwrap.dedent(
        """
        from hindsight_site import llm
        print(llm.complete(purpose="retain", messages=[{"role": "user", "content": "the weather?"}]).content)
        reply = llm.complete(purpose="reflect", messages=[{"role": "user", "content": "use tools"}])
        print(reply.tool_calls[0]["name"])
        try:
            llm.complete(purpose="retain", messages=[{"role": "user", "content": "something unscripted"}])
        except llm.LLMError as exc:
            print("error:", exc.kind)
        """
    )
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HINDSIGHT_LLM_", "DJANGO_", "HINDSIGHT_TEST_LLM_"))
    }
    environ.update(
        DJANGO_SETTINGS_MODULE="hindsight_site.settings",
        HINDSIGHT_LLM_MODEL="hindsight-test/x",
        HINDSIGHT_TEST_LLM_SCRIPT=str(script),
        HINDSIGHT_TEST_LLM_RECORD=str(record),
        HF_HUB_OFFLINE="1",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environ, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["sunny", "recall", "error: unscripted"]
    recorded = [json.loads(line) for line in record.read_text().splitlines()]
    assert [call["messages"][-1]["content"] for call in recorded] == [
        "the weather?",
        "use tools",
        "something unscripted",
    ]
    assert all(call["model"] == "hindsight-test/x" for call in recorded)
