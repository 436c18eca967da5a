"""Slots: what a question names, by deterministic extractors — ids, ordinals ("the second
one", "第二条"), people linked against the users, periods, due dates and repeat counts.
Accounts and leads are linked by the tools themselves (``tools.leads.find_leads``), which
know what the asker may see."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.roles import Role

ID_WORDS = {
    "lead": r"lead|线索",
    "call": r"call|通话|电话",
    "suggestion": r"suggestion|建议",
    "alert": r"alert|提醒|预警|告警",
    "decision": r"decision|分配|决定|决策|审核",
}
ORDINALS_ZH = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
ORDINALS_EN = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5,
               "5th": 5, "top": 1, "last": -1, "latter": -1, "former": 1}
ZH_ORDINAL = re.compile(r"第\s*([一二两三四五六七八九十]|\d{1,2})\s*(个|条|家|项|位|笔|名|行|一)?")
EN_ORDINAL = re.compile(r"\b(the\s+)?(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last|top)\s+(one|item|lead|alert|"
                        r"suggestion|decision|call|row|rep|account|customer|on the list)\b|\b(no\.?|number|#)\s*(\d)\b(?!\d)", re.I)
ZH_LAST = re.compile(r"最后(一|那)(个|条|家|项)")
BARE_NUMBER = re.compile(r"(?<![\d.-])(\d{1,9})(?![\d.%-])(?!\s*(?:天|日|号|小时|周|个月|月|年|季度|分钟|秒|次|遍|条|个|人|名|万|千|"
                         r"分(?![给配派到])|"
                         r"d(?![a-z])|h(?![a-z])|days?|weeks?|months?|years?|hours?|mins?|minutes?|times|x(?![a-z])|"
                         r"(?:st|nd|rd|th)(?![a-z])))", re.I)  # "out till the 27th": a day, not lead 27
#: what a score or a count is said after: "intent 97", "jumped to 88", "意向分93" — not a lead's id
SCORE_BEFORE = re.compile(r"(intent|score|cbi|意向分?|分数|评分|得分|跳到|涨到|升到|到了|\bto)\s*(of|is|=|:|：)?\s*"
                          r"(都|已经|才|只有|只|就|也|already|only|just|now|at)?\s*(已经|才|只有|only|just)?\s*$",
                          re.I)  # "intent都80了", "intent is only 17"


def bare_numbers(question: str) -> list[int]:
    """Every number said on its own, in order — not a measure (72h, 3天, 93分) or a score ("intent 97")."""
    return [int(m.group(1)) for m in BARE_NUMBER.finditer(question)
            if not SCORE_BEFORE.search(question[max(0, m.start() - 20):m.start()])]
TIMES = re.compile(r"(\d+|[一二两三四五六七八九十])\s*(次|遍|回)|\b(\d+)\s*(x|times)\b|\bx\s*(\d+)\b|\b(once|twice|thrice)\b", re.I)
WEEKDAYS_EN = {"monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "wednesday": 2, "wed": 2, "thursday": 3, "thu": 3,
               "friday": 4, "fri": 4, "saturday": 5, "sat": 5, "sunday": 6, "sun": 6}
WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}


@dataclass
class Slots:
    ids: dict[str, int] = field(default_factory=dict)  # kind → id, when the kind is said ("线索 638", "alert 5")
    numbers: list[int] = field(default_factory=list)  # every bare number, in order
    ordinal: int | None = None  # 1-based; -1 = the last one
    reps: list[Any] = field(default_factory=list)  # users named in the question
    due: date | None = None
    times: int | None = None


#: what a number after a kind's word is when it is no id: "线索 10月底进来的", "线索72小时跟进"
NOT_AN_ID = r"(?:小时|天|日|号|月|年|周|点|h\b|%|个|条|次)"


def typed_ids(question: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind, words in ID_WORDS.items():
        m = re.search(rf"(?:{words})\s*(?:no\.?|id|编号|号)?\s*#?\s*(\d{{1,9}})(?!\d)(?!\s*{NOT_AN_ID})", question, re.I)
        if m:
            out[kind] = int(m.group(1))
    for kind in ("call", "lead"):  # "150号通话", "1937号线索": the number before its kind
        m = re.search(rf"(?<!\d)(\d{{1,9}})\s*号\s*(?:{ID_WORDS[kind]})", question, re.I)
        if m and kind not in out:
            out[kind] = int(m.group(1))
    m = re.search(r"(?<![\w])#\s*(\d{1,9})\b", question)
    if m and "lead" not in out and not out:
        out["lead"] = int(m.group(1))
    return out


def ordinal_of(question: str) -> int | None:
    m = ZH_ORDINAL.search(question)
    if m:
        word = m.group(1)
        return int(word) if word.isdigit() else ORDINALS_ZH[word]
    if ZH_LAST.search(question):
        return -1
    m = EN_ORDINAL.search(question)
    if m:
        if m.group(5):
            return int(m.group(5))
        return ORDINALS_EN[m.group(2).lower()]
    return None


def times_of(question: str) -> int | None:
    m = TIMES.search(question)
    if not m:
        return None
    word = next(g for g in m.groups() if g and g.lower() not in ("次", "遍", "回", "x", "times"))
    if word.isdigit():
        return int(word)
    return {"once": 1, "twice": 2, "thrice": 3}.get(word.lower()) or ORDINALS_ZH.get(word)


def due_of(question: str, today: date) -> date | None:
    """"这周做完" → this Sunday; "下周五前" / "by next friday" → that day; "3天内" → today + 3;
    "月底" / "end of month" → the month's last day; an ISO or Chinese date as written."""
    low = question.lower()
    written = _written_date(low, today)
    if written is not None:
        return written
    not_a_day = "(?![一二三四五六日天])"  # "两周" is two weeks, "周五" a weekday
    m = re.search(rf"(\d+|[一二两三四五六七八九十])\s*(天|周{not_a_day}|个?星期{not_a_day}|个?礼拜{not_a_day})"
                  r"(内|之内|以内|后|之后)?|(?:within|in) (\d+|one|two|three|four) (days?|weeks?)", low)
    if m:
        n = m.group(1) or m.group(4)
        count = int(n) if n.isdigit() else {"one": 1, "two": 2, "three": 3, "four": 4}.get(n) or ORDINALS_ZH[n]
        weeks = bool(m.group(5) and m.group(5).startswith("week")) or (m.group(2) or "天") != "天"
        return today + timedelta(days=count * (7 if weeks else 1))
    if re.search(r"月底|月末|end of (the )?month", low):
        nxt = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
        return nxt - timedelta(days=1)
    return _weekday_due(low, today)


MONTHS_EN = {m: i + 1 for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"))}


def _written_date(low: str, today: date) -> date | None:
    """A date as written: 2026-12-18, 12月18日 / 12月18号 / 12月18前, 12/18, Dec 18 (the next such day)."""
    m = re.search(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", low)
    if m:
        return _valid(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = (re.search(r"(\d{1,2})月(\d{1,2})(?:[日号]|(?=\s*(?:前|之前|以前|截止|到期|$)))", low)
         or re.search(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?![\d/])", low))
    if m:
        month, day = int(m.group(1)), int(m.group(2))
    else:
        m = re.search(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b", low)
        if not m:
            return None
        month, day = MONTHS_EN[m.group(1)], int(m.group(2))
    d = _valid(today.year, month, day)
    if d is None:
        return None
    return d if d >= today else _valid(today.year + 1, month, day)


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _weekday_due(low: str, today: date) -> date | None:
    next_week = bool(re.search(r"下周|下个?星期|下礼拜|next week|next (mon|tue|wed|thu|fri|sat|sun)", low))
    m = re.search(r"(?:周|星期|礼拜)([一二三四五六日天])", low)
    day = WEEKDAYS_ZH[m.group(1)] if m else None
    if day is None:
        m = re.search(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun)\b", low)
        day = WEEKDAYS_EN[m.group(1)] if m else None
    if day is None and re.search(r"这周|本周|这个?星期|this week|end of (the )?week|周末前", low):
        day = 6
    if day is None and next_week:
        day = 6
    if day is None:
        return None
    monday = today - timedelta(days=today.weekday()) + timedelta(days=7 if next_week else 0)
    due = monday + timedelta(days=day)
    return due if due >= today else due + timedelta(days=7)


def reps_named(session: Session, question: str, team_id: int | None = None) -> list[Any]:
    """Reps the question names: full names and logins (``find_reps_in``), then an English
    first name or a Chinese given name that only one rep has ("David's call", "袁梦"), then a
    nickname colleagues use ("小胡", "老谢", "霞姐", "阳哥"; several → the asker's team's one)."""
    from tools.capability import find_reps_in

    found = find_reps_in(session, question)
    if found:
        return found
    words = {w.lower() for w in re.findall(r"([A-Za-z]{3,})(?:'s|’s)?", question)}
    words |= {w[:-1] for w in words if w.endswith("s")}  # "davids leaving"
    # a word of a full name nobody has ("Li Lei") names nobody: not a first name to guess from
    words -= {w.lower() for pair in re.findall(r"\b([A-Z][a-z]+ [A-Z][a-z]+)\b", question) for w in pair.split()}
    by_first, by_given = _first_and_given_names(session)
    english = next((us for w, us in by_first.items() if w in words and len(us) == 1), [])
    if english:
        return english
    # "浩然的短板", "晓东该练啥": a two-character Chinese given name only one rep has
    given = next((us for given, us in by_given.items() if given in question and len(us) == 1), [])
    return given or nicknamed(session, question, team_id)


# 小胡 / 老谢: the surname; 霞姐 / 阳哥 / 郭姐: the given name's last character or the surname
SURNAME_NICK = re.compile(r"(?:小|老)([\u4e00-\u9fff])(?![\u4e00-\u9fff]{0,1}(?:时|组|程序|微|板|客户|被|样))")
SIBLING_NICK = re.compile(r"([\u4e00-\u9fff])(?:姐|哥)(?!们)")


def nicknamed(session: Session, question: str, team_id: int | None = None) -> list[Any]:
    """The one rep a colleague's nickname points at: among every rep, else among the asker's team."""
    from crm.models import User

    chars = [(m.group(1), "surname") for m in SURNAME_NICK.finditer(question)]
    chars += [(m.group(1), "either") for m in SIBLING_NICK.finditer(question)]
    if not chars:
        return []
    reps = [u for u in session.scalars(select(User).where(User.role == Role.REP)) if not u.name.isascii() and len(u.name) >= 2]
    for char, kind in chars:
        fits = [u for u in reps if u.name[0] == char or (kind == "either" and u.name[-1] == char)]
        one = _the_only_one(fits, team_id)
        if one:
            return one
    return []


def _the_only_one(fits: list[Any], team_id: int | None) -> list[Any]:
    """The one rep among ``fits``, else the one among them in the asker's team; [] when none is alone."""
    mine = [u for u in fits if team_id is not None and u.team_id == team_id]
    return next((group for group in (fits, mine) if len(group) == 1), [])


def _first_and_given_names(session: Session) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Reps by English first name ("David", "Yutong" of Yutong Lin) and by two-character Chinese given name (何浩然 → 浩然)."""
    from crm.models import User

    by_first: dict[str, list[Any]] = {}
    by_given: dict[str, list[Any]] = {}
    for u in session.scalars(select(User).where(User.role == Role.REP)):
        for english in {u.name if u.name.isascii() else None, u.name_en}:
            if english and " " in english:
                by_first.setdefault(english.split()[0].lower(), []).append(u)
        if not u.name.isascii() and len(u.name) == 3:
            by_given.setdefault(u.name[1:], []).append(u)
    return by_first, by_given


def extract(question: str, session: Session, today: date, team_id: int | None = None) -> Slots:
    ids = typed_ids(question)
    return Slots(ids=ids, numbers=bare_numbers(question), ordinal=ordinal_of(question),
                 reps=reps_named(session, question, team_id), due=due_of(question, today), times=times_of(question))
