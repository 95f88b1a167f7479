"""Prometheus metrics: request latency by route, retain/recall/reflect counts and durations, LLM tokens, queue depth.

The web server and the Celery worker are separate processes (gunicorn may run several), so ``serve`` points every
child at one ``PROMETHEUS_MULTIPROC_DIR`` (wiped at start) and ``/metrics`` adds them up with prometheus_client's
multiprocess collector. Without that variable (tests, ``runserver``) the process's own registry is used.

Labels are bounded on purpose: routes are URL *patterns* (``v1/default/banks/<str:bank_id>/memories/recall``), never
paths, so bank ids, memory ids and anything a client types never become label values.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Recall targets tens of milliseconds, retain and reflect take seconds: one bucket set covers both ends.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

REQUEST_SECONDS = Histogram(
    "hindsight_http_request_duration_seconds",
    "HTTP request latency by route pattern, method and status code.",
    ["method", "route", "status"],
    buckets=_BUCKETS,
)
OPERATION_SECONDS = Histogram(
    "hindsight_operation_duration_seconds",
    "Duration of memory operations (retain, recall, reflect, consolidation) by outcome; _count is how many ran.",
    ["operation", "outcome"],
    buckets=_BUCKETS,
)
LLM_TOKENS = Counter(
    "hindsight_llm_tokens_total",
    "LLM tokens used, by purpose (retain, reflect, consolidation) and kind (prompt, completion).",
    ["purpose", "kind"],
)
LLM_CALLS = Counter("hindsight_llm_calls_total", "LLM calls by purpose and outcome.", ["purpose", "outcome"])


@contextmanager
def timed(operation: str) -> Iterator[None]:
    """Record one ``operation`` (retain, recall, reflect, consolidation) with its duration and outcome.

    Also a decorator: ``@metrics.timed("recall")``.
    """
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        OPERATION_SECONDS.labels(operation=operation, outcome=outcome).observe(time.perf_counter() - started)


def record_llm_call(*, purpose: str, outcome: str, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
    LLM_CALLS.labels(purpose=purpose, outcome=outcome).inc()
    if prompt_tokens:
        LLM_TOKENS.labels(purpose=purpose, kind="prompt").inc(prompt_tokens)
    if completion_tokens:
        LLM_TOKENS.labels(purpose=purpose, kind="completion").inc(completion_tokens)


class QueueDepthCollector:
    """Operations waiting or running, read from the operations table at scrape time (the row is the truth)."""

    def collect(self):
        from django.db.models import Count

        from memories.models import Operation

        gauge = GaugeMetricFamily(
            "hindsight_operations_queue_depth",
            "Durable operations by status (pending = waiting for a worker, processing = claimed).",
            labels=["status"],
        )
        counts = dict.fromkeys(("pending", "processing"), 0)
        try:
            rows = (
                Operation.objects.filter(status__in=list(counts))
                .values_list("status")
                .annotate(n=Count("id"))
                .order_by()
            )
            counts.update(dict(rows))
        except Exception:  # a scrape must not fail because the database is away; /health/ready reports that
            return
        for status, value in counts.items():
            gauge.add_metric([status], value)
        yield gauge


class _ThisProcess:
    """The default registry's metrics (this process only), for servers without a multiprocess directory."""

    def collect(self):
        yield from REGISTRY.collect()


def render() -> tuple[bytes, str]:
    """The exposition text for ``/metrics`` and its content type."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(QueueDepthCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Times every request and labels it with the matched URL pattern (``unmatched`` when nothing matched)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        if route == "metrics":  # scrapes would dominate the histogram and say nothing about the API
            return response
        REQUEST_SECONDS.labels(method=request.method, route=route, status=str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response
