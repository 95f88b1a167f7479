"""Time expressions without a model: find them in text and resolve them to UTC ranges.

Retain uses this to date facts ("yesterday" said on 8 May 2023 → 7 May 2023) and to write absolute dates into fact
text; recall uses it to turn a query's time words into ranges. Everything is resolved at **day granularity in UTC**:
the callers' timestamps are UTC and we never know the speaker's time zone, so "this morning" is the reference's day,
not a guess at 06:00-12:00.

Choices where English is ambiguous (tests pin each one):

- Weeks run Monday-Sunday. "last week" is the previous Monday-Sunday week, "this weekend" the Saturday and Sunday
  of the reference's week, "last weekend" those of the previous week.
- "last Friday" is the most recent Friday strictly before the reference day, "next Friday" the first one strictly
  after it, "this Friday" the Friday of the reference's week. A bare "Friday" / "on Friday" is the most recent past
  Friday (memories mostly talk about the past) unless ``prefer_future`` is set, then the next one.
- "in May" is the most recent May at or before the reference month ("last May" strictly before it, "next May"
  strictly after it); a day without a year ("May 7th") is the most recent such day at or before the reference.
  ``prefer_future`` flips both to the nearest occurrence at or after the reference.
- Slashed dates are US month/day ("05/07/2023" is 7 May) unless the first number cannot be a month (> 12).
- Seasons are meteorological, northern hemisphere: spring Mar-May, summer Jun-Aug, fall Sep-Nov, winter Dec-Feb
  ("winter 2022" is Dec 2022-Feb 2023). "last summer" is the most recent summer that had ended by the reference day.
- "N days ago" is one day; "N weeks ago" the Monday-Sunday week containing that day; "N months/years ago" the
  calendar month/year. Vague counts ("a couple of" ≈ 2, "a few" ≈ 3) give the same ranges marked imprecise.
- Prepositions ("in", "on", "since", "until", …) are not part of the matched text and do not change the range: the
  range is what the expression names ("since May 2023" → May 2023); callers decide what "since" means for them.
- "the week before <date>" is the seven days before it, "N days before <date>" a day; the anchor may be any
  expression we resolve ("the day before 7 May 2023", "two days before yesterday"). "the Monday before <date>" is
  the last Monday strictly before it ("after": the first strictly after), "last weekend before <date>" the weekend
  before it.
- A day the text names as when it was said ("…last week, as mentioned on 6 November 2023") is the reference for the
  text's relative expressions; the caller's reference is used otherwise. "N years back" means "N years ago".
- Month names that are also common words are only months when the context says so: "may" and "march" must be
  capitalised unless a year follows; a bare month needs "in/during/since/until/last/this/next/…" or "early/mid/late".
  Bare weekdays and holidays behave likewise ("I love Christmas" is not a date, "last Christmas" is).
- "recently", "the other day", "soon" are not ranges.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from dateutil import parser as dateutil_parser
from dateutil.easter import easter
from dateutil.relativedelta import relativedelta

__all__ = ["TimeRange", "describe_range", "find_time_expressions", "find_time_spans", "parse_loose_datetime"]


@dataclass(frozen=True)
class TimeRange:
    """A resolved time expression: an inclusive UTC range and the text it came from."""

    start: datetime  # aware UTC, 00:00 of the first day
    end: datetime  # aware UTC, 23:59:59.999999 of the last day
    text: str  # the matched expression as written
    precise: bool  # a specific day (True) or a week/month/season/year-sized (or vague) period (False)


# --- vocabulary -------------------------------------------------------------------------------------------------

MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTH_NUMBERS = {name.lower(): number for number, name in enumerate(MONTH_NAMES, start=1)}
_MONTH_NUMBERS.update({name.lower()[:3]: number for number, name in enumerate(MONTH_NAMES, start=1)})
_MONTH_NUMBERS["sept"] = 9
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBER_WORDS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a": 1,
    "an": 1,
}
_VAGUE_NUMBERS = {"a couple of": 2, "a couple": 2, "couple of": 2, "a few": 3, "few": 3}
# Month words that are also ordinary English words: months only when capitalised or followed by a year.
_AMBIGUOUS_MONTH_WORDS = frozenset({"may", "march", "mar"})

_MONTH = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])(?:\.(?=\s*\d))?"
)
_WEEKDAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_NUM = (
    r"(?P<n>a\s+couple(?:\s+of)?|a\s+few|couple\s+of|few|\d{1,3}"
    r"|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|an|a)"
)
_PART = r"(?:(?P<part>early|mid|late|the\s+(?:start|beginning|end|middle)\s+of)[\s-]+)"
_YEAR = r"(?P<year>(?:1[89]|20|21)\d{2})(?!\d)"
_TIME_OF_DAY = r"(?:\s+(?:morning|afternoon|evening|night))?"

_FLAGS = re.IGNORECASE


@dataclass(frozen=True)
class _Context:
    reference: date | None
    prefer_future: bool


# A handler turns one regex match into (span start, span end, first day, last day, precise) or None.
_Resolved = tuple[int, int, date, date, bool]
_Handler = Callable[[re.Match[str], _Context], _Resolved | None]


# --- calendar helpers -------------------------------------------------------------------------------------------


def _month_end(year: int, month: int) -> date:
    return date(year, month, monthrange(year, month)[1])


def _month_range(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), _month_end(year, month)


def _week_range(day: date) -> tuple[date, date]:
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _season_range(season: str, year: int) -> tuple[date, date]:
    """The meteorological season that starts in ``year`` (winter runs into the next year)."""
    if season == "spring":
        return date(year, 3, 1), date(year, 5, 31)
    if season == "summer":
        return date(year, 6, 1), date(year, 8, 31)
    if season in ("fall", "autumn"):
        return date(year, 9, 1), date(year, 11, 30)
    return date(year, 12, 1), _month_end(year + 1, 2)


def _holiday_date(name: str, year: int) -> date:
    if name == "christmas eve":
        return date(year, 12, 24)
    if name.startswith("christmas"):
        return date(year, 12, 25)
    if name.startswith("new year") and name.endswith("eve"):
        return date(year, 12, 31)
    if name.startswith("new year"):
        return date(year, 1, 1)
    if name == "halloween":
        return date(year, 10, 31)
    if name.startswith("valentine"):
        return date(year, 2, 14)
    if name == "easter":
        return easter(year)
    if name == "thanksgiving":  # US: the fourth Thursday of November
        first = date(year, 11, 1)
        return first + timedelta(days=(3 - first.weekday()) % 7 + 21)
    return date(year, 7, 4)  # independence day / the fourth of july


def _number(token: str) -> tuple[int, bool] | None:
    """A count and whether it is vague ("a few")."""
    token = re.sub(r"\s+", " ", token.lower())
    if token in _VAGUE_NUMBERS:
        return _VAGUE_NUMBERS[token], True
    if token.isdigit():
        return int(token), False
    if token in _NUMBER_WORDS:
        return _NUMBER_WORDS[token], False
    return None


def _part_of(part: str | None, first: date, last: date, *, year_sized: bool) -> tuple[date, date]:
    """Narrow a month (thirds by day) or a year (thirds by month) to its early/mid/late part."""
    if not part:
        return first, last
    part = re.sub(r"\s+", " ", part.lower())
    which = {"early": 0, "the start of": 0, "the beginning of": 0, "mid": 1, "the middle of": 1}.get(part, 2)
    if year_sized:
        start_month = 1 + 4 * which
        return date(first.year, start_month, 1), _month_end(first.year, start_month + 3)
    starts = (1, 11, 21)
    ends = (10, 20, last.day)
    return first.replace(day=starts[which]), first.replace(day=ends[which])


def _ambiguous_month_ok(month_text: str, *, has_year: bool) -> bool:
    """ "may"/"march" as a month only when written capitalised or with a year (otherwise a verb is likely)."""
    return has_year or month_text.lower() not in _AMBIGUOUS_MONTH_WORDS or month_text[0].isupper()


def _pick_year(month: int, day: int | None, ctx: _Context, reference: date) -> int:
    """The year of the most recent (month, day) at or before the reference, or the next one when preferring future."""
    key = (month, day or 1)
    ref_key = (reference.month, reference.day if day else 1)
    if ctx.prefer_future:
        return reference.year if key >= ref_key else reference.year + 1
    return reference.year if key <= ref_key else reference.year - 1


# --- handlers ---------------------------------------------------------------------------------------------------


def _iso_date(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    if m.group("time"):
        try:
            moment = datetime.fromisoformat(m.group(0).replace(" ", "T"))
        except ValueError:
            return None
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)
        day: date | None = moment.date()
    else:
        day = _safe_date(int(m.group("year")), int(m.group("mon")), int(m.group("day")))
    return None if day is None else (m.start(), m.end(), day, day, True)


def _iso_month(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    month = int(m.group("mon"))
    if not 1 <= month <= 12:
        return None
    return (m.start(), m.end(), *_month_range(int(m.group("year")), month), False)


def _slash_date(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    first, second, year = int(m.group("a")), int(m.group("b")), int(m.group("year"))
    if len(m.group("year")) == 2:
        year += 2000 if year < 70 else 1900
    month, day = (second, first) if first > 12 else (first, second)  # US m/d unless that cannot be a month
    found = _safe_date(year, month, day) if 1 <= month <= 12 else None
    return None if found is None else (m.start(), m.end(), found, found, True)


def _day_month(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    """ "7 May 2023", "the 7th of May", "May 7, 2023", "Friday, May 5th" (with or without a year)."""
    month_text = m.group("mon")
    year_text = m.group("year")
    if not _ambiguous_month_ok(month_text, has_year=bool(year_text)):
        return None
    month = _MONTH_NUMBERS[month_text.lower()]
    day = int(m.group("day"))
    if not 1 <= day <= 31:
        return None
    if year_text:
        found = _safe_date(int(year_text), month, day)
    else:
        if ctx.reference is None:
            return None
        year = _pick_year(month, day, ctx, ctx.reference)
        found = None
        step = 1 if ctx.prefer_future else -1
        for _ in range(9):  # 29 February: walk to the nearest leap year
            found = _safe_date(year, month, day)
            if found is not None:
                break
            year += step
    return None if found is None else (m.start(), m.end(), found, found, True)


def _month_year(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    month = _MONTH_NUMBERS[m.group("mon").lower()]
    first, last = _month_range(int(m.group("year")), month)
    first, last = _part_of(m.group("part"), first, last, year_sized=False)
    return m.start(), m.end(), first, last, False


def _bare_month(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    """ "in May", "last May", "early June": a month the context marks as a time, resolved against the reference."""
    trigger = (m.group("trig") or "").lower()
    part = m.group("part")
    month_text = m.group("mon")
    if ctx.reference is None or not (trigger or part):
        return None
    if month_text.lower() in _AMBIGUOUS_MONTH_WORDS and not month_text[0].isupper() and trigger not in ("in", "last"):
        return None
    month = _MONTH_NUMBERS[month_text.lower()]
    ref = ctx.reference
    if trigger == "last":
        year = ref.year if month < ref.month else ref.year - 1
    elif trigger == "this":
        year = ref.year
    elif trigger == "next":
        year = ref.year if month > ref.month else ref.year + 1
    else:
        year = _pick_year(month, None, ctx, ref)
    first, last = _part_of(part, *_month_range(year, month), year_sized=False)
    start = m.start("trig") if trigger in ("last", "this", "next") else (m.start("part") if part else m.start("mon"))
    return start, m.end(), first, last, False


def _year(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    if not (m.group("trig") or m.group("part")):
        return None
    year = int(m.group("year"))
    first, last = _part_of(m.group("part"), date(year, 1, 1), date(year, 12, 31), year_sized=True)
    start = m.start("part") if m.group("part") else m.start("year")
    return start, m.end(), first, last, False


def _relative_day(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    if ctx.reference is None:
        return None
    words = m.group(0).lower()
    if "day before yesterday" in words:
        offset = -2
    elif "day after tomorrow" in words:
        offset = 2
    elif words.startswith(("yesterday", "last")):
        offset = -1
    elif words.startswith("tomorrow"):
        offset = 1
    else:  # today, tonight, this morning/afternoon/evening
        offset = 0
    day = ctx.reference + timedelta(days=offset)
    return m.start(), m.end(), day, day, True


def _ago(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    counted = _number(m.group("n"))
    if ctx.reference is None or counted is None:
        return None
    count, vague = counted
    unit = m.group("unit").lower()
    ref = ctx.reference
    if unit == "day":
        day = ref - timedelta(days=count)
        return m.start(), m.end(), day, day, not vague
    if unit == "week":
        return m.start(), m.end(), *_week_range(ref - timedelta(weeks=count)), False
    if unit == "month":
        back = ref - relativedelta(months=count)
        return m.start(), m.end(), *_month_range(back.year, back.month), False
    return m.start(), m.end(), date(ref.year - count, 1, 1), date(ref.year - count, 12, 31), False


def _shift_unit(ref: date, unit: str, steps: int) -> tuple[date, date]:
    """The calendar week/weekend/month/year ``steps`` units away from the one containing ``ref``."""
    if unit in ("week", "weekend"):
        monday = ref - timedelta(days=ref.weekday()) + timedelta(weeks=steps)
        if unit == "weekend":
            return monday + timedelta(days=5), monday + timedelta(days=6)
        return monday, monday + timedelta(days=6)
    if unit == "month":
        moved = ref.replace(day=1) + relativedelta(months=steps)
        return _month_range(moved.year, moved.month)
    return date(ref.year + steps, 1, 1), date(ref.year + steps, 12, 31)


def _qualifier_steps(qualifier: str) -> int:
    qualifier = re.sub(r"\s+", " ", qualifier.lower())
    if qualifier in ("last", "this past", "past", "previous", "the previous"):
        return -1
    if qualifier in ("next", "this coming", "the coming", "coming"):
        return 1
    return 0


def _relative_unit(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    if ctx.reference is None:
        return None
    first, last = _shift_unit(ctx.reference, m.group("unit").lower(), _qualifier_steps(m.group("q")))
    return m.start(), m.end(), first, last, False


def _before_last(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    if ctx.reference is None:
        return None
    return m.start(), m.end(), *_shift_unit(ctx.reference, m.group("unit").lower(), -2), False


def _rolling(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    """ "the past two weeks", "the last few days": from that long before the reference up to the reference day."""
    if ctx.reference is None:
        return None
    unit = m.group("unit").lower()
    plural = m.group(0).lower().rstrip().endswith("s")
    if m.group("n"):
        counted = _number(m.group("n"))
        if counted is None:
            return None
        count = counted[0]
    elif plural:
        return None  # "the past months": no length given
    else:
        count = 1
    delta = {"day": relativedelta(days=count), "week": relativedelta(weeks=count)}.get(unit) or (
        relativedelta(months=count) if unit == "month" else relativedelta(years=count)
    )
    return m.start(), m.end(), ctx.reference - delta, ctx.reference, False


def _earlier_later(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    if ctx.reference is None:
        return None
    first, last = _shift_unit(ctx.reference, m.group("unit").lower(), 0)
    if m.group("w").lower() == "earlier":
        return m.start(), m.end(), first, ctx.reference, False
    return m.start(), m.end(), ctx.reference, last, False


def _weekday(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    qualifier = re.sub(r"\s+", " ", (m.group("q") or "").lower())
    if ctx.reference is None:
        return None
    ref = ctx.reference
    target = _WEEKDAYS.index(m.group("wd").lower())
    if qualifier == "this":
        day = ref - timedelta(days=ref.weekday()) + timedelta(days=target)
    else:
        steps = _qualifier_steps(qualifier) if qualifier and qualifier != "on" else (1 if ctx.prefer_future else -1)
        if steps > 0:
            day = ref + timedelta(days=(target - ref.weekday() - 1) % 7 + 1)
        else:
            day = ref - timedelta(days=(ref.weekday() - target - 1) % 7 + 1)
    start = m.start("q") if qualifier and qualifier != "on" else m.start("wd")
    return start, m.end(), day, day, True


def _season(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    season = m.group("season").lower()
    qualifier = re.sub(r"\s+", " ", (m.group("q") or "").lower())
    start = m.start("q") if (qualifier and _qualifier_steps(qualifier)) or qualifier == "this" else m.start("body")
    if m.group("year"):
        return (start, m.end(), *_season_range(season, int(m.group("year"))), False)
    ref = ctx.reference
    if ref is None or not qualifier:
        return None
    steps = _qualifier_steps(qualifier)
    if qualifier == "this":
        year = ref.year - 1 if season == "winter" and ref.month <= 2 else ref.year
        return start, m.end(), *_season_range(season, year), False
    candidates = [_season_range(season, year) for year in range(ref.year - 2, ref.year + 2)]
    if steps < 0:  # the most recent one that had ended by the reference day
        first, last = [c for c in candidates if c[1] < ref][-1]
    elif steps > 0:  # the first one starting after the reference day
        first, last = next(c for c in candidates if c[0] > ref)
    elif ctx.prefer_future:  # "in the summer" about plans: the current or next one
        first, last = next(c for c in candidates if c[1] >= ref)
    else:  # "in the summer" about the past: the most recent one that has started
        first, last = [c for c in candidates if c[0] <= ref][-1]
    return start, m.end(), first, last, False


def _holiday(m: re.Match[str], ctx: _Context) -> _Resolved | None:
    name = re.sub(r"\s+", " ", m.group("h").lower()).replace("\u2019", "'").replace("'", "")
    name = {"new years eve": "new year eve", "the fourth of july": "july 4", "fourth of july": "july 4"}.get(name, name)
    qualifier = (m.group("q") or "").lower()
    steps = _qualifier_steps(qualifier) if qualifier else 0
    start = m.start("q") if steps or qualifier == "this" else m.start("h")
    if m.group("year"):
        day = _holiday_date(name, int(m.group("year")))
        return start, m.end(), day, day, True
    ref = ctx.reference
    if ref is None or not qualifier:
        return None
    days = [_holiday_date(name, year) for year in range(ref.year - 1, ref.year + 2)]
    if qualifier == "this":
        day = days[1]
    elif steps < 0:
        day = [d for d in days if d < ref][-1]
    elif steps > 0:
        day = next(d for d in days if d > ref)
    elif ctx.prefer_future:
        day = next(d for d in days if d >= ref)
    else:
        day = [d for d in days if d <= ref][-1]
    return start, m.end(), day, day, True


# --- patterns (order breaks ties between equally long matches) --------------------------------------------------

_QUALIFIER = r"this\s+past|this\s+coming|the\s+coming|the\s+previous|last|this|next|past|coming|previous"
_PATTERNS: tuple[tuple[re.Pattern[str], _Handler], ...] = tuple(
    (re.compile(pattern, _FLAGS), handler)
    for pattern, handler in (
        (
            r"\b(?P<year>\d{4})-(?P<mon>\d{2})-(?P<day>\d{2})"
            r"(?P<time>[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w-])",
            _iso_date,
        ),
        (r"\b(?P<year>\d{4})-(?P<mon>\d{2})(?![\w-])", _iso_month),
        (r"\b(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<year>\d{4}|\d{2})(?![\w/])", _slash_date),
        (
            rf"\b(?:{_WEEKDAY},?\s+)?(?:the\s+)?(?P<day>[0-3]?\d)(?:st|nd|rd|th)?(?:\s+of)?\s+{_MONTH}"
            rf"(?:,?\s+{_YEAR})?",
            _day_month,
        ),
        (
            rf"\b(?:{_WEEKDAY},?\s+)?{_MONTH}\s+(?:the\s+)?(?P<day>[0-3]?\d)(?:st|nd|rd|th)?(?![\w:])"
            rf"(?:,?\s+{_YEAR})?",
            _day_month,
        ),
        (rf"\b{_PART}?{_MONTH},?\s+(?:of\s+)?{_YEAR}", _month_year),
        (
            r"\b(?:(?P<trig>in|during|since|until|till|by|from|through|throughout|before|after|last|this|next)\s+)?"
            rf"{_PART}?{_MONTH}(?![\w-])",
            _bare_month,
        ),
        (
            r"\b(?:(?P<trig>in|during|since|until|till|by|from|through|throughout|before|after|around|of)\s+)?"
            rf"{_PART}?{_YEAR}(?![\w-])(?!\s*[-\u2013/]\s*\d)",
            _year,
        ),
        (
            r"\b(?:the\s+day\s+before\s+yesterday|the\s+day\s+after\s+tomorrow"
            r"|(?:yesterday|tomorrow)(?:\s+(?:morning|afternoon|evening|night))?|today|tonight|last\s+night"
            r"|this\s+(?:morning|afternoon|evening))\b",
            _relative_day,
        ),
        (rf"\b{_NUM}\s+(?P<unit>day|week|month|year)s?\s+(?:ago|back)\b", _ago),
        (rf"\b(?P<q>{_QUALIFIER})\s+(?P<unit>week|weekend|month|year)\b", _relative_unit),
        (r"\bthe\s+(?P<unit>week|weekend|month|year)\s+before\s+last\b", _before_last),
        (rf"\bthe\s+(?:past|last)\s+(?:{_NUM}\s+)?(?P<unit>day|week|month|year)s?\b(?!\s+of\b)", _rolling),
        (r"\b(?P<w>earlier|later)\s+this\s+(?P<unit>week|month|year)\b", _earlier_later),
        (rf"\b(?:(?P<q>{_QUALIFIER}|on)\s+)?(?P<wd>{_WEEKDAY}){_TIME_OF_DAY}(?!\w)", _weekday),
        (
            rf"\b(?:(?P<q>{_QUALIFIER}|in|during|over|since|until|by)\s+)?(?P<body>(?:the\s+)?"
            rf"(?P<season>spring|summer|fall|autumn|winter))(?:\s+(?:of\s+)?{_YEAR})?(?!\w)",
            _season,
        ),
        (
            rf"\b(?:(?P<q>{_QUALIFIER}|on|at|for|over|during|since|until|before|after|around)\s+)?"
            r"(?P<h>christmas\s+eve|christmas(?:\s+day)?|new\s+year['\u2019]?s?\s+eve|new\s+year['\u2019]?s?(?:\s+day)?"
            r"|halloween|valentine['\u2019]?s\s+day|thanksgiving|easter|independence\s+day|(?:the\s+)?fourth\s+of\s+july)"
            rf"(?:\s+{_YEAR})?(?!\w)",
            _holiday,
        ),
    )
)

# Cheap gate: text without any of these cannot hold a time expression ("day" covers weekdays and today/yesterday).
_GATE = re.compile(
    r"\d|day|night|morning|afternoon|evening|week|month|year|ago|tomorrow|tonight|jan|feb|mar|apr|may|jun|jul|aug"
    r"|sep|oct|nov|dec|spring|summer|fall|autumn|winter|christmas|halloween|valentine|thanksgiving|easter",
    _FLAGS,
)

# "two days before", "the week after", "a month prior to", "last weekend before" directly in front of a resolved
# anchor.
_COMPOSITE = re.compile(
    rf"(?:\b{_NUM}|\bthe|\blast|\bthat)\s+(?P<unit>day|night|week|weekend|month|year)s?\s+"
    r"(?P<dir>before|after|prior\s+to|following|earlier\s+than|later\s+than)\s+(?:on\s+)?$",
    _FLAGS,
)
# "the Monday before", "the Saturday after" directly in front of a resolved anchor.
_WEEKDAY_COMPOSITE = re.compile(
    rf"\b(?:the|that)\s+(?P<wd>{_WEEKDAY})\s+(?P<dir>before|after|prior\s+to|following)\s+(?:on\s+)?$",
    _FLAGS,
)
# "last week, as mentioned on 6 November 2023": the named day is the reference for the sentence's relative times.
_MENTIONED_ON = re.compile(
    r"\bas\s+(?:mentioned|said|stated|noted|discussed|told|written|shared|reported)\s+(?:on|in)\s+$", _FLAGS
)


def _compose(m: re.Match[str], anchor: _Resolved) -> _Resolved | None:
    """Resolve "<count> <unit> before/after" relative to an already resolved anchor range."""
    _, end, anchor_first, anchor_last, anchor_precise = anchor
    after = m.group("dir").lower().startswith(("after", "following", "later"))
    sign = 1 if after else -1
    pivot = anchor_last if after else anchor_first
    unit = m.group("unit").lower()
    counted = _number(m.group("n")) if m.group("n") else None
    count, vague = counted if counted else (1, False)
    if unit in ("day", "night"):
        day = pivot + timedelta(days=sign * count)
        return m.start(), end, day, day, anchor_precise and not vague
    if unit == "week" and counted is None:  # "the week before X": the seven days before X
        first, last = (
            (pivot + timedelta(days=1), pivot + timedelta(days=7))
            if after
            else (
                pivot - timedelta(days=7),
                pivot - timedelta(days=1),
            )
        )
        return m.start(), end, first, last, False
    if unit == "week":
        day = pivot + timedelta(weeks=sign * count)
        return m.start(), end, day, day, False
    if unit == "weekend":
        if after:  # the first Saturday strictly after
            saturday = pivot + timedelta(days=(5 - pivot.weekday() - 1) % 7 + 1)
        else:  # the weekend whose Sunday is the most recent one strictly before
            saturday = pivot - timedelta(days=(pivot.weekday() - 6 - 1) % 7 + 1) - timedelta(days=1)
        return m.start(), end, saturday, saturday + timedelta(days=1), False
    if unit == "month":
        moved = pivot.replace(day=1) + relativedelta(months=sign * count)
        return m.start(), end, *_month_range(moved.year, moved.month), False
    year = pivot.year + sign * count
    return m.start(), end, date(year, 1, 1), date(year, 12, 31), False


def _compose_weekday(m: re.Match[str], anchor: _Resolved) -> _Resolved:
    """ "the Monday before <anchor>": the last such weekday strictly before it (the first strictly after it)."""
    _, end, anchor_first, anchor_last, anchor_precise = anchor
    target = _WEEKDAYS.index(m.group("wd").lower())
    if m.group("dir").lower().startswith(("after", "following")):
        day = anchor_last + timedelta(days=(target - anchor_last.weekday() - 1) % 7 + 1)
    else:
        day = anchor_first - timedelta(days=(anchor_first.weekday() - target - 1) % 7 + 1)
    return m.start(), end, day, day, anchor_precise


def _reference_date(reference: datetime | None) -> date | None:
    if reference is None:
        return None
    if reference.tzinfo is None:  # naive timestamps are taken as UTC, like everywhere else in the server
        return reference.date()
    return reference.astimezone(UTC).date()


def find_time_expressions(text: str, reference: datetime | None, *, prefer_future: bool = False) -> list[TimeRange]:
    """Every time expression in ``text``, resolved against ``reference``, in text order and without overlaps.

    With ``reference`` None only absolute expressions ("7 May 2023", "in 2022") resolve. ``prefer_future`` resolves
    ambiguous ones ("on Friday", "in May") forward instead of backward; callers set it when the sentence is about
    plans. Where candidates overlap the longest wins ("7 May 2023" beats "May 2023").
    """
    return [found for _, _, found in find_time_spans(text, reference, prefer_future=prefer_future)]


def find_time_spans(
    text: str, reference: datetime | None, *, prefer_future: bool = False
) -> list[tuple[int, int, TimeRange]]:
    """Like ``find_time_expressions`` with each range's ``(start, end)`` offsets in ``text``.

    Retain needs the offsets to write the absolute date right after the expression and to keep date words out of
    entity names.
    """
    if not text or _GATE.search(text) is None:
        return []
    found = _find_spans(text, _Context(_reference_date(reference), prefer_future))
    # A day the text itself names as when things were said ("…, as mentioned on 6 November 2023") is the reference
    # for the text's relative expressions ("last week"), not the caller's reference.
    for span_start, _, time_range in found:
        if time_range.precise and _MENTIONED_ON.search(text, max(0, span_start - 30), span_start):
            named = time_range.start.date()
            if named != _reference_date(reference):
                return _find_spans(text, _Context(named, prefer_future))
            break
    return found


def _within_calendar(resolve: Callable[..., _Resolved | None], *args) -> _Resolved | None:
    """``resolve(*args)``, or None when the date it names is outside the calendar Python can represent (years 1 to
    9999): "next year" said on 31 December 9999 names no date, and must not fail the recall or retain asking."""
    try:
        return resolve(*args)
    except (ValueError, OverflowError):
        return None


def _find_spans(text: str, ctx: _Context) -> list[tuple[int, int, TimeRange]]:
    candidates: list[tuple[int, int, int, _Resolved]] = []
    for order, (pattern, handler) in enumerate(_PATTERNS):
        for match in pattern.finditer(text):
            resolved = _within_calendar(handler, match, ctx)
            if resolved is not None and resolved[1] > resolved[0]:
                candidates.append((-(resolved[1] - resolved[0]), resolved[0], order, resolved))
    candidates.sort(key=lambda c: (c[0], c[1], c[2]))
    chosen: list[_Resolved] = []
    for _, _, _, resolved in candidates:
        if all(resolved[1] <= other[0] or resolved[0] >= other[1] for other in chosen):
            chosen.append(resolved)
    chosen.sort(key=lambda r: r[0])

    ranges: list[tuple[int, int, TimeRange]] = []
    previous_end = 0
    before_previous_end = 0
    for resolved in chosen:
        # The modifier may swallow the expression just before the anchor ("the Monday", "last weekend"): search from
        # the end of the one before it, and drop the swallowed one.
        window_start = max(before_previous_end, resolved[0] - 60)
        composite = _WEEKDAY_COMPOSITE.search(text, window_start, resolved[0])
        composed = _within_calendar(_compose_weekday, composite, resolved) if composite is not None else None
        if composed is None:
            composite = _COMPOSITE.search(text, window_start, resolved[0])
            composed = _within_calendar(_compose, composite, resolved) if composite is not None else None
        if composed is not None and composite.start() < previous_end:
            if ranges and composite.start() <= ranges[-1][0]:
                ranges.pop()
                previous_end = before_previous_end
            else:  # it would cut an expression in two: keep the anchor alone
                composed = None
        if composed is not None:
            resolved = composed
        span_start, span_end, first, last = resolved[0], resolved[1], resolved[2], max(resolved[2], resolved[3])
        found = TimeRange(
            start=datetime.combine(first, time.min, tzinfo=UTC),
            end=datetime.combine(last, time.max, tzinfo=UTC),
            text=text[span_start:span_end],
            precise=resolved[4],
        )
        ranges.append((span_start, span_end, found))
        before_previous_end, previous_end = previous_end, span_end
    return ranges


# --- describing ranges ------------------------------------------------------------------------------------------


def _day_text(day: date) -> str:
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def describe_range(time_range: TimeRange) -> str:
    """A short absolute phrase for a range ("on 7 May 2023", "in May 2023", "in summer 2022"), for fact text."""
    first, last = time_range.start.date(), time_range.end.date()
    if first == last:
        return f"{'on' if time_range.precise else 'around'} {_day_text(first)}"
    if first == date(first.year, 1, 1) and last == date(first.year, 12, 31):
        return f"in {first.year}"
    month_name = MONTH_NAMES[first.month - 1]
    if first.day == 1 and last == _month_end(first.year, first.month):
        return f"in {month_name} {first.year}"
    if first.month == last.month and (first.day, last.day) in ((1, 10), (11, 20)):
        return f"in {'early' if first.day == 1 else 'mid'} {month_name} {first.year}"
    if first.month == last.month and first.day == 21 and last == _month_end(first.year, first.month):
        return f"in late {month_name} {first.year}"
    if first.year == last.year and first.day == 1 and last == _month_end(last.year, last.month):
        thirds = {(1, 4): "early", (5, 8): "mid", (9, 12): "late"}
        if (first.month, last.month) in thirds:
            return f"in {thirds[first.month, last.month]} {first.year}"
    for season in ("spring", "summer", "fall", "winter"):
        if (first, last) == _season_range(season, first.year):
            label = f"{first.year}/{str(first.year + 1)[2:]}" if season == "winter" else str(first.year)
            return f"in {season} {label}"
    if (last - first).days == 6 and first.weekday() == 0:
        return f"in the week of {_day_text(first)}"
    if (last - first).days == 1 and first.weekday() == 5:
        if first.month == last.month:
            return f"on the weekend of {first.day} and {_day_text(last)}"
        return f"on the weekend of {_day_text(first)} and {_day_text(last)}"
    return f"between {_day_text(first)} and {_day_text(last)}"


# --- loose timestamps -------------------------------------------------------------------------------------------

_LOOSE_MONTH = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_LOOSE_TIME = r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?(?::(?P<second>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?"
_LOOSE_FORMATS = tuple(
    re.compile(pattern, _FLAGS)
    for pattern in (
        # LoCoMo session stamps: "1:56 pm on 8 May, 2023"
        rf"^{_LOOSE_TIME}\s+on\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+{_LOOSE_MONTH},?\s+(?P<year>\d{{4}})$",
        rf"^(?:{_WEEKDAY},?\s+)?(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_LOOSE_MONTH},?\s+(?P<year>\d{{4}})"
        rf"(?:,?\s+(?:at\s+)?{_LOOSE_TIME})?$",
        rf"^(?:{_WEEKDAY},?\s+)?{_LOOSE_MONTH}\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year>\d{{4}})"
        rf"(?:,?\s+(?:at\s+)?{_LOOSE_TIME})?$",
    )
)
_HAS_YEAR = re.compile(r"(?<!\d)(?:1[89]|20|21)\d{2}(?!\d)")


def _to_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_loose_datetime(value: str) -> datetime | None:
    """A timestamp written any common way, as aware UTC (naive means UTC); None when it names no full date.

    Handles ISO 8601 ("2023-05-08T13:56:00Z", "2023-05-08"), LoCoMo session stamps ("1:56 pm on 8 May, 2023"),
    "8 May 2023", "May 8, 2023 at 1:56 pm", US "05/08/2023", Unix seconds, and whatever ``dateutil`` reads as long
    as a year is written (a date without a year is not a timestamp).
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        return _to_utc(datetime.fromisoformat(value))
    except ValueError:
        pass
    if re.fullmatch(r"\d{9,10}(?:\.\d+)?", value):
        return datetime.fromtimestamp(float(value), tz=UTC)
    for pattern in _LOOSE_FORMATS:
        m = pattern.match(value)
        if m is None:
            continue
        hour = int(m.group("hour") or 0)
        ampm = (m.group("ampm") or "").lower().replace(".", "")
        if ampm == "pm" and hour < 12:
            hour += 12
        elif ampm == "am" and hour == 12:
            hour = 0
        try:
            return datetime(
                int(m.group("year")),
                _MONTH_NUMBERS[m.group("mon").lower()],
                int(m.group("day")),
                hour,
                int(m.group("minute") or 0),
                int(m.group("second") or 0),
                tzinfo=UTC,
            )
        except ValueError:
            return None
    slashed = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value)
    if slashed:
        first, second, year = (int(part) for part in slashed.groups())
        month, day = (second, first) if first > 12 else (first, second)
        found = _safe_date(year, month, day) if 1 <= month <= 12 else None
        return None if found is None else datetime.combine(found, time.min, tzinfo=UTC)
    if not _HAS_YEAR.search(value):
        return None
    try:
        # Two different defaults: a component that changes with the default was not in the text.
        first = dateutil_parser.parse(value, default=datetime(1904, 1, 1))
        second = dateutil_parser.parse(value, default=datetime(1904, 2, 2))
    except (ValueError, OverflowError):
        return None
    if first.date() != second.date():
        return None
    return _to_utc(first)
