"""Recall latency over HTTP against ``manage.py serve``: one bank of 100,000 memory units, budget mid, 4096 tokens.

Sequential and with 4 concurrent clients, p50/p95 end to end, plus the server's own timings per stage (query
embedding and each channel, from its Server-Timing header; requests carry no trace, as a client's do not). Then the
same with 10,000 other banks present (50,000 more units in the shared HNSW index), to show bank count does not slow a
bank down. Every phase asks its own questions (none repeats another phase's), and the load average is printed before
and after, since a busy machine moves every figure.

A bank this large is answered from an in-process copy in each web process (memories/recall_index.py), built in the
background after the first recall there; the benchmark waits for the copies (and says how long that took and the web
processes' memory), then counts per phase how many answers came from the copies and how many from PostgreSQL.

    .venv/bin/python bench/recall.py                      # builds the bank through retain (about 11 minutes)
    .venv/bin/python bench/recall.py --home /tmp/hs-bench   # reuse a home that bench/retain.py filled

Adding the other banks is done once per home (a second run finds them). Not a test: it prints figures, it asserts
nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retain import PEOPLE, PLACES, WHEN, count_units, serving  # noqa: E402

from hindsight_site.paths import ProfilePaths  # noqa: E402

BANK = "bench-retain"


def questions(rng: random.Random, count: int) -> list[str]:
    shapes = [
        "Where did {person} go with {friend}?",
        "Who adopted a dog after moving to {place}?",
        "What did {person} do {when}?",
        "Who ran a half marathon in {place}?",
        "What does {person} know about pottery?",
        "Which novel did {person} finish reading?",
        "Did {person} cook dinner for {friend}?",
        "What happened in {place} {when}?",
    ]
    out = []
    for _ in range(count):
        person, friend = rng.sample(PEOPLE, 2)
        out.append(
            rng.choice(shapes).format(person=person, friend=friend, place=rng.choice(PLACES), when=rng.choice(WHEN))
        )
    return out


def warm_up_questions() -> list[str]:
    return ["Who likes tea?", "What happened in spring?", "Where is the bicycle?", "Which city was visited?"]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def measure(base: str, queries: list[str], clients: int, max_tokens: int = 4096, meter=None) -> dict:
    # The standard library's HTTP client, one keep-alive connection per client thread: the client runs on the same
    # 2 cores as the server, and httpx cost it about twice the CPU per request (2.3-4.3 ms against ~1 ms).
    address = urlsplit(base)
    local = threading.local()

    def post(path: str, body: dict) -> tuple[int, bytes, str]:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("Server-Timing", "")

    def one(query: str):
        # What a client sends (no trace): the server's stage timings come back in its Server-Timing header. The body
        # is checked, not parsed: parsing 150 kB of JSON here would take CPU from the server on this machine.
        started = time.perf_counter()
        status, content, timing = post(
            f"/v1/default/banks/{BANK}/memories/recall",
            {"query": query, "budget": "mid", "max_tokens": max_tokens, "query_timestamp": "2024-12-31T00:00:00Z"},
        )
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200 or not content.startswith(b'{"results":[{'):
            raise RuntimeError(f"{status} for {query!r}: {content[:200]!r}")
        timings, source = server_timing(timing)
        return elapsed, timings, source

    for query in warm_up_questions():  # model load, connections, plans; never the measured questions
        one(query)
    before = meter.read() if meter else {}
    with ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(one, queries))
    after = meter.read() if meter else {}
    latencies = [ms for ms, _, _ in outcomes]
    stages: dict[str, list[float]] = {}
    for _, timings, _ in outcomes:
        for name, ms in timings.items():
            stages.setdefault(name, []).append(ms)
    sources: dict[str, int] = {}
    for _, _, source in outcomes:
        sources[source] = sources.get(source, 0) + 1
    return {
        "p50": statistics.median(latencies),
        "p95": percentile(latencies, 0.95),
        "stages": {name: statistics.median(values) for name, values in stages.items()},
        "read_from": sources,
        "cpu": {name: CpuMeter.spent(before.get(name, {}), after[name]) * 1000 / len(queries) for name in after},
    }


class CpuMeter:
    """CPU seconds so far of the web workers (gunicorn), PostgreSQL (the home's postmaster and its children) and this
    benchmark process: per-query CPU by part, for a machine whose 2 cores they all share."""

    def __init__(self, serve, home: Path):
        self.serve = serve
        self.postmaster = int((ProfilePaths(home, "default").postgres_data / "postmaster.pid").read_text().split()[0])

    def read(self) -> dict[str, dict[int, float]]:
        """Per part, each live process's CPU seconds by pid (PostgreSQL's backends come and go between reads)."""
        import psutil

        def total(processes) -> dict[int, float]:
            seconds = {}
            for process in processes:
                try:
                    times = process.cpu_times()
                    seconds[process.pid] = times.user + times.system
                except psutil.Error:
                    pass
            return seconds

        tree = psutil.Process(self.serve.pid).children(recursive=True)
        web = [p for p in tree if "gunicorn" in " ".join(p.cmdline())]
        postmaster = psutil.Process(self.postmaster)
        return {
            "web": total(web),
            "PostgreSQL": total([postmaster, *postmaster.children()]),
            "client": total([psutil.Process()]),
        }

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        """CPU seconds spent between two reads by the processes alive at the second (a process that exited in between
        is left out rather than subtracted)."""
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def server_timing(header: str) -> tuple[dict[str, float], str]:
    """Stage milliseconds and what answered (``read;desc=…``) from a Server-Timing header."""
    timings, source = {}, "database"
    for entry in header.split(","):
        name, _, value = entry.strip().partition(";")
        if value.startswith("dur="):
            timings[name] = float(value[4:])
        elif name == "read" and value.startswith("desc="):
            source = value[5:]
    return timings, source


def wait_for_copies(base: str, serve, timeout: float = 300) -> None:
    """Recall answers from PostgreSQL until each web process holds its copy of the bank (memories/recall_index.py,
    built in the background after the first recall there). Ask in rounds of 8 concurrent requests, each on a new
    connection (so every web process gets some), until two rounds in a row are answered from the copies; say how
    long that took and what the web processes hold then."""
    body = {"query": "Who likes tea?", "budget": "mid"}

    def source(_: int) -> str:
        response = httpx.post(f"{base}/v1/default/banks/{BANK}/memories/recall", json=body, timeout=60)
        response.raise_for_status()
        return server_timing(response.headers.get("server-timing", ""))[1]

    started, good_rounds = time.monotonic(), 0
    with ThreadPoolExecutor(8) as pool:
        while good_rounds < 2 and time.monotonic() - started < timeout:
            all_memory = all(s == "memory" for s in pool.map(source, range(8)))
            good_rounds = good_rounds + 1 if all_memory else 0
            if not all_memory:
                time.sleep(1)
    state = "held" if good_rounds >= 2 else f"NOT all built after {timeout:.0f} s"
    print(f"in-process copies of the bank {state} after {time.monotonic() - started:.1f} s; {web_rss(serve)}")


def web_rss(serve) -> str:
    try:
        import psutil
    except ImportError:
        return "RSS unknown"
    workers = [
        p
        for p in psutil.Process(serve.pid).children(recursive=True)
        if "gunicorn" in " ".join(p.cmdline()) and p.parent() and "gunicorn" in " ".join(p.parent().cmdline())
    ]
    return "web workers' RSS " + ", ".join(f"{p.memory_info().rss / 2**20:,.0f} MiB" for p in workers)


def report(label: str, result: dict, serve) -> None:
    stages = ", ".join(f"{name} {ms:.1f}" for name, ms in result["stages"].items())
    print(f"{label:<48} p50 {result['p50']:6.1f} ms   p95 {result['p95']:6.1f} ms   load {load()}", flush=True)
    print(f"{'':<48} server medians (ms): {stages}", flush=True)
    sources = ", ".join(f"{count} from {source}" for source, count in sorted(result["read_from"].items()))
    cpu = ", ".join(f"{name} {ms:.1f}" for name, ms in result["cpu"].items())
    print(f"{'':<48} answers: {sources}; CPU per query (ms): {cpu}", flush=True)
    print(f"{'':<48} after the phase: {web_rss(serve)}", flush=True)


def load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def add_other_banks(home: Path, count: int, per_bank: int) -> None:
    """Insert ``count`` small banks whose units copy vectors from the big bank (realistic vectors, fast)."""
    paths = ProfilePaths(home, "default")
    with psycopg.connect(
        host=str(paths.postgres_socket_dir), user="postgres", dbname="hindsight", autocommit=True
    ) as conn:
        present = conn.execute("SELECT count(*) FROM banks_bank WHERE bank_id LIKE 'other-%%'").fetchone()[0]
        if present >= count:
            print(f"{present:,} other banks already present", flush=True)
            return
        main = conn.execute("SELECT id, embedding_model FROM banks_bank WHERE bank_id = %s", [BANK]).fetchone()
        conn.execute(
            """
            INSERT INTO banks_bank (bank_id, name, config_overrides, embedding_model, created_at, updated_at)
            SELECT 'other-' || g, '', '{}', %s, now(), now() FROM generate_series(1, %s) g
            ON CONFLICT (bank_id) DO NOTHING
            """,
            [main[1], count],
        )
        conn.execute(
            """
            WITH source AS (
                SELECT row_number() OVER () AS n, text, fact_type, fact_kind, embedding, embedding_model
                FROM (SELECT * FROM memories_memoryunit WHERE bank_id = %s ORDER BY random() LIMIT %s) s
            ), others AS (
                SELECT row_number() OVER (ORDER BY id) - 1 AS n, id FROM banks_bank WHERE bank_id LIKE 'other-%%'
            )
            INSERT INTO memories_memoryunit
                (id, bank_id, text, fact_type, fact_kind, embedding, embedding_model, context, metadata, tags,
                 source_memory_ids, proof_count, text_signals, state, invalidation_reason, created_at, updated_at)
            SELECT gen_random_uuid(), others.id, source.text, source.fact_type, source.fact_kind, source.embedding,
                   source.embedding_model, '', '{}', '{}', '{}', 1, '', 'valid', '', now(), now()
            FROM source JOIN others ON others.n = (source.n - 1) %% %s
            """,
            [main[0], count * per_bank, count],
        )
        conn.execute("ANALYZE memories_memoryunit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, help="a HINDSIGHT_HOME whose bank bench/retain.py already filled")
    parser.add_argument("--queries", type=int, default=200, help="questions per phase")
    parser.add_argument("--other-banks", type=int, default=10_000, help="0 skips the phases with other banks")
    parser.add_argument("--units-per-other-bank", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=4096, help="the answer's token budget (the target's is 4096)")
    parser.add_argument(
        "--no-copies",
        action="store_true",
        help="serve with HINDSIGHT_RECALL_INDEX_MAX_UNITS=0: every recall reads PostgreSQL (the path before copies)",
    )
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="hs-bench-"))
    if args.home is None:
        subprocess.run([sys.executable, str(REPO / "bench" / "retain.py"), "--home", str(home)], check=True)
    settings = {"HINDSIGHT_RECALL_INDEX_MAX_UNITS": "0"} if args.no_copies else {}
    with serving(home, 19_000 + os.getpid() % 1000, **settings) as (base, serve):
        units = count_units(base, BANK)
        print(
            f"bank {BANK}: {units:,} memory units; {args.queries} questions per phase, budget mid, "
            f"max_tokens {args.max_tokens}"
        )
        if args.no_copies:
            print(f"in-process copies off; {web_rss(serve)}")
        else:
            wait_for_copies(base, serve)
        meter = CpuMeter(serve, home)
        print(f"{os.cpu_count()} cores; load average {load()}", flush=True)
        rng = random.Random(11)
        report("sequential", measure(base, questions(rng, args.queries), 1, args.max_tokens, meter), serve)
        report("4 concurrent clients", measure(base, questions(rng, args.queries), 4, args.max_tokens, meter), serve)
        if args.other_banks:
            print(f"\nadding {args.other_banks:,} other banks x {args.units_per_other_bank} units …", flush=True)
            add_other_banks(home, args.other_banks, args.units_per_other_bank)
            report(
                f"sequential, {args.other_banks:,} other banks",
                measure(base, questions(rng, args.queries), 1, args.max_tokens, meter),
                serve,
            )
            report(
                f"4 concurrent clients, {args.other_banks:,} other banks",
                measure(base, questions(rng, args.queries), 4, args.max_tokens, meter),
                serve,
            )


if __name__ == "__main__":
    main()
