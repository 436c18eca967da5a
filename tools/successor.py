"""Successor matching: when a rep leaves (``User.left_at`` set — or a manager asks about any rep
of their team), rank internal successors for each of the rep's accounts and write a handover
guide per account.

Ranking (each factor 0–100, every candidate with the reasons behind the number):

- **scenario fit** (55 %) — the candidate's profile fit for the account's selling scenario:
  the weighted mean of their dimension scores with the weights in ``tools/scenarios.yaml``. The
  scenario is that of the account's newest opportunity or lead, else its segment's, else its
  industry's (``segment_scenarios`` / ``industry_scenarios`` in the same file).
- **capacity** (20 %) — the fewer accounts and open opportunities the candidate already owns
  (counting the handovers this plan already suggested to them), the higher.
- **language** (15 %) — an international account needs an English-speaking rep, a Chinese one a
  Chinese-speaking rep.
- **context** (10 %) — same team as the leaving rep, and the account's region.

Handover guide per account: history (journey summary: stage, first and last activity, the latest
events, open silences), open commitments (open opportunities, open leads without a follow-up,
open AI suggestions, renewals due), key contacts (name, title, role; behaviour only for contacts
who consented to tracking, and none in anonymized aggregate mode; no phone or e-mail), and
sensitive points from the account's calls (customer objections, pain points, price and policy
mentions — each with call id and timestamp).

Access: an admin, or the manager of the leaving rep's team; anyone else is refused. A manager's
candidates are their own team's reps (profiles of other teams are not theirs to see); an
admin's are every active rep.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, or_, select

from core.errors import NotFoundError, PermissionDenied, UserInputError
from crm.models import (
    Account,
    AISuggestion,
    Call,
    CallTurn,
    CapabilityProfile,
    Contact,
    Lead,
    Opportunity,
    Region,
    Renewal,
    Team,
    Touchpoint,
    User,
)
from tools.capability import SCENARIOS_PATH, call_clock, ensure_profiles, load_scenarios, scenario_fit, user_by_login
from tools.context import ToolContext
from tools.leads import OPEN_STAGES
from tools.text import STAGE_LABELS, fmt_cny, fmt_time, label

WEIGHTS = {"fit": 0.55, "capacity": 0.20, "language": 0.15, "context": 0.10}
OPEN_LEAD_STATUSES = ("new", "contacted", "qualified", "nurture")
RENEWAL_WINDOW_DAYS = (-30, 180)  # renewals due from a month ago (overdue) to half a year ahead
MAX_SENSITIVE = 8
MAX_EVENTS = 5
CANDIDATES_SHOWN = 3
PRICE = re.compile(r"价格|报价|折扣|便宜|太贵|预算|费用|成本|续费|price|pricing|discount|budget|expensive|cost|renewal fee", re.I)
POLICY = re.compile(r"政策|集采|国产替代|招标|投标|合规|医保|policy|polic|tender|regulat|complian|procurement rule", re.I)


@dataclass
class Candidate:
    login: str
    name: str
    score: float
    fit: float | None
    load_accounts: int
    load_open_opportunities: int
    suggested_here: int  # handovers this plan already suggested to them before this account
    language: str
    same_team: bool
    same_region: bool
    reasons: list[str]


@dataclass
class SensitivePoint:
    call_id: int
    date: str
    time: str  # "mm:ss–mm:ss" inside the call
    kinds: list[str]  # objection / pain_point / price / policy
    text: str


@dataclass
class HandoverGuide:
    history: dict[str, Any]
    open_opportunities: list[dict[str, Any]]
    pending_next_steps: list[dict[str, Any]]
    renewals_due: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    sensitive_points: list[SensitivePoint]
    notes: list[str] = field(default_factory=list)


@dataclass
class AccountHandover:
    account_id: int
    account: str
    industry: str
    segment: str
    region: str
    international: bool
    scenario: str
    scenario_label: str
    scenario_source: str  # opportunity / lead / segment / industry
    open_value_cny: int
    candidates: list[Candidate]
    guide: HandoverGuide | None  # None when the plan was asked without guides (the chat's ranking)


@dataclass
class SuccessorPlan:
    rep: str
    rep_name: str
    team: str | None
    left_at: str | None
    as_of: str
    weights: dict[str, float]
    accounts: list[AccountHandover]
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=4)
def scenario_maps(path: Path = SCENARIOS_PATH) -> tuple[dict[str, str], dict[str, str]]:
    """(segment → scenario, industry → scenario) from ``tools/scenarios.yaml``."""
    cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return dict(cfg.get("segment_scenarios") or {}), dict(cfg.get("industry_scenarios") or {})


def account_scenario(account: Account, newest_opp_scenario: str | None, newest_lead_scenario: str | None) -> tuple[str, str]:
    """The account's selling scenario and where it came from."""
    scenarios = load_scenarios()[1]
    segments, industries = scenario_maps()
    for value, source in ((newest_opp_scenario, "opportunity"), (newest_lead_scenario, "lead"),
                          (segments.get(account.segment), "segment"), (industries.get(account.industry), "industry")):
        if value and value in scenarios:
            return value, source
    raise UserInputError(f"account {account.id} ({account.industry}/{account.segment}) has no selling scenario: add its segment "
                         f"or industry to segment_scenarios / industry_scenarios in {SCENARIOS_PATH}")


def rank_candidates(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pure: ``{login, fit, load, language_ok, same_team, same_region}`` dicts → the same dicts with
    ``parts`` (each factor 0–100) and ``score``, best first (ties: lower load, then login)."""
    if not candidates:
        return []
    loads = [c["load"] for c in candidates]
    lo, hi = min(loads), max(loads)
    out = []
    for c in candidates:
        parts = {
            "fit": c["fit"] if c["fit"] is not None else 0.0,
            "capacity": 100.0 if hi == lo else 100.0 * (hi - c["load"]) / (hi - lo),
            "language": 100.0 if c["language_ok"] else 0.0,
            "context": 50.0 * c["same_team"] + 50.0 * c["same_region"],
        }
        out.append(dict(c, parts={k: round(v, 1) for k, v in parts.items()},
                        score=round(sum(WEIGHTS[k] * v for k, v in parts.items()), 1)))
    out.sort(key=lambda c: (-c["score"], c["load"], c["login"]))
    return out


def _leaving_rep(ctx: ToolContext, rep_login: str) -> User:
    rep = user_by_login(ctx, rep_login)
    if rep.role != "rep":
        raise UserInputError(ctx.t(f"{rep_login} 不是销售代表,没有要交接的客户。",
                                   f"{rep_login} is not a rep and has no accounts to hand over."))
    me = ctx.user
    if me.role == "admin" or (me.role == "manager" and me.team_id is not None and me.team_id == rep.team_id):
        return rep
    if me.role == "manager":
        raise PermissionDenied(ctx.t(f"{rep_login} 不在你的团队;只有其所在团队的经理或管理员可以安排交接。",
                                     f"{rep_login} is not on your team; only the manager of their team or an admin plans the handover."))
    raise PermissionDenied(ctx.t("接任人匹配和交接指南只对离职销售所在团队的经理和管理员开放。",
                                 "Successor matching and handover guides are for the leaving rep's manager and admins only."))


def _rep_accounts(ctx: ToolContext, rep: User) -> list[int]:
    s = ctx.session
    ids = set(s.scalars(select(Account.id).where(Account.owner_id == rep.id)))
    ids |= set(s.scalars(select(Lead.account_id).where(Lead.owner_id == rep.id, Lead.status.in_(OPEN_LEAD_STATUSES))))
    ids |= set(s.scalars(select(Opportunity.account_id).where(Opportunity.owner_id == rep.id, Opportunity.stage.in_(OPEN_STAGES))))
    ids |= set(s.scalars(select(Renewal.account_id).where(Renewal.owner_id == rep.id, Renewal.renewed.is_(None))))
    return sorted(ids)


@dataclass
class _CandidatePool:
    """The reps who could take over, with what the ranking needs to know about them."""
    users: list[User]
    profiles: dict[int, CapabilityProfile]
    owned: Counter[int]  # accounts each candidate owns
    open_opps: Counter[int]  # open opportunities each candidate owns
    team_region: dict[int, int]
    suggested: Counter[int] = field(default_factory=Counter)  # handovers this plan already suggested

    def load(self, user_id: int) -> int:
        return self.owned[user_id] + self.open_opps[user_id] + self.suggested[user_id]


def successor_plan(*, ctx: ToolContext, rep_login: str, account_id: int | None = None,
                   candidates_shown: int = CANDIDATES_SHOWN, guides: bool = True) -> SuccessorPlan:
    """Rank successors for each account of ``rep_login`` and write the handover guide (one
    account with ``account_id``; no guides with ``guides=False`` — each guide reads the account's
    whole journey, seconds for a rep with hundreds of accounts). Reads only; nothing is reassigned."""
    rep = _leaving_rep(ctx, rep_login)
    s = ctx.session
    today = ctx.now().date()
    notes: list[str] = []
    if rep.left_at is None:
        notes.append(ctx.t(f"{rep.name} 尚未登记离职日期;按即将离职安排交接。",
                           f"{rep.name_en} has no leaving date recorded; planned as if leaving."))
    account_ids = _accounts_to_hand_over(ctx, rep, account_id)
    ensure_profiles(s, now=ctx.now())
    _, scenarios, _ = load_scenarios()
    pool = _candidate_pool(ctx, rep, notes)
    accounts = {a.id: a for a in s.scalars(select(Account).where(Account.id.in_(account_ids or [-1])))}
    regions = {r.id: r for r in s.scalars(select(Region))}
    open_value = _open_values(ctx, account_ids)
    newest_opp, newest_lead = _newest_scenarios(ctx, Opportunity, account_ids), _newest_scenarios(ctx, Lead, account_ids)
    order = sorted(account_ids, key=lambda i: (-open_value.get(i, 0), i))
    out = [_account_handover(ctx, rep, accounts[aid], pool, scenarios, regions, open_value.get(aid, 0), candidates_shown,
                             account_scenario(accounts[aid], newest_opp.get(aid), newest_lead.get(aid)), guides)
           for aid in order]
    if not out:
        notes.append(ctx.t(f"{rep.name} 名下没有客户、进行中的线索、商机或待续约。",
                           f"{rep.name_en} owns no accounts, open leads, opportunities or renewals."))
    team = s.get(Team, rep.team_id) if rep.team_id else None
    return SuccessorPlan(rep=rep.login, rep_name=rep.name if ctx.language == "zh" else rep.name_en,
                         team=(team.name if ctx.language == "zh" else team.name_en) if team else None,
                         left_at=rep.left_at.isoformat() if rep.left_at else None, as_of=today.isoformat(),
                         weights=dict(WEIGHTS), accounts=out, notes=notes)


def _accounts_to_hand_over(ctx: ToolContext, rep: User, account_id: int | None) -> list[int]:
    """The rep's accounts, or just ``account_id`` when it is one of them (else NotFoundError)."""
    account_ids = _rep_accounts(ctx, rep)
    if account_id is None:
        return account_ids
    if account_id not in account_ids:
        raise NotFoundError(ctx.t(f"客户 {account_id} 不是 {rep.login} 负责的客户;不带 --account 可列出全部 {len(account_ids)} 个。",
                                  f"account {account_id} is not one of {rep.login}'s accounts; "
                                  f"drop --account to list all {len(account_ids)}."))
    return [account_id]


def _candidate_pool(ctx: ToolContext, rep: User, notes: list[str]) -> _CandidatePool:
    """Active reps other than the leaving one (a manager's own team only), with profiles and load."""
    s = ctx.session
    today = ctx.now().date()
    stmt = select(User).where(User.role == "rep", User.id != rep.id, or_(User.left_at.is_(None), User.left_at > today))
    if ctx.user.role == "manager":
        stmt = stmt.where(User.team_id == ctx.user.team_id)
        notes.append(ctx.t("候选人限于你的团队;跨团队接任请管理员查看。",
                           "Candidates are your team's reps; an admin sees candidates across teams."))
    users = list(s.scalars(stmt.order_by(User.id)))
    if not users:
        raise NotFoundError(ctx.t("没有可以接任的在职销售。", "There is no active rep who could take over."))
    ids = [u.id for u in users]
    team_region = dict(s.execute(select(Team.id, Team.region_id)).all())
    profiles = {p.user_id: p for p in s.scalars(select(CapabilityProfile).where(CapabilityProfile.user_id.in_(ids)))}
    owned = Counter(dict(s.execute(select(Account.owner_id, func.count()).where(Account.owner_id.in_(ids))
                                   .group_by(Account.owner_id)).all()))
    open_opps = Counter(dict(s.execute(select(Opportunity.owner_id, func.count()).where(
        Opportunity.owner_id.in_(ids), Opportunity.stage.in_(OPEN_STAGES)).group_by(Opportunity.owner_id)).all()))
    return _CandidatePool(users=users, profiles=profiles, owned=owned, open_opps=open_opps, team_region=team_region)


def _newest_scenarios(ctx: ToolContext, model, account_ids: list[int]) -> dict[int, str | None]:
    """Each account's newest opportunity's (or lead's) scenario, in one query for all the accounts."""
    newest = (select(model.account_id, model.scenario, func.row_number().over(
        partition_by=model.account_id, order_by=(model.created_at.desc(), model.id.desc())).label("n"))
        .where(model.account_id.in_(account_ids or [-1])).subquery())
    return dict(ctx.session.execute(select(newest.c.account_id, newest.c.scenario).where(newest.c.n == 1)).all())


def candidate_rows(pool: _CandidatePool, sc, acct: Account, rep: User) -> list[dict[str, Any]]:
    """Pure: one ``rank_candidates`` input row per candidate for this account and scenario."""
    rows = []
    for u in pool.users:
        p = pool.profiles.get(u.id)
        fit = scenario_fit({d: v["score"] for d, v in p.dimensions.items()}, sc.weights) if p else None
        rows.append({"login": u.login, "user": u, "fit": fit, "load": pool.load(u.id),
                     "language_ok": (u.language == "en") if acct.international else (u.language == "zh"),
                     "same_team": u.team_id == rep.team_id, "same_region": pool.team_region.get(u.team_id) == acct.region_id})
    return rows


def _account_handover(ctx: ToolContext, rep: User, acct: Account, pool: _CandidatePool, scenarios, regions,
                      open_value_cny: int, candidates_shown: int, scenario: tuple[str, str],
                      guides: bool = True) -> AccountHandover:
    """Rank the candidates for one account (the best one counts as suggested) and write its guide;
    ``scenario`` is the account's selling scenario and where it came from (``account_scenario``)."""
    code, source = scenario
    sc = scenarios[code]
    ranked = rank_candidates(candidate_rows(pool, sc, acct, rep))
    pool.suggested[ranked[0]["user"].id] += 1
    cands = [_candidate(ctx, r, sc, pool.owned, pool.open_opps, acct, regions) for r in ranked[:candidates_shown]]
    region = regions[acct.region_id]
    return AccountHandover(
        account_id=acct.id, account=acct.name if ctx.language == "zh" else (acct.name_en or acct.name), industry=acct.industry,
        segment=acct.segment, region=ctx.t(region.name_zh, region.name_en),
        international=acct.international, scenario=code, scenario_label=ctx.t(sc.label_zh, sc.label_en), scenario_source=source,
        open_value_cny=open_value_cny, candidates=cands, guide=handover_guide(ctx, acct, rep) if guides else None)


def _open_values(ctx: ToolContext, account_ids: list[int]) -> dict[int, int]:
    values: dict[int, int] = defaultdict(int)
    if not account_ids:
        return values
    for aid, amount in ctx.session.execute(select(Opportunity.account_id, func.sum(Opportunity.amount_cny)).where(
            Opportunity.account_id.in_(account_ids), Opportunity.stage.in_(OPEN_STAGES)).group_by(Opportunity.account_id)):
        values[aid] += int(amount or 0)
    return values


def _candidate(ctx: ToolContext, r: dict[str, Any], sc, owned, open_opps, acct: Account, regions) -> Candidate:
    u: User = r["user"]
    extra = r["load"] - owned[u.id] - open_opps[u.id]
    reasons = [_fit_reason(ctx, r["fit"], sc), _load_reason(ctx, owned[u.id], open_opps[u.id], extra),
               _language_reason(ctx, acct.international, r["language_ok"]),
               _context_reason(ctx, regions[acct.region_id], r["same_team"], r["same_region"])]
    return Candidate(login=u.login, name=u.name if ctx.language == "zh" else u.name_en, score=r["score"], fit=r["fit"],
                     load_accounts=owned[u.id], load_open_opportunities=open_opps[u.id], suggested_here=extra,
                     language=u.language, same_team=r["same_team"], same_region=r["same_region"], reasons=reasons)


def _fit_reason(ctx: ToolContext, fit: float | None, sc) -> str:
    """The scenario fit and the dimension weights behind it (or why it is unknown)."""
    if fit is None:
        return ctx.t("能力画像通话不足,场景匹配度未知(按 0 计)", "too few calls for a profile: scenario fit unknown (counted as 0)")
    dims = load_scenarios()[0]
    if ctx.language == "zh":
        weights = "、".join(f"{dims[d]['label_zh']} {w:.0%}" for d, w in sc.weights.items())
    else:
        weights = ", ".join(f"{dims[d]['label_en']} {w:.0%}" for d, w in sc.weights.items())
    return ctx.t(f"{sc.label_zh}场景匹配度 {fit}(按 {weights} 加权)", f"{sc.label_en} fit {fit} (weighted {weights})")


def _load_reason(ctx: ToolContext, accounts: int, open_opportunities: int, suggested_here: int) -> str:
    """The candidate's current load, plus the handovers this plan already suggested to them."""
    t = ctx.t
    text = t(f"当前负载:{accounts} 个客户、{open_opportunities} 个进行中商机",
             f"current load: {accounts} accounts, {open_opportunities} open opportunities")
    if suggested_here:
        text += t(f",本次已建议接手 {suggested_here} 个客户", f", plus {suggested_here} account(s) this plan already suggested")
    return text


def _language_reason(ctx: ToolContext, international: bool, language_ok: bool) -> str:
    """Whether the candidate speaks the account's language (English for international accounts)."""
    if international:
        return ctx.t("国际客户,能用英文沟通" if language_ok else "国际客户需要英文沟通,语言不匹配",
                     "international account, speaks English" if language_ok else "international account needs English: language mismatch")
    return ctx.t("中文客户,语言匹配" if language_ok else "中文客户,候选人以英文为工作语言",
                 "Chinese-speaking account, language matches" if language_ok
                 else "Chinese-speaking account; the candidate works in English")


def _context_reason(ctx: ToolContext, region: Region, same_team: bool, same_region: bool) -> str:
    """Same team as the leaving rep, and whether the candidate covers the account's region."""
    return ctx.t(("同团队" if same_team else "不同团队") + ","
                 + (f"同在{region.name_zh}" if same_region else f"不在客户所在的{region.name_zh}"),
                 ("same team" if same_team else "another team") + ", "
                 + (f"covers {region.name_en}" if same_region else f"outside the account's region ({region.name_en})"))


# -- the handover guide ------------------------------------------------------------------------------
def handover_guide(ctx: ToolContext, acct: Account, rep: User) -> HandoverGuide:
    from speech.text import is_objection, is_pain_point
    from tools.journey import journey_timeline

    history = _guide_history(ctx, journey_timeline(ctx=ctx, account_id=acct.id))
    opps = _open_opportunities(ctx, acct, rep)
    steps = _unfollowed_leads(ctx, acct) + _open_suggestions(ctx, acct, rep)
    renewals = _renewals_due(ctx, acct)
    contacts = _key_contacts(ctx, acct)
    notes = _contact_notes(ctx, contacts)
    points = sensitive_points(ctx, acct.id, is_objection=is_objection, is_pain_point=is_pain_point)
    return HandoverGuide(history=history, open_opportunities=opps, pending_next_steps=steps, renewals_due=renewals,
                         contacts=contacts, sensitive_points=points, notes=notes)


def _guide_history(ctx: ToolContext, journey) -> dict[str, Any]:
    """From the account's journey: stage, first and last activity, the latest events, open silence."""
    events = [e for st in journey.stages for e in st.events]
    open_gap = next((g for g in journey.gaps if g.open), None)
    return {
        "current_stage": journey.current_stage,
        "current_stage_label": label(STAGE_LABELS, journey.current_stage, ctx.language),
        "first_activity": events[0].time if events else None,
        "last_activity": events[-1].time if events else None,
        "events": len(events),
        "events_by_kind": dict(Counter(e.kind for e in events)),
        "latest": [{"time": e.time, "kind": e.kind, "id": e.id, "text": e.text(ctx.language)} for e in events[-MAX_EVENTS:]],
        "silent_days": open_gap.days if open_gap else 0,
        "excluded_without_consent": journey.excluded_without_consent,
        "other_calls": journey.other_calls,
    }


def _open_opportunities(ctx: ToolContext, acct: Account, rep: User) -> list[dict[str, Any]]:
    """The account's open opportunities, largest first; ``owner`` marks the leaving rep's."""
    stmt = (select(Opportunity).where(Opportunity.account_id == acct.id, Opportunity.stage.in_(OPEN_STAGES))
            .order_by(Opportunity.amount_cny.desc(), Opportunity.id))
    return [{"id": o.id, "name": o.name, "stage": o.stage, "stage_label": label(STAGE_LABELS, o.stage, ctx.language),
             "amount_cny": o.amount_cny, "amount": fmt_cny(o.amount_cny, ctx.language), "created": fmt_time(o.created_at),
             "owner": o.owner_id == rep.id}
            for o in ctx.session.scalars(stmt)]


def _unfollowed_leads(ctx: ToolContext, acct: Account) -> list[dict[str, Any]]:
    """Open leads of the account that were never followed up, oldest first."""
    t = ctx.t
    steps = []
    stmt = select(Lead).where(Lead.account_id == acct.id, Lead.status.in_(OPEN_LEAD_STATUSES)).order_by(Lead.created_at)
    for ld in ctx.session.scalars(stmt):
        if ld.first_follow_up_at is None:
            hours = (ctx.now() - ld.created_at).total_seconds() / 3600
            steps.append({"kind": "lead_follow_up", "id": ld.id, "time": fmt_time(ld.created_at),
                          "text": t(f"线索 #{ld.id}「{ld.name}」创建 {hours:.0f} 小时仍未首次跟进",
                                    f"lead #{ld.id} “{ld.name}” not followed up {hours:.0f} h after creation")})
    return steps


def _open_suggestions(ctx: ToolContext, acct: Account, rep: User) -> list[dict[str, Any]]:
    """The leaving rep's newest AI suggestions still shown for the account or its leads (at most 5)."""
    s = ctx.session
    lead_ids = list(s.scalars(select(Lead.id).where(Lead.account_id == acct.id)))
    stmt = (select(AISuggestion).where(AISuggestion.status == "shown", AISuggestion.user_id == rep.id,
                                       or_(AISuggestion.account_id == acct.id, AISuggestion.lead_id.in_(lead_ids or [-1])))
            .order_by(AISuggestion.created_at.desc()).limit(5))
    return [{"kind": "suggestion", "id": sg.id, "time": fmt_time(sg.created_at),
             "text": ctx.t(f"待处理的 AI 建议 [{sg.id}]", f"open AI suggestion [{sg.id}]")
                     + (f" #{sg.lead_id}" if sg.lead_id else "") + f": {sg.text}"}
            for sg in s.scalars(stmt)]


def _renewals_due(ctx: ToolContext, acct: Account) -> list[dict[str, Any]]:
    """Unrenewed renewals due within RENEWAL_WINDOW_DAYS of today (overdue ones flagged)."""
    today = ctx.now().date()
    lo, hi = today + timedelta(days=RENEWAL_WINDOW_DAYS[0]), today + timedelta(days=RENEWAL_WINDOW_DAYS[1])
    stmt = (select(Renewal).where(Renewal.account_id == acct.id, Renewal.renewed.is_(None), Renewal.due_date >= lo, Renewal.due_date <= hi)
            .order_by(Renewal.due_date))
    return [{"id": r.id, "due_date": r.due_date.isoformat(), "amount_cny": r.amount_cny, "amount": fmt_cny(r.amount_cny, ctx.language),
             "high_value": r.high_value, "overdue": r.due_date < today}
            for r in ctx.session.scalars(stmt)]


def _key_contacts(ctx: ToolContext, acct: Account) -> list[dict[str, Any]]:
    """Contacts with name, title and role; last activity and count only with consent and outside anonymized mode."""
    s = ctx.session
    last_touch = dict(s.execute(select(Touchpoint.contact_id, func.max(Touchpoint.occurred_at)).where(
        Touchpoint.account_id == acct.id, Touchpoint.contact_id.is_not(None), Touchpoint.occurred_at <= ctx.now())
        .group_by(Touchpoint.contact_id)).all())
    touches = dict(s.execute(select(Touchpoint.contact_id, func.count()).where(
        Touchpoint.account_id == acct.id, Touchpoint.contact_id.is_not(None), Touchpoint.occurred_at <= ctx.now())
        .group_by(Touchpoint.contact_id)).all())
    contacts = []
    for c in s.scalars(select(Contact).where(Contact.account_id == acct.id).order_by(Contact.id)):
        entry: dict[str, Any] = {"id": c.id, "name": c.name, "title": c.title, "role_in_deal": c.role_in_deal,
                                 "consent": c.consent_tracking}
        if c.consent_tracking and not ctx.anonymized:  # behaviour only where consent is recorded (DESIGN: privacy)
            entry["last_activity"] = fmt_time(last_touch.get(c.id))
            entry["activities"] = touches.get(c.id, 0)
        contacts.append(entry)
    return contacts


def _contact_notes(ctx: ToolContext, contacts: list[dict[str, Any]]) -> list[str]:
    """Why some contacts' behaviour is missing: anonymized mode, or no consent."""
    t = ctx.t
    if ctx.anonymized:
        return [t("匿名汇总模式:不展示联系人个人行为。", "Anonymized aggregate mode: no contact's individual behaviour is shown.")]
    if any(not c["consent"] for c in contacts):
        return [t("未授权行为跟踪的联系人只列出姓名和职务,不展示行为。",
                  "Contacts without consent to tracking are listed by name and title only, without behaviour.")]
    return []


def classify_turn(text: str, language: str, *, is_objection, is_pain_point) -> list[str]:
    """What a customer turn raises: objection / pain_point / price / policy (possibly several)."""
    kinds = []
    if is_objection(text, language):
        kinds.append("objection")
    if is_pain_point(text, language):
        kinds.append("pain_point")
    if PRICE.search(text):
        kinds.append("price")
    if POLICY.search(text):
        kinds.append("policy")
    return kinds


def sensitive_points(ctx: ToolContext, account_id: int, *, is_objection, is_pain_point) -> list[SensitivePoint]:
    """Customer objections, pain points and price/policy mentions in the account's calls the asker
    may see, newest call first, each with call id and timestamp; one per distinct text."""
    scope = ctx.scope
    stmt = select(Call).where(Call.account_id == account_id, Call.started_at <= ctx.now())
    if not scope.everything:
        stmt = stmt.where(Call.rep_id.in_(scope.owner_ids or {-1}))
    calls = list(ctx.session.scalars(stmt.order_by(Call.started_at.desc(), Call.id.desc())))
    out: list[SensitivePoint] = []
    seen: set[str] = set()
    for call in calls:
        for turn in ctx.session.scalars(select(CallTurn).where(CallTurn.call_id == call.id,
                                                               CallTurn.speaker == "customer").order_by(CallTurn.idx)):
            kinds = classify_turn(turn.text, call.language, is_objection=is_objection, is_pain_point=is_pain_point)
            if not kinds or turn.text in seen:
                continue
            seen.add(turn.text)
            out.append(SensitivePoint(call.id, call.started_at.date().isoformat(), f"{call_clock(turn.start_s)}–{call_clock(turn.end_s)}",
                                      kinds, turn.text))
    # objections and price/policy mentions before plain pain points; newest call first within each
    rank = {id(p): i for i, p in enumerate(out)}
    out.sort(key=lambda p: (not ({"objection", "price", "policy"} & set(p.kinds)), rank[id(p)]))
    return out[:MAX_SENSITIVE]
