"""The one door to language models: every LLM call (retain now, reflect and consolidation later) goes through here.

Why one door: model choice per purpose, retries, timeouts, token accounting and secret hygiene are decided once
instead of at each call site. litellm does the provider work; we turn its retries off and retry ourselves so that
only transient failures (rate limits, timeouts, 5xx, dropped connections) are retried, with exponential backoff and
full jitter, inside a bounded total time. The API key never appears in an exception message or a log line: messages
are redacted before they leave this module and litellm's own loggers get the same filter.

Model strings ``hindsight-test/<anything>`` are answered by the scripted provider in ``hindsight_site.llm_testing``
(registered with litellm on first use), so tests and documentation samples run with no network.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from hindsight_site import metrics
from memories.extraction.types import TokenUsage

# litellm reads these when it is imported: without them it fetches its model price map from GitHub at import time
# (a network call and a multi-second stall when offline) and may try to download tokenizers. Set them before anyone
# imports litellm; setdefault keeps an operator's explicit choice.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOG", "WARNING")

logger = logging.getLogger(__name__)

PURPOSES = ("retain", "reflect", "consolidation", "rerank")
TEST_PROVIDER = "hindsight-test"

# Backoff: full jitter (sleep a uniform random time in [0, min(cap, base * 2**attempt)]), so many workers hitting the
# same rate limit spread out instead of retrying in lockstep.
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
# The whole call, retries and sleeps included, never takes longer than this many per-attempt timeouts.
TOTAL_TIMEOUT_FACTOR = 3

# Indirections so tests can make backoff instant and deterministic.
_sleep = time.sleep
_monotonic = time.monotonic
_random = random.random


class LLMError(Exception):
    """An LLM call failed. ``transient`` says whether trying again later may succeed.

    ``kind`` names the failure: rate_limit, timeout, server, connection (transient); auth, bad_request,
    context_window, not_configured, unscripted, other (not transient). ``status`` is the HTTP-like status when the
    provider gave one. The message is always redacted: it never contains the API key.
    """

    def __init__(self, message: str, *, transient: bool, status: int | None = None, kind: str = "other"):
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.kind = kind


@dataclass
class LLMResponse:
    """What a completion returned, provider-neutral.

    ``tool_calls`` items are ``{"id", "name", "arguments", "raw_arguments"}`` with ``arguments`` parsed from JSON
    (an empty dict when the model sent none; the raw string is kept when it is not valid JSON).
    """

    content: str | None
    tool_calls: list[dict[str, Any]]
    usage: TokenUsage
    model: str
    raw: Any = field(repr=False)
    finish_reason: str | None = None

    def assistant_message(self) -> dict[str, Any]:
        """The OpenAI-shaped assistant message to append to the conversation (tool loops need it)."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": call["name"], "arguments": call["raw_arguments"]},
                }
                for call in self.tool_calls
            ]
        return message


# --- configuration --------------------------------------------------------------------------------------------


def model_for(purpose: str) -> str | None:
    """The litellm model string for a purpose: its own setting when set, else ``HINDSIGHT_LLM_MODEL``."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown LLM purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    specific = getattr(settings, f"HINDSIGHT_LLM_{purpose.upper()}_MODEL", None)
    return specific or getattr(settings, "HINDSIGHT_LLM_MODEL", None) or None


def llm_configured(purpose: str = "retain") -> bool:
    """Whether calls for this purpose have a model (otherwise callers use their offline fallback)."""
    return model_for(purpose) is not None


# --- secret hygiene -------------------------------------------------------------------------------------------

# Shapes of provider keys that may be echoed back in provider error messages even when they are not ours.
_KEY_PATTERN = re.compile(
    r"\b(sk-[A-Za-z0-9_\-]{6,}|sk_[A-Za-z0-9_\-]{6,}|AIza[0-9A-Za-z_\-]{20,}|gsk_[A-Za-z0-9]{10,})"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """Remove the configured API key (and anything shaped like a provider key) from a message."""
    key = getattr(settings, "HINDSIGHT_LLM_API_KEY", None)
    if key and len(key) >= 4:
        text = text.replace(key, REDACTED)
    return _KEY_PATTERN.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites log records so no API key reaches any handler (message, arguments and traceback text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix; leave the record alone
            return True
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_REDACTING_FILTER = RedactingFilter()
_QUIET_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
_litellm_module: Any = None
_litellm_lock = threading.Lock()


def get_litellm() -> Any:
    """Import and configure litellm once, lazily: servers with no LLM never pay its import time."""
    global _litellm_module
    if _litellm_module is None:
        with _litellm_lock:
            if _litellm_module is None:
                import litellm

                litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banners on stdout
                litellm.set_verbose = False
                litellm.telemetry = False  # older releases phoned home; harmless where the flag no longer exists
                litellm.disable_hf_tokenizer_download = True
                # litellm's response models are completed lazily by pydantic, which warns about one of litellm's
                # TypedDicts on the first response of the process. Build one now, once, with that warning muted.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=r".*ReadOnly. qualifier", category=UserWarning)
                    litellm.ModelResponse()
                for name in (*_QUIET_LOGGERS, __name__):
                    named = logging.getLogger(name)
                    if name in _QUIET_LOGGERS:
                        named.setLevel(logging.WARNING)
                    if _REDACTING_FILTER not in named.filters:
                        named.addFilter(_REDACTING_FILTER)
                _litellm_module = litellm
    return _litellm_module


# --- errors ---------------------------------------------------------------------------------------------------

_CONTEXT_WINDOW_HINTS = (
    "context length",
    "context window",
    "context_length_exceeded",
    "maximum context",
    "too many tokens",
    "prompt is too long",
)


def _classify(exc: Exception) -> LLMError:
    """Map litellm's exception classes to our error, redacted. Order matters: subclasses first."""
    import litellm

    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) else None
    message = redact(f"{type(exc).__name__}: {exc}")

    def error(kind: str, transient: bool, code: int | None = status) -> LLMError:
        return LLMError(message, transient=transient, status=code, kind=kind)

    if getattr(exc, "hindsight_unscripted", False):  # the scripted test provider had no answer: never retry
        return error("unscripted", False)
    if isinstance(exc, litellm.ContextWindowExceededError):
        return error("context_window", False)
    if isinstance(exc, litellm.RateLimitError):
        return error("rate_limit", True, 429)
    if isinstance(exc, litellm.Timeout):
        return error("timeout", True, status or 408)
    if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError):
        return error("auth", False)
    if isinstance(exc, litellm.InternalServerError | litellm.ServiceUnavailableError | litellm.BadGatewayError):
        return error("server", True)
    if isinstance(exc, litellm.BadRequestError | litellm.NotFoundError | litellm.UnprocessableEntityError):
        lowered = str(exc).lower()
        if any(hint in lowered for hint in _CONTEXT_WINDOW_HINTS):
            return error("context_window", False)
        return error("bad_request", False)
    if isinstance(exc, litellm.APIConnectionError):
        return error("connection", True)
    if status is not None:
        return error("server" if status >= 500 else "bad_request", status >= 500 or status in (408, 409, 429))
    return error("other", False)


def _retry_after(exc: Exception) -> float | None:
    """The provider's Retry-After hint in seconds, when it sent one."""
    headers = getattr(exc, "headers", None) or getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        value = headers.get("retry-after") or headers.get("Retry-After")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def backoff_delay(attempt: int) -> float:
    """Full-jitter delay before retry number ``attempt`` (0-based): uniform in [0, min(cap, base * 2**attempt)]."""
    return _random() * min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2**attempt))


# --- the call -------------------------------------------------------------------------------------------------


def _usage(raw: Any) -> TokenUsage:
    """Token counts as the provider reported them; zeros for whatever it did not report."""
    usage = getattr(raw, "usage", None)
    if usage is None:
        return TokenUsage()

    def number(obj: Any, name: str) -> int:
        value = getattr(obj, name, None) if obj is not None else None
        return int(value) if isinstance(value, int | float) else 0

    input_tokens = number(usage, "prompt_tokens")
    output_tokens = number(usage, "completion_tokens")
    return TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=number(usage, "total_tokens") or input_tokens + output_tokens,
        cached_tokens=number(getattr(usage, "prompt_tokens_details", None), "cached_tokens"),
        thoughts_tokens=number(getattr(usage, "completion_tokens_details", None), "reasoning_tokens"),
    )


def _tool_calls(message: Any) -> list[dict[str, Any]]:
    calls = []
    for index, call in enumerate(getattr(message, "tool_calls", None) or []):
        function = getattr(call, "function", None)
        raw_arguments = getattr(function, "arguments", None) or ""
        try:
            arguments: Any = json.loads(raw_arguments) if raw_arguments else {}
        except ValueError:
            arguments = raw_arguments
        calls.append(
            {
                "id": getattr(call, "id", None) or f"call_{index}",
                "name": getattr(function, "name", None) or "",
                "arguments": arguments,
                "raw_arguments": raw_arguments,
            }
        )
    return calls


def complete(
    *,
    purpose: str,
    messages: list[dict],
    response_format: dict | type | None = None,
    tools: list[dict] | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    timeout: float | None = None,
) -> LLMResponse:
    """One chat completion for ``purpose``, retried on transient failures only.

    ``timeout`` bounds each attempt (default ``HINDSIGHT_LLM_TIMEOUT``); the whole call, sleeps included, is bounded
    by ``TOTAL_TIMEOUT_FACTOR`` times that. At most ``HINDSIGHT_LLM_MAX_RETRIES`` retries. Raises ``LLMError``
    (redacted) when no model is configured, on a permanent failure, or when transient failures outlast the budget.
    """
    model = model_for(purpose)
    if model is None:
        raise LLMError(
            f"no LLM is configured for {purpose}: set HINDSIGHT_LLM_MODEL (or HINDSIGHT_LLM_{purpose.upper()}_MODEL)",
            transient=False,
            kind="not_configured",
        )
    litellm = get_litellm()
    if getattr(settings, "HINDSIGHT_TEST_LLM_INTERCEPT", False) and not model.startswith(f"{TEST_PROVIDER}/"):
        model = f"{TEST_PROVIDER}/{model}"
    if model.startswith(f"{TEST_PROVIDER}/"):
        from hindsight_site import llm_testing

        llm_testing.ensure_registered()

    per_attempt = float(timeout if timeout is not None else settings.HINDSIGHT_LLM_TIMEOUT)
    max_retries = int(settings.HINDSIGHT_LLM_MAX_RETRIES)
    deadline = _monotonic() + per_attempt * TOTAL_TIMEOUT_FACTOR

    kwargs: dict[str, Any] = {
        "model": model,
        "messages": messages,
        # Our loop is the only retry loop: litellm's and the OpenAI client's would retry permanent errors too.
        "num_retries": 0,
        "max_retries": 0,
        # A parameter a model does not take (temperature on reasoning models) is dropped rather than fatal.
        "drop_params": True,
    }
    if settings.HINDSIGHT_LLM_API_KEY:
        kwargs["api_key"] = settings.HINDSIGHT_LLM_API_KEY
    if settings.HINDSIGHT_LLM_BASE_URL:
        kwargs["api_base"] = settings.HINDSIGHT_LLM_BASE_URL
    if response_format is not None:
        kwargs["response_format"] = response_format
    if tools:
        kwargs["tools"] = tools
        # With tools, litellm probes its MCP gateway, which imports the optional ``mcp`` package; we never use it.
        kwargs["_skip_mcp_handler"] = True
    if temperature is not None:
        kwargs["temperature"] = temperature
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens

    attempt = 0
    while True:
        remaining = deadline - _monotonic()
        if remaining <= 0:
            raise LLMError(f"LLM call for {purpose} ran out of time ({model})", transient=True, kind="timeout")
        try:
            raw = litellm.completion(**kwargs, timeout=min(per_attempt, remaining))
        except Exception as exc:
            error = _classify(exc)
            if not error.transient or attempt >= max_retries:
                if error.transient:
                    error = LLMError(
                        f"{error} (gave up after {attempt + 1} attempts)",
                        transient=True,
                        status=error.status,
                        kind=error.kind,
                    )
                metrics.record_llm_call(purpose=purpose, outcome=error.kind)
                # ``from None``: the original exception's text may carry the key; ours is redacted.
                raise error from None
            delay = backoff_delay(attempt)
            hint = _retry_after(exc)
            if hint is not None:
                delay = max(delay, min(hint, BACKOFF_CAP_SECONDS))
            if _monotonic() + delay >= deadline:
                metrics.record_llm_call(purpose=purpose, outcome=error.kind)
                raise LLMError(
                    f"{error} (no time left to retry within {per_attempt * TOTAL_TIMEOUT_FACTOR:g}s)",
                    transient=True,
                    status=error.status,
                    kind=error.kind,
                ) from None
            logger.warning(
                "LLM call for %s failed (%s); retry %d/%d in %.1fs: %s",
                purpose,
                error.kind,
                attempt + 1,
                max_retries,
                delay,
                error,
            )
            _sleep(delay)
            attempt += 1
            continue
        choice = raw.choices[0] if getattr(raw, "choices", None) else None
        message = getattr(choice, "message", None)
        usage = _usage(raw)
        metrics.record_llm_call(
            purpose=purpose,
            outcome="ok",
            prompt_tokens=usage.input_tokens,
            completion_tokens=usage.output_tokens,
        )
        return LLMResponse(
            content=getattr(message, "content", None),
            tool_calls=_tool_calls(message),
            usage=usage,
            model=model,
            raw=raw,
            finish_reason=getattr(choice, "finish_reason", None),
        )


# --- connectivity probe ---------------------------------------------------------------------------------------

PROBE_PURPOSES = ("retain", "consolidation", "reflect")
_PROBE_STATUS = {"auth": "auth_failed", "timeout": "timeout"}


def probe(*, timeout: float = 15.0) -> list[dict[str, Any]]:
    """One minimal call per distinct model among retain, consolidation and reflect; status only.

    Purposes that share a model share one probe. The result never names the provider, the model, the endpoint or
    the provider's error text: it says ``connected``, ``not_configured``, ``auth_failed``, ``timeout`` or
    ``unreachable``, so it is safe to show to anyone who may use the bank.
    """
    by_model: dict[str, dict[str, Any]] = {}
    results = []
    for purpose in PROBE_PURPOSES:
        model = model_for(purpose)
        if model is None:
            results.append({"operation": purpose, "ok": False, "status": "not_configured", "latency_ms": None})
            continue
        if model not in by_model:
            started = _monotonic()
            try:
                complete(
                    purpose=purpose,
                    messages=[{"role": "user", "content": "Reply with the word OK."}],
                    max_tokens=2,
                    timeout=timeout,
                )
            except LLMError as exc:
                status = _PROBE_STATUS.get(exc.kind, "unreachable")
                by_model[model] = {"ok": False, "status": status, "latency_ms": None}
            else:
                latency = round((_monotonic() - started) * 1000, 1)
                by_model[model] = {"ok": True, "status": "connected", "latency_ms": latency}
        results.append({"operation": purpose, **by_model[model]})
    return results
