"""How fast the configured embedding provider is on this machine (the local int8 MiniLM unless settings say otherwise).

Prints the load time, the median latency of one query over 200 queries, and the throughput for a 2,000-sentence
batch, plus the resident memory the model adds. Run: ``.venv/bin/python bench/embeddings.py``.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hindsight_site.settings")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import django

django.setup()

import psutil  # noqa: E402

from memories.embeddings import get_embedding_provider  # noqa: E402

QUERIES = 200
SENTENCES = 2000

VOCABULARY = (
    "alice bob carol the a an agent memory project meeting paris berlin moved visited likes prefers wrote said "
    "yesterday last week in 2021 because deadline release bug database server cat dog coffee tea morning evening "
    "report budget team manager client contract signed cancelled birthday gift concert jazz novel hiking trip"
)
WORDS = VOCABULARY.split()


def sentences(count: int, seed: int) -> list[str]:
    """Deterministic sentences of 5 to 40 words, like extracted facts and chunks of conversation."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40))).capitalize() + "." for _ in range(count)]


def main() -> None:
    process = psutil.Process()
    rss_before = process.memory_info().rss

    started = time.perf_counter()
    provider = get_embedding_provider()
    load = getattr(provider, "load", None)
    if load is not None:
        load()
    provider.embed_query("warm-up")
    load_seconds = time.perf_counter() - started
    rss_after = process.memory_info().rss

    latencies = []
    for text in sentences(QUERIES, seed=1):
        began = time.perf_counter()
        provider.embed_query(text)
        latencies.append(time.perf_counter() - began)

    batch = sentences(SENTENCES, seed=2)
    began = time.perf_counter()
    vectors = provider.embed_documents(batch)
    batch_seconds = time.perf_counter() - began
    assert len(vectors) == SENTENCES

    print(f"provider        {provider.model_id} ({provider.dimensions} dimensions), {os.cpu_count()} CPUs")
    print(f"load            {load_seconds * 1000:.0f} ms (first query included)")
    print(f"RSS increase    {(rss_after - rss_before) / 2**20:.0f} MiB")
    print(
        f"single query    median {statistics.median(latencies) * 1000:.2f} ms, "
        f"p95 {sorted(latencies)[int(QUERIES * 0.95)] * 1000:.2f} ms over {QUERIES} queries"
    )
    print(
        f"batch           {SENTENCES / batch_seconds:.0f} sentences/s ({SENTENCES} sentences in {batch_seconds:.2f} s)"
    )


if __name__ == "__main__":
    main()
