"""How fast the configured embedding provider is on this machine (the local int8 MiniLM unless settings say otherwise).

Prints the load time, the median latency of one query over 200 queries, the throughput for a 2,000-sentence batch
and for 2,000 short facts like those ``bench/retain.py`` stores (with the CPU time each costs: core-milliseconds,
which a busy machine disturbs less than wall time), plus the resident memory the model adds.
Run: ``.venv/bin/python bench/embeddings.py``.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
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


def facts(count: int, seed: int) -> list[str]:
    """Short facts as the offline extractor writes them from bench/retain.py's items (about 16 tokens each)."""
    from retain import make_item

    rng = random.Random(seed)
    out: list[str] = []
    index = 0
    while len(out) < count:
        out.extend(part.strip() + "." for part in make_item(rng, index, 20)["content"].split(".") if part.strip())
        index += 1
    return out[:count]


def main() -> None:
    process = psutil.Process()
    rss_before = process.memory_info().rss

    started = time.perf_counter()
    provider = get_embedding_provider()
    load = getattr(provider, "load", None)
    if load is not None:
        load()
    provider.embed_query("warm-up")
    # Two texts of one length: the local int8 form loads its second (grouped) session here, not inside a timing.
    provider.embed_documents(["warm up one.", "warm up two."])
    load_seconds = time.perf_counter() - started
    rss_after = process.memory_info().rss

    latencies = []
    for text in sentences(QUERIES, seed=1):
        began = time.perf_counter()
        provider.embed_query(text)
        latencies.append(time.perf_counter() - began)

    batch = sentences(SENTENCES, seed=2)
    began, cpu_began = time.perf_counter(), time.process_time()
    vectors = provider.embed_documents(batch)
    batch_seconds, batch_cpu = time.perf_counter() - began, time.process_time() - cpu_began
    assert len(vectors) == SENTENCES

    short = facts(SENTENCES, seed=3)
    began, cpu_began = time.perf_counter(), time.process_time()
    provider.embed_documents(short)
    facts_seconds, facts_cpu = time.perf_counter() - began, time.process_time() - cpu_began

    print(f"provider        {provider.model_id} ({provider.dimensions} dimensions), {os.cpu_count()} CPUs")
    print(f"load            {load_seconds * 1000:.0f} ms (first query and first group of texts included)")
    print(f"RSS increase    {(rss_after - rss_before) / 2**20:.0f} MiB")
    print(
        f"single query    median {statistics.median(latencies) * 1000:.2f} ms, "
        f"p95 {sorted(latencies)[int(QUERIES * 0.95)] * 1000:.2f} ms over {QUERIES} queries"
    )
    print(
        f"batch           {SENTENCES / batch_seconds:.0f} sentences/s ({SENTENCES} sentences of 5-40 words in "
        f"{batch_seconds:.2f} s), {batch_cpu / SENTENCES * 1000:.2f} core-ms each"
    )
    print(
        f"short facts     {SENTENCES / facts_seconds:.0f} facts/s ({SENTENCES} facts like bench/retain.py's in "
        f"{facts_seconds:.2f} s), {facts_cpu / SENTENCES * 1000:.2f} core-ms each"
    )
    print(f"load average    {' / '.join(f'{x:.1f}' for x in os.getloadavg())} (1/5/15 min)")


if __name__ == "__main__":
    main()
