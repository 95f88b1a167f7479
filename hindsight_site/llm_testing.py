"""A scripted litellm provider for ``hindsight-test/<anything>`` models: LLM answers with no network.

Tests in this process push replies onto a queue (``scripted_llm.push(...)``); servers started in a subprocess read
rules from the JSON file named by ``HINDSIGHT_TEST_LLM_SCRIPT``. Either way a call nobody scripted fails loudly
(``UnscriptedCallError``, never retried), so a test cannot pass on a silently empty answer. Every call is recorded
(``scripted_llm.calls``) and, when ``HINDSIGHT_TEST_LLM_RECORD`` names a file, appended to it as JSON lines so a
test can inspect what a subprocess server asked.

Script file format, a JSON list of rules tried in order::

    [
      {"match": "Caroline", "response": {"facts": []}},
      {"match": null, "error": "rate_limit", "times": 1},
      {"match": null, "response": "plain text answer",
       "tool_calls": [{"name": "recall", "arguments": {"query": "x"}}]}
    ]

``match`` is a substring of the last user message (null matches every call); ``response`` is a string or any JSON
value (sent as its JSON text); ``tool_calls`` items are ``{"name", "arguments", "id"?}``; ``error`` is one of
``ERRORS``; ``times`` limits how often a rule answers (counted per process; unlimited when absent); optional
``finish_reason`` and ``usage`` (``prompt_tokens``, ``completion_tokens``, ``cached_tokens``, ``reasoning_tokens``)
override the defaults; ``delay`` (seconds) makes the answer slow, to test timeouts. In-process pushes are tried
first and answer once unless given ``times``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hindsight_site.llm import get_litellm

# Through hindsight_site.llm so litellm is imported offline-safe (local cost map) and quiet, whoever comes first.
litellm = get_litellm()
CustomLLM = litellm.CustomLLM

PROVIDER = "hindsight-test"
SCRIPT_ENV = "HINDSIGHT_TEST_LLM_SCRIPT"
RECORD_ENV = "HINDSIGHT_TEST_LLM_RECORD"
ERRORS = ("rate_limit", "timeout", "bad_request", "context_window", "server_error", "auth", "connection")


class UnscriptedCallError(litellm.BadRequestError):
    """No scripted rule answers this call. A bad request on purpose: never retried, always visible."""

    hindsight_unscripted = True  # how hindsight_site.llm recognises it without importing test support


@dataclass
class RecordedCall:
    """One call the scripted provider received."""

    model: str
    messages: list[dict[str, Any]]
    response_format: Any = None
    tools: Any = None
    temperature: float | None = None
    max_tokens: int | None = None

    @property
    def system(self) -> str:
        return "\n".join(_text(m.get("content")) for m in self.messages if m.get("role") == "system")

    @property
    def user(self) -> str:
        """The last user message, the text rules match against."""
        return _last_user_message(self.messages)


@dataclass
class Rule:
    """One scripted answer (or error) and when it applies."""

    match: str | None = None
    response: Any = None
    tool_calls: list[dict[str, Any]] | None = None
    error: str | None = None
    message: str | None = None
    times: int | None = None
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    delay: float | None = None
    used: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.error is not None and self.error not in ERRORS:
            raise ValueError(f"unknown scripted error {self.error!r}; expected one of {', '.join(ERRORS)}")
        if self.times is not None and (not isinstance(self.times, int) or self.times < 1):
            raise ValueError(f"'times' must be a positive integer, not {self.times!r}")

    @classmethod
    def from_json(cls, data: Any, where: str) -> Rule:
        if not isinstance(data, dict):
            raise ValueError(f"{where}: a rule must be an object")
        unknown = set(data) - {
            "match",
            "response",
            "tool_calls",
            "error",
            "message",
            "times",
            "finish_reason",
            "usage",
            "delay",
        }
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from None

    def applies_to(self, user_message: str) -> bool:
        if self.times is not None and self.used >= self.times:
            return False
        return self.match is None or self.match in user_message

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.used >= self.times


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _last_user_message(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _raise_scripted_error(rule: Rule, model: str) -> None:
    kind = rule.error
    message = rule.message or f"scripted {kind}"
    common = {"model": model, "llm_provider": PROVIDER}
    if kind == "rate_limit":
        raise litellm.RateLimitError(message, **common)
    if kind == "timeout":
        raise litellm.Timeout(message, **common)
    if kind == "bad_request":
        raise litellm.BadRequestError(message, **common)
    if kind == "context_window":
        raise litellm.ContextWindowExceededError(message, **common)
    if kind == "server_error":
        raise litellm.InternalServerError(message, **common)
    if kind == "auth":
        raise litellm.AuthenticationError(message, **common)
    raise litellm.APIConnectionError(message, **common)


def _approx_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer (about four characters a token)."""
    return max(1, (len(text) + 3) // 4) if text else 0


class ScriptedLLM(CustomLLM):
    """The litellm custom provider behind ``hindsight-test/`` models, and the in-process script queue."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._queue: list[Rule] = []
        self.calls: list[RecordedCall] = []
        self._file_rules: list[Rule] = []
        self._file_key: tuple[str, float] | None = None

    # -- scripting (in-process) --

    def push(
        self,
        response: Any = None,
        *,
        tool_calls: list[dict[str, Any]] | None = None,
        error: str | None = None,
        message: str | None = None,
        match: str | None = None,
        times: int = 1,
        finish_reason: str | None = None,
        usage: dict[str, int] | None = None,
        delay: float | None = None,
    ) -> None:
        """Queue one answer: ``response`` (a string, or any JSON value sent as JSON), tool calls, or an error."""
        rule = Rule(
            match=match,
            response=response,
            tool_calls=tool_calls,
            error=error,
            message=message,
            times=times,
            finish_reason=finish_reason,
            usage=usage,
            delay=delay,
        )
        with self._lock:
            self._queue.append(rule)

    def push_error(self, error: str, message: str | None = None, *, times: int = 1, match: str | None = None) -> None:
        """Queue a simulated failure, e.g. ``push_error("rate_limit")`` for a 429."""
        self.push(error=error, message=message, times=times, match=match)

    def pending(self) -> int:
        """How many queued answers are still unused (a test can assert it consumed its script)."""
        with self._lock:
            return sum((rule.times or 1) - rule.used for rule in self._queue if not rule.exhausted)

    def reset(self) -> None:
        """Forget queued answers, recorded calls and file-rule counters."""
        with self._lock:
            self._queue.clear()
            self.calls.clear()
            self._file_rules = []
            self._file_key = None

    # -- answering --

    def _load_file_rules(self) -> list[Rule]:
        # Read per call (test-only code): a test may point the variable at a new file between calls. Counters
        # survive as long as the file is unchanged.
        path = os.environ.get(SCRIPT_ENV)
        if not path:
            return []
        try:
            key = (path, Path(path).stat().st_mtime)
        except OSError as exc:
            raise UnscriptedCallError(
                f"{SCRIPT_ENV}={path} cannot be read: {exc}", model="", llm_provider=PROVIDER
            ) from None
        if key != self._file_key:
            try:
                data = json.loads(Path(path).read_text())
            except ValueError as exc:
                raise UnscriptedCallError(
                    f"{SCRIPT_ENV}={path} is not valid JSON: {exc}", model="", llm_provider=PROVIDER
                ) from None
            if not isinstance(data, list):
                raise UnscriptedCallError(
                    f"{SCRIPT_ENV}={path} must hold a JSON list of rules", model="", llm_provider=PROVIDER
                )
            try:
                self._file_rules = [Rule.from_json(item, f"{path} rule {i}") for i, item in enumerate(data)]
            except ValueError as exc:
                raise UnscriptedCallError(str(exc), model="", llm_provider=PROVIDER) from None
            self._file_key = key
        return self._file_rules

    def _pick(self, user_message: str, model: str) -> Rule:
        with self._lock:
            for rule in self._queue:
                if rule.applies_to(user_message):
                    rule.used += 1
                    self._queue = [r for r in self._queue if not r.exhausted]
                    return rule
            for rule in self._load_file_rules():
                if rule.applies_to(user_message):
                    rule.used += 1
                    return rule
        preview = user_message[:200].replace("\n", " ")
        raise UnscriptedCallError(
            f"hindsight-test: no scripted response for this call (model {PROVIDER}/{model}, last user message "
            f"starts {preview!r}). Push one with scripted_llm.push(...) or add a rule to ${SCRIPT_ENV}.",
            model=model,
            llm_provider=PROVIDER,
        )

    def _record(self, call: RecordedCall) -> None:
        with self._lock:
            self.calls.append(call)
        record_path = os.environ.get(RECORD_ENV)
        if record_path:
            line = json.dumps(
                {
                    "model": call.model,
                    "messages": call.messages,
                    "response_format": call.response_format,
                    "tools": call.tools,
                    "temperature": call.temperature,
                    "max_tokens": call.max_tokens,
                },
                default=str,
            )
            with open(record_path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def answer(self, model: str, messages: list[dict[str, Any]], optional_params: dict[str, Any]) -> Any:
        """Record the call, find its rule, and build litellm's response (or raise the scripted error)."""
        call = RecordedCall(
            model=f"{PROVIDER}/{model}",
            messages=[dict(m) for m in messages],
            response_format=optional_params.get("response_format"),
            tools=optional_params.get("tools"),
            temperature=optional_params.get("temperature"),
            max_tokens=optional_params.get("max_tokens") or optional_params.get("max_completion_tokens"),
        )
        self._record(call)
        rule = self._pick(call.user, model)
        if rule.delay:
            time.sleep(rule.delay)
        if rule.error:
            _raise_scripted_error(rule, model)
        if rule.response is None or isinstance(rule.response, str):
            content = rule.response
        else:
            content = json.dumps(rule.response)
        tool_calls = [
            {
                "id": item.get("id") or f"call_{index}",
                "type": "function",
                "function": {
                    "name": item["name"],
                    "arguments": item.get("arguments")
                    if isinstance(item.get("arguments"), str)
                    else json.dumps(item.get("arguments") or {}),
                },
            }
            for index, item in enumerate(rule.tool_calls or [])
        ]
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        prompt_text = "\n".join(_text(m.get("content")) for m in messages)
        usage = rule.usage or {}
        prompt_tokens = usage.get("prompt_tokens", _approx_tokens(prompt_text))
        completion_tokens = usage.get("completion_tokens", _approx_tokens(content or json.dumps(tool_calls)))
        return litellm.ModelResponse(
            model=model,
            choices=[
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": rule.finish_reason or ("tool_calls" if tool_calls else "stop"),
                }
            ],
            usage=litellm.Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
                prompt_tokens_details={"cached_tokens": usage.get("cached_tokens", 0)},
                completion_tokens_details={"reasoning_tokens": usage.get("reasoning_tokens", 0)},
            ),
        )

    # -- litellm's CustomLLM interface --

    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self.answer(model, messages, kwargs.get("optional_params") or {})

    async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self.answer(model, messages, kwargs.get("optional_params") or {})


scripted_llm = ScriptedLLM()
_register_lock = threading.Lock()


def ensure_registered() -> None:
    """Add the provider to ``litellm.custom_provider_map`` once; litellm routes ``hindsight-test/…`` to it."""
    with _register_lock:
        if not any(item.get("provider") == PROVIDER for item in litellm.custom_provider_map):
            litellm.custom_provider_map = [
                *litellm.custom_provider_map,
                {"provider": PROVIDER, "custom_handler": scripted_llm},
            ]
