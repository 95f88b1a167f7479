"""Optional reranking of recall's best fused candidates.

Providers (``HINDSIGHT_RERANKER_PROVIDER``):

* ``none`` (the default, offline): fused order is final.
* ``sentence-transformers``: a cross-encoder (``HINDSIGHT_RERANKER_MODEL``, any name or local path, e.g.
  ``cross-encoder/ms-marco-MiniLM-L-6-v2``) scores (query, memory) pairs. Needs ``sentence-transformers`` and
  ``torch`` installed; imported and loaded on first use, once per process.
* ``litellm``: an LLM (``HINDSIGHT_RERANKER_MODEL``, a litellm model string, else ``HINDSIGHT_LLM_MODEL``) rates the
  numbered candidates 0-10 in one JSON answer, through ``hindsight_site.llm`` (retries, timeouts, usage, redaction).

Only the first ``HINDSIGHT_RERANKER_MAX_CANDIDATES`` fused candidates are scored (a cross-encoder costs a model pass
per pair, an LLM prompt tokens per candidate); they are reordered by the reranker's score and the rest keep their
fused order after them. A reranker failure never fails recall: the fused order is kept and the trace says why.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Protocol

from django.conf import settings

PROVIDERS = ("none", "sentence-transformers", "litellm")


class RerankError(Exception):
    """The reranker could not score the candidates (recall keeps the fused order)."""


class Reranker(Protocol):
    provider: str
    model: str

    def score(self, query: str, texts: list[str]) -> list[float]: ...


class CrossEncoderReranker:
    """A sentence-transformers cross-encoder: one relevance score per (query, text) pair, higher is better."""

    provider = "sentence-transformers"

    def __init__(self, model: str):
        self.model = model
        self._encoder: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    try:
                        from sentence_transformers import CrossEncoder
                    except ImportError as exc:
                        raise RerankError(
                            "HINDSIGHT_RERANKER_PROVIDER=sentence-transformers needs the sentence-transformers "
                            f"package (and torch): {exc}"
                        ) from None
                    try:
                        self._encoder = CrossEncoder(self.model)
                    except Exception as exc:  # a missing or malformed model: say which
                        raise RerankError(f"cannot load the cross-encoder {self.model}: {exc}") from None
        return self._encoder

    def score(self, query: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        encoder = self._load()
        try:
            scores = encoder.predict([(query, text) for text in texts], show_progress_bar=False)
        except Exception as exc:
            raise RerankError(f"the cross-encoder {self.model} failed: {exc}") from None
        return [float(value) for value in scores]


LLM_SYSTEM_PROMPT = (
    "You rank memories by how useful each is for answering a question. Rate every numbered memory from 0 (unrelated) "
    "to 10 (directly answers the question). Answer only with JSON: "
    '{"scores": [{"index": <number>, "score": <0-10>}, ...]} covering every memory.'
)
LLM_MAX_CHARS_PER_MEMORY = 600


class LLMReranker:
    """An LLM rates the candidates in one call (through ``hindsight_site.llm``, purpose ``rerank``)."""

    provider = "litellm"

    def __init__(self, model: str | None):
        self.model = model or ""

    def score(self, query: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        from hindsight_site import llm

        numbered = "\n".join(
            f"[{index}] {' '.join(text.split())[:LLM_MAX_CHARS_PER_MEMORY]}" for index, text in enumerate(texts)
        )
        try:
            response = llm.complete(
                purpose="rerank",
                messages=[
                    {"role": "system", "content": LLM_SYSTEM_PROMPT},
                    {"role": "user", "content": f"Question: {query}\n\nMemories:\n{numbered}"},
                ],
                response_format={"type": "json_object"},
                temperature=0,
                max_tokens=32 + 16 * len(texts),
            )
        except llm.LLMError as exc:
            raise RerankError(f"the LLM reranker failed: {exc}") from None
        return _parse_llm_scores(response.content or "", len(texts))


def _parse_llm_scores(content: str, count: int) -> list[float]:
    """Scores by index from the model's JSON; a memory it left out scores 0. Unreadable JSON is an error."""
    content = content.strip()
    fenced = re.search(r"\{.*\}", content, re.DOTALL)
    try:
        data = json.loads(fenced.group(0) if fenced else content)
    except (json.JSONDecodeError, AttributeError):
        raise RerankError("the LLM reranker answered something that is not JSON") from None
    items = data.get("scores") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise RerankError('the LLM reranker answered JSON without a "scores" list')
    scores = [0.0] * count
    for item in items:
        if not isinstance(item, dict):
            continue
        index, score = item.get("index"), item.get("score")
        if isinstance(index, int) and 0 <= index < count and isinstance(score, int | float):
            scores[index] = float(score)
    return scores


_cache: dict[tuple[str, str | None], Reranker] = {}
_cache_lock = threading.Lock()


def get_reranker() -> Reranker | None:
    """The configured reranker (one per process), or None when reranking is off (``none``)."""
    provider = settings.HINDSIGHT_RERANKER_PROVIDER
    if provider == "none":
        return None
    key = (provider, settings.HINDSIGHT_RERANKER_MODEL)
    with _cache_lock:
        if key not in _cache:
            if provider == "sentence-transformers":
                _cache[key] = CrossEncoderReranker(settings.HINDSIGHT_RERANKER_MODEL or "")
            else:
                _cache[key] = LLMReranker(settings.HINDSIGHT_RERANKER_MODEL or settings.HINDSIGHT_LLM_MODEL)
        return _cache[key]
