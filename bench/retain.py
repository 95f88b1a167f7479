"""Retain throughput into one bank growing to 100,000 memory units, over HTTP against ``manage.py serve``.

Offline extractor, local embeddings (the defaults). The first half is retained synchronously, the second half
asynchronously (the worker does the work); each prints units/s and items/s per 10,000 units and the CPU time each
part of the server spent per unit (web server, worker, PostgreSQL: core-milliseconds per unit, which a shared machine
disturbs far less than wall-clock rates), then the peak RSS of the web server, the worker and PostgreSQL (each summed
over its process tree) and the load average, so a reader knows how busy the machine was.

    .venv/bin/python bench/retain.py                 # 100,000 units
    .venv/bin/python bench/retain.py --units 20000   # a quicker look

Not a test: it prints figures, it asserts nothing. Quote medians and ratios from one run; the machine is noisy.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parent.parent
PEOPLE = ["Alice", "Bob", "Carol", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Keiko", "Liam"]
PLACES = ["Paris", "Lisbon", "Kyoto", "Lima", "Oslo", "Nairobi", "Denver", "Hanoi", "Quito", "Cairo", "Perth", "Riga"]
ACTS = [
    "visited {place} with {friend} {when}",
    "started learning pottery in {place} {when}",
    "adopted a dog named Rex after moving to {place}",
    "told {friend} about the new job in {place}",
    "ran a half marathon in {place} {when}",
    "cooked dinner for {friend} and their parents {when}",
    "bought a used bicycle from {friend} in {place}",
    "finished reading a novel about {place} {when}",
]
WHEN = ["yesterday", "last week", "two days ago", "in May 2023", "last summer", "on 7 March 2024", "this morning"]


def make_item(rng: random.Random, index: int, sentences: int) -> dict:
    lines = []
    for _ in range(sentences):
        person, friend = rng.sample(PEOPLE, 2)
        act = rng.choice(ACTS).format(place=rng.choice(PLACES), friend=friend, when=rng.choice(WHEN))
        lines.append(f"{person} {act}.")
    return {
        "content": " ".join(lines),
        "document_id": f"doc-{index}",
        "timestamp": f"2024-{1 + index % 12:02d}-{1 + index % 28:02d}T12:00:00Z",
        "context": "daily log",
    }


def load_average() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def tree_cpu(root: psutil.Process) -> float:
    """CPU seconds used by a process tree so far: live processes, plus the children they have already reaped."""
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


class CpuMeter:
    """CPU seconds per process tree between ``start`` and ``report``, printed as core-ms per unit."""

    def __init__(self, roots: dict[str, psutil.Process]):
        self.roots = roots
        self.started: dict[str, float] = {}

    def start(self) -> None:
        self.started = {name: tree_cpu(root) for name, root in self.roots.items()}

    def report(self, units: int) -> None:
        spent = {name: tree_cpu(root) - self.started[name] for name, root in self.roots.items()}
        total = sum(spent.values())
        parts = ", ".join(f"{name} {seconds / units * 1000:.2f}" for name, seconds in spent.items())
        cores = os.cpu_count() or 1
        print(
            f"CPU per unit (core-ms): {parts}; total {total / units * 1000:.2f}, so {cores} cores fully used by the "
            f"server alone would retain at most {cores * units / total:.0f} units/s"
        )


class RssSampler(threading.Thread):
    """Peak resident memory of each process tree, sampled every 0.25 s."""

    def __init__(self, roots: dict[str, psutil.Process]):
        super().__init__(daemon=True)
        self.roots = roots
        self.peaks = dict.fromkeys(roots, 0)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.25):
            for name, root in self.roots.items():
                try:
                    tree = [root, *root.children(recursive=True)]
                    total = sum(p.memory_info().rss for p in tree if p.is_running())
                except psutil.Error:
                    continue
                self.peaks[name] = max(self.peaks[name], total)

    def summary(self) -> str:
        return "peak RSS (process trees): " + ", ".join(f"{n} {p / 2**20:.0f} MiB" for n, p in self.peaks.items())


def find_children(serve: psutil.Process) -> dict[str, psutil.Process]:
    found = {}
    for child in serve.children():
        cmdline = " ".join(child.cmdline())
        if "gunicorn" in cmdline:
            found["web server"] = child
        elif "celery" in cmdline and " worker" in cmdline:  # not beat, the reaper's clock
            found["worker"] = child
        elif "postgres" in cmdline:
            found["postgres"] = child
    return found


def count_units(base: str, bank: str) -> int:
    return httpx.get(f"{base}/v1/default/banks", params={"q": bank}, timeout=60).json()["banks"][0]["fact_count"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--sentences", type=int, default=20, help="sentences (about one fact each) per item")
    parser.add_argument("--batch", type=int, default=25, help="items per request")
    parser.add_argument("--clients", type=int, default=2, help="concurrent sync clients")
    parser.add_argument("--home", type=Path, help="HINDSIGHT_HOME to fill (default: a new temporary folder)")
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="hs-bench-"))
    print(f"data in {home}")
    with serving(home, 18_000 + os.getpid() % 1000) as (base, serve):
        time.sleep(2)
        roots = find_children(psutil.Process(serve.pid))
        sampler = RssSampler({name: roots[name] for name in ("web server", "worker", "postgres") if name in roots})
        sampler.start()
        print(f"load average before: {load_average()} (1/5/15 min), {os.cpu_count()} CPUs")
        run(base, args, CpuMeter(sampler.roots), sampler)
        sampler.stop.set()
        sampler.join()
        print("\n" + sampler.summary())
        print(f"load average after: {load_average()} (1/5/15 min)")


@contextlib.contextmanager
def serving(home: Path, port: int, **settings: str):
    """``manage.py serve`` on ``home`` (embedded services, offline, ``settings`` as extra environment variables) for
    the block; yields (base URL, process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HINDSIGHT_", "DATABASE_URL", "CELERY_"))}
    env.update(HINDSIGHT_HOME=str(home), HF_HUB_OFFLINE="1", LITELLM_LOCAL_MODEL_COST_MAP="True", **settings)
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield base, serve
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(120)


def run(base: str, args, meter: CpuMeter, sampler: RssSampler) -> None:
    rng = random.Random(7)
    bank = "bench-retain"
    items_needed = args.units // args.sentences
    requests = [
        [make_item(rng, i * args.batch + j, args.sentences) for j in range(args.batch)]
        for i in range(items_needed // args.batch)
    ]
    half = len(requests) // 2
    client = httpx.Client(base_url=base, timeout=600)
    print(f"retaining {items_needed} items of {args.sentences} sentences in {len(requests)} requests of {args.batch}")

    # --- sync half, with checkpoints every ~10k units ----------------------------------------------------------
    print("\nsync (offline extractor, local embeddings)")
    print(f"{'units in bank':>14} {'units/s':>9} {'items/s':>9} {'request p50 ms':>15}")
    checkpoint_units = 10_000
    window_start, window_units, window_items, latencies = time.perf_counter(), count_units_safe(base, bank), 0, []
    start_units = window_units
    sync_started = time.perf_counter()
    meter.start()

    def post(batch):
        started = time.perf_counter()
        response = client.post(f"/v1/default/banks/{bank}/memories", json={"items": batch})
        response.raise_for_status()
        return time.perf_counter() - started, len(batch)

    rates = []
    with ThreadPoolExecutor(args.clients) as pool:
        for group_start in range(0, half, args.clients):
            for elapsed, count in pool.map(post, requests[group_start : group_start + args.clients]):
                latencies.append(elapsed)
                window_items += count
            units = count_units(base, bank)
            if units - window_units >= checkpoint_units or group_start + args.clients >= half:
                seconds = time.perf_counter() - window_start
                rate = (units - window_units) / seconds
                rates.append(rate)
                print(
                    f"{units:>14,} {rate:>9.0f} {window_items / seconds:>9.1f} "
                    f"{statistics.median(latencies) * 1000:>15.0f}"
                )
                window_start, window_units, window_items, latencies = time.perf_counter(), units, 0, []
    sync_units = count_units(base, bank) - start_units
    sync_seconds = time.perf_counter() - sync_started
    print(
        f"sync overall: {sync_units / sync_seconds:.0f} units/s, {half * args.batch / sync_seconds:.1f} items/s; "
        f"median of windows {statistics.median(rates):.0f} units/s"
    )
    meter.report(sync_units)
    print(f"{sampler.summary()} so far; load average {load_average()}")

    # --- async half: submit everything, then wait for the worker ----------------------------------------------
    print("\nasync (submitted at once; the worker drains the queue)")
    before = count_units(base, bank)
    started = time.perf_counter()
    meter.start()
    operation_ids = []
    for batch in requests[half:]:
        response = client.post(f"/v1/default/banks/{bank}/memories", json={"items": batch, "async": True})
        response.raise_for_status()
        operation_ids.append(response.json()["operation_id"])
    submitted = time.perf_counter() - started
    print(f"submitted {len(operation_ids)} operations in {submitted:.1f}s ({len(operation_ids) / submitted:.0f}/s)")
    # Poll the bank's queue as a whole (three small list requests every 2 s), not each operation: a GET per
    # operation per poll would cost the server CPU the worker is competing for.
    last_report = time.perf_counter()
    while True:
        time.sleep(2)
        open_count = sum(operations_total(client, bank, status) for status in ("pending", "processing"))
        if operations_total(client, bank, "failed"):
            raise SystemExit(f"an operation failed (see GET /v1/default/banks/{bank}/operations?status=failed)")
        if not open_count:
            break
        if time.perf_counter() - last_report > 30:
            units = count_units(base, bank)
            print(f"{units:>14,} units in bank, {open_count} operations left")
            last_report = time.perf_counter()
    seconds = time.perf_counter() - started
    async_units = count_units(base, bank) - before
    async_items = (len(requests) - half) * args.batch
    print(f"async overall: {async_units / seconds:.0f} units/s, {async_items / seconds:.1f} items/s")
    meter.report(async_units)
    unfinished = [
        operation_id
        for operation_id in operation_ids
        if client.get(f"/v1/default/banks/{bank}/operations/{operation_id}").json()["status"] != "completed"
    ]
    if unfinished:
        raise SystemExit(f"{len(unfinished)} operations did not complete, e.g. {unfinished[0]}")
    print(f"bank now holds {count_units(base, bank):,} memory units")


def operations_total(client: httpx.Client, bank: str, status: str) -> int:
    """How many of the bank's retain operations have ``status`` (one list request for one row)."""
    response = client.get(
        f"/v1/default/banks/{bank}/operations", params={"status": status, "type": "retain", "limit": 1}
    )
    response.raise_for_status()
    return response.json()["total"]


def count_units_safe(base: str, bank: str) -> int:
    try:
        return count_units(base, bank)
    except (IndexError, KeyError):
        return 0


if __name__ == "__main__":
    main()
