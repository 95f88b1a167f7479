"""Tag filters shared by recall, reflect and the list routes: ``tags`` + ``tags_match``, and ``tag_groups`` trees.

The rules come from the contract (``hindsight-openapi-1.1.0.json``, ``RecallRequest.tags_match`` / ``.tags`` /
``.tag_groups`` and the ``TagGroup*`` schemas), which agrees with the background doc (``hindsight-architecture.md``
section 8.9):

=============  ==========================================  ======================================================
``tags_match``  A tagged memory matches when                Untagged memories (``tags = '{}'``)
=============  ==========================================  ======================================================
``any``         it carries at least one of the tags (OR)     included
``all``         it carries every one of the tags (AND)       included
``any_strict``  it carries at least one of the tags (OR)     excluded
``all_strict``  it carries every one of the tags (AND)       excluded
``exact``       its tag *set* equals the given set           excluded, except that no tags (``None`` or ``[]``)
                (order and repeats do not matter)            selects exactly the untagged (global) scope
=============  ==========================================  ======================================================

No tags (``None`` or ``[]``) means "no filter" in every mode but ``exact``: the contract says so for ``tags``
("If not specified, all memories are returned") and carves out ``exact`` ("Omitting tags (or passing []) together
with tags_match='exact' filters to untagged/global observations only").

Every condition is written with the operators PostgreSQL's GIN ``array_ops`` can answer (``&&``, ``@>``, ``<@``,
``=``), so the GIN index on ``tags`` serves it; an untagged row is ``tags = '{}'`` (the columns are NOT NULL).
The same condition exists twice, as a ``Q`` for the ORM and as a SQL fragment for hand-written recall SQL, and the
tests hold the two to the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import reduce
from typing import Any

from django.db.models import Q

TAGS_MATCH_MODES = ("any", "all", "any_strict", "all_strict", "exact")
# TagGroupLeaf.match defaults to any_strict (not any, unlike the top-level tags_match): contract schema TagGroupLeaf.
TAG_GROUP_LEAF_DEFAULT_MATCH = "any_strict"
TAG_RESOLVE_MODES = ("exact", "fuzzy")
# pg_trgm's own default similarity threshold (the one its ``%`` operator uses); the contract names no number.
FUZZY_TAG_SIMILARITY = 0.3

# The untagged modes: a memory with no tags passes these whatever tags were asked for.
_INCLUDES_UNTAGGED = frozenset({"any", "all"})
_LEAF_KEYS = frozenset({"tags", "match", "resolve"})
_COMPOUND_KEYS = ("and", "or", "not")
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")

# Given a leaf's tags as written, the tags to match literally instead (resolve="fuzzy").
FuzzyResolver = Callable[[list[str]], list[str]]


class TagFilterError(ValueError):
    """A bad ``tags`` / ``tags_match`` / ``tag_groups`` value from a client; the message names the problem.

    ``loc`` is where in the request it is (``("tag_groups", 0, "or", 1, "match")``), for the 422 list form.
    """

    def __init__(self, message: str, loc: Sequence[str | int] = ()) -> None:
        super().__init__(message)
        self.loc = tuple(loc)


# --- validation ---------------------------------------------------------------------------------------------------


def _clean_tags(tags: Any, loc: Sequence[str | int]) -> list[str]:
    """The tags as a de-duplicated list of stripped strings.

    Stripped because retain strips the tags it stores (``memories/api/serializers.py``), so " a" must find "a".
    A bare string is refused rather than iterated, which would silently filter on its characters.
    """
    if not isinstance(tags, list | tuple):
        raise TagFilterError(f"tags must be a list of strings, not {type(tags).__name__}", loc)
    cleaned: list[str] = []
    for index, tag in enumerate(tags):
        if not isinstance(tag, str) or not tag.strip():
            raise TagFilterError(f"tags[{index}] must be a non-empty string, got {tag!r}", [*loc, index])
        cleaned.append(tag.strip())
    return list(dict.fromkeys(cleaned))


def _check_mode(match: Any, loc: Sequence[str | int]) -> str:
    if not isinstance(match, str) or match not in TAGS_MATCH_MODES:
        name = loc[-1] if loc else "tags_match"
        raise TagFilterError(f"{name} must be one of {', '.join(TAGS_MATCH_MODES)}; got {match!r}", loc)
    return match


def _check_column(column: str) -> str:
    # The column lands in SQL verbatim: it is the caller's constant, never user input, and this keeps it that way.
    if not isinstance(column, str) or not _COLUMN.fullmatch(column):
        raise ValueError(f"not a column name: {column!r}")
    return column


# --- one leaf, two renderings -------------------------------------------------------------------------------------


def _leaf_q(tags: list[str], match: str, field: str) -> Q:
    """One ``tags`` + ``match`` condition as a Q. Empty ``tags`` reach here for ``exact`` and from group leaves."""
    untagged = Q(**{field: []})
    if match == "exact":
        if not tags:
            return untagged
        # Set equality without caring about order or repeats: superset and subset. '{}' @> a non-empty set is
        # false, so untagged rows drop out on their own.
        return Q(**{f"{field}__contains": tags}) & Q(**{f"{field}__contained_by": tags})
    lookup = "overlap" if match in ("any", "any_strict") else "contains"
    condition = Q(**{f"{field}__{lookup}": tags})
    if match in _INCLUDES_UNTAGGED:
        return condition | untagged
    if not tags and lookup == "contains":
        # '{}' @> '{}' is true: with no tags "all_strict" must still exclude the untagged rows it promises to.
        return condition & ~untagged
    # Non-empty tags: an untagged row can neither overlap nor contain them, so "strict" needs no extra clause.
    return condition


def _leaf_sql(tags: list[str], match: str, column: str) -> tuple[str, list[Any]]:
    """The SQL twin of ``_leaf_q``: same cases, same answers."""
    untagged = f"{column} = '{{}}'::varchar[]"
    if match == "exact":
        if not tags:
            return f"({untagged})", []
        return f"({column} @> %s::varchar[] AND {column} <@ %s::varchar[])", [tags, tags]
    operator = "&&" if match in ("any", "any_strict") else "@>"
    condition = f"{column} {operator} %s::varchar[]"
    if match in _INCLUDES_UNTAGGED:
        return f"({condition} OR {untagged})", [tags]
    if not tags and operator == "@>":
        return f"({condition} AND NOT {untagged})", [tags]
    return f"({condition})", [tags]


# --- tags + tags_match --------------------------------------------------------------------------------------------


def tag_filter(tags: Sequence[str] | None, match: str = "any", *, field: str = "tags") -> Q:
    """The ``tags`` / ``tags_match`` filter as a Q over the array field ``field``.

    ``Q()`` (no filter) when there are no tags, except with ``exact``, where no tags selects the untagged scope.
    Raises ``TagFilterError`` for an unknown mode or a tag that is not a non-empty string.
    """
    match = _check_mode(match, ["tags_match"])
    cleaned = [] if tags is None else _clean_tags(tags, ["tags"])
    if not cleaned and match != "exact":
        return Q()
    return _leaf_q(cleaned, match, field)


def tag_filter_sql(tags: Sequence[str] | None, match: str = "any", *, column: str = "tags") -> tuple[str, list[Any]]:
    """``tag_filter`` as a SQL fragment and its params, for hand-written SQL (``%s`` placeholders).

    ``("TRUE", [])`` when there is no filter, so callers can always ``AND`` it in. ``column`` may be qualified
    (``"u.tags"``) and must be a plain identifier.
    """
    match = _check_mode(match, ["tags_match"])
    column = _check_column(column)
    cleaned = [] if tags is None else _clean_tags(tags, ["tags"])
    if not cleaned and match != "exact":
        return "TRUE", []
    return _leaf_sql(cleaned, match, column)


# --- tag_groups ---------------------------------------------------------------------------------------------------


def _walk(
    node: Any,
    loc: list[str | int],
    leaf: Callable[[list[str], str], Any],
    combine: Callable[[str, list[Any]], Any],
    resolve_fuzzy: FuzzyResolver | None,
) -> Any:
    """Validate one tag group node and render it with ``leaf`` / ``combine``; both renderings share this walk.

    A node is exactly one of a leaf ``{tags, match?, resolve?}``, ``{and: [...]}``, ``{or: [...]}`` or
    ``{not: node}`` (contract schemas ``TagGroupLeaf``, ``TagGroupAnd``, ``TagGroupOr``, ``TagGroupNot``). Unknown
    or mixed keys are refused rather than guessed at: a misspelt ``match`` would otherwise silently become
    ``any_strict``.
    """
    if not isinstance(node, dict):
        raise TagFilterError(
            "a tag group must be an object: {tags, match}, {and: [...]}, {or: [...]} or {not: ...}", loc
        )
    kinds = [key for key in ("tags", *_COMPOUND_KEYS) if key in node]
    if len(kinds) != 1:
        raise TagFilterError("a tag group must have exactly one of the keys tags, and, or, not", loc)
    kind = kinds[0]
    allowed = _LEAF_KEYS if kind == "tags" else {kind}
    unknown = sorted(str(key) for key in node if key not in allowed)
    if unknown:
        raise TagFilterError(f"unknown key(s) in tag group: {', '.join(unknown)}", loc)

    if kind == "tags":
        tags = _clean_tags(node["tags"], [*loc, "tags"])
        match = node.get("match", TAG_GROUP_LEAF_DEFAULT_MATCH)
        match = _check_mode(TAG_GROUP_LEAF_DEFAULT_MATCH if match is None else match, [*loc, "match"])
        resolve = node.get("resolve", "exact")
        if resolve is None:
            resolve = "exact"
        if resolve not in TAG_RESOLVE_MODES:
            raise TagFilterError(f"resolve must be exact or fuzzy; got {resolve!r}", [*loc, "resolve"])
        if resolve == "fuzzy" and tags:
            if resolve_fuzzy is None:
                # A programming error in the route, not the client's; still refuse rather than match literally.
                raise TagFilterError("resolve='fuzzy' is not available here", [*loc, "resolve"])
            tags = list(dict.fromkeys(resolve_fuzzy(tags)))
        return leaf(tags, match)

    if kind == "not":
        return combine("not", [_walk(node["not"], [*loc, "not"], leaf, combine, resolve_fuzzy)])
    children = node[kind]
    if not isinstance(children, list) or not children:
        # An empty {and: []} / {or: []} has no agreed meaning (upstream renders it as invalid SQL); refuse it.
        raise TagFilterError(f"'{kind}' must be a non-empty list of tag groups", [*loc, kind])
    return combine(
        kind, [_walk(child, [*loc, kind, i], leaf, combine, resolve_fuzzy) for i, child in enumerate(children)]
    )


def _check_groups(groups: Any) -> list[Any]:
    if groups is None:
        return []
    if not isinstance(groups, list | tuple):
        raise TagFilterError("tag_groups must be a list of tag groups", ["tag_groups"])
    return list(groups)


def tag_groups_filter(
    groups: list[dict] | None, *, field: str = "tags", resolve_fuzzy: FuzzyResolver | None = None
) -> Q:
    """The ``tag_groups`` filter as a Q: each group a boolean tree, the groups AND-ed; ``Q()`` for none.

    Leaves use the ``tags_match`` rules with two differences the contract implies: ``match`` defaults to
    ``any_strict``, and an empty ``tags`` list is taken literally rather than as "no filter" (OR over nothing is
    false, AND over nothing is true, the untagged rule still applies), since a leaf is one term of an expression.
    ``resolve_fuzzy`` maps a ``resolve: "fuzzy"`` leaf's tags to bank tags (see ``fuzzy_tag_resolver``).
    """

    def combine(kind: str, parts: list[Q]) -> Q:
        if kind == "not":
            return ~parts[0]
        return reduce(lambda left, right: (left & right) if kind == "and" else (left | right), parts)

    parts = [
        _walk(group, ["tag_groups", i], lambda tags, match: _leaf_q(tags, match, field), combine, resolve_fuzzy)
        for i, group in enumerate(_check_groups(groups))
    ]
    return reduce(lambda left, right: left & right, parts, Q())


def tag_groups_filter_sql(
    groups: list[dict] | None, *, column: str = "tags", resolve_fuzzy: FuzzyResolver | None = None
) -> tuple[str, list[Any]]:
    """``tag_groups_filter`` as a SQL fragment and its params; ``("TRUE", [])`` for no groups."""
    column = _check_column(column)
    params: list[Any] = []

    def leaf(tags: list[str], match: str) -> str:
        sql, leaf_params = _leaf_sql(tags, match, column)
        params.extend(leaf_params)  # the walk is depth-first left to right, the order the placeholders appear in
        return sql

    def combine(kind: str, parts: list[str]) -> str:
        if kind == "not":
            return f"(NOT {parts[0]})"
        return "(" + f" {kind.upper()} ".join(parts) + ")"

    parts = [
        _walk(group, ["tag_groups", i], leaf, combine, resolve_fuzzy) for i, group in enumerate(_check_groups(groups))
    ]
    if not parts:
        return "TRUE", []
    sql = parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"
    return sql, params


def fuzzy_tag_resolver(bank: Any, *, threshold: float = FUZZY_TAG_SIMILARITY) -> FuzzyResolver:
    """A ``resolve_fuzzy`` for one bank: each tag becomes the bank's most similar memory tag (pg_trgm).

    A tag the bank has is kept; otherwise the bank tag with the highest trigram similarity at or above
    ``threshold`` replaces it; with none close enough the tag is kept and simply matches nothing. One tag for one
    tag, so the leaf's ``match`` mode keeps its meaning ("all" still means every asked-for tag).
    """
    from django.db import connection

    from memories.models import MemoryUnit

    table = connection.ops.quote_name(MemoryUnit._meta.db_table)

    def resolve(tags: list[str]) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH bank_tags AS (SELECT DISTINCT unnest(tags) AS tag FROM {table} WHERE bank_id = %s)
                SELECT asked.tag, coalesce(best.tag, asked.tag)
                FROM unnest(%s::text[]) WITH ORDINALITY AS asked(tag, position)
                LEFT JOIN LATERAL (
                    SELECT b.tag FROM bank_tags b
                    WHERE b.tag = asked.tag OR similarity(b.tag, asked.tag) >= %s
                    ORDER BY b.tag = asked.tag DESC, similarity(b.tag, asked.tag) DESC, b.tag
                    LIMIT 1
                ) best ON TRUE
                ORDER BY asked.position
                """,  # noqa: S608 - the table name is the model's, quoted; values are parameters
                [bank.pk, list(tags), threshold],
            )
            return [row[1] for row in cursor.fetchall()]

    return resolve
