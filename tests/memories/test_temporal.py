"""Time expressions: exact ranges for every supported form, month/leap-year edges, and what is not a date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from memories.temporal import (
    TimeRange,
    describe_range,
    find_time_expressions,
    find_time_spans,
    parse_loose_datetime,
)

# LoCoMo's first session: "1:56 pm on 8 May, 2023", a Monday.
MONDAY = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
FRIDAY = datetime(2023, 5, 12, 9, 0, tzinfo=UTC)
SATURDAY = datetime(2023, 5, 13, 9, 0, tzinfo=UTC)
SUNDAY = datetime(2023, 5, 14, 9, 0, tzinfo=UTC)
# The calendar's last and first days (Python's datetime holds years 1 to 9999).
LAST_DAY = datetime(9999, 12, 31, 12, 0, tzinfo=UTC)
FIRST_DAY = datetime(1, 1, 1, 12, 0, tzinfo=UTC)


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 12, 0, tzinfo=UTC)


# (text, reference, expected matched text, first day, last day, precise)
CASES = [
    # relative days
    ("I went there yesterday.", MONDAY, "yesterday", date(2023, 5, 7), date(2023, 5, 7), True),
    ("I'm going today", MONDAY, "today", date(2023, 5, 8), date(2023, 5, 8), True),
    ("a party tonight", MONDAY, "tonight", date(2023, 5, 8), date(2023, 5, 8), True),
    ("see you tomorrow", MONDAY, "tomorrow", date(2023, 5, 9), date(2023, 5, 9), True),
    ("last night was fun", MONDAY, "last night", date(2023, 5, 7), date(2023, 5, 7), True),
    ("this morning I ran", MONDAY, "this morning", date(2023, 5, 8), date(2023, 5, 8), True),
    ("the day before yesterday", MONDAY, "the day before yesterday", date(2023, 5, 6), date(2023, 5, 6), True),
    # "N units ago"
    ("3 days ago", MONDAY, "3 days ago", date(2023, 5, 5), date(2023, 5, 5), True),
    ("three days ago", at(2024, 3, 2), "three days ago", date(2024, 2, 28), date(2024, 2, 28), True),
    ("a couple of days ago", MONDAY, "a couple of days ago", date(2023, 5, 6), date(2023, 5, 6), False),
    ("two weeks ago", MONDAY, "two weeks ago", date(2023, 4, 24), date(2023, 4, 30), False),
    ("a few weeks ago", MONDAY, "a few weeks ago", date(2023, 4, 17), date(2023, 4, 23), False),
    ("a month ago", at(2023, 3, 31), "a month ago", date(2023, 2, 1), date(2023, 2, 28), False),
    ("one month ago", at(2024, 3, 31), "one month ago", date(2024, 2, 1), date(2024, 2, 29), False),
    ("a few years ago", MONDAY, "a few years ago", date(2020, 1, 1), date(2020, 12, 31), False),
    ("twelve years ago", MONDAY, "twelve years ago", date(2011, 1, 1), date(2011, 12, 31), False),
    ("a year ago", at(2024, 2, 29), "a year ago", date(2023, 1, 1), date(2023, 12, 31), False),
    # last/this/next week, weekend, month, year (weeks start on Monday)
    ("last week", MONDAY, "last week", date(2023, 5, 1), date(2023, 5, 7), False),
    ("last week", SUNDAY, "last week", date(2023, 5, 1), date(2023, 5, 7), False),
    ("this week", SUNDAY, "this week", date(2023, 5, 8), date(2023, 5, 14), False),
    ("next week", SUNDAY, "next week", date(2023, 5, 15), date(2023, 5, 21), False),
    ("this weekend", MONDAY, "this weekend", date(2023, 5, 13), date(2023, 5, 14), False),
    ("last weekend", SATURDAY, "last weekend", date(2023, 5, 6), date(2023, 5, 7), False),
    ("this past weekend", MONDAY, "this past weekend", date(2023, 5, 6), date(2023, 5, 7), False),
    ("last month", at(2024, 3, 31), "last month", date(2024, 2, 1), date(2024, 2, 29), False),
    ("next month", at(2023, 1, 31), "next month", date(2023, 2, 1), date(2023, 2, 28), False),
    ("next month", at(2023, 12, 15), "next month", date(2024, 1, 1), date(2024, 1, 31), False),
    ("last year", MONDAY, "last year", date(2022, 1, 1), date(2022, 12, 31), False),
    ("this year", MONDAY, "this year", date(2023, 1, 1), date(2023, 12, 31), False),
    ("the week before last", MONDAY, "the week before last", date(2023, 4, 24), date(2023, 4, 30), False),
    ("over the past two weeks", MONDAY, "the past two weeks", date(2023, 4, 24), date(2023, 5, 8), False),
    ("earlier this year", MONDAY, "earlier this year", date(2023, 1, 1), date(2023, 5, 8), False),
    ("later this month", MONDAY, "later this month", date(2023, 5, 8), date(2023, 5, 31), False),
    # weekdays: last = strictly before, next = strictly after, bare = most recent past
    ("last Friday", MONDAY, "last Friday", date(2023, 5, 5), date(2023, 5, 5), True),
    ("last Friday", FRIDAY, "last Friday", date(2023, 5, 5), date(2023, 5, 5), True),
    ("next Friday", FRIDAY, "next Friday", date(2023, 5, 19), date(2023, 5, 19), True),
    ("this Friday", MONDAY, "this Friday", date(2023, 5, 12), date(2023, 5, 12), True),
    ("on Friday we met", MONDAY, "Friday", date(2023, 5, 5), date(2023, 5, 5), True),
    ("last Sunday night", MONDAY, "last Sunday night", date(2023, 5, 7), date(2023, 5, 7), True),
    # absolute dates
    ("on 7 May 2023", None, "7 May 2023", date(2023, 5, 7), date(2023, 5, 7), True),
    ("May 7, 2023", None, "May 7, 2023", date(2023, 5, 7), date(2023, 5, 7), True),
    ("the 7th of May, 2023", None, "the 7th of May, 2023", date(2023, 5, 7), date(2023, 5, 7), True),
    ("Friday, May 5, 2023", None, "Friday, May 5, 2023", date(2023, 5, 5), date(2023, 5, 5), True),
    ("on May 7th", MONDAY, "May 7th", date(2023, 5, 7), date(2023, 5, 7), True),
    ("on May 9th", MONDAY, "May 9th", date(2022, 5, 9), date(2022, 5, 9), True),
    ("2023-05-07", None, "2023-05-07", date(2023, 5, 7), date(2023, 5, 7), True),
    ("at 2023-05-07T23:30:00-05:00", None, "2023-05-07T23:30:00-05:00", date(2023, 5, 8), date(2023, 5, 8), True),
    ("05/07/2023", None, "05/07/2023", date(2023, 5, 7), date(2023, 5, 7), True),
    ("13/05/2023", None, "13/05/2023", date(2023, 5, 13), date(2023, 5, 13), True),
    ("on 29 February 2024", None, "29 February 2024", date(2024, 2, 29), date(2024, 2, 29), True),
    ("on 29 February", MONDAY, "29 February", date(2020, 2, 29), date(2020, 2, 29), True),
    ("1:56 pm on 8 May, 2023", None, "8 May, 2023", date(2023, 5, 8), date(2023, 5, 8), True),
    # months and years
    ("in May 2023", None, "May 2023", date(2023, 5, 1), date(2023, 5, 31), False),
    ("in February 2024", None, "February 2024", date(2024, 2, 1), date(2024, 2, 29), False),
    ("in February 2023", None, "February 2023", date(2023, 2, 1), date(2023, 2, 28), False),
    ("in May", MONDAY, "May", date(2023, 5, 1), date(2023, 5, 31), False),
    ("in May", at(2023, 3, 10), "May", date(2022, 5, 1), date(2022, 5, 31), False),
    ("in December", at(2024, 1, 5), "December", date(2023, 12, 1), date(2023, 12, 31), False),
    ("last May", MONDAY, "last May", date(2022, 5, 1), date(2022, 5, 31), False),
    ("next May", MONDAY, "next May", date(2024, 5, 1), date(2024, 5, 31), False),
    ("since March", MONDAY, "March", date(2023, 3, 1), date(2023, 3, 31), False),
    ("in early June 2023", None, "early June 2023", date(2023, 6, 1), date(2023, 6, 10), False),
    ("late February 2024", None, "late February 2024", date(2024, 2, 21), date(2024, 2, 29), False),
    ("mid-May", MONDAY, "mid-May", date(2023, 5, 11), date(2023, 5, 20), False),
    ("in 2022", None, "2022", date(2022, 1, 1), date(2022, 12, 31), False),
    ("in early 2022", None, "early 2022", date(2022, 1, 1), date(2022, 4, 30), False),
    ("2023-05", None, "2023-05", date(2023, 5, 1), date(2023, 5, 31), False),
    # seasons (meteorological, northern hemisphere)
    ("last summer", MONDAY, "last summer", date(2022, 6, 1), date(2022, 8, 31), False),
    ("last summer", at(2023, 10, 1), "last summer", date(2023, 6, 1), date(2023, 8, 31), False),
    ("last summer", at(2023, 7, 15), "last summer", date(2022, 6, 1), date(2022, 8, 31), False),
    ("this summer", MONDAY, "this summer", date(2023, 6, 1), date(2023, 8, 31), False),
    ("last winter", at(2024, 1, 15), "last winter", date(2022, 12, 1), date(2023, 2, 28), False),
    ("this winter", at(2024, 1, 15), "this winter", date(2023, 12, 1), date(2024, 2, 29), False),
    ("last fall", MONDAY, "last fall", date(2022, 9, 1), date(2022, 11, 30), False),
    ("last autumn", MONDAY, "last autumn", date(2022, 9, 1), date(2022, 11, 30), False),
    ("next spring", MONDAY, "next spring", date(2024, 3, 1), date(2024, 5, 31), False),
    ("in the summer of 2022", None, "the summer of 2022", date(2022, 6, 1), date(2022, 8, 31), False),
    ("winter 2023", None, "winter 2023", date(2023, 12, 1), date(2024, 2, 29), False),
    # holidays
    ("last Christmas", MONDAY, "last Christmas", date(2022, 12, 25), date(2022, 12, 25), True),
    ("Thanksgiving 2023", None, "Thanksgiving 2023", date(2023, 11, 23), date(2023, 11, 23), True),
    ("Easter 2024", None, "Easter 2024", date(2024, 3, 31), date(2024, 3, 31), True),
    # relative to an absolute date in the same expression
    ("the week before 7 May 2023", None, "the week before 7 May 2023", date(2023, 4, 30), date(2023, 5, 6), False),
    ("two days before 7 May 2023", None, "two days before 7 May 2023", date(2023, 5, 5), date(2023, 5, 5), True),
    (
        "the day after 28 February 2024",
        None,
        "the day after 28 February 2024",
        date(2024, 2, 29),
        date(2024, 2, 29),
        True,
    ),
    (
        "the weekend before 10 May 2023",
        None,
        "the weekend before 10 May 2023",
        date(2023, 5, 6),
        date(2023, 5, 7),
        False,
    ),
    ("the month before June 2023", None, "the month before June 2023", date(2023, 5, 1), date(2023, 5, 31), False),
    ("two days before yesterday", MONDAY, "two days before yesterday", date(2023, 5, 5), date(2023, 5, 5), True),
    # a weekday before/after a date is that weekday's nearest occurrence strictly before/after it, not the reference's
    (
        "on the Monday before July 24, 2023",
        MONDAY,
        "the Monday before July 24, 2023",
        date(2023, 7, 17),
        date(2023, 7, 17),
        True,
    ),
    (
        "on the Saturday after October 28, 2023",
        MONDAY,
        "the Saturday after October 28, 2023",
        date(2023, 11, 4),
        date(2023, 11, 4),
        True,
    ),
    (
        "the Sunday before October 25, 2022",
        None,
        "the Sunday before October 25, 2022",
        date(2022, 10, 23),
        date(2022, 10, 23),
        True,
    ),
    (
        "last weekend before April 10, 2023",
        MONDAY,
        "last weekend before April 10, 2023",
        date(2023, 4, 8),
        date(2023, 4, 9),
        False,
    ),
    ("a few years back", MONDAY, "a few years back", date(2020, 1, 1), date(2020, 12, 31), False),
]


@pytest.mark.parametrize(("text", "reference", "matched", "first", "last", "precise"), CASES)
def test_expression_resolves_to_exact_range(text, reference, matched, first, last, precise):
    found = find_time_expressions(text, reference)
    assert len(found) == 1, found
    assert found[0] == TimeRange(
        start=datetime(first.year, first.month, first.day, tzinfo=UTC),
        end=datetime(last.year, last.month, last.day, 23, 59, 59, 999999, tzinfo=UTC),
        text=matched,
        precise=precise,
    )


@pytest.mark.parametrize(
    "text",
    [
        "I've been painting a lot recently.",
        "The Mayor of the town came.",
        "We march on together.",
        "I may go later.",
        "This may be the best one.",
        "I love Christmas.",
        "Fridays are for pizza.",
        "The other day was fun.",
        "I fall asleep easily.",
        "Summer is my favourite season.",
        "I have 2022 reasons.",
        "",
    ],
)
def test_words_that_only_look_like_dates_are_not_ranges(text):
    assert find_time_expressions(text, MONDAY) == []


def test_relative_expressions_need_a_reference_but_absolute_ones_do_not():
    found = find_time_expressions("Yesterday, on 7 May 2023, in May, last week", None)
    assert [r.text for r in found] == ["7 May 2023"]


def test_ranges_come_in_text_order_and_the_longest_match_wins():
    found = find_time_expressions("On 7 May 2023 and in June 2023 and yesterday", MONDAY)
    assert [r.text for r in found] == ["7 May 2023", "June 2023", "yesterday"]


def test_spans_give_offsets_of_the_matched_text():
    text = "I went to a LGBTQ support group yesterday and last week."
    spans = find_time_spans(text, MONDAY)
    assert [(text[start:end], found.text) for start, end, found in spans] == [
        ("yesterday", "yesterday"),
        ("last week", "last week"),
    ]


def test_prefer_future_resolves_ambiguous_expressions_forward():
    [friday] = find_time_expressions("on Friday", MONDAY, prefer_future=True)
    assert friday.start.date() == date(2023, 5, 12)
    [may] = find_time_expressions("in May", at(2023, 3, 10), prefer_future=True)
    assert (may.start.date(), may.end.date()) == (date(2023, 5, 1), date(2023, 5, 31))


def test_the_reference_day_is_taken_in_utc():
    five_hours_east = timezone(timedelta(hours=5))
    [today] = find_time_expressions("today", datetime(2023, 5, 8, 1, 0, tzinfo=five_hours_east))
    assert today.start.date() == date(2023, 5, 7)  # 20:00 UTC on the 7th
    [naive] = find_time_expressions("today", datetime(2023, 5, 8, 23, 0))
    assert naive.start.date() == date(2023, 5, 8)


def test_an_impossible_day_falls_back_to_its_month():
    [found] = find_time_expressions("on 29 February 2023", None)
    assert (found.text, found.start.date(), found.end.date()) == ("February 2023", date(2023, 2, 1), date(2023, 2, 28))


@pytest.mark.parametrize(
    ("text", "reference"),
    [
        ("next year", LAST_DAY),
        ("tomorrow", LAST_DAY),
        ("next week", LAST_DAY),
        ("two days after next month", LAST_DAY),
        ("last year", FIRST_DAY),
        ("yesterday", FIRST_DAY),
        ("500 years ago", datetime(100, 1, 1, 12, 0, tzinfo=UTC)),
    ],
)
def test_a_date_outside_the_calendar_is_no_range_rather_than_an_error(text, reference):
    assert find_time_expressions(text, reference) == []


def test_expressions_inside_the_calendar_still_resolve_beside_one_outside_it():
    found = find_time_expressions("next year, and also on 7 May 2023", LAST_DAY)
    assert [(r.text, r.start.date()) for r in found] == [("7 May 2023", date(2023, 5, 7))]


@pytest.mark.parametrize(
    ("text", "reference", "phrase"),
    [
        ("yesterday", MONDAY, "on 7 May 2023"),
        ("a couple of days ago", MONDAY, "around 6 May 2023"),
        ("last week", MONDAY, "in the week of 1 May 2023"),
        ("last weekend", MONDAY, "on the weekend of 6 and 7 May 2023"),
        ("last month", MONDAY, "in April 2023"),
        ("last year", MONDAY, "in 2022"),
        ("last winter", MONDAY, "in winter 2022/23"),
        ("early June 2023", None, "in early June 2023"),
        ("earlier this year", MONDAY, "between 1 January 2023 and 8 May 2023"),
    ],
)
def test_describe_range_writes_a_short_absolute_phrase(text, reference, phrase):
    [found] = find_time_expressions(text, reference)
    assert describe_range(found) == phrase


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1:56 pm on 8 May, 2023", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("10:37 am on 27 June, 2023", datetime(2023, 6, 27, 10, 37, tzinfo=UTC)),
        ("12:09 am on 13 September, 2023", datetime(2023, 9, 13, 0, 9, tzinfo=UTC)),
        ("12:30 pm on 1 January, 2024", datetime(2024, 1, 1, 12, 30, tzinfo=UTC)),
        ("8 May 2023", datetime(2023, 5, 8, tzinfo=UTC)),
        ("8 May, 2023", datetime(2023, 5, 8, tzinfo=UTC)),
        ("May 8, 2023 at 1:56 pm", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("2023-05-08T13:56:00Z", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("2023-05-08T15:56:00+02:00", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("2023-05-08", datetime(2023, 5, 8, tzinfo=UTC)),
        ("05/08/2023", datetime(2023, 5, 8, tzinfo=UTC)),
        ("Mon, 08 May 2023 13:56:00 +0000", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("1683554160", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("May 2023", None),
        ("8 May", None),
        ("2023", None),
        ("not a date", None),
        ("", None),
        ("31 February 2023", None),
    ],
)
def test_parse_loose_datetime(value, expected):
    assert parse_loose_datetime(value) == expected


def test_a_day_named_as_when_it_was_said_is_the_reference_for_relative_expressions():
    found = find_time_expressions("Tim's writing issue last week,as mentioned on November 6, 2023?", at(2024, 12, 31))
    assert [(r.text, r.start.date(), r.end.date()) for r in found] == [
        ("last week", date(2023, 10, 30), date(2023, 11, 5)),
        ("November 6, 2023", date(2023, 11, 6), date(2023, 11, 6)),
    ]
    # Without that phrase a date elsewhere in the sentence does not move the reference.
    found = find_time_expressions("last week, and then on November 6, 2023", MONDAY)
    assert found[0].start.date() == date(2023, 5, 1)


def test_a_modifier_never_cuts_an_expression_in_two():
    found = find_time_expressions("last Friday and the Monday before 7 May 2023", MONDAY)
    assert [(r.text, r.start.date()) for r in found] == [
        ("last Friday", date(2023, 5, 5)),
        ("the Monday before 7 May 2023", date(2023, 5, 1)),
    ]
