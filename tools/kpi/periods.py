"""Periods in KPI questions, Chinese and English: calendar units (上个月, Q3, 2026年9月, October),
explicit dates and ranges (2026-10-01 – 2026-12-05, 10月1日到11月15日), rolling windows
(最近30天, past 4 weeks), "since X" (since November, 11月以来, since 2026-11-01: X's start to
today) and the comparison the words imply (环比, 同比, compared with the month before).

Every finder is a small function returning the candidates it sees as (start, end, period);
``parse_period`` keeps the earliest one that is not the other side of a comparison."""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise

from tools.kpi.compiler import Period

ZH_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
          "十一": 11, "十二": 12}
EN_NUM = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "eleven": 11, "twelve": 12, "a": 1, "an": 1}
EN_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m} | \
    {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m} | {"sept": 9}
MONTH_WORDS = "|".join(sorted((m for m in EN_MONTHS if len(m) >= 3), key=len, reverse=True))
ZH_MONTH = r"(\d{1,2}|十一|十二|[一二三四五六七八九十])"

COMPARE_LAST_YEAR = re.compile(r"去年同期|同比|(vs\.?|versus|compared (to|with)|against|than) (the )?(last|previous|prior) year|"
                               r"(和|与|跟|(?<![同环占分])比|较|相比|对比|vs\.?\s*|versus\s*)去年|"
                               r"same (period|time|month|quarter) (a |one )?(last|previous|prior) year|"
                               r"year[- ]over[- ]year|\byoy\b|a year (ago|earlier|before)|上年同期")
COMPARE_PREVIOUS = re.compile(
    r"环比|与上期|比上期|较上期|上一期|\bmom\b|\bqoq\b|"
    r"vs\.? (the )?(last|previous|prior|preceding) (month|quarter|period|week|year)|"
    r"(compared? (to|with)|versus|against|relative to|than|vs\.?) (the )?(last|previous|prior|preceding|month|quarter|week|period|year)|"
    r"(the )?(month|quarter|week|year|period) before\b|"
    r"(和|与|跟|(?<![同环占分])比|较|相比|对比)(上|前)(一)?个?(月|季度|季|周|期|年)|(上|前)(一)?个?(月|季度|周|期)(相比|比|对比|比较)")
# words after which a period is the other side of a comparison, not the question's own
COMPARE_CUE = re.compile(r"(vs\.?|versus|compared? (to|with)|against|than|relative to|"
                         r"和|与|跟|(?<![同环占分])比|较|相比|对比)\s*(the\s+)?$")
SINCE_BEFORE = re.compile(r"(since|from|starting|beginning|as of|自从|自|从)\s*(the\s+)?(start of\s+|beginning of\s+)?$")
SINCE_AFTER = re.compile(r"^\s*(以来|至今|到现在|到今天|开始到现在|起至今|起|开始|onwards|onward|until now|to date|till now|to now)")


@dataclass(frozen=True)
class Hit:
    start: int
    end: int
    period: Period
    calendar_unit: bool = True  # "since" applies to calendar units and dates, not rolling windows
    span: bool = False  # a range of its own (7到9月): "from" before it is its start, not "since"


def month_period(year: int, month: int) -> Period:
    start = date(year, month, 1)
    end = date(year + (month == 12), 1 if month == 12 else month + 1, 1)
    return Period(start, end, "month")


def quarter_period(year: int, q: int) -> Period:
    start = date(year, 3 * (q - 1) + 1, 1)
    end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
    return Period(start, end, "quarter")


def _num(raw: str) -> int:
    raw = raw.strip().lower()
    if raw.isdigit():
        return int(raw)
    return ZH_NUM.get(raw) or EN_NUM.get(raw) or 1


def _past_year(num: int, today: date, low: str = "", span: tuple[int, int] = (0, 0)) -> int:
    """A month named without a year: the latest one that has begun, or last year's when the words say so."""
    near = low[max(0, span[0] - 6):span[1] + 12]
    if re.search(r"去年|last year|previous year", near) and not COMPARE_LAST_YEAR.search(low):
        return today.year - 1
    if re.search(r"今年|this year", near):
        return today.year
    return today.year if num <= today.month else today.year - 1


def _day(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


# -- finders: each yields the periods it sees ------------------------------------------------------

DATE_FORMS = [  # (regex, (year group, month group, day group)); a missing year is the latest such date
    (r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)", (1, 2, 3)),
    (r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]", (1, 2, 3)),
    (r"(?<!\d年)(?<!\d)" + ZH_MONTH + r"\s*月\s*(\d{1,2})\s*[日号]", (None, 1, 2)),
    (rf"\b({MONTH_WORDS})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b", (3, 1, 2)),
    (rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTH_WORDS})\b(?:,?\s+(\d{{4}}))?", (3, 2, 1)),
]


def _dates(low: str, today: date) -> Iterator[Hit]:
    for pattern, (yg, mg, dg) in DATE_FORMS:
        for m in re.finditer(pattern, low):
            month_raw = m.group(mg)
            month = EN_MONTHS.get(month_raw.rstrip(".")) or _num(month_raw)
            year = int(m.group(yg)) if yg and m.group(yg) else None
            day_n = int(m.group(dg))
            d = _day(year or today.year, month, day_n)
            if d and year is None and d > today:
                d = _day(today.year - 1, month, day_n)
            if d:
                yield Hit(m.start(), m.end(), Period(d, d + timedelta(days=1), "day"))


def _months(low: str, today: date) -> Iterator[Hit]:
    for m in re.finditer(r"(\d{4})\s*年\s*(\d{1,2})\s*月(?!\s*\d{1,2}\s*[日号])|(?<!\d)(\d{4})[-/](\d{1,2})(?![-/\d])", low):
        year, month = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        if 1 <= int(month) <= 12:
            yield Hit(m.start(), m.end(), month_period(int(year), int(month)))
    for m in re.finditer(rf"\b({MONTH_WORDS})\b(?!\.?\s+\d{{1,2}}(?!\d))(?:,?\s+(\d{{4}}))?", low):
        num = EN_MONTHS[m.group(1)]
        if m.group(1) in ("may", "mar") and not re.search(r"since|in|of|from|during|for|until|to|\d",
                                                          low[max(0, m.start() - 8):m.end() + 6]):
            continue  # "may" the verb, "mar" the word
        year = int(m.group(2)) if m.group(2) else _past_year(num, today, low, m.span())
        yield Hit(m.start(), m.end(), month_period(year, num))
    for m in re.finditer(r"(?<!\d)" + ZH_MONTH + r"\s*(?:-|–|~|到|至)\s*" + ZH_MONTH + r"\s*月(?:份)?(?!\s*\d{1,2}\s*[日号])", low):
        first, last = _num(m.group(1)), _num(m.group(2))  # 7到9月 / 1-6月份: from the first month to the end of the last
        if 1 <= first < last <= 12:
            year = _past_year(last, today, low, m.span())
            yield Hit(m.start(), m.end(), Period(date(year, first, 1), month_period(year, last).end), span=True)
    for m in re.finditer(r"(?<!\d年)(?<!\d)" + ZH_MONTH + r"\s*月(份)?(?!\s*\d{1,2}\s*[日号])", low):
        if "个月" in low[max(0, m.start() - 1):m.end()] or low[m.start() - 1:m.start()] in ("个", "几"):
            continue
        num = _num(m.group(1))
        if 1 <= num <= 12:
            yield Hit(m.start(), m.end(), month_period(_past_year(num, today, low, m.span()), num))


def _quarters(low: str, today: date) -> Iterator[Hit]:
    seen = set()
    for m in re.finditer(r"(?<!\d)(\d{4})\s*(?:年)?\s*(?:的)?\s*(?:q|第)\s*([1-4一二三四])\s*(?:季度|季)?|"
                         r"(?<![a-z0-9])q([1-4])\s*(\d{4})\b", low):
        year, q = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        seen.add(m.start())
        yield Hit(m.start(), m.end(), quarter_period(int(year), _num(q)))
    for m in re.finditer(r"(?<![a-z0-9])q([1-4])(?![a-z0-9])|第([一二三四1-4])(个)?季度|(?<![第上下本这])([一二三四])季度|"
                         r"\b(first|second|third|fourth)\s+quarter\b", low):
        if any(abs(m.start() - s) < 8 for s in seen):
            continue
        raw = next(g for g in (m.group(1), m.group(2), m.group(4), m.group(5)) if g)
        qn = {"first": 1, "second": 2, "third": 3, "fourth": 4}.get(raw) or _num(raw)
        year = today.year if quarter_period(today.year, qn).start <= today else today.year - 1
        if re.search(r"去年|last year|previous year", low[max(0, m.start() - 12):m.end() + 12]) and not COMPARE_LAST_YEAR.search(low):
            year = today.year - 1
        yield Hit(m.start(), m.end(), quarter_period(year, qn))


def _years(low: str, today: date) -> Iterator[Hit]:
    for m in re.finditer(r"(?<![\d-])(20\d{2})\s*(年(?!\s*\d|\s*第|\s*[qQ])|全年)|\b(?:in|for|during|since|year)\s+(20\d{2})\b(?![-/]\d)",
                         low):
        year = int(m.group(1) or m.group(3))
        yield Hit(m.start(), m.end(), Period(date(year, 1, 1), date(year + 1, 1, 1), "year"))
    for m in re.finditer(r"(?<![\d\-/.])(20\d{2})(?![\d\-/.])(?!\s*[年q])", low):  # a bare year: "win rate 2025 vs 2024"
        year = int(m.group(1))
        if year <= today.year:
            yield Hit(m.start(), m.end(), Period(date(year, 1, 1), date(year + 1, 1, 1), "year"))
    for m in re.finditer(r"前(三|3)个?季度|first (three|3) quarters", low):
        yield Hit(m.start(), m.end(), Period(date(today.year, 1, 1), min(date(today.year, 10, 1), today + timedelta(days=1))))
    for m in re.finditer(r"(过去|最近|近)\s*(一|1)\s*年|(?:the\s+)?(past|last|trailing)\s+(12\s+months|year\b(?!\s*same))", low):
        if m.group(3) == "last" and m.group(4).startswith("year"):
            continue  # "last year" is the calendar year
        yield Hit(m.start(), m.end(), Period(today - timedelta(days=364), today + timedelta(days=1)), calendar_unit=False)
    yield from _halves(low, today)


HALF = re.compile(r"(?:(20\d{2})\s*年?\s*的?\s*)?(上半年|下半年)|(?:(20\d{2})\s*)?(?<![a-z0-9])(h1|h2)(?![a-z0-9])(?:\s*(20\d{2}))?|"
                  r"\b(first|second) half(?:\s+of)?(?:\s+(?:the|this)\s+year)?(?:\s+(20\d{2}))?")


def _halves(low: str, today: date) -> Iterator[Hit]:
    """上半年 / H2 2025 / 2025年下半年 / first half of 2025; 去年上半年 is last year's."""
    for m in HALF.finditer(low):
        second = (m.group(2) or m.group(4) or m.group(6)) in ("下半年", "h2", "second")
        said = m.group(1) or m.group(3) or m.group(5) or m.group(7)
        year = int(said) if said else today.year
        if not said and re.search(r"去年|last year|previous year", low[max(0, m.start() - 6):m.end() + 12]) \
                and not COMPARE_LAST_YEAR.search(low):
            year = today.year - 1
        start = date(year, 7 if second else 1, 1)
        end = date(year + 1, 1, 1) if second else date(year, 7, 1)
        if start <= today:
            yield Hit(m.start(), m.end(), Period(start, min(end, today + timedelta(days=1))))


ROLLING = re.compile(r"(最近|过去|近|前)\s*(\d+|[一二两三四五六七八九十]+)\s*(天|日|周|个星期|星期|个月|月|个季度|季度)|"
                     r"(?:last|past|previous|trailing|recent)\s+(\d+|one|two|three|four|five|six|seven|eight|nine|ten|twelve)\s+"
                     r"(days?|weeks?|months?|quarters?)|"
                     r"(?:the\s+)?past\s+(day|week|month)\b|(最近|过去|近)\s*(一)?\s*(周|个月)|"
                     r"(最近|过去|近)\s*(半年)|(?:the\s+)?(?:last|past)\s+(half)[- ]year")
UNIT_DAYS = {"天": 1, "日": 1, "周": 7, "个星期": 7, "星期": 7, "个月": 30, "月": 30, "个季度": 90, "季度": 90, "半年": 180,
             "half": 180, "d": 1, "w": 7, "m": 30, "q": 90}


def _rolling(low: str, today: date) -> Iterator[Hit]:
    for m in ROLLING.finditer(low):
        if m.group(2):
            n, unit = _num(m.group(2)), m.group(3)
        elif m.group(4):
            n, unit = _num(m.group(4)), m.group(5)[0]
        elif m.group(6):
            n, unit = 1, m.group(6)[0]
        elif m.group(9):
            n, unit = 1, m.group(9)
        else:
            n, unit = 1, m.group(11) or m.group(12)
        if n == 1 and unit in ("个季度", "季度"):
            continue  # 最近一个季度 is the last calendar quarter (_relative)
        days = n * UNIT_DAYS[unit]
        yield Hit(m.start(), m.end(), Period(today - timedelta(days=days - 1), today + timedelta(days=1)), calendar_unit=False)


def _relative(low: str, today: date) -> Iterator[Hit]:
    for pattern, make in _relative_rules(today):
        for m in re.finditer(pattern, low):
            yield Hit(m.start(), m.end(), make())


def _relative_rules(today: date) -> list[tuple[str, Callable[[], Period]]]:
    first_of_month = today.replace(day=1)
    last_month_end = first_of_month - timedelta(days=1)
    q_now = (today.month - 1) // 3 + 1
    tomorrow = today + timedelta(days=1)
    monday = today - timedelta(days=today.weekday())
    return [
        (r"上上个?月", lambda: month_period((last_month_end.replace(day=1) - timedelta(days=1)).year,
                                         (last_month_end.replace(day=1) - timedelta(days=1)).month)),
        (r"(?<!上)上个?月|上一个?月|(?<!the )last month|previous month|prior month",
         lambda: month_period(last_month_end.year, last_month_end.month)),
        (r"本月|这个月|这月|当月|this month|month to date|\bmtd\b|current month", lambda: Period(first_of_month, tomorrow, "month")),
        (r"上个?季度?|上一季度?|(过去|最近|近)一个季度|last (quarter|qtr)|previous (quarter|qtr)|prior quarter",
         lambda: quarter_period(today.year if q_now > 1 else today.year - 1, q_now - 1 if q_now > 1 else 4)),
        (r"本季度?|这个季度|这季度?|当季|this (quarter|qtr)|quarter to date|\bqtd\b|current quarter",
         lambda: Period(quarter_period(today.year, q_now).start, tomorrow, "quarter")),
        (r"去年(?!同期)|last year(?! same)|previous year|prior year",
         lambda: Period(date(today.year - 1, 1, 1), date(today.year, 1, 1), "year")),
        (r"今年|本年|this year|year to date|\bytd\b|current year", lambda: Period(date(today.year, 1, 1), tomorrow, "year")),
        (r"(今年|本年)?年初(以来|至今|到现在|到今天|开始)?|(since|from) the (start|beginning) of (the |this )?year",
         lambda: Period(date(today.year, 1, 1), tomorrow, "year")),
        (r"(本季度?|这个?季度)?(季初|季度初)(以来|至今|到现在|开始)?|(since|from) the (start|beginning) of (the |this )?quarter",
         lambda: Period(quarter_period(today.year, q_now).start, tomorrow, "quarter")),
        (r"(本月|这个?月)?月初(以来|至今|到现在|开始)?|(since|from) the (start|beginning) of (the |this )?month",
         lambda: Period(first_of_month, tomorrow, "month")),
        (r"since monday|(本周|这周)?周一(以来|至今|到现在|开始)", lambda: Period(monday, tomorrow, "week")),
        (r"上上周|上上个星期", lambda: Period(monday - timedelta(days=14), monday - timedelta(days=7), "week")),
        (r"(?<!上)上周|(?<!上)上个星期|(?<!上)上星期|last week|previous week", lambda: Period(monday - timedelta(days=7), monday, "week")),
        (r"本周|这周|这个星期|这星期|this week", lambda: Period(monday, tomorrow, "week")),
        (r"昨天|yesterday", lambda: Period(today - timedelta(days=1), today)),
        (r"今天|今日|today", lambda: Period(today, tomorrow)),
    ]


FINDERS = (_dates, _months, _quarters, _years, _rolling, _relative)


def _places(year: Hit, other: Hit) -> bool:
    """"去年第四季度" / "Q4 last year" / "in 2026 Q2" / "2025年下半年": a year next to (or overlapping)
    a finer calendar unit only says which year that unit is in."""
    if year.period.grain != "year" or other.period.grain == "year" or not other.calendar_unit:
        return False
    near = 0 <= other.start - year.end <= 4 or 0 <= year.start - other.end <= 4
    return near or (other.start < year.end and year.start < other.end)


def _candidates(low: str, today: date) -> list[Hit]:
    hits = [h for finder in FINDERS for h in finder(low, today)]
    hits = [h for h in hits if not any(_places(h, o) for o in hits)]
    # a longer match covering a shorter one wins ("2026年9月" over "9月", "11月1日" over "11月")
    return [h for h in hits if not any(o is not h and o.start <= h.start and h.end <= o.end and (o.end - o.start) > (h.end - h.start)
                                       for o in hits)]


RANGE_SEP = re.compile(r"^\s*(到|至|~|–|—|-|to|through|thru|until|till|and)\s*$")


def _range(hits: list[Hit], low: str) -> Period | None:
    """Two calendar units joined by 到 / to / – : from the first one's start to the second one's end."""
    ordered = sorted(hits, key=lambda h: h.start)
    for a, b in pairwise(ordered):
        between = low[a.end:b.start]
        if a.calendar_unit and b.calendar_unit and RANGE_SEP.match(between) and b.period.end > a.period.start:
            lead_in = low[max(0, a.start - 12):a.start]
            if between.strip() == "and" and not re.search(r"between\s*$", lead_in):
                continue
            return Period(a.period.start, b.period.end)
    return None


def _since(hit: Hit, low: str, today: date) -> Period | None:
    if not hit.calendar_unit or hit.span:
        return None
    before, after = low[max(0, hit.start - 24):hit.start], low[hit.end:hit.end + 10]
    if SINCE_BEFORE.search(before) and not re.match(r"\s*(到|至|~|–|-|to|through|until)", after) or SINCE_AFTER.match(after):
        return Period(hit.period.start, today + timedelta(days=1))
    return None


def period_spans(text: str, today: date) -> list[tuple[int, int]]:
    """Where the question names periods and comparisons (character spans of its lower-cased text):
    words that say when, not what is measured."""
    low = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text.lower())  # as parse_period reads it (same length)
    spans = [(h.start, h.end) for h in _candidates(low, today)]
    spans += [m.span() for rx in (COMPARE_LAST_YEAR, COMPARE_PREVIOUS) for m in rx.finditer(low)]
    return spans


def comparison(low: str) -> str | None:
    if COMPARE_LAST_YEAR.search(low):
        return "last_year"
    if COMPARE_PREVIOUS.search(low):
        return "previous_period"
    return None


def parse_period(text: str, today: date) -> tuple[Period | None, str | None]:
    """(period, comparison implied by the words) — None when the question names no period."""
    low = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text.lower())  # month-to-date, year-over-year
    compare = comparison(low)
    hits = _candidates(low, today)
    ranged = _range(hits, low)
    if ranged:
        return ranged, compare
    own, compare = _own_side(hits, low, compare)
    if not own:
        return None, compare
    hit = min(own, key=lambda h: (h.start, -(h.end - h.start)))
    if compare == "previous_period":  # "上周和本周对比" / "Q2 vs Q3": the later unit is asked, the earlier is its comparison
        hit = next((h for h in hits if h is not hit and previous(h.period, compare) == hit.period), hit)
    return _since(hit, low, today) or hit.period, compare


def _own_side(hits: list[Hit], low: str, compare: str | None) -> tuple[list[Hit], str | None]:
    """The periods that are the question's own (not the other side of a comparison), and the comparison."""
    other_side = [h for h in hits if COMPARE_CUE.search(low[max(0, h.start - 16):h.start])]
    if compare is None and other_side and len(hits) > len(other_side):  # "Q3 vs Q2", "9月和8月比"
        compare = "previous_period"
    if compare is None:
        return hits, None
    own = [h for h in hits if h not in other_side]
    if compare == "last_year":  # "去年同期": last year's side is the comparison
        own = _this_year_side(own, low) or own
    if not own:  # "转化率 去年同期对比 上个月": the comparison is said in words, the period after it is the question's
        own = _this_year_side(hits, low) if compare == "last_year" else hits
    return own, compare


def _this_year_side(hits: list[Hit], low: str) -> list[Hit]:
    return [h for h in hits if not re.search(r"去年|last year", low[h.start:h.end])]


def previous(period: Period, how: str) -> Period:
    if how == "last_year":
        return Period(_shift_year(period.start, -1), _shift_year(period.end, -1))
    length = period.end - period.start
    if period.grain in ("month", "quarter", "year"):  # "this quarter vs last quarter": the whole previous unit
        months = {"month": 1, "quarter": 3, "year": 12}[period.grain]
        return Period(_shift_months(period.start, -months), period.start, period.grain)
    if period.grain == "week":
        return Period(period.start - timedelta(days=7), period.start, "week")
    if period.start.day == 1 and period.end.day == 1:  # calendar months / quarters: shift by whole months
        months = (period.end.year - period.start.year) * 12 + period.end.month - period.start.month
        return Period(_shift_months(period.start, -months), period.start)
    return Period(period.start - length, period.start)


def _shift_year(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def _shift_months(d: date, months: int) -> date:
    total = d.year * 12 + d.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)
