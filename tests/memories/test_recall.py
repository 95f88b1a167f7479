"""Recall through the API: each channel on a bank crafted so it matters, fusion, budgets, includes, isolation."""

import pytest
from rest_framework.test import APIClient

from memories.models import MemoryUnit
from memories.recall import CHANNEL_WEIGHTS, RRF_K, _fuse, count_tokens

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def retain(api, bank_id, *contents, timestamp="2024-05-08T10:00:00Z", **fields):
    items = [{"content": c, "timestamp": timestamp, **fields} for c in contents]
    response = api.post(f"/v1/default/banks/{bank_id}/memories", {"items": items}, format="json")
    assert response.status_code == 200, response.json()


def recall(api, bank_id, query, **body):
    response = api.post(
        f"/v1/default/banks/{bank_id}/memories/recall", {"query": query, "trace": True, **body}, format="json"
    )
    assert response.status_code == 200, response.json()
    answer = response.json()
    if READ_FROM["mode"] == "memory" and READ_FROM["built"]:
        tagged = body.get("tags") or body.get("tag_groups") or body.get("tags_match") == "exact"
        assert answer["trace"]["read_from"] == ("database" if tagged else "memory")
    return answer


READ_FROM = {"mode": "database", "built": False}


@pytest.fixture(autouse=True, params=["database", "memory"])
def read_from(request, monkeypatch, settings):
    """Every test twice: recall reading PostgreSQL, and recall answered by an in-process copy of the bank built
    just before each recall (memories.recall_index), which must give the same answers."""
    from memories import recall_index

    READ_FROM.update(mode=request.param, built=False)
    if request.param == "memory":
        settings.HINDSIGHT_RECALL_INDEX_MIN_UNITS = 0

        def build_now(bank_pk, *, eligible, text=None):
            from django.db import connection

            index = recall_index.build(bank_pk)
            READ_FROM["built"] = index is not None
            with connection.cursor() as cursor:  # as the freshness check returns them
                cursor.execute("SELECT tsvector_to_array(to_tsvector('english', %s))", [text or ""])
                lexemes = cursor.fetchone()[0]
            return index, (lexemes if text is not None else None)

        monkeypatch.setattr(recall_index, "current", build_now)
    yield request.param
    READ_FROM.update(mode="database", built=False)


@pytest.fixture(autouse=True)
def fresh_term_statistics():
    """The keyword channel caches lexeme statistics per process for minutes; each test here reads them anew."""
    from memories import recall as recall_module

    recall_module._term_stats.update(at=-1e9, freqs={})
    yield
    recall_module._term_stats.update(at=-1e9, freqs={})


def analyze_now():
    """Statistics of exactly what the test wrote (ANALYZE sees the test transaction's own rows)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE memories_memoryunit")


def ids_by_text(body):
    return {r["text"]: r["id"] for r in body["results"]}


def channel(body, name):
    return body["trace"]["channels"].get(name, {}).get("ids", [])


DISTRACTORS = [
    "The quarterly budget review is scheduled for Thursday.",
    "Grace repainted the kitchen a pale green colour.",
    "The train to Oslo leaves from platform nine.",
    "Hiro collects vintage fountain pens from Japan.",
]


def test_the_keyword_channel_finds_a_rare_term(api):
    retain(api, "kw", *DISTRACTORS, "The spare router has serial number QZ7741 printed underneath.")
    analyze_now()
    body = recall(api, "kw", "QZ7741")
    target = next(r["id"] for r in body["results"] if "QZ7741" in r["text"])
    assert channel(body, "keyword")[0] == target
    assert body["results"][0]["id"] == target
    assert body["results"][0]["scores"]["keyword"] > 0


def test_the_semantic_channel_finds_a_paraphrase_with_no_shared_words(api):
    retain(api, "sem", *DISTRACTORS, "The physician prescribed antibiotics for the infection.")
    body = recall(api, "sem", "doctor gave medicine")
    target = next(r["id"] for r in body["results"] if "physician" in r["text"])
    assert target not in channel(body, "keyword")
    assert channel(body, "semantic")[0] == target
    assert body["results"][0]["id"] == target


def test_the_graph_channel_reaches_facts_that_never_mention_the_query_subject(api):
    for day, text in enumerate(DISTRACTORS, start=1):  # days apart: no temporal links among them
        retain(api, "graph", text, timestamp=f"2023-01-{day * 5:02d}T10:00:00Z")
    # Closer to the question than the Lyon fact, these become the seeds beside the manager fact.
    retain(api, "graph", "Carol manages the Oslo office.", timestamp="2023-03-01T10:00:00Z")
    retain(api, "graph", "Alice's sister is a nurse.", timestamp="2023-04-01T10:00:00Z")
    retain(api, "graph", "Alice's manager is Bob.", timestamp="2024-02-01T10:00:00Z")
    retain(api, "graph", "Bob resides in Lyon near the old port.", timestamp="2024-03-20T10:00:00Z")
    body = recall(api, "graph", "Who is Alice's manager?")
    lyon = next(r for r in body["results"] if "Lyon" in r["text"])
    assert "Alice" not in lyon["text"]
    assert lyon["id"] not in channel(body, "keyword")
    assert channel(body, "graph")[0] == lyon["id"]  # reached through Bob, the entity both facts share


def test_the_temporal_channel_keeps_what_happened_in_the_asked_period(api):
    retain(api, "time", "Alice went hiking in the Alps.", timestamp="2024-05-03T10:00:00Z")
    retain(api, "time", "Alice went swimming at the lake.", timestamp="2024-01-10T10:00:00Z")
    body = recall(api, "time", "What did Alice do in May 2024?", query_timestamp="2024-06-01T00:00:00Z")
    texts = ids_by_text(body)
    hiking = next(i for t, i in texts.items() if "hiking" in t)
    swimming = next(i for t, i in texts.items() if "swimming" in t)
    assert channel(body, "temporal") == [hiking]
    assert swimming not in channel(body, "temporal")
    assert body["results"][0]["id"] == hiking
    assert body["trace"]["time_ranges"][0]["start"].startswith("2024-05-01")


def test_yesterday_resolves_against_the_query_timestamp(api):
    retain(api, "yday", "Carol baked bread.", timestamp="2024-03-09T18:00:00Z")
    retain(api, "yday", "Carol painted a fence.", timestamp="2024-03-02T18:00:00Z")
    body = recall(api, "yday", "What did Carol do yesterday?", query_timestamp="2024-03-10T09:00:00Z")
    bread = next(r["id"] for r in body["results"] if "bread" in r["text"])
    assert channel(body, "temporal") == [bread]


def test_fusion_rewards_agreement_between_channels():
    fused = _fuse({"semantic": [("a", 0.9), ("b", 0.8)], "keyword": [("b", 3.0), ("c", 2.0)]})
    assert max(fused, key=fused.get) == "b"
    assert fused["a"] == pytest.approx(1 / (RRF_K + 1))
    assert fused["b"] == pytest.approx(1 / (RRF_K + 2) + CHANNEL_WEIGHTS["keyword"] / (RRF_K + 1))


def test_graph_and_keyword_hits_count_less_than_semantic_ones():
    fused = _fuse({"semantic": [("direct", 0.8)], "keyword": [("word", 1.0)], "graph": [("reached", 0.9)]})
    assert fused["direct"] == pytest.approx(1 / (RRF_K + 1))
    assert fused["word"] == pytest.approx(CHANNEL_WEIGHTS["keyword"] / (RRF_K + 1))
    assert fused["reached"] == pytest.approx(CHANNEL_WEIGHTS["graph"] / (RRF_K + 1))
    assert fused["direct"] > fused["word"] > fused["reached"]


def test_results_fill_max_tokens_by_a_real_token_count(api):
    retain(
        api,
        "budget",
        *[f"Fact number {i} is about the history of the city of Rome and its bridges." for i in range(30)],
    )
    body = recall(api, "budget", "Rome bridges history", max_tokens=60)
    used = sum(count_tokens(r["text"]) for r in body["results"])
    assert 0 < used <= 60
    assert len(body["results"]) < 30
    assert body["trace"]["tokens_used"] == used


def test_the_budget_uses_stored_token_counts_and_counts_rows_that_have_none(api):
    from memories.models import MemoryUnit

    facts = [f"Note {i}: the Rome bridges survey {'found cracks ' * (i % 4)}needs review." for i in range(30)]
    retain(api, "counted", *facts)
    units = MemoryUnit.objects.filter(bank__bank_id="counted")
    assert all(unit.token_count == count_tokens(unit.text) for unit in units)
    counted = recall(api, "counted", "Rome bridges survey", max_tokens=90)
    # Rows written before the column existed carry NULL: recall counts them itself and answers the same.
    units.filter(text__contains="cracks").update(token_count=None)
    mixed = recall(api, "counted", "Rome bridges survey", max_tokens=90)
    units.update(token_count=None)
    uncounted = recall(api, "counted", "Rome bridges survey", max_tokens=90)
    for body in (counted, mixed, uncounted):
        assert body["trace"]["tokens_used"] == sum(count_tokens(r["text"]) for r in body["results"]) <= 90
    assert [r["id"] for r in counted["results"]] == [r["id"] for r in mixed["results"]]
    assert [r["id"] for r in counted["results"]] == [r["id"] for r in uncounted["results"]]
    assert 0 < len(counted["results"]) < 30


def test_entities_and_chunks_are_included_when_asked(api):
    retain(api, "inc", "Alice works at Google in Zurich.", document_id="doc-1")
    default = recall(api, "inc", "Where does Alice work?")
    assert "Alice" in default["entities"]
    assert set(default["entities"]["Alice"]) == {"entity_id", "canonical_name", "observations"}
    assert default["chunks"] is None
    body = recall(api, "inc", "Where does Alice work?", include={"entities": None, "chunks": {"max_tokens": 100}})
    assert body["entities"] is None
    chunk_id = body["results"][0]["chunk_id"]
    assert body["chunks"][chunk_id]["text"] == "Alice works at Google in Zurich."
    assert body["results"][0]["document_id"] == "doc-1"
    assert "Alice" in body["results"][0]["entities"]


def test_recall_never_returns_another_banks_memories(api):
    retain(api, "mine", "Alice likes green tea.")
    retain(api, "theirs", "Alice likes green tea.", "Alice likes black coffee.")
    body = recall(api, "mine", "What does Alice like?")
    assert len(body["results"]) == 1
    assert all(
        r["id"] in {body["results"][0]["id"]} for name in ("semantic", "keyword", "graph") for r in body["results"]
    )
    other = {r["id"] for r in recall(api, "theirs", "What does Alice like?")["results"]}
    mine = {r["id"] for r in body["results"]}
    assert mine.isdisjoint(other)
    for name in ("semantic", "keyword", "graph", "temporal"):
        assert set(channel(body, name)) <= mine


def test_replaced_facts_never_come_back(api):
    retain(api, "gone", "Alice lives in Paris.", document_id="home")
    retain(api, "gone", "Alice lives in Berlin.", document_id="home")
    body = recall(api, "gone", "Paris")
    assert all("Paris" not in r["text"] for r in body["results"])


def test_types_filter_and_unknown_types_match_nothing(api):
    retain(api, "types", "Alice likes tea.")
    assert recall(api, "types", "tea", types=["experience"])["results"] == []
    assert len(recall(api, "types", "tea", types=["world", "opinion"])["results"]) == 1
    # Asking only for a type we do not store finds nothing (it used to be read as "every type").
    assert recall(api, "types", "tea", types=["opinion"])["results"] == []
    assert recall(api, "types", "tea", types=[])["results"] != []


def test_a_query_above_the_token_limit_answers_400(api):
    retain(api, "long", "Alice likes tea.")
    response = api.post("/v1/default/banks/long/memories/recall", {"query": "word " * 600}, format="json")
    assert response.status_code == 400
    assert "500 tokens" in response.json()["detail"]


def test_recall_on_an_unknown_bank_is_empty_and_creates_nothing(api):
    from banks.models import Bank

    body = api.post("/v1/default/banks/nobody-here/memories/recall", {"query": "x"}, format="json").json()
    assert body["results"] == []
    assert not Bank.objects.filter(bank_id="nobody-here").exists()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "query"]),
        ({"query": "x", "budget": "huge"}, ["body", "budget"]),
        ({"query": "x", "max_tokens": 0}, ["body", "max_tokens"]),
        ({"query": "x", "tags_match": "some"}, ["body", "tags_match"]),
        ({"query": "x", "query_timestamp": "soon"}, ["body", "query_timestamp"]),
    ],
)
def test_bad_recall_requests_answer_422_naming_the_field(api, body, loc):
    response = api.post("/v1/default/banks/bad/memories/recall", body, format="json")
    assert response.status_code == 422
    assert any(error["loc"] == loc for error in response.json()["detail"])


@pytest.mark.parametrize(
    ("tags", "match", "expected"),
    [
        (["work"], "any", {"work", "untagged"}),
        (["work"], "any_strict", {"work"}),
        (["work", "home"], "all_strict", set()),
        ([], "exact", {"untagged"}),
    ],
)
def test_recall_applies_the_tag_semantics(api, tags, match, expected):
    retain(api, "tagged", "Alice filed the work report.", tags=["work"])
    retain(api, "tagged", "Alice watered the home plants.", tags=["home"])
    retain(api, "tagged", "Alice likes untagged tea.")
    body = recall(api, "tagged", "What did Alice do?", tags=tags, tags_match=match)
    found = set()
    for result in body["results"]:
        found.add(result["tags"][0] if result["tags"] else "untagged")
    assert found == expected


def test_tag_groups_combine_and_bad_groups_answer_400(api):
    retain(api, "groups", "Alice filed the work report.", tags=["work", "q1"])
    retain(api, "groups", "Alice planned the work offsite.", tags=["work", "q2"])
    body = recall(
        api,
        "groups",
        "What did Alice do?",
        tag_groups=[{"tags": ["work"], "match": "any_strict"}, {"not": {"tags": ["q2"], "match": "any_strict"}}],
    )
    assert [r["tags"] for r in body["results"]] == [["work", "q1"]]
    bad = api.post(
        "/v1/default/banks/groups/memories/recall",
        {"query": "x", "tag_groups": [{"tags": ["work"], "match": "sometimes"}]},
        format="json",
    )
    assert bad.status_code == 400
    assert "tag_groups" in bad.json()["detail"]


def test_source_facts_of_observations_are_included_and_stay_in_the_bank(api):
    from banks.models import Bank
    from memories.embeddings import get_embedding_provider
    from memories.models import MemoryUnit

    retain(api, "lineage", "Alice drinks green tea every morning.")
    retain(api, "elsewhere", "Alice drinks coffee at night.")
    fact = MemoryUnit.objects.get(bank__bank_id="lineage")
    foreign = MemoryUnit.objects.get(bank__bank_id="elsewhere")
    provider = get_embedding_provider()
    MemoryUnit.objects.create(
        bank=Bank.objects.get(bank_id="lineage"),
        text="Alice prefers tea.",
        fact_type="observation",
        embedding=provider.embed_documents(["Alice prefers tea."])[0],
        embedding_model=provider.model_id,
        source_memory_ids=[fact.id, foreign.id],
    )
    body = recall(api, "lineage", "What does Alice prefer?", types=["observation"], include={"source_facts": {}})
    observation = body["results"][0]
    assert set(observation["source_fact_ids"]) == {str(fact.id), str(foreign.id)}
    assert set(body["source_facts"]) == {str(fact.id)}
    assert body["source_facts"][str(fact.id)]["text"] == fact.text
    assert body["source_facts_truncated"] is False


def test_entities_carry_the_observations_resting_on_facts_that_mention_them(api):
    from banks.models import Bank
    from memories.embeddings import get_embedding_provider
    from memories.models import MemoryUnit

    retain(api, "notes", "Alice drinks green tea every morning.", "Bob plays the cello on Sundays.")
    bank = Bank.objects.get(bank_id="notes")
    alice_fact = MemoryUnit.objects.get(bank=bank, text__contains="Alice")
    provider = get_embedding_provider()

    def observe(text, sources, **fields):
        MemoryUnit.objects.create(
            bank=bank,
            text=text,
            fact_type="observation",
            embedding=provider.embed_documents([text])[0],
            embedding_model=provider.model_id,
            source_memory_ids=sources,
            **fields,
        )

    observe("Alice prefers tea to coffee.", [alice_fact.id], proof_count=3, mentioned_at="2024-05-08T10:00:00Z")
    observe("Alice starts her days early.", [alice_fact.id], proof_count=1)
    observe("Alice's old habit, now dropped.", [alice_fact.id], state="invalidated")
    body = recall(api, "notes", "What does Alice drink?", types=["world", "experience"])
    alice = body["entities"]["Alice"]
    assert [o["text"] for o in alice["observations"]] == [
        "Alice prefers tea to coffee.",
        "Alice starts her days early.",
    ]
    assert alice["observations"][0]["mentioned_at"].startswith("2024-05-08T10:00:00")
    # The budget counts observations too: with room for the names only, none is attached.
    tight = recall(api, "notes", "What does Alice drink?", types=["world"], include={"entities": {"max_tokens": 2}})
    assert all(entity["observations"] == [] for entity in tight["entities"].values())


def test_a_result_written_by_the_database_has_the_contract_shape(api):
    from memories.recall import RecallQuery
    from memories.recall import recall as recall_dicts

    response = api.post(
        "/v1/default/banks/shape/memories",
        {
            "items": [
                {
                    "content": "Alice moved to Lyon.",
                    "timestamp": "2024-05-08T10:00:00.1234Z",
                    "document_id": "notes/1",
                    "metadata": {"source": "chat"},
                    "tags": ["user:alice"],
                    "context": "a chat",
                }
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = recall(api, "shape", "Where did Alice move?")
    [result] = body["results"]
    assert result["mentioned_at"] == "2024-05-08T10:00:00.123400+00:00"
    assert (result["document_id"], result["metadata"], result["tags"], result["context"]) == (
        "notes/1",
        {"source": "chat"},
        ["user:alice"],
        "a chat",
    )
    assert result["type"] == "world" and result["source_fact_ids"] is None and "Alice" in result["entities"]
    assert set(result["scores"]) == {"final", "reranker", "semantic", "keyword"}
    # The in-process answer (reflect's) is the same document.
    from banks.models import Bank

    same = recall_dicts(bank=Bank.objects.get(bank_id="shape"), query=RecallQuery(query="Where did Alice move?"))
    assert same["results"] == body["results"]


def test_keyword_counts_each_term_once_and_prefers_the_shorter_fact(api):
    long_fact = (
        "Alice said that Alice and her sister Alice-Marie, as Alice often repeats, spent the whole rainy afternoon "
        "at the market buying vegetables, bread, cheese and flowers for the weekend."
    )
    retain(api, "idf", long_fact, "Alice owns a red kayak.", "Alice cooked risotto.", "Bob owns a kayak too.")
    analyze_now()
    body = recall(api, "idf", "Alice")
    texts = {r["id"]: r["text"] for r in body["results"]}
    ranked = [texts[i] for i in channel(body, "keyword")]
    assert ranked[-1] == long_fact  # repeating a name earns nothing over saying it once
    # Two query terms beat one; among one-term matches the shorter fact comes first.
    body = recall(api, "idf", "Alice kayak risotto")
    ranked = [next(r["text"] for r in body["results"] if r["id"] == i) for i in channel(body, "keyword")]
    assert ranked[0] in {"Alice owns a red kayak.", "Alice cooked risotto."}
    assert ranked.index("Bob owns a kayak too.") < ranked.index(long_fact)


def test_keyword_weights_do_not_wait_for_autovacuum_to_analyze_a_new_bank(api):
    """A bank filled in the minute before autovacuum first analyzes the table still gets idf weights."""
    from django.db import connection

    from memories import recall as recall_module

    common = [f"Alice took note number {n} about the garden." for n in range(30)]
    retain(api, "nostats", *common, "Alice spotted a zebra near the river.")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = 'memories_memoryunit'::regclass")
        weights = dict(recall_module._term_weights(cursor, "Alice zebra"))
        cursor.execute(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'memories_memoryunit' AND attname = 'search_vector'"
        )
        analyzed = cursor.fetchone()[0]
    assert analyzed == 1
    assert weights["alic"] < weights["zebra"]
    body = recall(api, "nostats", "Alice zebra")
    assert "zebra" in next(r["text"] for r in body["results"] if r["id"] == channel(body, "keyword")[0])


def test_a_bank_started_with_the_float_product_embedding_form_still_retains_and_recalls_in_it(api):
    """Banks created before int8 products became the default keep their form: no refusal, no re-embedding."""
    from banks.models import Bank
    from memories.models import MemoryUnit

    retain(api, "older-form", DISTRACTORS[0])
    Bank.objects.filter(bank_id="older-form").update(embedding_model="local:all-MiniLM-L6-v2-int8")
    MemoryUnit.objects.filter(bank__bank_id="older-form").update(embedding_model="local:all-MiniLM-L6-v2-int8")
    retain(api, "older-form", "The physician prescribed antibiotics for the infection.")
    models = set(MemoryUnit.objects.filter(bank__bank_id="older-form").values_list("embedding_model", flat=True))
    assert models == {"local:all-MiniLM-L6-v2-int8"}
    body = recall(api, "older-form", "doctor gave medicine")
    assert "physician" in next(r["text"] for r in body["results"] if r["id"] == channel(body, "semantic")[0])


def test_in_a_small_store_common_terms_still_find_memories_when_no_memory_has_them_all(api):
    """With statistics saying every term is common (a small store), the any-term pass still runs."""
    retain(api, "small", "Alice owns a red kayak.", "Alice cooked risotto.", "Bob owns a kayak too.")
    analyze_now()
    body = recall(api, "small", "Alice kayak risotto")  # no memory holds all three terms
    assert len(channel(body, "keyword")) == 3


@pytest.mark.django_db(transaction=True)
def test_keyword_statistics_taken_before_a_large_write_are_refreshed_before_use(api):
    """idf from statistics older than a fifth of the table would call a term rare that is now everywhere."""
    from django.db import connection

    from memories import recall as recall_module

    retain(api, "stale", "Alice owns a red kayak.", "Bob cooked risotto.", "Carol plays chess on Sundays.")
    analyze_now()
    with connection.cursor() as cursor:
        # 1,500 memories about zebras arrive after the statistics were taken (copies of one row, new ids and texts).
        columns = [
            f.column
            for f in MemoryUnit._meta.concrete_fields
            if f.column not in ("id", "text", "event_time", "search_vector")
        ]
        cursor.execute(
            f"""
            INSERT INTO memories_memoryunit (id, text, {", ".join(columns)})
            SELECT gen_random_uuid(), 'A zebra crossing number ' || n, {", ".join("u." + c for c in columns)}
            FROM memories_memoryunit u, generate_series(1, 1500) AS n
            WHERE u.text = 'Bob cooked risotto.'
            """
        )
        cursor.execute("SELECT pg_stat_force_next_flush()")
    with connection.cursor() as cursor:
        weights = dict(recall_module._term_weights(cursor, "zebra kayak"))
    assert weights["zebra"] < 0.5 < weights["kayak"]  # in nearly every memory now, so it says little


def test_recall_answers_even_when_the_statistics_cannot_be_refreshed(api, monkeypatch, caplog):
    """A standby, a statement timeout or a missing right refuses ANALYZE: recall goes on with what there is."""
    from django.db import connection

    from memories import recall as recall_module

    retain(api, "refused", *DISTRACTORS)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = 'memories_memoryunit'::regclass")
    monkeypatch.setattr(recall_module, "_ANALYZE_SQL", "ANALYZE memories_no_such_table")
    body = recall(api, "refused", "train to Oslo")
    assert "Oslo" in body["results"][0]["text"]
    assert "Could not refresh the keyword statistics" in caplog.text


def test_the_response_says_where_the_time_went_in_a_server_timing_header(api, read_from):
    retain(api, "timed", "Alice adopted a beagle named Pepper.")
    response = api.post("/v1/default/banks/timed/memories/recall", {"query": "Who has a dog?"}, format="json")
    assert response.status_code == 200
    entries = dict(part.strip().split(";", 1) for part in response["Server-Timing"].split(","))
    for stage in ("query_embedding", "semantic", "keyword", "graph", "results", "total"):
        assert float(entries[stage].removeprefix("dur=")) >= 0
    assert float(entries["total"].removeprefix("dur=")) >= float(entries["semantic"].removeprefix("dur="))
    assert entries["read"] == f"desc={read_from}"
    assert "trace" not in response.json()
