"""The offline KPI question parser: metric names and synonyms, dimensions, filters,
periods and comparisons, in Chinese and English. Deterministic and readable."""

from __future__ import annotations

import calendar
import difflib
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import Region, Team, User
from tools.kpi.compiler import Period, QuerySpec
from tools.kpi.registry import Metric, Registry, load_registry

ZH_NUM = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
          "十一": 11, "十二": 12}
EN_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m} | {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}

INDUSTRIES = {
    "healthcare": ["医疗", "医院", "healthcare", "hospital", "medical"],
    "manufacturing": ["制造", "制造业", "manufacturing", "factory", "auto parts"],
    "energy": ["能源", "新能源", "energy", "wind", "renewable"],
    "software": ["软件", "saas", "software"],
    "government": ["政府", "公共机构", "government", "public sector"],
}
SEGMENTS = {
    "三级综合医院": ["三级综合医院", "三甲医院", "三甲", "tertiary hospital", "tertiary hospitals"],
    "民营口腔连锁": ["民营口腔连锁", "口腔连锁", "口腔", "dental chain", "dental chains", "dental"],
    "汽车零部件": ["汽车零部件", "汽配", "auto parts", "automotive"],
    "新能源装备": ["新能源装备", "new energy equipment", "new-energy equipment"],
    "中小企业SaaS": ["中小企业", "smb", "small business"],
    "政府及公共机构": ["政府及公共机构"],
}
SOURCES = {
    "website": ["官网", "网站", "website", "web"], "expo": ["展会", "expo", "trade show"],
    "wecom": ["企业微信", "企微", "wecom"], "referral": ["转介绍", "推荐", "referral"],
    "tender": ["招标", "tender"], "email_campaign": ["邮件营销", "email campaign", "e-mail campaign"],
    "partner": ["合作伙伴", "渠道商", "partner"], "inbound_call": ["来电", "inbound call"],
}


@dataclass
class ParsedQuestion:
    spec: QuerySpec | None
    language: str
    closest: list[str] = field(default_factory=list)  # when no metric matched
    notes: list[str] = field(default_factory=list)


def _matches(text: str, phrase: str) -> bool:
    if re.search(r"[\u4e00-\u9fff]", phrase):
        return phrase in text
    return re.search(r"(?<![a-z])" + re.escape(phrase.lower()) + r"(?![a-z])", text) is not None


def find_metric(text: str, registry: Registry) -> tuple[Metric | None, str]:
    """The metric whose longest name or synonym appears in the question, and that phrase."""
    low = text.lower()
    best, best_phrase = None, ""
    for m in registry.metrics.values():
        for phrase in (m.label_zh, m.label_en, *m.synonyms_zh, *m.synonyms_en):
            if len(phrase) > len(best_phrase) and _matches(low, phrase.lower()):
                best, best_phrase = m, phrase
    return best, best_phrase


def closest_metrics(text: str, registry: Registry, n: int = 3) -> list[str]:
    """Metrics whose names are nearest to the question — offered instead of a guessed number."""
    low = text.lower()
    scored = []
    for m in registry.metrics.values():
        best = 0.0
        for phrase in (m.label_zh, m.label_en, *m.synonyms_zh, *m.synonyms_en):
            p = phrase.lower()
            ratio = difflib.SequenceMatcher(None, low, p).find_longest_match(0, len(low), 0, len(p)).size / max(1, len(p))
            best = max(best, ratio)
        scored.append((best, m.name))
    scored.sort(reverse=True)
    return [name for _, name in scored[:n]]


def _month_period(year: int, month: int) -> Period:
    start = date(year, month, 1)
    end = date(year + (month == 12), 1 if month == 12 else month + 1, 1)
    return Period(start, end, "month")


def _quarter_period(year: int, q: int) -> Period:
    start = date(year, 3 * (q - 1) + 1, 1)
    end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
    return Period(start, end, "quarter")


def parse_period(text: str, today: date) -> tuple[Period | None, str | None]:
    """(period, comparison implied by the words) — None when the question names no period."""
    low = text.lower()
    compare = None
    if re.search(r"去年同期|同比|same period last year|year over year|yoy", low):
        compare = "last_year"
    elif re.search(r"环比|与上期|比上期|vs\.? (the )?(last|previous|prior) (month|quarter|period|week|year)|"
                   r"compared (to|with) (the )?(last|previous|prior)|versus (the )?(last|previous|prior)|"
                   r"than (the )?(last|previous|prior)|和上(个)?(月|季度)比|比上(个)?(月|季度)", low):
        compare = "previous_period"
    # explicit month: 2026年10月 / 10月 / October 2026
    m = re.search(r"(\d{4})\s*年\s*(\d{1,2})\s*月", text)
    if m:
        return _month_period(int(m.group(1)), int(m.group(2))), compare
    m = re.search(r"(?<!\d)(\d{4})\s*(?:年)?\s*(?:q|第)\s*([1-4一二三四])\s*(?:季度)?", low)
    if m:
        q = m.group(2)
        return _quarter_period(int(m.group(1)), int(q) if q.isdigit() else ZH_NUM[q]), compare
    m = re.search(r"\bq([1-4])\b|第([一二三四1-4])季度|([一二三四])季度", low)
    if m:
        q = next(g for g in m.groups() if g)
        qn = int(q) if q.isdigit() else ZH_NUM[q]
        year = today.year if _quarter_period(today.year, qn).start <= today else today.year - 1
        if re.search(r"去年|last year", low) and compare != "last_year":
            year = today.year - 1
        return _quarter_period(year, qn), compare
    for name, num in EN_MONTHS.items():
        if len(name) >= 3 and re.search(rf"\b{name}\b(\s+(\d{{4}}))?", low):
            ym = re.search(rf"\b{name}\b\s+(\d{{4}})", low)
            year = int(ym.group(1)) if ym else (today.year if num <= today.month else today.year - 1)
            return _month_period(year, num), compare
    m = re.search(r"(?<![\d年])(\d{1,2}|十一|十二|[一二三四五六七八九十])月(份)?", text)
    if m and "个月" not in text[max(0, m.start() - 1):m.end()]:
        num = int(m.group(1)) if m.group(1).isdigit() else ZH_NUM[m.group(1)]
        if 1 <= num <= 12:
            year = today.year if num <= today.month else today.year - 1
            return _month_period(year, num), compare
    m = re.search(r"(最近|过去|近)\s*(\d+|[一二两三四五六七八九十]+)\s*(天|日|周|个月|月)|(?:last|past)\s+(\d+)\s+(days?|weeks?|months?)", low)
    if m:
        if m.group(2):
            n = int(m.group(2)) if m.group(2).isdigit() else ZH_NUM.get(m.group(2), 1)
            unit = {"天": "d", "日": "d", "周": "w", "个月": "m", "月": "m"}[m.group(3)]
        else:
            n, unit = int(m.group(4)), m.group(5)[0]
        days = n * {"d": 1, "w": 7, "m": 30}[unit]
        return Period(today - timedelta(days=days - 1), today + timedelta(days=1)), compare
    # "this quarter vs last quarter": the period is the part before the comparison
    main = re.split(r"\bvs\.?(?=\s)|\bversus\b|compared (?:to|with)|\bthan\b", low)[0]
    full = low
    first_of_month = today.replace(day=1)
    q_now = (today.month - 1) // 3 + 1
    rules = [
        (r"上个?月|上月|last month|previous month", lambda: _month_period((first_of_month - timedelta(days=1)).year, (first_of_month - timedelta(days=1)).month)),
        (r"本月|这个月|当月|this month|month to date|mtd", lambda: Period(first_of_month, today + timedelta(days=1), "month")),
        (r"上个?季度|上一季度|last quarter|previous quarter", lambda: _quarter_period(today.year if q_now > 1 else today.year - 1, q_now - 1 if q_now > 1 else 4)),
        (r"本季度|这个季度|这季度|当季|this quarter|quarter to date|qtd", lambda: Period(_quarter_period(today.year, q_now).start, today + timedelta(days=1), "quarter")),
        (r"去年(?!同期)|last year|previous year", lambda: Period(date(today.year - 1, 1, 1), date(today.year, 1, 1), "year")),
        (r"今年|本年|this year|year to date|ytd", lambda: Period(date(today.year, 1, 1), today + timedelta(days=1), "year")),
        (r"上周|last week", lambda: Period(today - timedelta(days=today.weekday() + 7), today - timedelta(days=today.weekday()))),
        (r"本周|这周|this week", lambda: Period(today - timedelta(days=today.weekday()), today + timedelta(days=1), "week")),
        (r"昨天|yesterday", lambda: Period(today - timedelta(days=1), today)),
        (r"今天|today", lambda: Period(today, today + timedelta(days=1))),
    ]
    for text_part in (main, full):
        for pattern, make in rules:
            if re.search(pattern, text_part):
                return make(), compare
    return None, compare


def default_period(metric: Metric, today: date) -> Period | None:
    if metric.default_period == "all_time":
        return None
    days = {"last_30_days": 30, "last_365_days": 365}.get(metric.default_period, 30)
    return Period(today - timedelta(days=days - 1), today + timedelta(days=1))


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


def parse_question(question: str, *, session: Session, today: date, registry: Registry | None = None) -> ParsedQuestion:
    registry = registry or load_registry()
    language = "zh" if re.search(r"[\u4e00-\u9fff]", question) else "en"
    low = question.lower()
    metric, phrase = find_metric(question, registry)
    if metric is None:
        return ParsedQuestion(None, language, closest=closest_metrics(question, registry))
    low = low.replace(phrase.lower(), " ")  # "calls per rep" names a metric, not a breakdown
    spec = QuerySpec(metric=metric.name)
    period, compare = parse_period(question, today)
    spec.period = period or default_period(metric, today)
    notes = [] if period else ["default_period"]
    # comparisons with another region: "vs 华南", "和华南比", "compared with South China"
    regions = {r.code: r for r in session.scalars(select(Region))}
    region_words = {code: [r.name_zh, r.name_en.lower(), r.name_en.split()[0].lower()] for code, r in regions.items()}
    mentioned = [code for code, words in region_words.items() if any(_matches(low, w.lower()) for w in words)]
    vs = re.search(r"(?:vs\.?|versus|对比|和|与|跟|compared (?:to|with)|against)\s*([\u4e00-\u9fff]{2}|[a-z]+(?: china)?)", low)
    vs_region = None
    if vs and len(mentioned) >= 2:
        for code in mentioned:
            if any(w.lower().startswith(vs.group(1)) or vs.group(1).startswith(w.lower()) for w in region_words[code]):
                vs_region = code
    if vs_region:
        spec.filters["region"] = [c for c in mentioned if c != vs_region][:1]
        spec.compare_filters = {"region": [vs_region]}
    elif mentioned and "region" in metric.dimensions:
        if len(mentioned) > 1 and not _by(low, registry, "region"):
            spec.filters["region"] = mentioned
        elif not _by(low, registry, "region"):
            spec.filters["region"] = mentioned
    # other filters
    for code, words in INDUSTRIES.items():
        if "industry" in metric.dimensions and any(_matches(low, w) for w in words) and not _by(low, registry, "industry"):
            if not any(_matches(low, w.lower()) for seg in SEGMENTS.values() for w in seg if len(w) > 2 and w in words):
                spec.filters.setdefault("industry", []).append(code)
    for seg, words in SEGMENTS.items():
        if "segment" in metric.dimensions and any(_matches(low, w.lower()) for w in words):
            spec.filters.setdefault("segment", []).append(seg)
            spec.filters.pop("industry", None)
    if "lead_source" in metric.dimensions and not _by(low, registry, "lead_source"):
        for code, words in SOURCES.items():
            if any(_matches(low, w) for w in words) and re.search(r"来源|线索|source|leads?", low):
                spec.filters.setdefault("lead_source", []).append(code)
    if "rep" in metric.dimensions:
        for u in session.scalars(select(User).where(User.role == "rep")):
            if u.name in question or _matches(low, u.login) or _matches(low, u.name_en.lower()):
                spec.filters.setdefault("rep", []).append(u.login)
    if "team" in metric.dimensions:
        for t in session.scalars(select(Team)):
            if t.name in question or _matches(low, t.name_en.lower()):
                spec.filters.setdefault("team", []).append(t.name)
    # dimensions
    for dim in metric.dimensions:
        if _by(low, registry, dim) and dim not in spec.filters:
            spec.dimensions.append(dim)
    grains = [d for d in spec.dimensions if d in ("month", "week", "quarter")]
    if len(grains) > 1:  # an explicit 按季度 / by week beats the generic 趋势 / trend (which means month)
        keep = "quarter" if "quarter" in grains else "week"
        spec.dimensions = [d for d in spec.dimensions if d not in grains or d == keep]
    # top / bottom N
    m = re.search(r"(?:top|前|最高的?|最好的?)\s*(\d+|[一二三四五六七八九十])|(?:bottom|后|最低的?|最差的?)\s*(\d+|[一二三四五六七八九十])", low)
    if m:
        raw = m.group(1) or m.group(2)
        spec.top_n = int(raw) if raw.isdigit() else ZH_NUM[raw]
        spec.order = "desc" if m.group(1) else "asc"
        if not spec.dimensions:
            spec.dimensions = ["rep"] if "rep" in metric.dimensions else [metric.dimensions[0]]
    elif re.search(r"最高|最好|最低|最差|highest|best|lowest|worst", low) and spec.dimensions:
        spec.top_n = 1
        spec.order = "asc" if re.search(r"最低|最差|lowest|worst", low) else "desc"
    if compare and spec.period:
        spec.compare = compare
    return ParsedQuestion(spec, language, notes=notes)


def _by(low: str, registry: Registry, dim: str) -> bool:
    """Does the question ask to break the metric down by ``dim``?"""
    d = registry.dimensions[dim]
    if dim in ("month", "week", "quarter"):
        return any(_matches(low, s.lower()) for s in (*d.synonyms_zh, *d.synonyms_en))
    zh = any(re.search(rf"(按|分|各|每个?|不同|哪个|哪些|哪一?个){re.escape(s.lstrip('各每个'))}", low) for s in d.synonyms_zh)
    en = any(re.search(rf"\b(by|per|each|every|across|for each|which)\s+{re.escape(s.lower())}", low) for s in d.synonyms_en)
    return zh or en
