"""Retrieval quality on LoCoMo: recall@k of each recall channel alone and of the fused ranking, over HTTP.

Starts ``manage.py serve`` in a temporary HINDSIGHT_HOME (offline extractor, local embeddings), retains every session
of each LoCoMo conversation as one document (a JSON list of turns, so each fact keeps its ``dia_id`` as
``metadata.turn_id``), then asks every question that has evidence through ``POST …/memories/recall`` with a trace and
scores, for k = 5, 10, 20:

* session level: 1 if any of the top-k memories comes from a session that holds an evidence turn, else 0;
* turn level: the fraction of the question's evidence turns that some top-k memory comes from (by ``turn_id``).

Both are averaged over questions, per LoCoMo category (1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop,
5 adversarial) and over categories 1-4 (category 5 is reported apart, as the field does). Rows: each channel's own
ranking from ``trace.channels.<name>.ids`` and the fused ``results`` order.

    .venv/bin/python bench/locomo_recall.py                                   # all 6 conversations
    .venv/bin/python bench/locomo_recall.py --conversations 1 --questions 40  # a quick look

Channel ids are mapped to turns and sessions from recall's own results (a second recall with room for every candidate
fills any gap); the embedded database is read (read-only) only to cross-check that map and to show the ceiling, the
share of evidence turns that produced any fact at all. ``--dump`` writes per-question details (ranks, top texts).

The data (CC BY-NC 4.0) is read from ``shared/data/locomo`` beside the repository and never copied into it.
Not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo" / "locomo-dev.json"
KS = (5, 10, 20)
CHANNELS = ("semantic", "keyword", "graph", "temporal")
ROWS = (*CHANNELS, "fused")
COLUMNS = ("1", "2", "3", "4", "1-4", "5")
SESSIONS_PER_REQUEST = 4
DATE_FORMAT = "%I:%M %p on %d %B, %Y"
# Evidence ids as written ("D8:6"), and the malformed ones seen in the data ("D:11:26", "D8:6; D9:17").
EVIDENCE_ID = re.compile(r"D:?(\d+):(\d+)")
SESSION_OF_DOCUMENT = re.compile(r"-session-(\d+)$")
SESSION_OF_TURN = re.compile(r"^D(\d+):")


# --- data ---------------------------------------------------------------------------------------------------------


@dataclass
class Question:
    text: str
    category: int
    evidence: set[str]  # valid turn ids present in the conversation


@dataclass
class Conversation:
    sample_id: str
    speakers: tuple[str, str]
    sessions: list[tuple[int, datetime, list[dict]]]
    questions: list[Question] = field(default_factory=list)
    dropped_evidence: int = 0  # evidence ids that name no turn of the conversation
    no_evidence: int = 0  # questions left out because no evidence id names a turn

    @property
    def bank(self) -> str:
        return f"locomo-{self.sample_id}"

    @property
    def turn_ids(self) -> set[str]:
        return {turn["dia_id"] for _, _, turns in self.sessions for turn in turns}

    @property
    def last_date(self) -> datetime:
        return max(date for _, date, _ in self.sessions)


def load(path: Path) -> list[Conversation]:
    conversations = []
    for sample in json.loads(path.read_text()):
        conv = sample["conversation"]
        sessions = []
        for key, turns in conv.items():
            match = re.fullmatch(r"session_(\d+)", key)
            if not match or not turns:
                continue
            number = int(match.group(1))
            date = datetime.strptime(conv[f"{key}_date_time"], DATE_FORMAT).replace(tzinfo=UTC)
            kept = [{"speaker": t["speaker"], "dia_id": t["dia_id"], "text": t["text"]} for t in turns]
            sessions.append((number, date, kept))
        sessions.sort(key=lambda s: s[0])
        item = Conversation(sample["sample_id"], (conv["speaker_a"], conv["speaker_b"]), sessions)
        valid = item.turn_ids
        for qa in sample["qa"]:
            raw = qa.get("evidence") or []
            if not raw:
                continue
            evidence: set[str] = set()
            for entry in raw:
                ids = {f"D{s}:{t}" for s, t in EVIDENCE_ID.findall(str(entry))} & valid
                item.dropped_evidence += not ids
                evidence |= ids
            if not evidence:
                item.no_evidence += 1
                continue
            item.questions.append(Question(qa["question"], int(qa["category"]), evidence))
        conversations.append(item)
    return conversations


def session_of(turn_id: str | None, document_id: str | None) -> int | None:
    if document_id and (match := SESSION_OF_DOCUMENT.search(document_id)):
        return int(match.group(1))
    if turn_id and (match := SESSION_OF_TURN.match(turn_id)):
        return int(match.group(1))
    return None


# --- server -------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    home: Path, port: int, embeddings_model: str | None = None, from_memory: bool = False
) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HINDSIGHT_", "DATABASE_URL", "CELERY_"))}
    env.update(HINDSIGHT_HOME=str(home), HF_HUB_OFFLINE="1", LITELLM_LOCAL_MODEL_COST_MAP="True")
    if from_memory:  # every bank, however small, recalled from in-process copies (memories/recall_index.py)
        env.update(HINDSIGHT_RECALL_INDEX_MIN_UNITS="1", HINDSIGHT_RECALL_INDEX_REBUILD_SECONDS="0")
    if embeddings_model:
        env["HINDSIGHT_EMBEDDINGS_MODEL"] = embeddings_model
    log = open(home / "serve.log", "wb")  # noqa: SIM115 - handed to the child for its whole life
    serve = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if serve.poll() is not None:
            raise SystemExit(f"serve exited with {serve.returncode}; see {home / 'serve.log'}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return serve
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    serve.send_signal(signal.SIGINT)
    serve.wait(120)
    raise SystemExit(f"serve did not become healthy in 180 s; see {home / 'serve.log'}")


def database_units(home: Path, bank: str) -> dict[str, tuple[str | None, int | None, str]] | None:
    """Every valid memory of ``bank`` (id -> turn, session, text) read straight from the embedded database (read-only),
    or None if unreachable.

    Only a cross-check of the recall-built id map and the ceiling of what retrieval can find; the metrics do not use it.
    """
    try:
        import psycopg

        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        from hindsight_site.paths import ProfilePaths

        socket_dir = ProfilePaths(home=home, profile="default").postgres_socket_dir
        with psycopg.connect(host=str(socket_dir), user="postgres", dbname="hindsight", autocommit=True) as conn:
            rows = conn.execute(
                """
                SELECT u.id::text, u.metadata->>'turn_id', d.document_id, u.text
                FROM memories_memoryunit u
                JOIN banks_bank b ON b.id = u.bank_id
                LEFT JOIN memories_document d ON d.id = u.document_id
                WHERE b.bank_id = %s AND u.state = 'valid'
                """,
                [bank],
            ).fetchall()
    except Exception as exc:
        print(f"  (database cross-check unavailable: {type(exc).__name__}: {exc})")
        return None
    return {unit_id: (turn_id, session_of(turn_id, document_id), text) for unit_id, turn_id, document_id, text in rows}


# --- scoring ------------------------------------------------------------------------------------------------------


@dataclass
class Scores:
    # level -> row -> category -> list of per-question tuples (one value per k)
    values: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))

    def add(self, level: str, row: str, category: int, per_k: tuple[float, ...]) -> None:
        self.values[level][row][category].append(per_k)

    def mean(self, level: str, row: str, column: str) -> tuple[float, ...] | None:
        cats = (1, 2, 3, 4) if column == "1-4" else (int(column),)
        rows = [v for c in cats for v in self.values[level][row][c]]
        if not rows:
            return None
        return tuple(statistics.fmean(v[i] for v in rows) for i in range(len(KS)))

    def count(self, level: str, row: str, column: str) -> int:
        cats = (1, 2, 3, 4) if column == "1-4" else (int(column),)
        return sum(len(self.values[level][row][c]) for c in cats)


def score_ranking(ids: list[str], id_map: dict, question: Question) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(session hit per k, turn recall per k) of one ranked id list; unmapped ids count as misses."""
    evidence_sessions = {int(SESSION_OF_TURN.match(t).group(1)) for t in question.evidence}
    session_hits, turn_recalls = [], []
    for k in KS:
        top = [id_map.get(unit_id, (None, None)) for unit_id in ids[:k]]
        session_hits.append(1.0 if any(s in evidence_sessions for _, s in top) else 0.0)
        turns = {t for t, _ in top if t}
        turn_recalls.append(len(question.evidence & turns) / len(question.evidence))
    return tuple(session_hits), tuple(turn_recalls)


def print_table(scores: Scores, level: str, title: str, extra_rows: tuple[str, ...] = ()) -> None:
    print(f"\n{title}")
    head = "".join(f"| {'cat ' + c if c not in ('1-4',) else 'cat 1-4':^20} " for c in COLUMNS)
    print(f"{'':<16} {head}")
    print(f"{'channel':<16} " + "".join("| " + " ".join(f"{'R@' + str(k):>6}" for k in KS) + " " for _ in COLUMNS))
    print("-" * (17 + 23 * len(COLUMNS)))
    for row in (*ROWS, *extra_rows):
        cells = []
        for column in COLUMNS:
            means = scores.mean(level, row, column)
            cells.append("| " + " ".join(f"{m:>6.3f}" if means else f"{'-':>6}" for m in (means or KS)) + " ")
        print(f"{row:<16} " + "".join(cells))
    counts = "".join(f"| {'n=' + str(scores.count(level, 'fused', c)):^20} " for c in COLUMNS)
    print(f"{'questions':<16} {counts}")


# --- run ----------------------------------------------------------------------------------------------------------


def retain(client: httpx.Client, conv: Conversation) -> float:
    context = f"conversation between {conv.speakers[0]} and {conv.speakers[1]}"
    items = [
        {
            "content": json.dumps(turns),
            "document_id": f"{conv.sample_id}-session-{number}",
            "timestamp": date.isoformat(),
            "context": context,
        }
        for number, date, turns in conv.sessions
    ]
    started = time.perf_counter()
    for start in range(0, len(items), SESSIONS_PER_REQUEST):
        response = client.post(
            f"/v1/default/banks/{conv.bank}/memories", json={"items": items[start : start + SESSIONS_PER_REQUEST]}
        )
        response.raise_for_status()
    return time.perf_counter() - started


def fact_count(client: httpx.Client, bank: str) -> int:
    banks = client.get("/v1/default/banks", params={"q": bank}).json()["banks"]
    return next((b["fact_count"] for b in banks if b["bank_id"] == bank), 0)


def remember(id_map: dict, texts: dict, results: list[dict]) -> None:
    for result in results:
        turn_id = (result.get("metadata") or {}).get("turn_id") or None
        id_map[result["id"]] = (turn_id, session_of(turn_id, result.get("document_id")))
        texts[result["id"]] = result["text"]


def code_version() -> str:
    """The commit the server runs, and whether the recall code differs from it (read-only git queries)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "memories", "banks", "hindsight_site"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    changed = [name for name in dirty if "/" in name]
    return commit + (f" with uncommitted changes in {', '.join(changed)}" if changed else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=None, help="how many conversations (default all 6)")
    parser.add_argument("--questions", type=int, default=None, help="questions per conversation (default all)")
    parser.add_argument("--budget", default="mid", choices=("low", "mid", "high"))
    parser.add_argument("--max-tokens", type=int, default=4096, help="max_tokens of the scored recall")
    parser.add_argument(
        "--embeddings-model", default=None, help="HINDSIGHT_EMBEDDINGS_MODEL for the server (default: built-in)"
    )
    parser.add_argument("--keep-home", action="store_true", help="keep the server's temporary data folder")
    parser.add_argument(
        "--from-memory",
        action="store_true",
        help="recall every bank from the server's in-process copies (normally only banks of 20,000+ memories)",
    )
    parser.add_argument("--dump", type=Path, default=None, help="write per-question details as JSON lines here")
    args = parser.parse_args()

    if not DATA.exists():
        raise SystemExit(f"LoCoMo data not found at {DATA}")
    conversations = load(DATA)[: args.conversations]
    home = Path(tempfile.mkdtemp(prefix="hs-locomo-"))
    port = free_port()
    print(f"LoCoMo dev: {len(conversations)} conversations, server home {home}, port {port}")
    print(f"code: {code_version()}")
    serve = start_server(home, port, args.embeddings_model, args.from_memory)
    try:
        run(f"http://127.0.0.1:{port}", home, conversations, args)
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(120)
        if not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)


def run(base: str, home: Path, conversations: list[Conversation], args) -> None:
    client = httpx.Client(base_url=base, timeout=600)
    dump = args.dump.open("w") if args.dump else None

    # --- retain ---
    retain_seconds = 0.0
    print(f"\nretain (sync, {SESSIONS_PER_REQUEST} sessions per request, offline extractor)")
    for conv in conversations:
        seconds = retain(client, conv)
        retain_seconds += seconds
        turns = sum(len(t) for _, _, t in conv.sessions)
        facts = fact_count(client, conv.bank)
        print(
            f"  {conv.bank}: {len(conv.sessions)} sessions, {turns} turns -> {facts} facts in {seconds:.1f}s"
            f" ({turns / seconds:.0f} turns/s)"
        )
    print(f"  total {retain_seconds:.1f}s")

    # --- recall ---
    scores = Scores()
    latencies, server_ms, tokens, result_counts = [], [], [], []
    channel_counts: dict[str, list[int]] = defaultdict(list)
    temporal_fired: Counter = Counter()
    asked: Counter = Counter()
    read_from: Counter = Counter()
    mapped = Counter()
    seen = Counter()
    map_calls = 0
    db_agree = db_checked = 0
    ceilings = Scores()
    recall_started = time.perf_counter()
    for conv in conversations:
        questions = conv.questions[: args.questions]
        id_map: dict[str, tuple[str | None, int | None]] = {}
        texts: dict[str, str] = {}
        # The database, read only to check the map below and for the ceiling: which evidence turns hold any fact?
        units = database_units(home, conv.bank)
        facts_of_turn: dict[str, list[str]] = defaultdict(list)
        for turn_id, _, text in (units or {}).values():
            if turn_id:
                facts_of_turn[turn_id].append(text)
        query_timestamp = conv.last_date.isoformat()
        if args.from_memory:  # wait until this process's copy of the bank is built
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                probe = client.post(f"/v1/default/banks/{conv.bank}/memories/recall", json={"query": "warm up"})
                if "read;desc=memory" in probe.headers.get("server-timing", ""):
                    break
                time.sleep(0.2)
        print(f"\nrecall {conv.bank}: {len(questions)} questions, query_timestamp {query_timestamp}", flush=True)
        for index, question in enumerate(questions, start=1):
            body = {
                "query": question.text,
                "trace": True,
                "max_tokens": args.max_tokens,
                "budget": args.budget,
                "query_timestamp": query_timestamp,
            }
            started = time.perf_counter()
            response = client.post(f"/v1/default/banks/{conv.bank}/memories/recall", json=body)
            latencies.append(time.perf_counter() - started)
            response.raise_for_status()
            answer = response.json()
            trace = answer["trace"]
            read_from[trace.get("read_from", "database")] += 1
            server_ms.append(trace["timings_ms"]["total"])
            tokens.append(trace["tokens_used"])
            result_counts.append(len(answer["results"]))
            remember(id_map, texts, answer["results"])
            channels = {name: trace["channels"].get(name, {}).get("ids", []) for name in CHANNELS}
            for name in CHANNELS:
                channel_counts[name].append(trace["channels"].get(name, {}).get("count", 0))
            if "temporal" in trace["channels"]:
                temporal_fired[question.category] += 1
            asked[question.category] += 1

            # Ids a channel ranked but the scored results left out: the same query with room for every candidate.
            missing = {i for ids in channels.values() for i in ids if i not in id_map}
            if missing:
                map_calls += 1
                wide = client.post(
                    f"/v1/default/banks/{conv.bank}/memories/recall",
                    json={**body, "trace": False, "max_tokens": 100_000, "include": {}},
                )
                wide.raise_for_status()
                remember(id_map, texts, wide.json()["results"])
            for name, ids in channels.items():
                seen[name] += len(ids)
                mapped[name] += sum(1 for i in ids if i in id_map)

            fused_ids = [r["id"] for r in answer["results"]]
            rankings = {**channels, "fused": fused_ids}
            detail = {"bank": conv.bank, "question": question.text, "category": question.category}
            detail["evidence"] = sorted(question.evidence)
            for row, ids in rankings.items():
                session_hits, turn_recalls = score_ranking(ids, id_map, question)
                scores.add("session", row, question.category, session_hits)
                scores.add("turn", row, question.category, turn_recalls)
                if row == "temporal" and "temporal" in trace["channels"]:
                    scores.add("session", "temporal (fired)", question.category, session_hits)
                    scores.add("turn", "temporal (fired)", question.category, turn_recalls)
                detail[row] = [id_map.get(i, (None, None))[0] for i in ids[:20]]
                detail[f"{row}_ids"] = ids[:20]
            detail["time_ranges"] = trace.get("time_ranges")
            detail["top3_text"] = {row: [texts.get(i) for i in ids[:3]] for row, ids in rankings.items()}
            detail["evidence_facts"] = {t: facts_of_turn.get(t, []) for t in sorted(question.evidence)}
            if dump:
                dump.write(json.dumps(detail) + "\n")
            if index % 100 == 0:
                print(f"  {index}/{len(questions)}", flush=True)

        if units is not None:
            for unit_id, where in id_map.items():
                db_checked += 1
                db_agree += units.get(unit_id, (None, None, ""))[:2] == where
            with_facts = set(facts_of_turn)
            sessions_with_facts = {s for _, s, _ in units.values() if s is not None}
            for question in questions:
                sessions = {int(SESSION_OF_TURN.match(t).group(1)) for t in question.evidence}
                turn_ceiling = len(question.evidence & with_facts) / len(question.evidence)
                session_ceiling = 1.0 if sessions & sessions_with_facts else 0.0
                ceilings.add("turn", "ceiling", question.category, (turn_ceiling,) * len(KS))
                ceilings.add("session", "ceiling", question.category, (session_ceiling,) * len(KS))
    recall_seconds = time.perf_counter() - recall_started
    if dump:
        dump.close()

    # --- report ---
    total = sum(asked.values())
    print(f"\n{total} questions scored ({dict(sorted(asked.items()))} by category); ", end="")
    print(
        f"left out for lacking a valid evidence turn: {sum(c.no_evidence for c in conversations)}; "
        f"evidence ids naming no turn (dropped): {sum(c.dropped_evidence for c in conversations)}"
    )
    print(
        "session level: 1 if any top-k memory comes from a session holding an evidence turn; "
        "turn level: fraction of the question's evidence turns some top-k memory comes from (metadata.turn_id); "
        "both averaged over questions. A channel that did not run (temporal without a time expression) scores 0; "
        "'temporal (fired)' averages only over the questions where it ran."
    )
    for level in ("session", "turn"):
        print_table(scores, level, f"{level.upper()}-LEVEL RECALL@k", extra_rows=("temporal (fired)",))
        if ceilings.count(level, "ceiling", "1-4"):
            cells = [ceilings.mean(level, "ceiling", c) for c in COLUMNS]
            line = "".join(f"| {'-' if m is None else f'{m[0]:.3f}':^20} " for m in cells)
            print(f"{'ceiling':<16} {line}  (evidence that holds any fact at all)")

    print("\nbest single channel vs fused (1-4), per level and k:")
    for level in ("session", "turn"):
        for i, k in enumerate(KS):
            fused = scores.mean(level, "fused", "1-4")[i]
            best = max(CHANNELS, key=lambda name: scores.mean(level, name, "1-4")[i])
            value = scores.mean(level, best, "1-4")[i]
            print(f"  {level:<8} R@{k:<3} fused {fused:.3f}  best channel {best} {value:.3f}  ({fused - value:+.3f})")

    print("\nid-map coverage (channel ids whose turn/session the recall results told us):")
    for name in CHANNELS:
        share = mapped[name] / seen[name] if seen[name] else float("nan")
        print(f"  {name:<9} {mapped[name]:>6}/{seen[name]:<6} = {share:.4f}")
    print(f"  wide recalls needed to fill the map: {map_calls} of {total} questions")
    if db_checked:
        print(f"  map entries agreeing with the database: {db_agree}/{db_checked}")

    print("\nchannels (over all questions): mean hits found / share of questions with none")
    for name in CHANNELS:
        counts = channel_counts[name]
        print(f"  {name:<9} {statistics.fmean(counts):7.1f} / {sum(1 for c in counts if c == 0) / len(counts):.3f}")
    fired = ", ".join(f"cat {c}: {temporal_fired[c]}/{asked[c]}" for c in sorted(asked))
    print(f"  temporal channel ran (time expression found) on {sum(temporal_fired.values())}/{total} ({fired})")

    print("\ntimings and size")
    print(f"  retain: {retain_seconds:.1f}s for {sum(len(c.sessions) for c in conversations)} sessions")
    print(
        f"  recall (max_tokens {args.max_tokens}, budget {args.budget}): "
        f"mean {statistics.fmean(latencies) * 1000:.0f} ms client-side, "
        f"p50 {statistics.median(latencies) * 1000:.0f} ms, p95 "
        f"{sorted(latencies)[int(0.95 * (len(latencies) - 1))] * 1000:.0f} ms; server total mean "
        f"{statistics.fmean(server_ms):.0f} ms"
    )
    print(
        f"  fused tokens returned per query (tiktoken cl100k, trace.tokens_used): mean {statistics.fmean(tokens):.0f},"
        f" median {statistics.median(tokens):.0f}; results per query mean {statistics.fmean(result_counts):.0f}"
    )
    print(f"  whole recall phase {recall_seconds:.0f}s (including {map_calls} wide recalls for the id map)")
    print("  scored recalls answered from: " + ", ".join(f"{n} {source}" for source, n in sorted(read_from.items())))


if __name__ == "__main__":
    main()
