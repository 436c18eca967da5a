"""Leads: find one by id or by a (partial, Chinese or English) name; its Customer Behaviour
Intensity index (CBI, 0–100) with the events behind it; the next best actions from the
readable rules in ``tools/intent.yaml``; and a one-screen summary.

Access comes from the ToolContext only (``crm.access.visible_leads``): a rep sees their own
leads, a manager the team's (and the region's unassigned ones), an admin all, a trainer none.

Privacy: touchpoints of contacts without recorded consent never enter an individual score,
a rule or the evidence — they are reported as a count. In anonymized aggregate mode
(``ctx.anonymized``) no individual event is shown at all, only counts per kind.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import and_, or_, select

from core.errors import ConfigError, NotFoundError, PermissionDenied
from crm.access import visible_leads
from crm.models import (
    TOUCHPOINT_KINDS,
    Account,
    AISuggestion,
    Contact,
    Lead,
    Opportunity,
    Touchpoint,
    User,
)
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.text import (
    KIND_LABELS,
    STAGE_LABELS,
    STATUS_LABELS,
    TIER_LABELS,
    describe_touch,
    fmt_cny,
    fmt_time,
    is_cjk_token,
    label,
    name_tokens,
    pick,
    token_spans,
)

INTENT_CONFIG_PATH = Path(__file__).with_name("intent.yaml")
CLOSED_LEAD_STATUSES = ("converted", "invalid", "lost")
OPEN_STAGES = ("discovery", "solution", "proposal", "negotiation")
SUGGESTION_KIND_PREFIX = "nba:"  # AISuggestion.kind = "nba:<rule id>"


# -- configuration -------------------------------------------------------------------------

@lru_cache(maxsize=4)
def load_intent_config(path: Path = INTENT_CONFIG_PATH) -> dict[str, Any]:
    """The weight table, decay, tiers, journey settings and rules, validated."""
    try:
        cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the intent configuration {path}: {exc}") from None
    where = f"in {path}"
    _check_weights(cfg, where)
    _check_score(cfg["score"], where)
    _check_rules(cfg["rules"], where)
    return cfg


def _check_weights(cfg: dict[str, Any], where: str) -> None:
    """Exactly one weight per touchpoint kind."""
    missing = [k for k in TOUCHPOINT_KINDS if k not in cfg.get("weights", {})]
    if missing:
        raise ConfigError(f"no weight for touchpoint kind(s) {', '.join(missing)} {where}; add them under `weights:`")
    unknown = [k for k in cfg["weights"] if k not in TOUCHPOINT_KINDS]
    if unknown:
        raise ConfigError(f"weights for unknown touchpoint kind(s) {', '.join(unknown)} {where}; "
                          f"the kinds are {', '.join(TOUCHPOINT_KINDS)}")


def _check_score(score: dict[str, Any], where: str) -> None:
    """A positive half-life and scale; tiers from the highest lower bound down to 0."""
    if score["half_life_days"] <= 0 or score["scale"] <= 0:
        raise ConfigError(f"score.half_life_days and score.scale must be positive {where}")
    bounds = list(score["tiers"].values())
    if bounds != sorted(bounds, reverse=True) or bounds[-1] != 0:
        raise ConfigError(f"score.tiers must go from the highest lower bound down to 0 {where}")


def _check_rules(rules: list[dict[str, Any]], where: str) -> None:
    """Every rule names a known check and has a unique id that fits AISuggestion.kind."""
    seen: set[str] = set()
    for rule in rules:
        if rule["check"] not in RULE_CHECKS:
            raise ConfigError(f"rule {rule['id']!r} names an unknown check {rule['check']!r} {where}; "
                              f"known checks: {', '.join(RULE_CHECKS)}")
        if rule["id"] in seen or len(SUGGESTION_KIND_PREFIX + rule["id"]) > 32:
            raise ConfigError(f"rule id {rule['id']!r} is repeated or longer than 28 characters {where}")
        seen.add(rule["id"])


# -- access ---------------------------------------------------------------------------------

def refuse_trainer(ctx: ToolContext) -> None:
    if ctx.user.role == "trainer":
        raise PermissionDenied(ctx.t(
            "培训师账号看不到销售线索和客户数据;你可以查看场景、练习任务和练习成绩。",
            "Trainers don't see leads or accounts; you can look at scenarios, drills and practice results."))


def _manager_of(ctx: ToolContext) -> User | None:
    if ctx.user.team_id is None:
        return None
    return ctx.session.scalar(select(User).where(User.team_id == ctx.user.team_id, User.role == "manager").limit(1))


def denied(ctx: ToolContext, what_zh: str, what_en: str) -> PermissionDenied:
    """A refusal that says what the user *can* do — and nothing about the record refused."""
    if ctx.user.role == "rep":
        manager = _manager_of(ctx)
        who_zh = f"你的经理{manager.name}" if manager else "你的经理"
        who_en = f"your manager ({manager.name_en})" if manager else "your manager"
        return PermissionDenied(ctx.t(
            f"{what_zh}不在你的权限范围内。你可以查看自己名下的线索和客户(例如说“我的线索”或给出你负责的客户名称);"
            f"如需查看同事的线索,请联系{who_zh}。",
            f"{what_en} is not one of yours. You can ask about your own leads and accounts (say “my leads” or name an "
            f"account you own); for a colleague's lead, ask {who_en}."))
    return PermissionDenied(ctx.t(
        f"{what_zh}不在你的权限范围内。经理可以查看本团队成员的线索和客户,以及本区域未分配的线索;需要其他团队的数据请联系管理员。",
        f"{what_en} is outside what you may see. Managers see their team members' leads and accounts and the "
        "unassigned leads of their region; ask an admin for other teams' data."))


def get_visible_lead(ctx: ToolContext, lead_id: int) -> Lead:
    """The lead, if it exists and ``ctx.user`` may see it."""
    refuse_trainer(ctx)
    lead = ctx.session.get(Lead, lead_id)
    if lead is None:
        raise NotFoundError(ctx.t(f"没有编号为 {lead_id} 的线索;可以给出客户名称让我查找。",
                                  f"There is no lead {lead_id}; give me the account name and I'll look it up."))
    if ctx.session.scalar(visible_leads(ctx.session, ctx.user).where(Lead.id == lead_id).with_only_columns(Lead.id)) is None:
        raise denied(ctx, f"线索 {lead_id} ", f"Lead {lead_id}")
    return lead


# -- find -----------------------------------------------------------------------------------

ID_PATTERN = re.compile(r"(?:\blead\b|线索|编号|#)\s*(?:no\.?\s*|number\s*)?[#:：\-]?\s*(\d{1,9})", re.IGNORECASE)
MIN_COVERAGE = 0.75  # idf-weighted share of what the question names (see _mention_weight) a lead must cover
MIN_MATCHED_IDF = 2.5  # a match must rest on something specific, not only on "医院" or "有限公司"
MIN_CORPUS = 50  # idf is computed as if at least this many leads were visible, so a rep with 3 leads still matches


@dataclass
class LeadMatch:
    lead_id: int
    name: str
    account: str
    status: str
    score: float  # 1.0 = the exact id; otherwise 0–0.99, how much of the question the lead's names cover
    matched_on: str  # id / account / account_en / lead / contact

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


VERBATIM_SCORE = 0.995  # the account's whole name appears verbatim in the question


@dataclass
class _QueryTerms:
    """What the question names, weighed against the visible leads' names."""

    query: str
    spans: list[tuple[str, int, int]]  # (token, start, end) in the question
    expand: dict[str, set[str]]  # question token → the lead-name tokens it matches
    df: dict[str, int]  # question token → how many visible leads it matches
    idf: dict[str, float]


def find_leads(*, ctx: ToolContext, query: str, limit: int = 5) -> list[LeadMatch]:
    """Leads the user may see that the question names — by id ("lead 123", "#123", "线索123"),
    lead name, account name (zh or en), the lead's contact, or a fragment of any of these
    ("第六人民医院", "Helios", "宁波宏达风电"). Best match first; several close matches mean the
    question is ambiguous. An exact id of a lead the user may not see raises PermissionDenied;
    no match gives an empty list."""
    refuse_trainer(ctx)
    m = ID_PATTERN.search(query)
    if m:
        return _find_by_id(ctx, int(m.group(1)))
    q_spans = token_spans(query)
    if not q_spans:
        return []
    rows = _visible_lead_names(ctx)
    if not rows:
        return []
    fields_of = [_name_fields(row) for row in rows]
    all_tokens: list[set[str]] = [set().union(*f.values()) for f in fields_of]
    terms = _weigh_query_terms(query, q_spans, all_tokens, len(rows))
    matches = [match for row, fields, toks in zip(rows, fields_of, all_tokens)
               if (match := _match_lead(terms, row, fields, toks)) is not None]
    return _best_matches(matches, limit)


def _find_by_id(ctx: ToolContext, lead_id: int) -> list[LeadMatch]:
    """The lead the question names by id: none if it does not exist, refused if not visible."""
    if ctx.session.get(Lead, lead_id) is None:
        return []
    lead = get_visible_lead(ctx, lead_id)
    return [LeadMatch(lead.id, lead.name, lead.account.name, lead.status, 1.0, "id")]


def _visible_lead_names(ctx: ToolContext) -> list[Any]:
    """(id, name, status, created_at, account, account_en, contact) of every lead the user may see."""
    return ctx.session.execute(
        visible_leads(ctx.session, ctx.user)
        .with_only_columns(Lead.id, Lead.name, Lead.status, Lead.created_at, Account.name, Account.name_en, Contact.name)
        .join(Account, Account.id == Lead.account_id)
        .outerjoin(Contact, Contact.id == Lead.contact_id)).all()


def _name_fields(row: Any) -> dict[str, set[str]]:
    """One lead's name tokens, by field."""
    _id, name, _status, _created, account, account_en, contact = row
    return {"account": name_tokens(account), "account_en": name_tokens(account_en),
            "lead": name_tokens(name), "contact": name_tokens(contact)}


def _expand_token(q: str, vocab: set[str]) -> set[str]:
    """A Latin question word also matches longer words it begins and close spellings ("helio" → "helios")."""
    if is_cjk_token(q):
        return {q}
    return {v for v in vocab if v == q or (len(q) >= 3 and v.startswith(q))
            or (len(q) >= 5 and difflib.SequenceMatcher(None, q, v).ratio() >= 0.8)}


def _weigh_query_terms(query: str, q_spans: list[tuple[str, int, int]], all_tokens: list[set[str]], n_rows: int) -> _QueryTerms:
    """The question's tokens with their expansions and idf over the visible leads (as if at least MIN_CORPUS)."""
    vocab = {t for toks in all_tokens for t in toks if not is_cjk_token(t)}
    expand = {q: _expand_token(q, vocab) for q, _, _ in q_spans}
    n = max(n_rows, MIN_CORPUS)
    df = {q: sum(1 for toks in all_tokens if toks & forms) for q, forms in expand.items()}
    idf = {q: math.log((n + 1) / (d + 0.5)) for q, d in df.items()}
    return _QueryTerms(query, q_spans, expand, df, idf)


def _match_lead(terms: _QueryTerms, row: Any, fields: dict[str, set[str]],
                toks: set[str]) -> tuple[float, datetime, LeadMatch] | None:
    """(score, created_at, match) when the lead covers enough of what the question names, else None."""
    lead_id, name, status, created, account, account_en, _contact = row
    hit = [(q, a, b) for q, a, b in terms.spans if toks & terms.expand[q]]
    if not hit:
        return None
    hit_tokens = {q for q, _, _ in hit}
    got = sum(terms.idf[q] for q in hit_tokens)
    coverage = got / _mention_weight(terms.spans, hit, terms.df, terms.idf)
    if got < MIN_MATCHED_IDF or coverage < MIN_COVERAGE:
        return None
    score = VERBATIM_SCORE if _names_account_verbatim(terms.query, account, account_en) else 0.99 * coverage
    match = LeadMatch(lead_id, name, account, status, 0.0, _matched_field(terms, hit_tokens, fields))
    return round(score, 3), created, match


def _matched_field(terms: _QueryTerms, hit_tokens: set[str], fields: dict[str, set[str]]) -> str:
    """The field whose tokens carry most of the matched idf weight (the first on a tie)."""
    by_field = {f: sum(terms.idf[q] for q in hit_tokens if fields[f] & terms.expand[q])
                for f in ("account", "account_en", "contact", "lead")}
    return max(by_field, key=lambda f: by_field[f])


def _names_account_verbatim(query: str, account: str | None, account_en: str | None) -> bool:
    """The question holds the account's whole Chinese name, or its English name (≥ 4 characters, any case)."""
    return bool((account and account in query) or (account_en and len(account_en) >= 4 and account_en.lower() in query.lower()))


def _best_matches(matches: list[tuple[float, datetime, LeadMatch]], limit: int) -> list[LeadMatch]:
    """Best first (score, then newest, then highest id); a verbatim name beats partial ones
    ("上海市中医院" vs "上海市中心医院")."""
    if any(score == VERBATIM_SCORE for score, _, _ in matches):
        matches = [m for m in matches if m[0] == VERBATIM_SCORE]
    matches.sort(key=lambda x: (-x[0], -x[1].timestamp(), -x[2].lead_id))
    out = []
    for score, _created, match in matches[:limit]:
        match.score = score
        out.append(match)
    return out


def _mention_weight(q_spans: list[tuple[str, int, int]], hit: list[tuple[str, int, int]],
                    df: dict[str, int], idf: dict[str, float]) -> float:
    """The idf weight of what the question names, as seen from one candidate: its matched
    tokens; unmatched tokens known anywhere in the visible leads (they name something this lead
    lacks, e.g. "第一" against "第六"); and unknown tokens *inside* the matched stretch of the
    question (a mismatch within the name). Unknown words around it ("这条线索怎么样") are filler;
    a token whose characters are all covered by matches (the 伟医 of 张伟+医院) is a junction."""
    covered: set[int] = set()
    for _, a, b in hit:
        covered.update(range(a, b))
    lo, hi = min(a for _, a, _ in hit), max(b for _, _, b in hit)
    weigh: set[str] = {q for q, _, _ in hit}
    for q, a, b in q_spans:
        if q in weigh or set(range(a, b)) <= covered:
            continue
        if df[q] > 0 or (a >= lo and b <= hi):
            weigh.add(q)
    return sum(idf[q] for q in weigh)


# -- touchpoints the score and the rules may use ---------------------------------------------

@dataclass
class Touch:
    """A touchpoint usable for an individual answer (its contact consented, or it has none)."""

    id: int
    kind: str
    occurred_at: datetime
    asset: str | None
    dwell_s: int | None
    contact_id: int | None
    title: str | None  # the contact's job title — never a name, phone or e-mail
    lead_id: int | None
    factor: float  # 1 for the lead's own touchpoints, account_touches.factor for account-level ones

    def text(self, language: str) -> str:
        return describe_touch(self.kind, self.asset, self.title, self.dwell_s, language)

    def evidence(self, language: str, weight: float | None = None) -> Evidence:
        return Evidence("touchpoint", str(self.id), fmt_time(self.occurred_at), self.text(language),
                        None if weight is None else round(weight, 2))


@dataclass
class LeadTouches:
    usable: list[Touch]  # time order
    excluded_times: list[datetime]  # touchpoints of contacts without consent: counted, never shown


def load_touches(ctx: ToolContext, lead: Lead, *, until: datetime, since: datetime | None = None) -> LeadTouches:
    """The lead's touchpoints up to ``until`` (from ``since``), plus its account's lead-less
    touchpoints of the last ``account_touches.window_days``; consent applied."""
    cfg = load_intent_config()["score"]["account_touches"]
    account_since = until - timedelta(days=cfg["window_days"])
    if since is not None:
        account_since = max(account_since, since)
    own = Touchpoint.lead_id == lead.id
    if since is not None:
        own = and_(own, Touchpoint.occurred_at >= since)
    account_level = and_(Touchpoint.account_id == lead.account_id, Touchpoint.lead_id.is_(None),
                         Touchpoint.occurred_at >= account_since)
    rows = ctx.session.execute(
        select(Touchpoint, Contact.consent_tracking, Contact.title)
        .outerjoin(Contact, Contact.id == Touchpoint.contact_id)
        .where(or_(own, account_level), Touchpoint.occurred_at <= until)
        .order_by(Touchpoint.occurred_at, Touchpoint.id)).all()
    usable, excluded = [], []
    for tp, consent, title in rows:
        if tp.contact_id is not None and not consent:
            excluded.append(tp.occurred_at)
            continue
        usable.append(Touch(tp.id, tp.kind, tp.occurred_at, tp.asset, tp.dwell_s, tp.contact_id, title, tp.lead_id,
                            1.0 if tp.lead_id == lead.id else float(cfg["factor"])))
    return LeadTouches(usable, excluded)


# -- the CBI ----------------------------------------------------------------------------------

def touch_value(kind: str, dwell_s: int | None, cfg: dict[str, Any] | None = None) -> float:
    """Behaviour value of one event before decay: the kind's weight, plus the dwell bonus of a page view."""
    cfg = cfg or load_intent_config()
    value = float(cfg["weights"][kind])
    if kind == "page_view" and dwell_s:
        bonus = cfg["score"]["dwell_bonus"]
        value += min(bonus["max"], bonus["per_minute"] * max(0, dwell_s - bonus["from_s"]) / 60)
    return value


def decay(age_days: float, half_life_days: float) -> float:
    return 0.5 ** (max(0.0, age_days) / half_life_days)


def cbi_from_raw(raw: float, scale: float) -> int:
    return round(100 * (1 - math.exp(-raw / scale)))


def tier_of(score: int, tiers: dict[str, int]) -> str:
    return next(name for name, low in tiers.items() if score >= low)


@dataclass
class IntentScore:
    lead_id: int
    as_of: str
    score: int  # CBI 0–100
    tier: str  # S / A / B / C
    raw: float  # Σ weight × decay (× account factor), before the saturating map
    confidence: float  # 0–1, from the amount and recency of the events behind the score
    events_used: int
    counts_by_kind: dict[str, int]  # events used, per kind (group-level; shown in every mode)
    top_events: list[Evidence] = field(default_factory=list)  # up to 5, biggest contribution first
    excluded_without_consent: int = 0  # events of contacts without recorded consent: not scored, not shown
    anonymized: bool = False  # anonymized aggregate mode: no individual events
    note: str = ""  # privacy / evidence remarks in the asker's language

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["top_events"] = [e.to_json() for e in self.top_events]
        return data


def compute_intent(touches: list[Touch], now: datetime, cfg: dict[str, Any]) -> tuple[float, float, list[tuple[float, Touch]]]:
    """Pure: (raw, n_eff, [(contribution, touch)]) over the touches inside the score window."""
    sc = cfg["score"]
    since = now - timedelta(days=sc["window_days"])
    raw = n_eff = 0.0
    parts: list[tuple[float, Touch]] = []
    for t in touches:
        if t.occurred_at > now or t.occurred_at < since:
            continue
        d = decay((now - t.occurred_at).total_seconds() / 86400, sc["half_life_days"]) * t.factor
        contribution = touch_value(t.kind, t.dwell_s, cfg) * d
        raw += contribution
        n_eff += d
        parts.append((contribution, t))
    return raw, n_eff, parts


def confidence_from_n_eff(n_eff: float, cfg: dict[str, Any]) -> float:
    """Pure: the score's confidence (0–1) from the recency-weighted number of events behind it."""
    conf = cfg["score"]["confidence"]
    return round(min(conf["max"], 1 - math.exp(-n_eff / conf["events_for_63pct"])), 2)


def _intent(ctx: ToolContext, lead: Lead, touches: LeadTouches, now: datetime) -> IntentScore:
    cfg = load_intent_config()
    sc = cfg["score"]
    raw, n_eff, parts = compute_intent(touches.usable, now, cfg)
    score = cbi_from_raw(raw, sc["scale"])
    confidence = confidence_from_n_eff(n_eff, cfg)
    since = now - timedelta(days=sc["window_days"])
    excluded = sum(1 for t in touches.excluded_times if since <= t <= now)
    counts = dict(sorted(Counter(t.kind for _, t in parts).items()))
    top = sorted(parts, key=lambda p: (-p[0], -p[1].occurred_at.timestamp()))[: sc["top_events"]]
    notes = []
    if ctx.anonymized:
        notes.append(ctx.t("匿名汇总模式:只给出分组统计,不展示个人行为明细。",
                           "Anonymized aggregate mode: group-level counts only, no individual events."))
    if excluded:
        notes.append(ctx.t(f"另有 {excluded} 条行为来自未授权跟踪的联系人,未计入评分、不予展示。",
                           f"{excluded} more events come from contacts who have not consented to tracking; "
                           "they are not scored or shown."))
    if not parts:
        notes.append(ctx.t("近期没有可用的客户行为,评分仅供参考。", "No usable recent customer behaviour; the score means little."))
    return IntentScore(
        lead_id=lead.id, as_of=now.isoformat(sep=" ", timespec="minutes"), score=score, tier=tier_of(score, sc["tiers"]),
        raw=round(raw, 6), confidence=confidence, events_used=len(parts), counts_by_kind=counts,
        top_events=[] if ctx.anonymized else [t.evidence(ctx.language, c) for c, t in top],
        excluded_without_consent=excluded, anonymized=ctx.anonymized, note=" ".join(notes))


def intent_score(*, ctx: ToolContext, lead_id: int, as_of: datetime | None = None) -> IntentScore:
    """The lead's CBI (0–100) as of ``as_of`` (default: now), its tier, the top contributing
    events and a confidence. Formula and weights: tools/intent.yaml."""
    lead = get_visible_lead(ctx, lead_id)
    now = as_of or ctx.now()
    since = now - timedelta(days=load_intent_config()["score"]["window_days"])
    return _intent(ctx, lead, load_touches(ctx, lead, until=now, since=since), now)


# -- next best actions ------------------------------------------------------------------------

@dataclass
class RuleInput:
    lead: Lead
    touches: list[Touch]  # usable, time order
    all_times: list[datetime]  # every touchpoint time incl. non-consented ones (for counts only)
    now: datetime
    has_open_opportunity: bool
    follow_up_hours: int
    day_offset: timedelta


@dataclass
class RuleHit:
    touches: list[Touch]  # the evidence events, up to 5
    fill: dict[str, Any]  # placeholders for the rule's texts
    extra_events: int = 0  # events beyond the minimum the rule needs (raises confidence)
    lead_evidence: bool = False  # the lead record itself is evidence (follow-up rules)


def _with_prefix(t: Touch, prefixes: list[str]) -> bool:
    return bool(t.asset) and any(t.asset.startswith(p) for p in prefixes)


def check_page_views_and_download(inp: RuleInput, p: dict[str, Any]) -> RuleHit | None:
    """≥ min_views product-page views and ≥ 1 PDF download within within_days."""
    since = inp.now - timedelta(days=p["within_days"])
    recent = [t for t in inp.touches if t.occurred_at >= since]
    views = [t for t in recent if t.kind == "page_view" and _with_prefix(t, p["page_prefixes"])]
    downloads = [t for t in recent if t.kind == "pdf_download"]
    if len(views) < p["min_views"] or not downloads:
        return None
    evidence = sorted(downloads[-1:] + views[-4:], key=lambda t: t.occurred_at)
    return RuleHit(evidence, {"days": p["within_days"], "views": len(views), "downloads": len(downloads)},
                   extra_events=len(views) - p["min_views"] + len(downloads) - 1)


def check_bid_unopened_then_policy(inp: RuleInput, p: dict[str, Any]) -> RuleHit | None:
    """A bid document sent within lookback_days, still unopened, and a policy article read at
    least unopened_days after it was sent."""
    since = inp.now - timedelta(days=p["lookback_days"])
    for sent in reversed([t for t in inp.touches if t.kind == "bid_doc_sent" and t.occurred_at >= since]):
        hit = _unopened_bid_then_policy(inp, p, sent, since)
        if hit is not None:
            return hit
    return None


def _unopened_bid_then_policy(inp: RuleInput, p: dict[str, Any], sent: Touch, since: datetime) -> RuleHit | None:
    """The hit for one sent bid document: never opened since, and policy articles read unopened_days later."""
    if any(t.kind == "bid_doc_open" and t.occurred_at >= sent.occurred_at for t in inp.touches):
        return None
    policy = [t for t in inp.touches if t.kind == "policy_article"
              and t.occurred_at >= sent.occurred_at + timedelta(days=p["unopened_days"])]
    if not policy:
        return None
    tender = [t for t in inp.touches if t.kind == "tender_notice" and since <= t.occurred_at <= sent.occurred_at]
    evidence = tender[-1:] + [sent] + policy[-3:]
    return RuleHit(evidence, {"unopened": (inp.now - sent.occurred_at).days, "article": policy[-1].asset or "—"},
                   extra_events=len(policy) - 1)


def check_tech_doc_streak_and_expo(inp: RuleInput, p: dict[str, Any]) -> RuleHit | None:
    """One contact reads technical documents streak_days calendar days in a row (within
    lookback_days) and an expo badge scan falls within expo_within_days of that streak."""
    since = inp.now - timedelta(days=p["lookback_days"])
    scans = [t for t in inp.touches if t.kind == "expo_scan" and t.occurred_at >= since]
    best: RuleHit | None = None
    for contact_id, by_day in _tech_doc_reads_by_contact(inp, p, since).items():
        for run in _consecutive_day_runs(sorted(by_day)):
            if len(run) < p["streak_days"]:
                continue
            hit = _streak_near_expo(run, by_day, contact_id, scans, p)
            if hit is not None and (best is None or hit.fill["streak"] > best.fill["streak"]):
                best = hit
    if best is not None:
        best.touches.sort(key=lambda t: t.occurred_at)
    return best


def _tech_doc_reads_by_contact(inp: RuleInput, p: dict[str, Any], since: datetime) -> dict[int, dict[date, Touch]]:
    """Per contact, the last technical-document view of each local calendar day since ``since``."""
    docs: dict[int, dict[date, Touch]] = {}
    for t in inp.touches:
        if t.kind == "page_view" and t.contact_id is not None and t.occurred_at >= since and _with_prefix(t, p["page_prefixes"]):
            docs.setdefault(t.contact_id, {})[(t.occurred_at + inp.day_offset).date()] = t
    return docs


def _consecutive_day_runs(days: list[date]) -> list[list[date]]:
    """Sorted days grouped into runs of consecutive calendar days."""
    runs: list[list[date]] = []
    for d in days:
        if runs and (d - runs[-1][-1]).days == 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


def _streak_near_expo(run: list[date], by_day: dict[date, Touch], contact_id: int, scans: list[Touch],
                      p: dict[str, Any]) -> RuleHit | None:
    """The hit for one reading streak when an expo scan falls within expo_within_days of it:
    the streak's last 4 reads and the scan — the reader's own first, then the one closest to the streak's end."""
    first, last = by_day[run[0]].occurred_at, by_day[run[-1]].occurred_at
    window = timedelta(days=p["expo_within_days"])
    near = [s for s in scans if first - window <= s.occurred_at <= last + window]
    if not near:
        return None
    near.sort(key=lambda s: (s.contact_id != contact_id, abs((s.occurred_at - last).total_seconds())))
    reader = by_day[run[-1]]
    return RuleHit([by_day[d] for d in run[-4:]] + [near[0]],
                   {"streak": len(run), "title": reader.title or "—"}, extra_events=len(run) - p["streak_days"])


def check_not_followed_up(inp: RuleInput, p: dict[str, Any]) -> RuleHit | None:
    """Not followed up yet and within warn_before_hours of (or past) the follow-up deadline."""
    lead = inp.lead
    if lead.first_follow_up_at is not None or lead.status in CLOSED_LEAD_STATUSES:
        return None
    age_h = (inp.now - lead.created_at).total_seconds() / 3600
    deadline = inp.follow_up_hours
    if age_h < deadline - p["warn_before_hours"]:
        return None
    if age_h >= deadline:
        fill = {"deadline_zh": f",已超过{deadline}小时跟进时限", "deadline_en": f", past the {deadline} h deadline"}
    else:
        left = math.ceil(deadline - age_h)
        fill = {"deadline_zh": f",距{deadline}小时时限还剩{left}小时", "deadline_en": f", {left} h left of the {deadline} h window"}
    return RuleHit([], {"age_h": int(age_h), **fill}, lead_evidence=True)


def check_low_activity(inp: RuleInput, p: dict[str, Any]) -> RuleHit | None:
    """An open lead (status in statuses, no open opportunity) at least quiet_days old without
    any customer touchpoint — consented or not, counted only — in the last quiet_days."""
    lead = inp.lead
    if lead.status not in p["statuses"] or inp.has_open_opportunity:
        return None
    since = inp.now - timedelta(days=p["quiet_days"])
    if lead.created_at > since or any(since < t <= inp.now for t in inp.all_times):
        return None
    last = [t for t in inp.touches if t.occurred_at <= inp.now][-1:]
    fill = {"quiet": p["quiet_days"], "last_zh": "", "last_en": ""}
    if last:
        day = last[0].occurred_at.strftime("%Y-%m-%d")
        fill.update(last_zh=f"(最近一次在{day})", last_en=f" (last on {day})")
    return RuleHit(last, fill, lead_evidence=not last)


RULE_CHECKS: dict[str, Callable[[RuleInput, dict[str, Any]], RuleHit | None]] = {
    "page_views_and_download": check_page_views_and_download,
    "bid_unopened_then_policy": check_bid_unopened_then_policy,
    "tech_doc_streak_and_expo": check_tech_doc_streak_and_expo,
    "not_followed_up": check_not_followed_up,
    "low_activity": check_low_activity,
}


@dataclass
class Suggestion:
    rule: str  # the rule id in tools/intent.yaml
    text: str  # in the asker's language
    evidence: list[Evidence]  # up to 5 events (counts only in anonymized mode)
    confidence: float
    suggestion_id: int | None = None  # the AISuggestion row that logs it
    status: str = "shown"  # shown / adopted / dismissed / expired (when already decided today)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "text": self.text, "evidence": [e.to_json() for e in self.evidence],
                "confidence": self.confidence, "suggestion_id": self.suggestion_id, "status": self.status}


def local_day_start(now: datetime, offset_hours: float) -> datetime:
    """Start of the calendar day (in the configured local time) containing ``now``, as naive UTC."""
    offset = timedelta(hours=offset_hours)
    local = now + offset
    return local.replace(hour=0, minute=0, second=0, microsecond=0) - offset


def evaluate_rules(ctx: ToolContext, lead: Lead, touches: LeadTouches, now: datetime) -> list[tuple[dict[str, Any], RuleHit]]:
    """(rule config, hit) for every rule that fires, in the configured order. No logging."""
    cfg = load_intent_config()
    has_open = ctx.session.scalar(select(Opportunity.id).where(
        Opportunity.lead_id == lead.id, Opportunity.stage.in_(OPEN_STAGES)).limit(1)) is not None
    inp = RuleInput(lead, [t for t in touches.usable if t.occurred_at <= now],
                    sorted([t.occurred_at for t in touches.usable] + touches.excluded_times), now, has_open,
                    cfg["follow_up_hours"], timedelta(hours=cfg["day_offset_hours"]))
    hits = []
    for rule in cfg["rules"]:
        hit = RULE_CHECKS[rule["check"]](inp, rule.get("params", {}))
        if hit is not None:
            hits.append((rule, hit))
    return hits


def _lead_evidence(lead: Lead, language: str) -> Evidence:
    if lead.first_follow_up_at is None:
        text = pick(language, f"线索创建于 {fmt_time(lead.created_at)},来源 {lead.source},尚未跟进",
                    f"lead created {fmt_time(lead.created_at)} from {lead.source}, not followed up yet")
    else:
        text = pick(language, f"线索状态:{label(STATUS_LABELS, lead.status, language)}",
                    f"lead status: {label(STATUS_LABELS, lead.status, language)}")
    return Evidence("lead", str(lead.id), fmt_time(lead.created_at), text)


def _aggregate_evidence(rule_id: str, touches: list[Touch], language: str) -> Evidence:
    counts = Counter(t.kind for t in touches)
    parts = [f"{label(KIND_LABELS, k, language)} × {n}" for k, n in sorted(counts.items())]
    return Evidence("aggregate", rule_id, None, pick(language, "依据(汇总):", "based on (counts): ") + ", ".join(parts))


def _suggestions(ctx: ToolContext, lead: Lead, touches: LeadTouches, now: datetime) -> list[Suggestion]:
    cfg = load_intent_config()
    day_start = local_day_start(now, cfg["day_offset_hours"])
    out = []
    for rule, hit in evaluate_rules(ctx, lead, touches, now):
        fill = hit.fill
        text = (rule["text_zh"] if ctx.language == "zh" else rule["text_en"]).format(**fill)
        full = [t.evidence(ctx.language) for t in hit.touches[:5]]
        if hit.lead_evidence:
            full = [_lead_evidence(lead, ctx.language), *full][:5]
        shown = full
        if ctx.anonymized:
            shown = ([_aggregate_evidence(rule["id"], hit.touches, ctx.language)] if hit.touches else []) + \
                    ([_lead_evidence(lead, ctx.language)] if hit.lead_evidence else [])
        confidence = round(min(0.95, rule["confidence"] + rule.get("confidence_step", 0.0) * max(0, hit.extra_events)), 2)
        kind = SUGGESTION_KIND_PREFIX + rule["id"]
        row = ctx.session.scalar(select(AISuggestion).where(
            AISuggestion.lead_id == lead.id, AISuggestion.kind == kind,
            AISuggestion.created_at >= day_start, AISuggestion.created_at < day_start + timedelta(days=1))
            .order_by(AISuggestion.id).limit(1))
        if row is None:  # log each suggestion shown, with its evidence — once per lead, rule and day
            row = AISuggestion(user_id=lead.owner_id or ctx.user.id, kind=kind, lead_id=lead.id, account_id=lead.account_id,
                               text=text, evidence=[e.to_json() for e in full], confidence=confidence, status="shown",
                               created_at=now)
            ctx.session.add(row)
            ctx.session.flush()
        out.append(Suggestion(rule["id"], text, shown, confidence, row.id, row.status))
    return out


def next_best_action(*, ctx: ToolContext, lead_id: int) -> list[Suggestion]:
    """The next best actions for a lead from the rules in tools/intent.yaml, each with its
    evidence and confidence. Each one shown is logged as an AISuggestion (status 'shown'),
    once per lead, rule and day; the caller commits."""
    lead = get_visible_lead(ctx, lead_id)
    now = ctx.now()
    return _suggestions(ctx, lead, load_touches(ctx, lead, until=now), now)


# -- summary ----------------------------------------------------------------------------------

@dataclass
class LeadFacts:
    lead_id: int
    name: str
    account_id: int
    account: str
    account_en: str | None
    industry: str
    segment: str
    region_zh: str
    region_en: str
    owner: str | None  # the owner's name (zh), None when unassigned
    owner_en: str | None
    status: str
    source: str
    value_cny: int
    created_at: str
    first_follow_up_at: str | None
    hours_to_first_follow_up: float | None
    followed_up_within_72h: bool | None  # None: not followed up yet and still inside the 72 h
    contact: str | None  # name only — no phone, no e-mail
    contact_title: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OpportunityBrief:
    id: int
    name: str
    stage: str
    amount_cny: int
    created_at: str
    is_open: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LeadSummary:
    lead: LeadFacts
    intent: IntentScore
    last_touches: list[Evidence]  # the 5 latest usable touches (none in anonymized mode)
    opportunity: OpportunityBrief | None
    suggestions: list[Suggestion]

    @property
    def lead_id(self) -> int:
        return self.lead.lead_id

    @property
    def facts(self) -> dict[str, Any]:
        return self.lead.to_json()

    @property
    def actions(self) -> list[dict[str, Any]]:
        """The suggestions as JSON (``rule``, ``text``, ``evidence``, ``confidence`` …)."""
        return [s.to_json() for s in self.suggestions]

    def to_json(self) -> dict[str, Any]:
        return {"lead": self.facts, "intent": self.intent.to_json(), "last_touches": [e.to_json() for e in self.last_touches],
                "opportunity": self.opportunity.to_json() if self.opportunity else None, "suggestions": self.actions}

    def render(self, language: str) -> str:
        """A short markdown answer: facts, intent with its evidence, last touches, next actions."""
        f = self.lead
        lines = [f"**{f.name}** (#{f.lead_id})", _account_line(f, language)]
        if f.contact:
            lines.append(pick(language, f"联系人:{f.contact}({f.contact_title})", f"Contact: {f.contact} ({f.contact_title})"))
        lines.append(_follow_up_line(f, language))
        if self.opportunity:
            lines.append(_opportunity_line(self.opportunity, language))
        lines.extend(_intent_lines(self.intent, language))
        lines.extend(_last_touch_lines(self.last_touches, language))
        lines.extend(_suggestion_lines(self.suggestions, language))
        return "  \n".join(lines)  # markdown line breaks


def _account_line(f: LeadFacts, language: str) -> str:
    """Account, segment, region, owner, status and value."""
    owner = (f.owner if language == "zh" else f.owner_en) or pick(language, "未分配", "unassigned")
    region = f.region_zh if language == "zh" else f.region_en
    return pick(language,
                f"客户:{f.account}({f.segment},{region})· 负责人:{owner} · 状态:{label(STATUS_LABELS, f.status, 'zh')} · "
                f"预估金额:{fmt_cny(f.value_cny, 'zh')}",
                f"Account: {f.account_en or f.account} ({f.segment}, {region}) · owner: {owner} · status: {f.status} · "
                f"value: {fmt_cny(f.value_cny, 'en')}")


def _follow_up_line(f: LeadFacts, language: str) -> str:
    """When the lead was created and whether (and how fast) it was followed up."""
    t = lambda a, b: pick(language, a, b)
    created = f.created_at[:16]
    if not f.first_follow_up_at:
        state = t("已超过72小时仍未跟进", "not followed up, past 72 h") if f.followed_up_within_72h is False else \
            t("尚未跟进", "not followed up yet")
        return t(f"创建:{created} · {state}", f"Created {created} · {state}")
    within = t("72小时内已跟进", "followed up within 72 h") if f.followed_up_within_72h else \
        t("未在72小时内跟进", "not followed up within 72 h")
    return t(f"创建:{created} · 首次跟进:{f.first_follow_up_at[:16]}({f.hours_to_first_follow_up:.0f}小时,{within})",
             f"Created {created} · first follow-up {f.first_follow_up_at[:16]} "
             f"({f.hours_to_first_follow_up:.0f} h, {within})")


def _opportunity_line(o: OpportunityBrief, language: str) -> str:
    stage = label(STAGE_LABELS, o.stage, language)
    return pick(language,
                f"商机 #{o.id}:{stage} · {fmt_cny(o.amount_cny, 'zh')}" + ("" if o.is_open else "(已关闭)"),
                f"Opportunity #{o.id}: {stage} · {fmt_cny(o.amount_cny, 'en')}" + ("" if o.is_open else " (closed)"))


def _intent_lines(i: IntentScore, language: str) -> list[str]:
    """The CBI with its tier and confidence, then why (counts only in anonymized mode), then the consent note."""
    t = lambda a, b: pick(language, a, b)
    lines = [t(f"意向指数(CBI):**{i.score}**/100,等级 {i.tier}({label(TIER_LABELS, i.tier, 'zh')}),置信度 {i.confidence:.2f}",
               f"Intent score (CBI): **{i.score}**/100, tier {i.tier} ({label(TIER_LABELS, i.tier, 'en')}), "
               f"confidence {i.confidence:.2f}")]
    if i.anonymized:
        lines.extend(_anonymized_count_lines(i, language))
    elif i.top_events:
        lines.append(t("评分依据:", "Why this score:"))
        lines.extend(f"- {e.time} {e.text} (+{e.weight:.1f})" for e in i.top_events)
    if i.excluded_without_consent:
        lines.append(t(f"({i.excluded_without_consent} 条未授权联系人的行为未计入、不展示)",
                       f"({i.excluded_without_consent} events of contacts without consent were left out)"))
    return lines


def _anonymized_count_lines(i: IntentScore, language: str) -> list[str]:
    """Anonymized aggregate mode: the notice and the scored events' counts per kind."""
    counts = ", ".join(f"{label(KIND_LABELS, k, language)} × {n}" for k, n in i.counts_by_kind.items())
    lines = [pick(language, "(匿名汇总模式:不展示个人行为明细)", "(anonymized aggregate mode: no individual events shown)")]
    if counts:
        lines.append(pick(language, f"计分行为汇总:{counts}", f"Events scored: {counts}"))
    return lines


def _last_touch_lines(touches: list[Evidence], language: str) -> list[str]:
    if not touches:
        return []
    return [pick(language, "最近互动:", "Last touches:"), *(f"- {e.time} {e.text}" for e in touches)]


def _suggestion_lines(suggestions: list[Suggestion], language: str) -> list[str]:
    """Each next best action with its confidence, and its evidence indented below it."""
    if not suggestions:
        return []
    lines = [pick(language, "建议下一步:", "Next best action:")]
    for s in suggestions:
        lines.append(f"- {s.text}" + pick(language, f"(置信度 {s.confidence:.2f})", f" (confidence {s.confidence:.2f})"))
        lines.extend(f"  - {e.time + ' ' if e.time else ''}{e.text}" for e in s.evidence)
    return lines


def lead_summary(*, ctx: ToolContext, lead_id: int) -> LeadSummary:
    """Facts, intent score, last 5 touches, open opportunity and next best actions of one lead."""
    lead = get_visible_lead(ctx, lead_id)
    now = ctx.now()
    facts = _lead_facts(ctx, lead, now)
    brief = _opportunity_brief(ctx, lead)
    touches = load_touches(ctx, lead, until=now)
    last = [] if ctx.anonymized else [t.evidence(ctx.language) for t in reversed(touches.usable[-5:])]
    return LeadSummary(facts, _intent(ctx, lead, touches, now), last, brief, _suggestions(ctx, lead, touches, now))


def _follow_up_timing(lead: Lead, now: datetime, follow_up_hours: int) -> tuple[float | None, bool | None]:
    """(hours to the first follow-up, followed up within the deadline). Not followed up yet:
    (None, False) once past the deadline, (None, None) while still inside it."""
    deadline = timedelta(hours=follow_up_hours)
    if lead.first_follow_up_at is not None:
        hours = (lead.first_follow_up_at - lead.created_at).total_seconds() / 3600
        return hours, lead.first_follow_up_at - lead.created_at <= deadline
    return None, (False if now - lead.created_at > deadline else None)


def _lead_facts(ctx: ToolContext, lead: Lead, now: datetime) -> LeadFacts:
    """The lead's record, account, owner and contact — the contact neither named nor titled in anonymized mode."""
    account = ctx.session.get(Account, lead.account_id)
    owner = ctx.session.get(User, lead.owner_id) if lead.owner_id else None
    contact = ctx.session.get(Contact, lead.contact_id) if lead.contact_id else None
    hours, within = _follow_up_timing(lead, now, load_intent_config()["follow_up_hours"])
    shown_contact = None if ctx.anonymized else contact  # anonymized aggregate mode: no individual
    return LeadFacts(
        lead_id=lead.id, name=lead.name, account_id=account.id, account=account.name, account_en=account.name_en,
        industry=account.industry, segment=account.segment, region_zh=account.region.name_zh, region_en=account.region.name_en,
        owner=owner.name if owner else None, owner_en=owner.name_en if owner else None, status=lead.status, source=lead.source,
        value_cny=lead.value_cny, created_at=lead.created_at.isoformat(sep=" "),
        first_follow_up_at=lead.first_follow_up_at.isoformat(sep=" ") if lead.first_follow_up_at else None,
        hours_to_first_follow_up=round(hours, 1) if hours is not None else None, followed_up_within_72h=within,
        contact=shown_contact.name if shown_contact else None,
        contact_title=shown_contact.title if shown_contact else None)


def _opportunity_brief(ctx: ToolContext, lead: Lead) -> OpportunityBrief | None:
    """The lead's newest open opportunity, else its newest closed one, else None."""
    opps = list(ctx.session.scalars(select(Opportunity).where(Opportunity.lead_id == lead.id)
                                    .order_by(Opportunity.created_at.desc(), Opportunity.id.desc())))
    opp = next((o for o in opps if o.stage in OPEN_STAGES), opps[0] if opps else None)
    if opp is None:
        return None
    return OpportunityBrief(opp.id, opp.name, opp.stage, opp.amount_cny, opp.created_at.isoformat(sep=" "), opp.stage in OPEN_STAGES)
