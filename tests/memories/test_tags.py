"""Tag filters against the real database: every mode, through the ORM and through raw SQL, must pick the same units.

Where each rule comes from (the contract wins over the background doc; here they agree):

* OpenAPI ``RecallRequest.tags_match``: "'any' (OR, includes untagged), 'all' (AND, includes untagged),
  'any_strict' (OR, excludes untagged), 'all_strict' (AND, excludes untagged), 'exact' (set-equality on the full
  scope, excludes untagged). With 'exact' and no tags (or []), the empty global scope is selected and only untagged
  memories match."
* OpenAPI ``RecallRequest.tags``: "If not specified, all memories are returned." (every mode but ``exact``)
* OpenAPI ``RecallRequest.tag_groups`` and the ``TagGroupLeaf`` / ``TagGroupAnd`` / ``TagGroupOr`` /
  ``TagGroupNot`` schemas: groups in the list are AND-ed, a leaf's ``match`` defaults to ``any_strict``.
* ``hindsight-architecture.md`` section 8.9 "Tag semantics": the same table and tree shape.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.db.models import Q

from banks.models import Bank
from memories.models import MemoryUnit
from memories.tags import (
    TAGS_MATCH_MODES,
    TagFilterError,
    fuzzy_tag_resolver,
    tag_filter,
    tag_filter_sql,
    tag_groups_filter,
    tag_groups_filter_sql,
)

pytestmark = pytest.mark.django_db

# Each unit's text names its tag set, so expectations read as the sets they select.
UNITS = {
    "untagged": [],
    "a": ["a"],
    "b": ["b"],
    "ab": ["a", "b"],
    "abc": ["a", "b", "c"],
    "c": ["c"],
}
EVERYTHING = set(UNITS)
TAGGED = EVERYTHING - {"untagged"}


@pytest.fixture
def bank() -> Bank:
    bank = Bank.objects.create(bank_id="tags")
    for text, tags in UNITS.items():
        MemoryUnit.objects.create(bank=bank, text=text, tags=tags)
    # Another bank's units must never leak into the answers (both queries filter by bank).
    other = Bank.objects.create(bank_id="tags-other")
    MemoryUnit.objects.create(bank=other, text="other", tags=["a"])
    return bank


def orm_texts(bank: Bank, condition) -> set[str]:
    return set(MemoryUnit.objects.filter(condition, bank=bank).values_list("text", flat=True))


def sql_texts(bank: Bank, fragment: str, params: list) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT text FROM memories_memoryunit WHERE bank_id = %s AND {fragment}", [bank.pk, *params])
        return {row[0] for row in cursor.fetchall()}


# (tags, tags_match, the units that match)
MODE_CASES = [
    # any: OR over the tags, untagged included (RecallRequest.tags_match: "'any' (OR, includes untagged)").
    (["a"], "any", {"untagged", "a", "ab", "abc"}),
    (["a", "c"], "any", {"untagged", "a", "ab", "abc", "c"}),
    (["z"], "any", {"untagged"}),
    # all: AND over the tags, untagged included ("'all' (AND, includes untagged)").
    (["a"], "all", {"untagged", "a", "ab", "abc"}),
    (["a", "b"], "all", {"untagged", "ab", "abc"}),
    (["a", "c"], "all", {"untagged", "abc"}),
    (["a", "z"], "all", {"untagged"}),
    # any_strict: OR, untagged excluded ("'any_strict' (OR, excludes untagged)").
    (["a"], "any_strict", {"a", "ab", "abc"}),
    (["a", "c"], "any_strict", {"a", "ab", "abc", "c"}),
    (["z"], "any_strict", set()),
    # all_strict: AND, untagged excluded ("'all_strict' (AND, excludes untagged)").
    (["a"], "all_strict", {"a", "ab", "abc"}),
    (["a", "b"], "all_strict", {"ab", "abc"}),
    (["b", "c"], "all_strict", {"abc"}),
    (["a", "z"], "all_strict", set()),
    # exact: set equality on the full scope, untagged excluded ("'exact' (set-equality on the full scope, excludes
    # untagged)"); order and repeats in the request do not change the set.
    (["a"], "exact", {"a"}),
    (["a", "b"], "exact", {"ab"}),
    (["b", "a"], "exact", {"ab"}),
    (["a", "b", "a"], "exact", {"ab"}),
    (["c", "b", "a"], "exact", {"abc"}),
    (["a", "c"], "exact", set()),
    # exact with no tags is the global scope ("With 'exact' and no tags (or []) ... only untagged memories match").
    ([], "exact", {"untagged"}),
    (None, "exact", {"untagged"}),
    # Tags are stripped like retain strips them, so a padded tag finds the stored one.
    ([" a "], "any_strict", {"a", "ab", "abc"}),
]
# No tags is no filter in every other mode (RecallRequest.tags: "If not specified, all memories are returned").
MODE_CASES += [(tags, mode, EVERYTHING) for mode in TAGS_MATCH_MODES if mode != "exact" for tags in (None, [])]


@pytest.mark.parametrize(("tags", "match", "expected"), MODE_CASES)
def test_each_mode_selects_the_same_units_through_the_orm_and_raw_sql(bank, tags, match, expected):
    assert orm_texts(bank, tag_filter(tags, match)) == expected
    assert sql_texts(bank, *tag_filter_sql(tags, match)) == expected


def test_every_mode_is_covered_by_the_cases():
    assert {match for _, match, _ in MODE_CASES} == set(TAGS_MATCH_MODES)


def test_the_default_mode_is_any():
    assert tag_filter(["a"]) == tag_filter(["a"], "any")
    assert tag_filter_sql(["a"]) == tag_filter_sql(["a"], "any")


def test_no_filter_is_an_empty_q_and_true_in_sql():
    for match in ("any", "all", "any_strict", "all_strict"):
        for tags in (None, []):
            assert tag_filter(tags, match) == Q()
            assert tag_filter_sql(tags, match) == ("TRUE", [])


def test_sql_uses_a_qualified_column_when_asked(bank):
    fragment, params = tag_filter_sql(["a", "b"], "all_strict", column="u.tags")
    assert "u.tags @> %s::varchar[]" in fragment
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT u.text FROM memories_memoryunit u WHERE u.bank_id = %s AND {fragment}", [bank.pk, *params]
        )
        assert {row[0] for row in cursor.fetchall()} == {"ab", "abc"}


@pytest.mark.parametrize("match", TAGS_MATCH_MODES)
def test_every_mode_can_be_served_by_the_tags_gin_index(bank, match):
    """With sequential scans off, the planner reaches for unit_tags_gin only if every operator is GIN-indexable."""
    fragment, params = tag_filter_sql(["a", "b"], match)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN SELECT id FROM memories_memoryunit WHERE {fragment}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "unit_tags_gin" in plan, plan


@pytest.mark.parametrize(
    ("tags", "match", "problem"),
    [
        (["a"], "bogus", "tags_match must be one of"),
        (["a"], "ANY", "tags_match must be one of"),
        (["a"], None, "tags_match must be one of"),
        ("a", "any", "tags must be a list"),
        ([""], "any", "tags[0] must be a non-empty string"),
        (["a", "   "], "any", "tags[1] must be a non-empty string"),
        (["a", 1], "all", "tags[1] must be a non-empty string"),
        ([None], "exact", "tags[0] must be a non-empty string"),
    ],
)
def test_bad_modes_and_bad_tags_are_refused_with_the_problem_named(tags, match, problem):
    with pytest.raises(TagFilterError, match=re.escape(problem)):
        tag_filter(tags, match)
    with pytest.raises(TagFilterError, match=re.escape(problem)):
        tag_filter_sql(tags, match)


def test_a_bad_mode_is_refused_even_without_tags():
    with pytest.raises(TagFilterError):
        tag_filter(None, "bogus")
    with pytest.raises(TagFilterError):
        tag_filter_sql([], "bogus")


def test_errors_say_where_the_problem_is():
    with pytest.raises(TagFilterError) as raised:
        tag_filter(["a", ""], "any")
    assert raised.value.loc == ("tags", 1)
    with pytest.raises(TagFilterError) as raised:
        tag_groups_filter([{"or": [{"tags": ["a"]}, {"tags": ["b"], "match": "some"}]}])
    assert raised.value.loc == ("tag_groups", 0, "or", 1, "match")


def test_a_column_that_is_not_an_identifier_is_a_programming_error():
    with pytest.raises(ValueError, match="not a column name"):
        tag_filter_sql(["a"], column="tags; DROP TABLE x")


# --- tag_groups ---------------------------------------------------------------------------------------------------

# (tag_groups, the units that match)
GROUP_CASES = [
    # A leaf's match defaults to any_strict (schema TagGroupLeaf.match default).
    ([{"tags": ["a"]}], {"a", "ab", "abc"}),
    ([{"tags": ["a"], "match": "any"}], {"untagged", "a", "ab", "abc"}),
    ([{"tags": ["a", "b"], "match": "exact"}], {"ab"}),
    # Groups in the list are AND-ed (RecallRequest.tag_groups: "Groups in the list are AND-ed").
    ([{"tags": ["a"]}, {"tags": ["b"]}], {"ab", "abc"}),
    ([{"tags": ["a"], "match": "any"}, {"tags": ["b"], "match": "any"}], {"untagged", "ab", "abc"}),
    # {or: [...]}: at least one child matches (schema TagGroupOr).
    ([{"or": [{"tags": ["a", "b"], "match": "all_strict"}, {"tags": ["c"]}]}], {"ab", "abc", "c"}),
    # {and: [...]}: all children match (schema TagGroupAnd).
    ([{"and": [{"tags": ["a"]}, {"tags": ["c"]}]}], {"abc"}),
    # {not: ...}: the child must not match (schema TagGroupNot).
    ([{"not": {"tags": ["c"]}}], {"untagged", "a", "b", "ab"}),
    ([{"tags": ["a"]}, {"not": {"tags": ["b"]}}], {"a"}),
    ([{"not": {"not": {"tags": ["c"]}}}], {"abc", "c"}),
    (
        [{"and": [{"tags": ["a", "b"], "match": "all_strict"}, {"not": {"tags": ["a", "b", "c"], "match": "exact"}}]}],
        {"ab"},
    ),
    ([{"or": [{"tags": [], "match": "exact"}, {"tags": ["c"], "match": "exact"}]}], {"untagged", "c"}),
    # An empty leaf is one term of an expression, taken literally: OR over nothing is false, AND over nothing is
    # true, and the untagged rule still applies; exact [] is the global scope as at the top level.
    ([{"tags": [], "match": "exact"}], {"untagged"}),
    ([{"tags": [], "match": "any"}], {"untagged"}),
    ([{"tags": [], "match": "any_strict"}], set()),
    ([{"tags": [], "match": "all"}], EVERYTHING),
    ([{"tags": [], "match": "all_strict"}], TAGGED),
    ([{"not": {"tags": [], "match": "exact"}}], TAGGED),
    # null match / resolve mean the defaults, as a generated client may send them.
    ([{"tags": ["a"], "match": None, "resolve": None}], {"a", "ab", "abc"}),
    # No groups is no filter.
    (None, EVERYTHING),
    ([], EVERYTHING),
]


@pytest.mark.parametrize(("groups", "expected"), GROUP_CASES)
def test_tag_groups_select_the_same_units_through_the_orm_and_raw_sql(bank, groups, expected):
    assert orm_texts(bank, tag_groups_filter(groups)) == expected
    assert sql_texts(bank, *tag_groups_filter_sql(groups)) == expected


def test_no_groups_is_an_empty_q_and_true_in_sql():
    assert tag_groups_filter(None) == Q()
    assert tag_groups_filter_sql([]) == ("TRUE", [])


@pytest.mark.parametrize(
    ("groups", "problem"),
    [
        ({"tags": ["a"]}, "tag_groups must be a list"),
        (["a"], "must be an object"),
        ([{}], "exactly one of the keys"),
        ([{"tags": ["a"], "or": [{"tags": ["b"]}]}], "exactly one of the keys"),
        ([{"tags": ["a"], "mode": "all"}], "unknown key"),
        ([{"and": [{"tags": ["a"]}], "match": "all"}], "unknown key"),
        ([{"tags": "a"}], "tags must be a list"),
        ([{"tags": None}], "tags must be a list"),
        ([{"tags": [""]}], "must be a non-empty string"),
        (
            [{"tags": ["a"], "match": "some"}],
            "match must be one of any, all, any_strict, all_strict, exact; got 'some'",
        ),
        ([{"tags": ["a"], "resolve": "loose"}], "resolve must be exact or fuzzy"),
        ([{"and": []}], "'and' must be a non-empty list"),
        ([{"or": {"tags": ["a"]}}], "'or' must be a non-empty list"),
        ([{"not": [{"tags": ["a"]}]}], "must be an object"),
        ([{"tags": ["a"], "resolve": "fuzzy"}], "resolve='fuzzy' is not available"),
    ],
)
def test_bad_tag_groups_are_refused_with_the_problem_named(groups, problem):
    with pytest.raises(TagFilterError, match=re.escape(problem)):
        tag_groups_filter(groups)
    with pytest.raises(TagFilterError, match=re.escape(problem)):
        tag_groups_filter_sql(groups)


def test_a_fuzzy_leaf_matches_the_banks_closest_tag(bank):
    # The contract's own example: 'typsecript' still reaches memories tagged 'typescript' (TagGroupLeaf.resolve).
    MemoryUnit.objects.create(bank=bank, text="ts", tags=["typescript"])
    MemoryUnit.objects.create(bank=bank, text="py", tags=["python"])
    resolver = fuzzy_tag_resolver(bank)
    assert resolver(["typsecript", "a", "zzzz"]) == ["typescript", "a", "zzzz"]

    groups = [{"tags": ["typsecript"], "resolve": "fuzzy"}]
    assert orm_texts(bank, tag_groups_filter(groups, resolve_fuzzy=resolver)) == {"ts"}
    assert sql_texts(bank, *tag_groups_filter_sql(groups, resolve_fuzzy=resolver)) == {"ts"}
    # Without resolve="fuzzy" the misspelt tag is taken literally and finds nothing.
    assert orm_texts(bank, tag_groups_filter([{"tags": ["typsecript"]}], resolve_fuzzy=resolver)) == set()


def test_the_fuzzy_resolver_only_looks_at_its_own_banks_tags(bank):
    other = Bank.objects.get(bank_id="tags-other")
    MemoryUnit.objects.create(bank=other, text="elsewhere", tags=["typescript"])
    assert fuzzy_tag_resolver(bank)(["typsecript"]) == ["typsecript"]
