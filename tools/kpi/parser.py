"""The offline KPI question parser, Chinese and English: the metric (registry synonyms, then an
embedding of each metric's wording — tools/kpi/linker.py), breakdowns said every way (各个行业的,
each of my reps, each month this year, 谁/who), top/bottom-N (the three reps with the longest …,
最低的3个销售), filters (regions, industries, segments, lead sources, people, teams), periods and
comparisons (tools/kpi/periods.py). Deterministic; the vocabularies are data."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import Region, Team, User
from crm.roles import Role
from tools.kpi.compiler import Period, QuerySpec
from tools.kpi.linker import MetricLink, closest_metrics, lexical, link_metric, without_negated_metrics
from tools.kpi.periods import EN_NUM, ZH_NUM, parse_period, previous
from tools.kpi.quantity import asks_another_quantity
from tools.kpi.registry import Metric, Registry, load_registry


@lru_cache(maxsize=8192)
def _rx(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    """Compiled once: the vocabularies make hundreds of patterns, more than re's own cache keeps."""
    return re.compile(pattern)


def _search(pattern: str | re.Pattern[str], text: str) -> re.Match[str] | None:
    return _rx(pattern).search(text)


__all__ = ["ParsedQuestion", "closest_metrics", "default_period", "find_metric", "link_metric", "parse_period",
           "parse_question", "previous"]

INDUSTRIES = {
    "healthcare": ["医疗", "医院", "healthcare", "hospital", "hospitals", "medical"],
    "manufacturing": ["制造", "制造业", "manufacturing", "factory", "factories", "auto parts"],
    "energy": ["能源", "新能源", "energy", "wind", "renewable", "renewables"],
    "software": ["软件", "saas", "software"],
    "government": ["政府", "公共机构", "government", "public sector"],
}
SEGMENTS = {
    "三级综合医院": ["三级综合医院", "三甲医院", "三甲", "tertiary hospital", "tertiary hospitals"],
    "民营口腔连锁": ["民营口腔连锁", "口腔连锁", "口腔", "dental chain", "dental chains", "dental"],
    "汽车零部件": ["汽车零部件", "汽配", "auto parts", "automotive"],
    "新能源装备": ["新能源装备", "new energy equipment", "new-energy equipment"],
    "中小企业SaaS": ["中小企业", "smb", "sme", "small business", "small and medium"],
    "政府及公共机构": ["政府及公共机构"],
}
RULE_ALIASES = {  # besides each rule's id, name_zh and name_en in tools/signals.yaml
    "cbi_jump": ["意向跃升", "意向分跃升", "意向指数跳升", "intent jump", "cbi jump", "intent score jump"],
    "engineer_deep_dive": ["深度评估", "工程师评估", "deep dive", "deep-dive", "engineer deep dive"],
    "policy_sensitive": ["政策敏感", "policy sensitive", "policy-sensitive", "policy"],
    "tender_expert_support": ["招标专家", "专家支持", "招标需专家", "tender expert", "expert support", "tender needs expert"],
}
SOURCES = {
    "website": ["官网", "网站", "website", "web", "web site", "online form", "web form"],
    "expo": ["展会", "会展", "展览", "expo", "expos", "trade show", "trade shows", "exhibition", "exhibitions"],
    "wecom": ["企业微信", "企微", "wecom", "wechat work", "wechat"],
    "referral": ["转介绍", "推荐", "介绍来的", "老客户介绍", "referral", "referrals", "referred"],
    "tender": ["招标", "招投标", "标讯", "tender", "tenders", "bidding"],
    "email_campaign": ["邮件营销", "邮件", "email campaign", "e-mail campaign", "email campaigns", "email", "e-mail", "edm"],
    "partner": ["合作伙伴", "伙伴", "渠道商", "代理商", "partner", "partners", "reseller", "resellers"],
    "inbound_call": ["来电", "呼入", "inbound call", "inbound calls", "inbound phone", "phone-in", "inbound"],
}
STAGES = {  # open opportunity stages (crm.models.OPPORTUNITY_STAGES)
    "discovery": ["需求挖掘", "需求调研", "需求阶段", "初步接触", "发现阶段", "discovery"],
    "solution": ["方案阶段", "方案设计", "解决方案", "方案", "solution", "solutioning"],
    "proposal": ["报价", "提案", "proposal", "proposals", "quote", "quoted", "quoting"],
    "negotiation": ["谈判", "商务谈判", "议价", "negotiation", "negotiations", "negotiating"],
}

# a breakdown said every way: 按行业 / 各个行业的 / 每位销售 / 哪个区 …, by industry / each of my reps / which team …
ZH_EACH = (r"(按照?|分|各个?|每一?个?|每一?位|每家|不同的?|哪个|哪些|哪一?个|哪一?位|哪家|哪几个?|哪几位|哪条|哪类|哪种|所有的?|全部的?|"
           r"逐个|各自的?|(?:这)?[四4]个|几个)\s*")  # "四个大区本月跟进率对比": each of the four
EN_EACH = (r"\b(by|per|each|every|across|which|all|for each|for every|broken down by|split by|grouped by|"
           r"each of|every one of|all of|compare|comparing|rank|ranking|ranked)\s+(of\s+)?((my|our|the|his|her|their|all|all my|all our|"
           r"all the|all of my|all of our|all of the)\s+)?")
ZH_AFTER = r"\s*(维度|排名|排行|分布|对比|之间|间|别|是?哪(个|些|一个|家|位))"
ZH_SUPERLATIVE = r"最[\u4e00-\u9fff]{1,2}的\s*(?:\d+|[一二两三四五六七八九十])?\s*(?:个|位|名|家)?\s*"  # 最差的区域 / 最高的三个行业
EN_SUPERLATIVE = r"\b(best|worst|highest|lowest|top|bottom|strongest|weakest|fastest|slowest)\s+(performing\s+)?"
TIME_WORD_ZH = {"month": "月份", "quarter": "季度", "week": "周"}
EN_AFTER = r"\s+(breakdown|ranking|ranked|leaderboard|level|split|comparison|sorted)\b"
WHO = re.compile(r"谁|哪位|哪个人|哪个同事|\bwho\b|\bwhose\b|\bwhich (of )?(my |our )?(people|person|one of my reps)\b")

NUM = r"(\d+|十|[一二两三四五六七八九]|ten|one|two|three|four|five|six|seven|eight|nine)"
TOP_N = [  # (pattern, group of N, direction: desc / asc / None = from the superlative)
    (rf"(?<!倒数)(?:\btop|前|排名前|头)\s*{NUM}(?!\s*个?(季度|季|月|天|日|周|年|星期))", 1, "desc"),
    (rf"(?:\bbottom|后|倒数|末尾|排名后)\s*(?:前)?\s*{NUM}", 1, "asc"),
    (rf"\b{NUM}\s+(?:best|highest|top|strongest|fastest|most)\b", 1, "desc"),
    (rf"\b{NUM}\s+(?:worst|lowest|bottom|weakest|slowest|least|fewest)\b", 1, "asc"),
    (rf"(?<![\d.])(?<!销售){NUM}\s*(?:个|位|名|家|大)?\s*的?\s*(?={{dim}})", 1, None),
    (rf"\b{NUM}\s+(?={{dim}})", 1, None),
    (rf"最(?!近)[\u4e00-\u9fff]{{1,2}}的?\s*{NUM}\s*(?:个|位|名|家)", 1, None),  # 最低的3个
    (rf"\b(?:best|worst|highest|lowest|strongest|weakest|fastest|slowest)\s+{NUM}\b", 1, None),  # lowest 3
]
PEOPLE_COUNTED = {"rep": ["人"]}  # 最低的两个人 / 前5人: people counted are reps (only after a number)
DESC = (r"最高|最多|最长|最大|最久|最爱|最常|最喜欢|最能|最容易|排第一|第一名|most often|highest|(?<!at )\bmost\b|"
        r"longest|biggest|largest|greatest|\btop\b")
ASC = r"最低|最少|最短|最小|最不|垫底|倒数|lowest|(?<!at )\bleast\b|fewest|shortest|smallest|\bbottom\b"
BEST = r"最好|最强|最快|最佳|最棒|最优|最及时|最积极|最勤快|表现最好|best|strongest|fastest|\bstar\b"
WORST = r"最差|最弱|最慢|最糟|落后|worst|weakest|slowest|poorest|lagging"


@dataclass
class ParsedQuestion:
    spec: QuerySpec | None
    language: str
    closest: list[str] = field(default_factory=list)  # when no metric matched: the nearest defined ones
    notes: list[str] = field(default_factory=list)
    confidence: float = 1.0  # how sure the metric reading is (tools/kpi/linker.py)
    understood: str | None = None  # unsure: the metric it understood (no number is given)
    alternatives: list[str] = field(default_factory=list)  # unsure: the other likely metrics

    @property
    def unsure(self) -> bool:
        """The metric reading is below the confidence threshold: ask, don't answer."""
        return self.spec is None and self.understood is not None


def find_metric(text: str, registry: Registry) -> tuple[Metric | None, str]:
    """The metric whose longest name or synonym appears in the question, and that phrase (no embedding)."""
    return lexical(text, registry)


def default_period(metric: Metric, today: date) -> Period | None:
    if metric.default_period == "all_time":
        return None
    days = {"last_30_days": 30, "last_365_days": 365}.get(metric.default_period, 30)
    return Period(today - timedelta(days=days - 1), today + timedelta(days=1))


def _matches(text: str, phrase: str) -> bool:
    if _search(r"[\u4e00-\u9fff]", phrase):
        return phrase in text
    return _search(r"(?<![a-z])" + re.escape(phrase.lower()) + r"(?![a-z])", text) is not None


def _language(question: str) -> str:
    return "zh" if _search(r"[\u4e00-\u9fff]", question) else "en"


def parse_question(question: str, *, session: Session, today: date, registry: Registry | None = None) -> ParsedQuestion:
    registry = registry or load_registry()
    language = _language(question)
    question = without_negated_metrics(question, registry)  # "赢单率 不是线索转化率啊": not the conversion rate
    link = link_metric(question, registry)
    if not link.confident:
        return _not_understood(link, language)
    metric = registry.metrics[link.metric]
    if asks_another_quantity(question, metric.unit):  # "这个月新进来了多少条线索": a count, not the follow-up rate
        return ParsedQuestion(None, language, closest=[metric.name, *link.alternatives][:3], notes=["undefined", "other_quantity"],
                              confidence=link.confidence)
    low = question.lower()
    # "suggestions adopted by reps": the reps who act, not a breakdown (that is "by rep" / "for each rep")
    low = re.sub(r"\b(\w+ed|made|done|given|taken)\s+by\s+(?=(my |our |the )?(reps|people|salespeople|sellers|team members)\b)",
                 r"\1 ", low)
    if link.phrase:
        low = low.replace(link.phrase.lower(), " ")  # "calls per rep" names a metric, not a breakdown
    if "per rep" in metric.label_en:  # "call volume per salesperson": the metric's own division, not a breakdown
        low = re.sub(r"\bper\s+(rep|salesperson|sales rep|person|head|seller)s?\b|人均|每人", " ", low)
    spec = QuerySpec(metric=metric.name)
    period, compare = parse_period(question, today)
    spec.period = period or default_period(metric, today)
    notes = [] if period else ["default_period"]
    if link.how == "embedding":
        notes.append("linked_by_meaning")
    low = _team_filters(spec, low, session, metric)
    _region_filters(spec, low, session, metric, registry)
    _vocabulary_filters(spec, low, metric, registry)
    _people_filters(spec, question, low, session, metric)
    _dimensions(spec, low, metric, registry)
    _ranking(spec, low, metric, registry)
    if compare and spec.period:
        spec.compare = compare
    return ParsedQuestion(spec, language, notes=notes, confidence=link.confidence, alternatives=list(link.alternatives))


def _not_understood(link: MetricLink, language: str) -> ParsedQuestion:
    if link.how == "unsure":
        return ParsedQuestion(None, language, closest=[link.metric, *link.alternatives][:3], notes=["unsure"],
                              confidence=link.confidence, understood=link.metric, alternatives=list(link.alternatives[:3]))
    return ParsedQuestion(None, language, closest=list(link.alternatives[:3]), notes=["undefined"], confidence=link.confidence)


# -- filters --------------------------------------------------------------------------------------

def region_words(session: Session) -> dict[str, list[str]]:
    """Each region's code → the words that name it: 华东 / East China / east / eastern."""
    return {r.code: [r.name_zh, r.name_en.lower(), r.name_en.split()[0].lower(), r.name_en.split()[0].lower() + "ern"]
            for r in session.scalars(select(Region))}


def regions_said(text: str, words: dict[str, list[str]]) -> list[str]:
    """The codes of the regions ``text`` names (Chinese word for word, Latin words whole)."""
    low = text.lower()
    return [code for code, ws in words.items() if any(_matches(low, w.lower()) for w in ws)]


def _region_filters(spec: QuerySpec, low: str, session: Session, metric: Metric, registry: Registry) -> None:
    """华东 → a filter; "华东和华南对比" / "East vs South China" → a filter and a comparison filter."""
    words = region_words(session)
    mentioned = regions_said(low, words)
    if not mentioned:
        return
    vs_region = _versus_region(low, mentioned, words)
    if vs_region:
        spec.filters["region"] = [c for c in mentioned if c != vs_region][:1]
        spec.compare_filters = {"region": [vs_region]}
    elif "region" in metric.dimensions and not _by(low, registry, "region"):
        spec.filters["region"] = mentioned


def _versus_region(low: str, mentioned: list[str], words: dict[str, list[str]]) -> str | None:
    """The region after vs / 对比 / 和 when two are named: the other side of the comparison."""
    vs = _search(r"(?:vs\.?|versus|对比|和|与|跟|compared (?:to|with)|against)\s*([\u4e00-\u9fff]{2}|[a-z]+(?: china)?)", low)
    if not vs or len(mentioned) < 2:
        return None
    said = vs.group(1)
    hits = [code for code in mentioned if any(w.lower().startswith(said) or said.startswith(w.lower()) for w in words[code])]
    return hits[-1] if hits else None


VERSUS = r"(?:\bvs\.?|\bversus\b|对比|和|与|跟|(?<![同环占分])比|compared (?:to|with)|against)\s*(?:the\s+)?"


def _versus(spec: QuerySpec, low: str, dim: str, vocabulary: dict[str, list[str]]) -> None:
    """Two values of one filter joined by vs / 对比 / 和…比: the first filters, the second is compared."""
    values = spec.filters.get(dim, [])
    if len(values) != 2 or spec.compare_filters or not _search(r"\bvs\.?|versus|对比|compared|against|(?<![同环占分])比|相比", low):
        return
    for code in values:
        if any(_search(VERSUS + re.escape(w.lower()), low) for w in vocabulary[code]):
            spec.filters[dim] = [c for c in values if c != code]
            spec.compare_filters = {dim: [code]}
            return


def _vocabulary_filters(spec: QuerySpec, low: str, metric: Metric, registry: Registry) -> None:
    if "industry" in metric.dimensions and not _by(low, registry, "industry"):
        _industry_filters(spec, low)
    if "segment" in metric.dimensions and _named_filter(spec, low, "segment", SEGMENTS):
        spec.filters.pop("industry", None)
    if "signal_rule" in metric.dimensions and not _by(low, registry, "signal_rule"):
        _named_filter(spec, low, "signal_rule", _rule_words())
    if "stage" in metric.dimensions and not _by(low, registry, "stage"):
        _named_filter(spec, low, "stage", STAGES)
    if ("lead_source" in metric.dimensions and not _by(low, registry, "lead_source")
            and (metric.base in ("leads", "intent_scores") or _search(r"来源|线索|渠道|source|leads?|channel", low))):
        _named_filter(spec, low, "lead_source", SOURCES)  # a lead metric's own words name its base: 转介绍来的线索转化率


def _named_filter(spec: QuerySpec, low: str, dim: str, vocabulary: dict[str, list[str]]) -> bool:
    """A filter on the values the question names; two joined by vs / 对比 are a filter and a comparison."""
    named = _add_named(spec, low, dim, vocabulary)
    if named:
        _versus(spec, low, dim, vocabulary)
    return named


def _industry_filters(spec: QuerySpec, low: str) -> None:
    """医疗 / healthcare filters; a segment's own words (auto parts, 新能源装备) do not also name an industry."""
    segment_words = {w.lower() for seg in SEGMENTS.values() for w in seg if len(w) > 2}
    _add_named(spec, low, "industry", {code: [w for w in words if w not in segment_words] for code, words in INDUSTRIES.items()})
    _versus(spec, low, "industry", INDUSTRIES)


def _add_named(spec: QuerySpec, low: str, dim: str, vocabulary: dict[str, list[str]]) -> bool:
    """A filter on every value of ``dim`` whose words the question uses; whether there was one."""
    named = [code for code, words in vocabulary.items() if any(_matches(low, w.lower()) for w in words)]
    if named:
        spec.filters.setdefault(dim, []).extend(named)
    return bool(named)


def _rule_words() -> dict[str, list[str]]:
    from tools.signals import load_signal_config

    return {r["id"]: [r["id"], r["name_zh"], r["name_en"], *RULE_ALIASES.get(r["id"], [])] for r in load_signal_config()["rules"]}


def _people_filters(spec: QuerySpec, question: str, low: str, session: Session, metric: Metric) -> None:
    """A named rep (张伟, Wei Zhang, zhangwei, David) filters; 'my team' / 我们组 is the scope already."""
    if "rep" not in metric.dimensions:
        return
    words: dict[str, list[str]] = {}
    for u in session.scalars(select(User).where(User.role == Role.REP).order_by(User.id)):
        first = u.name_en.split()[0].lower()
        surname_first = " ".join(reversed(u.name_en.lower().split()))  # "Zhang Wei" as well as "Wei Zhang"
        words[u.login] = [u.name, u.login, u.name_en.lower(), surname_first]
        named = (u.name in question or _matches(low, u.login) or _matches(low, u.name_en.lower()) or _matches(low, surname_first)
                 or (len(first) >= 4 and u.login.startswith(first) and _matches(low, first)))
        if named:
            spec.filters.setdefault("rep", []).append(u.login)
    if "rep" in spec.filters:
        _versus(spec, low, "rep", words)  # 张伟和李娜的赢单率对比


def _team_filters(spec: QuerySpec, low: str, session: Session, metric: Metric) -> str:
    """A named team (华东销售一组 / East China Sales) filters; its name is then out of the text, so
    the region inside it is not a second filter."""
    if "team" not in metric.dimensions:
        return low
    managers = {u.team_id: u for u in session.scalars(select(User).where(User.role == Role.MANAGER).order_by(User.id))}
    for t in session.scalars(select(Team).order_by(Team.id)):
        for name in (t.name.lower(), t.name_en.lower()):
            if _matches(low, name):
                spec.filters.setdefault("team", []).append(t.name)
                low = low.replace(name, " ")
                break
        else:
            said = _team_by_its_manager(low, managers.get(t.id))
            if said:
                spec.filters.setdefault("team", []).append(t.name)
                low = low.replace(said, " ")
    return low


def _team_by_its_manager(low: str, manager: User | None) -> str | None:
    """A team named by its manager ("陈静组", "陈静的团队", "Jing Chen's team"): the words that name it."""
    if manager is None:
        return None
    en = [manager.name_en.lower(), " ".join(reversed(manager.name_en.lower().split()))]
    pattern = (rf"{re.escape(manager.name.lower())}(?:的|那个|那)?(?:组|团队|小组|队)"
               rf"|(?:{'|'.join(re.escape(n) for n in en)})(?:'s|’s)\s+(?:team|group)")
    m = re.search(pattern, low)
    return m.group(0) if m else None


# -- breakdowns and rankings ---------------------------------------------------------------------

def _dim_words(registry: Registry, dim: str) -> tuple[list[str], list[str]]:
    d = registry.dimensions[dim]
    zh = sorted({_bare(s) for s in d.synonyms_zh}, key=len, reverse=True)
    return zh, sorted(d.synonyms_en, key=len, reverse=True)


def _bare(word: str) -> str:
    """各销售 → 销售, 每个销售 → 销售 (the prefix is matched apart); 每个人 stays (每人 is per head, not each person)."""
    rest = re.sub(r"^(各个?|每一?个?|按)", "", word)
    return rest if len(rest) >= 2 else word


def _by(low: str, registry: Registry, dim: str) -> bool:
    """Does the question ask to break the metric down by ``dim``?"""
    return _by_at(low, registry, dim) is not None


def _by_at(low: str, registry: Registry, dim: str) -> int | None:
    """Where the question asks to break the metric down by ``dim`` (None: it does not): the end of
    the words that say so, so "by quarter and industry" orders quarter before industry."""
    d = registry.dimensions[dim]
    if dim in ("month", "week", "quarter"):
        return _time_by_at(low, registry, dim)
    zh, en = _dim_words(registry, dim)
    zh_alt = "|".join(re.escape(s) for s in zh)
    en_alt = "|".join(re.escape(s.lower()) for s in en)
    self_said = "|".join(re.escape(s) for s in d.synonyms_zh if _bare(s) == s and s[0] in "各每按所")
    m = (_search(rf"{ZH_EACH}({zh_alt})|{self_said or '(?!)'}|({zh_alt}){ZH_AFTER}|{ZH_EACH}\S{{1,5}}(和|及|与|、|以及)({zh_alt})|"
                   rf"{ZH_SUPERLATIVE}({zh_alt})", low)
         or _search(rf"{EN_EACH}({en_alt})\b|\b({en_alt}){EN_AFTER}|\b(by|per)\s+[a-z]+(\s+[a-z]+)?\s*(,|and|&)\s*({en_alt})\b|"
                      rf"{EN_SUPERLATIVE}({en_alt})\b", low))
    if m is None and dim == "rep":  # 按人 / 哪些人 / 最多的人: people are reps (每人 is per head, not each person)
        m = _search(r"(按照?|哪些|哪几个|哪个|所有的?|每一?个|各)人(?!均)|最[\u4e00-\u9fff]{1,2}的(那?几?个)?人", low)
    return m.end() if m else None


def _time_by_at(low: str, registry: Registry, dim: str) -> int | None:
    d = registry.dimensions[dim]
    hits = [at + len(s) for s in (*d.synonyms_zh, *d.synonyms_en) if (at := _position(low, s.lower())) is not None]
    paired = _search(rf"\b(by|per)\s+[a-z]+(\s+[a-z]+)?\s*(,|and|&)\s*{dim}s?\b|"
                       rf"(按|分)\S{{1,5}}(和|及|与|、|以及){TIME_WORD_ZH[dim]}", low)
    hits += [paired.end()] if paired else []  # by industry and quarter / 按区域和季度
    return min(hits) if hits else None


def _position(low: str, phrase: str) -> int | None:
    if _search(r"[\u4e00-\u9fff]", phrase):
        i = low.find(phrase)
        return i if i >= 0 else None
    m = _search(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", low)
    return m.start() if m else None


def _dimensions(spec: QuerySpec, low: str, metric: Metric, registry: Registry) -> None:
    said = {dim: _by_at(low, registry, dim) for dim in metric.dimensions if dim not in spec.filters}
    spec.dimensions.extend(sorted((d for d, at in said.items() if at is not None), key=lambda d: said[d]))
    _one_time_grain(spec)
    if "rep" in metric.dimensions and "rep" not in spec.dimensions and "rep" not in spec.filters and WHO.search(low):
        spec.dimensions.insert(0, "rep")  # 谁的赢单率最高 / who has the lowest …: a rep breakdown


def _one_time_grain(spec: QuerySpec) -> None:
    grains = [d for d in spec.dimensions if d in ("month", "week", "quarter")]
    if len(grains) > 1:  # an explicit 按季度 / by week beats the generic 趋势 / trend (which means month)
        keep = "quarter" if "quarter" in grains else "week"
        spec.dimensions = [d for d in spec.dimensions if d not in grains or d == keep]


def _number(raw: str) -> int:
    return int(raw) if raw.isdigit() else ZH_NUM.get(raw) or EN_NUM.get(raw, 1)


def _top_n(low: str, metric: Metric, registry: Registry) -> tuple[int | None, str | None, str | None]:
    """(N, direction or None, the dimension the N counts) from 前5 / bottom 3 / the three reps / 3个销售."""
    counted = [p for p in TOP_N if "{dim}" in p[0]]
    for dim in (d for d in metric.dimensions if d not in ("month", "week", "quarter")):
        words = "|".join(re.escape(w.lower()) for w in sum(_dim_words(registry, dim), []) + PEOPLE_COUNTED.get(dim, []))
        for pattern, group, _direction in counted:
            m = _search(pattern.replace("{dim}", f"(?:{words})"), low)
            if m:
                return _number(m.group(group)), _said_direction(low, m.start()), dim
    for pattern, group, direction in (p for p in TOP_N if "{dim}" not in p[0]):
        m = _search(pattern, low)
        if m:
            return _number(m.group(group)), direction, None
    return None, None, None


def _said_direction(low: str, at: int) -> str | None:
    """"top 3 reps" / "bottom 3 reps" / "前3个销售" / "后3名": the word just before the number."""
    before = low[max(0, at - 8):at]
    if _search(r"bottom\s*$|后\s*$|倒数\s*$|末\s*$", before):
        return "asc"
    if _search(r"top\s*$|前\s*$|头\s*$", before):
        return "desc"
    return None


def _direction(low: str, metric: Metric) -> str | None:
    if _search(BEST, low):
        return "desc" if metric.higher_is_better else "asc"
    if _search(WORST, low):
        return "asc" if metric.higher_is_better else "desc"
    if _search(ASC, low):
        return "asc"
    if _search(DESC, low):
        return "desc"
    return None


def _ranking(spec: QuerySpec, low: str, metric: Metric, registry: Registry) -> None:
    n, direction, dim = _top_n(low, metric, registry)
    direction = direction or _direction(low, metric)
    if n is not None and (direction or _search(r"\btop\b|前|排名", low)):
        spec.top_n, spec.order = n, direction or "desc"
        if dim and dim not in spec.dimensions and dim not in spec.filters:
            spec.dimensions.append(dim)
        if not spec.dimensions:
            spec.dimensions = ["rep"] if "rep" in metric.dimensions else [metric.dimensions[0]]
    elif direction and spec.dimensions and not _lists_all(low):
        spec.top_n, spec.order = 1, direction


def _lists_all(low: str) -> bool:
    """"各区域从高到低排" / "rank all reps": an ordering of every row, not one winner."""
    return bool(_search(r"从高到低|从低到高|排序|排个序|sorted|sort |rank all|ranking of all", low))
