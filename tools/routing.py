"""Lead routing: who should take a new or re-opened lead, and why.

For every lead the engine scores each eligible rep on five parts (scenario fit, spare capacity,
region, wins with similar accounts, language — formula and weights in ``tools/routing.yaml``,
the active weights version in ``routing_weight_versions``), then decides what happens:
``review`` (value ≥ 500,000 CNY or cross-department work → a manager approves or overrides),
``nurture`` (low intent and quiet → the nurture pool), ``dual`` (tier S/A → the regional rep and
a specialist, with a response deadline) or ``auto``. Every decision is a ``RoutingDecision`` row
with its reasons: the parts and weights of the chosen rep(s), the runners-up, the intent score and
the (up to 5) consented events behind it.

Everything the batch needs (reps, profiles, load, wins, touchpoints) is loaded once per batch;
the per-lead work is arithmetic over those tables (≥ 1,000 leads/s at demo scale 10).

Feedback (``submit_feedback``) blames one factor (or the intent signal), proposes a new weights
version (``pending``) that a manager approves (``approve_weights``) or rejects; ``revert_weights``
re-activates an earlier version. ``backtest`` compares the engine with the historical owners.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from sqlalchemy import func, insert, or_, select, update

from core.errors import ConfigError, NotFoundError, PermissionDenied, UserInputError
from crm.access import visible_leads
from crm.models import (
    FEEDBACK_REASONS,
    Account,
    AuditLog,
    Call,
    CapabilityProfile,
    Contact,
    Lead,
    LeadFeedback,
    Opportunity,
    RoutingDecision,
    RoutingWeightVersion,
    Team,
    Touchpoint,
    User,
)
from tools.capability import load_scenarios, scenario_fit
from tools.context import ToolContext
from tools.leads import (
    OPEN_STAGES,
    Touch,
    cbi_from_raw,
    compute_intent,
    confidence_from_n_eff,
    load_intent_config,
    refuse_trainer,
    tier_of,
)
from tools.text import KIND_LABELS, fmt_time, label

ROUTING_CONFIG_PATH = Path(__file__).with_name("routing.yaml")
FACTORS = ("fit", "capacity", "region", "history", "language")
OPEN_LEAD_STATUSES = ("new", "contacted", "qualified")
MAX_EVENTS = 5
CHUNK = 500


# -- configuration and weight versions -------------------------------------------------------

@lru_cache(maxsize=4)
def load_routing_config(path: Path = ROUTING_CONFIG_PATH) -> dict[str, Any]:
    """The routing configuration, validated (weights over the known factors, summing to 1)."""
    try:
        cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the routing configuration {path}: {exc}") from None
    check_weights(cfg.get("weights") or {}, where=f"in {path}")
    for key in ("load", "history", "review", "nurture", "dual", "auto", "feedback", "labels", "kinds"):
        if key not in cfg:
            raise ConfigError(f"section {key!r} is missing in {path}; see the comments at its top")
    return cfg


def check_weights(weights: dict[str, float], *, where: str) -> None:
    if set(weights) != set(FACTORS):
        raise ConfigError(f"routing weights must name exactly {', '.join(FACTORS)} {where} (got {', '.join(weights) or 'none'})")
    if any(float(w) < 0 for w in weights.values()) or abs(sum(float(w) for w in weights.values()) - 1) > 1e-6:
        raise ConfigError(f"routing weights must be non-negative and sum to 1 {where} (got {weights})")


def active_weights(session) -> tuple[int, dict[str, float]]:
    """(version, weights) of the active weights version; version 1 (routing.yaml) is created on first use."""
    row = session.scalar(select(RoutingWeightVersion).where(RoutingWeightVersion.status == "active")
                         .order_by(RoutingWeightVersion.version.desc()).limit(1))
    if row is None:
        if session.scalar(select(RoutingWeightVersion.id).limit(1)) is not None:
            raise ConfigError("no routing weights version is active; re-activate one with "
                              "`repcopilot routing weights revert VERSION --as ADMIN`")
        weights = {k: float(v) for k, v in load_routing_config()["weights"].items()}
        row = RoutingWeightVersion(version=1, weights=weights, status="active", based_on=None,
                                   reason="tools/routing.yaml", created_at=datetime(2000, 1, 1))
        session.add(row)
        session.flush()
    return row.version, {k: float(v) for k, v in row.weights.items()}


# -- the batch's tables ---------------------------------------------------------------------------

@dataclass
class RepInfo:
    id: int
    login: str
    name: str
    name_en: str
    language: str
    team_id: int | None
    region_id: int | None
    scores: dict[str, float | None]  # capability dimension → score
    talk_min: float
    open_opps: int
    open_leads: int
    routed_here: int = 0  # leads this batch already gave them

    def load_raw(self, cfg: dict[str, Any]) -> float:
        lc = cfg["load"]
        return (lc["talk_weight"] * self.talk_min + lc["opps_weight"] * self.open_opps
                + lc["leads_weight"] * (self.open_leads + self.routed_here))


@dataclass
class Batch:
    reps: list[RepInfo]
    by_id: dict[int, RepInfo]
    fits: dict[str, list[float]]  # scenario → fit per rep (index as reps)
    wins_account: dict[tuple[int, int], int]  # (rep, account) → won deals
    wins_segment: dict[tuple[int, str], int]  # (rep, segment) → won deals
    team_region: dict[int, int]
    teams_of_owner: dict[int, int | None]  # account owner → team (active owners only)
    loads: list[float] = field(default_factory=list)  # RepInfo.load_raw per rep, kept current as the batch routes

    def took_lead(self, rep: RepInfo, cfg: dict[str, Any]) -> None:
        rep.routed_here += 1
        self.loads[self.reps.index(rep)] = rep.load_raw(cfg)


def available(user: User | Any, today: date) -> bool:
    """Pure: a rep can take leads today (not left, not on leave)."""
    if user.left_at is not None and user.left_at <= today:
        return False
    return not (user.away_until is not None and user.away_until >= today)


class RepLoad(NamedTuple):
    """What keeps each rep busy: talk minutes in the load window, open opportunities, open leads (by user id)."""
    talk_s: dict[int, float]
    open_opps: dict[int, int]
    open_leads: dict[int, int]


def rep_load(session, now: datetime, cfg: dict[str, Any]) -> RepLoad:
    """Every rep's talk time (last ``load.talk_days``), open opportunities and open leads — one query each."""
    since = now - timedelta(days=cfg["load"]["talk_days"])
    talk = dict(session.execute(select(Call.rep_id, func.sum(Call.duration_s)).where(
        Call.started_at >= since, Call.started_at <= now).group_by(Call.rep_id)).all())
    opps = dict(session.execute(select(Opportunity.owner_id, func.count()).where(
        Opportunity.stage.in_(OPEN_STAGES)).group_by(Opportunity.owner_id)).all())
    leads = dict(session.execute(select(Lead.owner_id, func.count()).where(
        Lead.status.in_(OPEN_LEAD_STATUSES), Lead.owner_id.is_not(None)).group_by(Lead.owner_id)).all())
    return RepLoad(talk, opps, leads)


def won_deals(session, now: datetime) -> tuple[dict[tuple[int, int], int], dict[tuple[int, str], int]]:
    """Won deals so far per (rep, account) and per (rep, segment)."""
    wins_account: dict[tuple[int, int], int] = {}
    wins_segment: dict[tuple[int, str], int] = defaultdict(int)
    for owner, account_id, segment, n in session.execute(
            select(Opportunity.owner_id, Opportunity.account_id, Account.segment, func.count())
            .join(Account, Account.id == Opportunity.account_id)
            .where(Opportunity.won.is_(True), Opportunity.created_at <= now)
            .group_by(Opportunity.owner_id, Opportunity.account_id, Account.segment)):
        wins_account[(owner, account_id)] = n
        wins_segment[(owner, segment)] += n
    return wins_account, dict(wins_segment)


def rep_info(u: User, dims: dict[str, Any], region_id: int | None, load: RepLoad) -> RepInfo:
    """Pure: one rep's row of the batch (capability scores per dimension, talk in minutes)."""
    return RepInfo(u.id, u.login, u.name, u.name_en, u.language, u.team_id, region_id,
                   {d: (v or {}).get("score") for d, v in dims.items()}, float(load.talk_s.get(u.id) or 0) / 60,
                   int(load.open_opps.get(u.id) or 0), int(load.open_leads.get(u.id) or 0))


def scenario_fits(reps: list[RepInfo]) -> dict[str, list[float]]:
    """Every scenario's fit per rep (in the order of ``reps``; no profile: 0)."""
    scenarios = load_scenarios()[1]
    return {code: [scenario_fit(r.scores, sc.weights) or 0.0 for r in reps] for code, sc in scenarios.items()}


def load_batch(session, now: datetime) -> Batch:
    """Eligible reps with their fits, load and wins — one query per table, once per batch."""
    cfg = load_routing_config()
    today = now.date()
    team_region = dict(session.execute(select(Team.id, Team.region_id)).all())
    users = list(session.scalars(select(User).where(User.role == "rep").order_by(User.id)))
    owners = {u.id: (u.team_id if available(u, today) else None) for u in users}
    reps_u = [u for u in users if available(u, today)]
    ids = [u.id for u in reps_u]
    profiles = {p.user_id: p.dimensions for p in session.scalars(select(CapabilityProfile).where(CapabilityProfile.user_id.in_(ids)))}
    load = rep_load(session, now, cfg)
    wins_account, wins_segment = won_deals(session, now)
    reps = [rep_info(u, profiles.get(u.id) or {}, team_region.get(u.team_id), load) for u in reps_u]
    return Batch(reps, {r.id: r for r in reps}, scenario_fits(reps), wins_account, wins_segment, team_region, owners,
                 [r.load_raw(cfg) for r in reps])


# -- intent for many leads at once ------------------------------------------------------------------

@dataclass
class LeadIntent:
    score: int
    tier: str
    confidence: float
    events_used: int
    last_event_at: datetime | None
    top: list[tuple[float, Touch]]  # up to 5 biggest contributions


def batch_intent(session, leads: list[Lead], now: datetime) -> dict[int, LeadIntent]:
    """Each lead's CBI as ``tools.leads.intent_score`` computes it (same formula, consent applied),
    from a few queries per batch instead of two per lead: the accounts' lead-less touchpoints once
    for the whole batch, the leads' own touchpoints per chunk of leads."""
    cfg = load_intent_config()
    sc = cfg["score"]
    out: dict[int, LeadIntent] = {}
    own_since = now - timedelta(days=sc["window_days"])
    acct_since = now - timedelta(days=min(sc["account_touches"]["window_days"], sc["window_days"]))
    factor = float(sc["account_touches"]["factor"])
    cols = (Touchpoint.id, Touchpoint.kind, Touchpoint.occurred_at, Touchpoint.asset, Touchpoint.dwell_s,
            Touchpoint.contact_id, Touchpoint.lead_id, Touchpoint.account_id, Contact.consent_tracking, Contact.title)
    # separate indexed queries (one OR-ed query makes SQLite scan the table: 15 s → ~1 s at scale 10)
    acct: dict[int, list[Touch]] = defaultdict(list)
    account_ids = sorted({lead.account_id for lead in leads})
    for i in range(0, len(account_ids), 900):
        for tid, kind, at, asset, dwell, cid, _lid, aid, consent, title in session.execute(
                select(*cols).outerjoin(Contact, Contact.id == Touchpoint.contact_id).where(
                    Touchpoint.account_id.in_(account_ids[i:i + 900]), Touchpoint.occurred_at >= acct_since,
                    Touchpoint.occurred_at <= now, Touchpoint.lead_id.is_(None))):
            if cid is None or consent:  # no consent: never in an individual score
                acct[aid].append(Touch(tid, kind, at, asset, dwell, cid, title, None, factor))
    for i in range(0, len(leads), CHUNK):
        chunk = leads[i:i + CHUNK]
        own: dict[int, list[Touch]] = defaultdict(list)
        for tid, kind, at, asset, dwell, cid, lid, _aid, consent, title in session.execute(
                select(*cols).outerjoin(Contact, Contact.id == Touchpoint.contact_id).where(
                    Touchpoint.lead_id.in_([lead.id for lead in chunk]))):
            # the time window is applied here: in SQL, SQLite would range-scan the time index instead of
            # looking the leads up (0.65 s a chunk at scale 10)
            if (cid is None or consent) and own_since <= at <= now:
                own[lid].append(Touch(tid, kind, at, asset, dwell, cid, title, lid, 1.0))
        for lead in chunk:
            touches = sorted(own.get(lead.id, []) + acct.get(lead.account_id, []), key=lambda t: (t.occurred_at, t.id))
            raw, n_eff, parts = compute_intent(touches, now, cfg)
            score = cbi_from_raw(raw, sc["scale"])
            top = sorted(parts, key=lambda p: (-p[0], -p[1].occurred_at.timestamp()))[:MAX_EVENTS]
            last = max((t.occurred_at for _, t in parts), default=None)
            out[lead.id] = LeadIntent(score, tier_of(score, sc["tiers"]), confidence_from_n_eff(n_eff, cfg),
                                      len(parts), last, top)
    return out


# -- scoring -----------------------------------------------------------------------------------------

class ScoredRep(NamedTuple):
    """One rep's score for one lead: the weighted total, their current load and the five parts (0–100)."""
    total: float
    load_raw: float
    rep: RepInfo
    parts: dict[str, float]  # factor → 0–100


def effective_weights(weights: dict[str, float], tier: str, cfg: dict[str, Any]) -> dict[str, float]:
    """Pure: the weights for a lead of this tier (high intent boosts fit), renormalised to sum 1."""
    w = dict(weights)
    if tier in cfg["dual"]["tiers"]:
        w["fit"] = w["fit"] * float(cfg["high_intent_fit_boost"])
    total = sum(w.values()) or 1.0
    return {k: v / total for k, v in w.items()}


def score_reps(batch: Batch, *, scenario: str, account_id: int, segment: str, region_id: int, international: bool,
               weights: dict[str, float], cfg: dict[str, Any]) -> list[ScoredRep]:
    """(total, load_raw, rep, parts) for every eligible rep, best first (ties: lower load, then login)."""
    reps = batch.reps
    loads = batch.loads
    if not reps:
        return []
    lo, hi = min(loads), max(loads)
    span = hi - lo
    fits = batch.fits.get(scenario) or [0.0] * len(reps)
    hc = cfg["history"]
    acc_w, sat = float(hc["account_won"]), float(hc["saturate"])
    wf, wc, wr, wh, wl = (weights[k] for k in FACTORS)
    out = []
    for i, r in enumerate(reps):
        capacity = 100.0 if span == 0 else 100.0 * (hi - loads[i]) / span
        region = 100.0 if r.region_id == region_id else 0.0
        wins = acc_w * batch.wins_account.get((r.id, account_id), 0) + batch.wins_segment.get((r.id, segment), 0)
        history = 100.0 * min(1.0, wins / sat)
        if international:
            language = 100.0 if r.language == "en" else 0.0
        else:
            language = 100.0 if r.language == "zh" else 50.0
        fit = fits[i]
        total = wf * fit + wc * capacity + wr * region + wh * history + wl * language
        out.append(ScoredRep(total, loads[i], r, {"fit": fit, "capacity": capacity, "region": region, "history": history,
                                         "language": language}))
    out.sort(key=lambda x: (-x.total, x.load_raw, x.rep.login))
    return out


# -- decisions ---------------------------------------------------------------------------------------

@dataclass
class RoutedLead:
    lead_id: int
    lead: str
    kind: str  # auto / dual / nurture / review
    status: str
    rep: str | None  # login of the (regional) rep
    specialist: str | None
    score: float | None
    intent_score: int
    tier: str
    confidence: float
    respond_by: str | None
    review_reasons: list[str]
    decision_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RoutingReport:
    weights_version: int
    dry_run: bool
    routed: int
    by_kind: dict[str, int]
    seconds: float
    leads: list[RoutedLead] = field(default_factory=list)
    skipped: int = 0  # named leads (--lead) already assigned or waiting for review

    def to_json(self) -> dict[str, Any]:
        return {"weights_version": self.weights_version, "dry_run": self.dry_run, "routed": self.routed,
                "by_kind": self.by_kind, "skipped": self.skipped, "seconds": self.seconds,
                "leads": [x.to_json() for x in self.leads]}


def _refuse_rep(ctx: ToolContext) -> None:
    refuse_trainer(ctx)
    if ctx.user.role not in ("manager", "admin"):
        raise PermissionDenied(ctx.t(
            "只有经理和管理员可以分配线索;你可以查看自己的分配记录和原因(repcopilot route explain)。",
            "Only managers and admins route leads; you can see your own routing decisions and why (repcopilot route explain)."))


class Decision(NamedTuple):
    """What happens to one scored lead: the kind, the decision's status, the chosen rep(s), the deadline."""
    kind: str  # auto / dual / nurture / review
    status: str  # assigned / nurture / pending_review
    best: ScoredRep | None
    specialist: ScoredRep | None
    respond_by: datetime | None
    review: list[str]  # why a manager must review it (empty: no review)


def review_reasons(lead: Lead, account: Account, best: ScoredRep | None, batch: Batch, cfg: dict[str, Any]) -> list[str]:
    """Pure: why a manager must look at this lead first — big value, a cross-department scenario, the best
    rep outside the account owner's team, or no rep at all."""
    review: list[str] = []
    if lead.value_cny >= int(cfg["review"]["value_threshold_cny"]):
        review.append("value")
    if lead.scenario in (cfg["review"].get("cross_department_scenarios") or []):
        review.append("cross_department_scenario")
    owner_team = batch.teams_of_owner.get(account.owner_id) if account.owner_id else None
    if best is not None and owner_team is not None and best.rep.team_id != owner_team:
        review.append("cross_team")
    if best is None:
        review.append("no_rep")
    return review


def quiet_low_intent(intent: LeadIntent, cfg: dict[str, Any], now: datetime) -> bool:
    """Pure: intent below the nurture bar and no event within the quiet window."""
    quiet_since = now - timedelta(days=cfg["nurture"]["quiet_days"])
    return intent.score < cfg["nurture"]["max_score"] and (intent.last_event_at is None or intent.last_event_at < quiet_since)


def pick_specialist(ranked: list[ScoredRep]) -> ScoredRep | None:
    """Pure: the best scenario fit among the reps after the first (any region); ties: higher total, lower id."""
    others = ranked[1:]
    if not others:
        return None
    return max(others, key=lambda x: (x.parts["fit"], x.total, -x.rep.id))


def decide(lead: Lead, account: Account, intent: LeadIntent, ranked: list[ScoredRep], batch: Batch, cfg: dict[str, Any],
           now: datetime) -> Decision:
    """Pure: kind, reps, deadline and review reasons for one scored lead."""
    best = ranked[0] if ranked else None
    review = review_reasons(lead, account, best, batch, cfg)
    if review:
        return Decision("review", "pending_review", best, None, None, review)
    if quiet_low_intent(intent, cfg, now):
        return Decision("nurture", "nurture", best, None, None, review)
    if intent.tier in cfg["dual"]["tiers"]:
        deadline = now + timedelta(hours=cfg["dual"]["respond_within_hours"])
        return Decision("dual", "assigned", best, pick_specialist(ranked), deadline, review)
    return Decision("auto", "assigned", best, None, now + timedelta(hours=cfg["auto"]["respond_within_hours"]), review)


def _reasons(intent: LeadIntent, ranked: list[ScoredRep], weights: dict[str, float], d: Decision) -> dict[str, Any]:
    best, spec = d.best, d.specialist
    return {
        "weights": {k: round(v, 4) for k, v in weights.items()},
        "parts": {k: round(v, 1) for k, v in best.parts.items()} if best else {},
        "specialist_parts": {k: round(v, 1) for k, v in spec.parts.items()} if spec else None,
        "candidates": [[x.rep.id, x.rep.login, round(x.total, 1)] for x in ranked[:3]],
        "review": d.review,
        "intent": {"score": intent.score, "tier": intent.tier, "confidence": intent.confidence,
                   "events_used": intent.events_used},
        "events": [{"id": t.id, "kind": t.kind, "time": fmt_time(t.occurred_at), "asset": t.asset,
                    "title": t.title, "weight": round(c, 2)} for c, t in intent.top],
    }


def _confidence(intent: LeadIntent, ranked: list[ScoredRep]) -> float:
    margin = (ranked[0].total - ranked[1].total) if len(ranked) > 1 else 20.0
    return round(min(0.95, 0.4 + 0.3 * intent.confidence + 0.3 * min(1.0, margin / 15)), 2)


def leads_to_route(ctx: ToolContext, lead_ids: list[int] | None = None) -> list[Lead]:
    """The leads ``ctx.user`` may route: the given ones, or every unassigned new lead without a live decision."""
    stmt = visible_leads(ctx.session, ctx.user)
    if lead_ids:
        stmt = stmt.where(Lead.id.in_(lead_ids))
        found = list(ctx.session.scalars(stmt.order_by(Lead.id)))
        missing = sorted(set(lead_ids) - {lead.id for lead in found})
        if missing:
            exists = set(ctx.session.scalars(select(Lead.id).where(Lead.id.in_(missing))))
            if exists:
                raise PermissionDenied(ctx.t(f"线索 {', '.join(map(str, sorted(exists)))} 不在你的区域;你可以分配本区域未分配的线索。",
                                             f"lead(s) {', '.join(map(str, sorted(exists)))} are outside your region; "
                                             "you may route your region's unassigned leads."))
            raise NotFoundError(ctx.t(f"没有编号为 {', '.join(map(str, missing))} 的线索。",
                                      f"there is no lead {', '.join(map(str, missing))}; list leads with `repcopilot leads list`."))
        closed = [lead.id for lead in found if lead.status in ("converted", "invalid", "lost")]
        if closed:
            raise UserInputError(ctx.t(f"线索 {', '.join(map(str, closed))} 已关闭,不能分配;先把它重新打开(状态改为 new)。",
                                       f"lead(s) {', '.join(map(str, closed))} are closed; re-open them (status new) before routing."))
        return found
    pending = select(RoutingDecision.lead_id).where(RoutingDecision.status == "pending_review")
    return list(ctx.session.scalars(stmt.where(Lead.status == "new", Lead.owner_id.is_(None), Lead.id.not_in(pending))
                                    .order_by(Lead.created_at, Lead.id)))


def routable(lead: Lead, pending: set[int]) -> bool:
    """Pure: a new or re-opened lead — status new, no owner (the CRM re-opens a lead by clearing its
    owner) — that is not already waiting for a manager's review."""
    return lead.status == "new" and lead.owner_id is None and lead.id not in pending


def _drop_unroutable(session, leads: list[Lead]) -> tuple[list[Lead], int]:
    """The named leads that are new or re-opened, and how many others (assigned, in review) are skipped."""
    pending = set(session.scalars(select(RoutingDecision.lead_id).where(
        RoutingDecision.lead_id.in_([x.id for x in leads]), RoutingDecision.status == "pending_review")))
    keep = [x for x in leads if routable(x, pending)]
    return keep, len(leads) - len(keep)


def accounts_of(session, leads: list[Lead]) -> dict[int, Account]:
    """The leads' accounts by id, loaded in chunks."""
    accounts = {}
    account_ids = sorted({x.account_id for x in leads})
    for i in range(0, len(account_ids), CHUNK):
        for a in session.scalars(select(Account).where(Account.id.in_(account_ids[i:i + CHUNK]))):
            accounts[a.id] = a
    return accounts


class LeadRouting(NamedTuple):
    """One lead's routing: the row to store, what the report shows, and the rep who becomes its owner (if any)."""
    row: dict[str, Any]
    routed: RoutedLead
    new_owner_id: int | None


def decision_row(lead: Lead, d: Decision, rep: RepInfo | None, intent: LeadIntent, reasons: dict[str, Any], *,
                 confidence: float, version: int, now: datetime, dry_run: bool) -> dict[str, Any]:
    """Pure: the ``routing_decisions`` row for one lead (status ``dry_run`` in a dry run)."""
    return {"lead_id": lead.id, "kind": d.kind, "status": "dry_run" if dry_run else d.status,
            "rep_id": rep.id if rep else None, "specialist_id": d.specialist.rep.id if d.specialist else None,
            "score": round(d.best.total, 1) if rep else None, "intent_score": intent.score,
            "tier": intent.tier, "confidence": confidence, "reasons": reasons,
            "weights_version": version, "decided_by_id": None, "note": None, "created_at": now,
            "decided_at": now if d.kind != "review" else None, "respond_by": d.respond_by}


def routed_lead(lead: Lead, row: dict[str, Any], d: Decision, rep: RepInfo | None) -> RoutedLead:
    """Pure: what the routing report shows for one lead."""
    return RoutedLead(lead.id, lead.name, d.kind, row["status"], rep.login if rep else None,
                      d.specialist.rep.login if d.specialist else None, row["score"], row["intent_score"], row["tier"],
                      row["confidence"], d.respond_by.isoformat(sep=" ", timespec="minutes") if d.respond_by else None, d.review)


def route_one(lead: Lead, account: Account, intent: LeadIntent, *, base: dict[str, float], batch: Batch,
              cfg: dict[str, Any], now: datetime, version: int, dry_run: bool) -> LeadRouting:
    """Score the reps for one lead and decide; a rep who takes the lead counts it in their load at once
    (the batch's next leads see it)."""
    weights = effective_weights(base, intent.tier, cfg)
    ranked = score_reps(batch, scenario=lead.scenario, account_id=account.id, segment=account.segment,
                        region_id=account.region_id, international=account.international, weights=weights, cfg=cfg)
    d = decide(lead, account, intent, ranked, batch, cfg, now)
    rep = d.best.rep if d.best and d.kind in ("auto", "dual", "review") else None
    new_owner_id = None
    if d.kind in ("auto", "dual") and rep is not None:
        batch.took_lead(rep, cfg)
        new_owner_id = rep.id
    row = decision_row(lead, d, rep, intent, _reasons(intent, ranked, weights, d), confidence=_confidence(intent, ranked),
                       version=version, now=now, dry_run=dry_run)
    return LeadRouting(row, routed_lead(lead, row, d, rep), new_owner_id)


def store_decisions(ctx: ToolContext, routings: list[LeadRouting], *, version: int, now: datetime) -> None:
    """Insert the decisions, give assigned leads their owner, move nurture leads to the pool, note each
    decision's id in the report and audit the run."""
    rows = [x.row for x in routings]
    for i in range(0, len(rows), CHUNK):
        ctx.session.execute(insert(RoutingDecision), rows[i:i + CHUNK])
    owner_updates = [{"id": x.row["lead_id"], "owner_id": x.new_owner_id} for x in routings if x.new_owner_id is not None]
    if owner_updates:
        ctx.session.execute(update(Lead), owner_updates)
    nurture_ids = [r["lead_id"] for r in rows if r["kind"] == "nurture"]
    for i in range(0, len(nurture_ids), CHUNK):
        ctx.session.execute(update(Lead).where(Lead.id.in_(nurture_ids[i:i + CHUNK])).values(status="nurture")
                            .execution_options(synchronize_session=False))
    out = [x.routed for x in routings]
    ids = dict(ctx.session.execute(select(RoutingDecision.lead_id, func.max(RoutingDecision.id)).where(
        RoutingDecision.lead_id.in_([r.lead_id for r in out][:CHUNK * 20]), RoutingDecision.created_at == now)
        .group_by(RoutingDecision.lead_id)).all()) if len(out) <= CHUNK * 20 else {}
    for r in out:
        r.decision_id = ids.get(r.lead_id)
    ctx.session.add(AuditLog(at=now, user_id=ctx.user.id, action="routing.run", target=None,
                             detail={"routed": len(rows), "weights_version": version,
                                     "by_kind": dict(Counter(r["kind"] for r in rows))}))
    ctx.session.flush()


def route_leads(*, ctx: ToolContext, lead_ids: list[int] | None = None, dry_run: bool = False,
                batch: Batch | None = None) -> RoutingReport:
    """Route new and re-opened leads (status new, no owner; or those of ``lead_ids``): a decision with
    reasons per lead; unless ``dry_run``, assigned leads get their owner and every decision is stored.
    Assigned leads and leads waiting for review are not routed again (a retry routes nothing twice).
    The caller commits."""
    import time

    _refuse_rep(ctx)
    t0 = time.perf_counter()
    cfg = load_routing_config()
    now = ctx.now()
    version, base = active_weights(ctx.session)
    leads = leads_to_route(ctx, lead_ids)
    skipped = 0
    if lead_ids:  # the named leads that are new or re-opened; the others (assigned, in review) are skipped
        leads, skipped = _drop_unroutable(ctx.session, leads)
    batch = batch or load_batch(ctx.session, now)
    accounts = accounts_of(ctx.session, leads)
    intents = batch_intent(ctx.session, leads, now)
    routings = [route_one(lead, accounts[lead.account_id], intents[lead.id], base=base, batch=batch, cfg=cfg, now=now,
                          version=version, dry_run=dry_run) for lead in leads]
    if not dry_run and routings:
        store_decisions(ctx, routings, version=version, now=now)
    out = [x.routed for x in routings]
    return RoutingReport(version, dry_run, len(out), dict(sorted(Counter(r.kind for r in out).items())),
                         round(time.perf_counter() - t0, 3), out, skipped)


# -- the review queue ------------------------------------------------------------------------------

@dataclass
class DecisionView:
    id: int
    lead_id: int
    lead: str
    account: str
    value_cny: int
    kind: str
    status: str
    rep: str | None
    specialist: str | None
    intent_score: int
    tier: str
    confidence: float
    review_reasons: list[str]
    weights_version: int
    created_at: str
    respond_by: str | None
    decided_by: str | None
    note: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _login(session, user_id: int | None) -> str | None:
    return session.scalar(select(User.login).where(User.id == user_id)) if user_id else None


def _view(ctx: ToolContext, d: RoutingDecision) -> DecisionView:
    lead = ctx.session.get(Lead, d.lead_id)
    account = ctx.session.get(Account, lead.account_id)
    return DecisionView(d.id, lead.id, lead.name, account.name if ctx.language == "zh" else (account.name_en or account.name),
                        lead.value_cny, d.kind, d.status, _login(ctx.session, d.rep_id), _login(ctx.session, d.specialist_id),
                        d.intent_score, d.tier, d.confidence, list((d.reasons or {}).get("review") or []),
                        d.weights_version, d.created_at.isoformat(sep=" ", timespec="minutes"),
                        d.respond_by.isoformat(sep=" ", timespec="minutes") if d.respond_by else None,
                        _login(ctx.session, d.decided_by_id), d.note)


def _may_see_decision(ctx: ToolContext, d: RoutingDecision) -> bool:
    scope = ctx.scope
    if scope.everything:
        return True
    if ctx.user.role == "rep":
        return ctx.user.id in (d.rep_id, d.specialist_id)
    if ctx.user.role == "manager":
        lead = ctx.session.get(Lead, d.lead_id)
        region = ctx.session.scalar(select(Account.region_id).where(Account.id == lead.account_id))
        return region in scope.region_ids or bool({d.rep_id, d.specialist_id} & scope.owner_ids)
    return False


def get_decision(ctx: ToolContext, decision_id: int) -> RoutingDecision:
    refuse_trainer(ctx)
    d = ctx.session.get(RoutingDecision, decision_id)
    if d is None:
        raise NotFoundError(ctx.t(f"没有编号为 {decision_id} 的分配记录;用 `repcopilot review-queue list` 或 `repcopilot route --json` 查看编号。",
                                  f"there is no routing decision {decision_id}; find ids with `repcopilot review-queue list` or `repcopilot route --json`."))
    if not _may_see_decision(ctx, d):
        raise PermissionDenied(ctx.t(f"分配记录 {decision_id} 不在你的权限范围内;你可以查看分给你(或你团队、区域)的记录。",
                                     f"routing decision {decision_id} is outside what you may see; you can see the ones "
                                     "routed to you (a manager: the team's and the region's)."))
    return d


def my_decisions(*, ctx: ToolContext, limit: int = 20) -> list[DecisionView]:
    """Routing decisions the asker may see, newest first (a rep: routed to them)."""
    refuse_trainer(ctx)
    stmt = select(RoutingDecision).where(RoutingDecision.status != "dry_run")
    if ctx.user.role == "rep":
        stmt = stmt.where(or_(RoutingDecision.rep_id == ctx.user.id, RoutingDecision.specialist_id == ctx.user.id))
    elif not ctx.scope.everything:
        region_leads = select(Lead.id).join(Account, Account.id == Lead.account_id).where(Account.region_id.in_(ctx.scope.region_ids))
        stmt = stmt.where(or_(RoutingDecision.rep_id.in_(ctx.scope.owner_ids), RoutingDecision.lead_id.in_(region_leads)))
    rows = ctx.session.scalars(stmt.order_by(RoutingDecision.created_at.desc(), RoutingDecision.id.desc()).limit(max(1, min(limit, 500))))
    return [_view(ctx, d) for d in rows]


def review_queue(*, ctx: ToolContext) -> list[DecisionView]:
    """Leads waiting for a manager's review (the circuit breaker), oldest first."""
    _refuse_rep(ctx)
    stmt = select(RoutingDecision).where(RoutingDecision.status == "pending_review")
    if not ctx.scope.everything:
        region_leads = select(Lead.id).join(Account, Account.id == Lead.account_id).where(Account.region_id.in_(ctx.scope.region_ids))
        stmt = stmt.where(RoutingDecision.lead_id.in_(region_leads))
    return [_view(ctx, d) for d in ctx.session.scalars(stmt.order_by(RoutingDecision.created_at, RoutingDecision.id))]


def _pending(ctx: ToolContext, decision_id: int) -> RoutingDecision:
    _refuse_rep(ctx)
    d = get_decision(ctx, decision_id)
    if ctx.user.role == "manager":
        lead = ctx.session.get(Lead, d.lead_id)
        region = ctx.session.scalar(select(Account.region_id).where(Account.id == lead.account_id))
        if region not in ctx.scope.region_ids:
            raise PermissionDenied(ctx.t("只有客户所在区域的经理(或管理员)可以审核这条线索。",
                                         "Only a manager of the account's region (or an admin) may review this lead."))
    return d


def approve_decision(*, ctx: ToolContext, decision_id: int, note: str = "") -> DecisionView:
    """Approve the engine's proposal for a lead in the review queue: the proposed rep becomes its owner.
    Approving an approved decision again changes nothing. The caller commits."""
    d = _pending(ctx, decision_id)
    if d.status == "approved":
        return _view(ctx, d)
    if d.status != "pending_review":
        raise UserInputError(ctx.t(f"分配记录 {decision_id} 的状态是 {d.status},不在审核队列中。",
                                   f"routing decision {decision_id} is {d.status}, not waiting for review."))
    if d.rep_id is None:
        raise UserInputError(ctx.t("没有可建议的销售(都不可用);请用 override --rep 指定一位。",
                                   "the engine found no available rep; use `override --rep LOGIN` to name one."))
    return _settle(ctx, d, d.rep_id, "approved", note)


def override_decision(*, ctx: ToolContext, decision_id: int, rep_login: str, note: str = "") -> DecisionView:
    """Assign a lead in the review queue (or an auto-assigned one) to another rep, with a note."""
    d = _pending(ctx, decision_id)
    rep = ctx.session.scalar(select(User).where(User.login == rep_login))
    if rep is None or rep.role != "rep":
        raise NotFoundError(ctx.t(f"没有登录名为 {rep_login!r} 的销售(用 `repcopilot demo users` 查看)。",
                                  f"no rep with login {rep_login!r} (list them with `repcopilot demo users`)."))
    if not available(rep, ctx.now().date()):
        raise UserInputError(ctx.t(f"{rep.name} 已离职或正在休假,请选择其他销售。",
                                   f"{rep.name_en} has left or is on leave; choose another rep."))
    if d.status == "overridden" and d.rep_id == rep.id:
        return _view(ctx, d)
    if d.status not in ("pending_review", "assigned", "approved"):
        raise UserInputError(ctx.t(f"分配记录 {decision_id} 的状态是 {d.status},不能改派。",
                                   f"routing decision {decision_id} is {d.status}; it cannot be overridden."))
    return _settle(ctx, d, rep.id, "overridden", note)


def _settle(ctx: ToolContext, d: RoutingDecision, rep_id: int, status: str, note: str) -> DecisionView:
    now = ctx.now()
    cfg = load_routing_config()
    previous = d.rep_id
    d.status, d.rep_id, d.decided_by_id, d.decided_at, d.note = status, rep_id, ctx.user.id, now, note or None
    if d.respond_by is None:
        hours = cfg["dual" if d.kind == "dual" else "auto"]["respond_within_hours"]
        d.respond_by = now + timedelta(hours=hours)
    lead = ctx.session.get(Lead, d.lead_id)
    lead.owner_id = rep_id
    ctx.session.add(AuditLog(at=now, user_id=ctx.user.id, action=f"routing.{status}", target=f"routing_decision:{d.id}",
                             detail={"lead_id": d.lead_id, "rep_id": rep_id, "proposed_rep_id": previous, "note": note}))
    ctx.session.flush()
    return _view(ctx, d)


# -- "why this suggestion?" ------------------------------------------------------------------------

@dataclass
class Explanation:
    subject: str  # routing_decision:ID / alert:ID
    summary: str
    factors: list[dict[str, Any]]  # {factor, label, value, weight, contribution}
    events: list[dict[str, Any]]  # up to 5: {id, time, text, weight} (counts only in anonymized mode)
    confidence: float
    method: str
    anonymized: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def render(self, language: str) -> str:
        zh = language == "zh"
        lines = [f"# {self.subject}", self.summary, ""]
        if self.factors:
            lines.append("## 因素与权重" if zh else "## Factors and weights")
            lines += [f"- {f['label']}: {f['value']} × {f['weight']} = {f['contribution']}" for f in self.factors]
        lines.append("## 依据事件" if zh else "## Events behind it")
        lines += [f"- {e.get('time') or ''} {e['text']}" + (f" (+{e['weight']})" if e.get("weight") is not None else "")
                  for e in self.events] or (["- (无)"] if zh else ["- (none)"])
        lines += ["", (f"置信度:{self.confidence:.2f}" if zh else f"Confidence: {self.confidence:.2f}"), "", self.method]
        return "\n".join(lines)


def event_lines(ctx: ToolContext, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored evidence events → what the asker may see (anonymized mode: counts per kind only)."""
    from tools.text import describe_touch

    if ctx.anonymized:
        counts = Counter(e["kind"] for e in events)
        return [{"id": None, "time": None, "text": f"{label(KIND_LABELS, k, ctx.language)} × {n}", "weight": None}
                for k, n in sorted(counts.items())]
    return [{"id": e["id"], "time": e["time"], "weight": e.get("weight"),
             "text": describe_touch(e["kind"], e.get("asset"), e.get("title"), None, ctx.language)} for e in events[:MAX_EVENTS]]


def explain_decision(*, ctx: ToolContext, decision_id: int) -> Explanation:
    """Why a lead went where it went: each factor's value × weight for the chosen rep, the (up to 5)
    events behind the intent score, the confidence, and how it was computed."""
    d = get_decision(ctx, decision_id)
    cfg = load_routing_config()
    r = d.reasons or {}
    labels = cfg["labels"]
    factors = [{"factor": k, "label": labels[k]["zh" if ctx.language == "zh" else "en"], "value": r.get("parts", {}).get(k),
                "weight": round(r.get("weights", {}).get(k, 0.0), 3),
                "contribution": round((r.get("parts", {}).get(k) or 0) * r.get("weights", {}).get(k, 0.0), 1)}
               for k in FACTORS if r.get("parts")]
    lead = ctx.session.get(Lead, d.lead_id)
    kind = cfg["kinds"][d.kind]["zh" if ctx.language == "zh" else "en"]
    rep = _login(ctx.session, d.rep_id) or "—"
    reasons = ", ".join(r.get("review") or [])
    summary = ctx.t(
        f"线索 #{lead.id}({lead.name}):{kind},负责人 {rep},得分 {d.score},意向指数 {d.intent_score}(等级 {d.tier})"
        + (f";审核原因:{reasons}" if reasons else "") + f";权重版本 v{d.weights_version}。",
        f"Lead #{lead.id} ({lead.name}): {kind}, rep {rep}, score {d.score}, intent {d.intent_score} (tier {d.tier})"
        + (f"; review because: {reasons}" if reasons else "") + f"; weights version v{d.weights_version}.")
    method = ctx.t("方法:每个因素 0–100 分 × 权重(tools/routing.yaml 及已批准的权重版本)求和;意向指数按 tools/intent.yaml,"
                   "只使用已授权联系人的行为;置信度由意向置信度与第一、二名的分差得出。",
                   "Method: each factor scores 0–100 and is multiplied by its weight (tools/routing.yaml and the approved "
                   "weights versions); the intent score follows tools/intent.yaml over consented behaviour only; the "
                   "confidence combines the intent confidence and the margin between the top two reps.")
    return Explanation(f"routing_decision:{d.id}", summary, factors, event_lines(ctx, r.get("events") or []),
                       d.confidence, method, ctx.anonymized)


# -- feedback and weight versions ------------------------------------------------------------------

@dataclass
class FeedbackResult:
    feedback_id: int
    lead_id: int
    reason: str
    blamed: str  # the factor (or "intent") that misled
    attribution: dict[str, Any]
    proposed_version: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def attribute(reason: str, reasons: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Pure: which signal misled, from the decision's reasons.
    - invalid / competitor: the lead looked better than it was → the intent signal if it drove a
      high tier, otherwise the factor that contributed most beyond the runner-up's;
    - wrong_fit: the rep did not fit → the factor with the largest weighted contribution other than fit
      (fit under-weighted), or fit itself if fit was the driver (the profile misled)."""
    parts, weights = reasons.get("parts") or {}, reasons.get("weights") or {}
    contrib = {k: (parts.get(k) or 0) * weights.get(k, 0) for k in FACTORS}
    intent = reasons.get("intent") or {}
    if reason in ("invalid", "competitor") and intent.get("tier") in ("S", "A"):
        return "intent", {"why": "high intent tier on behaviour that did not hold", "intent": intent, "contributions": contrib}
    if reason == "wrong_fit":
        non_fit = {k: v for k, v in contrib.items() if k != "fit"}
        blamed = max(non_fit, key=lambda k: non_fit[k]) if non_fit else "fit"
        return blamed, {"why": "a factor other than scenario fit carried the choice", "contributions": contrib}
    blamed = max(contrib, key=lambda k: contrib[k]) if contrib else "fit"
    return blamed, {"why": "the factor that carried the choice", "contributions": contrib}


def propose_weights(weights: dict[str, float], blamed: str, reason: str, cfg: dict[str, Any]) -> dict[str, float] | None:
    """Pure: move ``step`` of weight away from the blamed factor (for wrong_fit: towards fit), renormalised;
    None when the blamed thing is not a weight (the intent signal) or nothing would change."""
    if blamed not in FACTORS:
        return None
    step, floor = float(cfg["feedback"]["step"]), float(cfg["feedback"]["min_weight"])
    w = dict(weights)
    take = min(step, max(0.0, w[blamed] - floor))
    if take <= 0:
        return None
    w[blamed] -= take
    receivers = ["fit"] if reason == "wrong_fit" and blamed != "fit" else [k for k in FACTORS if k != blamed]
    for k in receivers:
        w[k] += take / len(receivers)
    total = sum(w.values())
    return {k: round(v / total, 4) for k, v in w.items()}


def _refuse_unknown_reason(ctx: ToolContext, reason: str) -> None:
    if reason not in FEEDBACK_REASONS:
        raise UserInputError(ctx.t(f"原因只能是 {', '.join(FEEDBACK_REASONS)}(无效 / 签了竞品 / 匹配不当),而不是 {reason!r}",
                                   f"the reason must be one of {', '.join(FEEDBACK_REASONS)}, not {reason!r}"))


def latest_decision(session, lead_id: int) -> RoutingDecision | None:
    """The lead's latest stored routing decision (dry runs are not stored decisions)."""
    return session.scalar(select(RoutingDecision).where(RoutingDecision.lead_id == lead_id, RoutingDecision.status != "dry_run")
                          .order_by(RoutingDecision.id.desc()).limit(1))


def may_give_feedback(ctx: ToolContext, lead: Lead, d: RoutingDecision | None) -> bool:
    """The lead is the asker's (owner, or the decision's rep or specialist), or they see everything, or a
    manager's rep owns it."""
    mine = lead.owner_id == ctx.user.id or (d is not None and ctx.user.id in (d.rep_id, d.specialist_id))
    return mine or ctx.scope.everything or (ctx.user.role == "manager" and lead.owner_id in ctx.scope.owner_ids)


def _feedback_lead(ctx: ToolContext, lead_id: int) -> tuple[Lead, RoutingDecision | None]:
    """The lead feedback is given on and its latest decision, or why the asker may not give it."""
    lead = ctx.session.get(Lead, lead_id)
    if lead is None:
        raise NotFoundError(ctx.t(f"没有编号为 {lead_id} 的线索。", f"there is no lead {lead_id}."))
    d = latest_decision(ctx.session, lead_id)
    if not may_give_feedback(ctx, lead, d):
        raise PermissionDenied(ctx.t(f"线索 {lead_id} 不是分给你的;只能对分给自己的线索提交反馈。",
                                     f"lead {lead_id} was not routed to you; you can give feedback on your own leads."))
    return lead, d


def _earlier_feedback(ctx: ToolContext, lead_id: int, reason: str) -> FeedbackResult | None:
    """The same verdict on the same lead by the same person, answered as it was first recorded."""
    existing = ctx.session.scalar(select(LeadFeedback).where(LeadFeedback.lead_id == lead_id, LeadFeedback.user_id == ctx.user.id,
                                                             LeadFeedback.reason == reason).limit(1))
    if existing is None:
        return None
    version = ctx.session.scalar(select(RoutingWeightVersion.version).where(RoutingWeightVersion.id == existing.proposed_version_id)) \
        if existing.proposed_version_id else None
    return FeedbackResult(existing.id, lead_id, reason, existing.attribution.get("blamed", "?"), existing.attribution, version,
                          ctx.t("这条反馈已经记录过,未重复提交。", "This feedback was already recorded; nothing changed."))


def _propose_version(ctx: ToolContext, *, lead_id: int, reason: str, blamed: str, cfg: dict[str, Any],
                     now: datetime) -> RoutingWeightVersion | None:
    """Store a pending weights version with less weight on the blamed factor (None: nothing to change)."""
    version, current = active_weights(ctx.session)
    proposal = propose_weights(current, blamed, reason, cfg)
    if proposal is None:
        return None
    next_version = (ctx.session.scalar(select(func.max(RoutingWeightVersion.version))) or 0) + 1
    row = RoutingWeightVersion(version=next_version, weights=proposal, status="pending", based_on=version,
                               reason=f"feedback on lead {lead_id}: {reason} → less weight on {blamed}",
                               proposed_by_id=ctx.user.id, created_at=now)
    ctx.session.add(row)
    ctx.session.flush()
    return row


LEAD_STATUS_AFTER_FEEDBACK = {"invalid": "invalid", "competitor": "lost"}  # wrong_fit leaves the lead as it is


def _feedback_message(ctx: ToolContext, blamed: str, proposed: RoutingWeightVersion | None, cfg: dict[str, Any]) -> str:
    what = cfg["labels"].get(blamed, {"zh": blamed, "en": blamed})
    return ctx.t(f"已记录。归因:{what['zh']}误导了这次分配。" + (f"已提出权重版本 v{proposed.version},待经理审核后生效。" if proposed else "本次不调整权重(意向信号问题已记录)。"),
                 f"Recorded. Attribution: {what['en']} misled this routing. " + (f"Proposed weights version v{proposed.version}, effective once a manager approves it." if proposed else "No weight change proposed (the intent signal is noted)."))


def submit_feedback(*, ctx: ToolContext, lead_id: int, reason: str, note: str = "") -> FeedbackResult:
    """A rep's verdict on a lead routed to them (a manager: the team's): invalid / competitor /
    wrong_fit. Attributes the miss and stores a proposed weights version (pending a manager's review).
    The same verdict on the same lead again is answered with the first one. The caller commits."""
    refuse_trainer(ctx)
    _refuse_unknown_reason(ctx, reason)
    lead, d = _feedback_lead(ctx, lead_id)
    earlier = _earlier_feedback(ctx, lead_id, reason)
    if earlier is not None:
        return earlier
    cfg = load_routing_config()
    now = ctx.now()
    blamed, detail = attribute(reason, (d.reasons if d else {}) or {})
    detail = {"blamed": blamed, "decision_id": d.id if d else None, **detail}
    proposed = _propose_version(ctx, lead_id=lead_id, reason=reason, blamed=blamed, cfg=cfg, now=now)
    fb = LeadFeedback(lead_id=lead_id, decision_id=d.id if d else None, user_id=ctx.user.id, reason=reason, note=note or "",
                      attribution=detail, proposed_version_id=proposed.id if proposed else None, created_at=now)
    ctx.session.add(fb)
    if reason in LEAD_STATUS_AFTER_FEEDBACK:
        lead.status = LEAD_STATUS_AFTER_FEEDBACK[reason]
    ctx.session.add(AuditLog(at=now, user_id=ctx.user.id, action="routing.feedback", target=f"lead:{lead_id}",
                             detail={"reason": reason, "blamed": blamed}))
    ctx.session.flush()
    return FeedbackResult(fb.id, lead_id, reason, blamed, detail, proposed.version if proposed else None,
                          _feedback_message(ctx, blamed, proposed, cfg))


@dataclass
class WeightVersionView:
    version: int
    status: str
    weights: dict[str, float]
    based_on: int | None
    reason: str
    created_at: str
    decided_by: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def list_weight_versions(*, ctx: ToolContext) -> list[WeightVersionView]:
    _refuse_rep(ctx)
    active_weights(ctx.session)
    return [WeightVersionView(v.version, v.status, v.weights, v.based_on, v.reason, v.created_at.isoformat(sep=" ", timespec="minutes"),
                              _login(ctx.session, v.decided_by_id))
            for v in ctx.session.scalars(select(RoutingWeightVersion).order_by(RoutingWeightVersion.version))]


def _version(ctx: ToolContext, version: int) -> RoutingWeightVersion:
    _refuse_rep(ctx)
    active_weights(ctx.session)
    row = ctx.session.scalar(select(RoutingWeightVersion).where(RoutingWeightVersion.version == version))
    if row is None:
        raise NotFoundError(ctx.t(f"没有权重版本 v{version};用 `repcopilot routing weights list` 查看。",
                                  f"there is no weights version v{version}; list them with `repcopilot routing weights list`."))
    return row


def _activate(ctx: ToolContext, row: RoutingWeightVersion, action: str) -> WeightVersionView:
    now = ctx.now()
    ctx.session.execute(update(RoutingWeightVersion).where(RoutingWeightVersion.status == "active")
                        .values(status="retired").execution_options(synchronize_session=False))
    ctx.session.expire_all()
    row = ctx.session.get(RoutingWeightVersion, row.id)
    row.status, row.decided_by_id, row.decided_at = "active", ctx.user.id, now
    ctx.session.add(AuditLog(at=now, user_id=ctx.user.id, action=f"routing.weights.{action}", target=f"weights:v{row.version}",
                             detail={"weights": row.weights}))
    ctx.session.flush()
    return next(v for v in list_weight_versions(ctx=ctx) if v.version == row.version)


def approve_weights(*, ctx: ToolContext, version: int) -> WeightVersionView:
    """Make a pending weights version the active one (the previous one is retired, revertible)."""
    row = _version(ctx, version)
    if row.status == "active":
        return next(v for v in list_weight_versions(ctx=ctx) if v.version == version)
    if row.status != "pending":
        raise UserInputError(ctx.t(f"v{version} 的状态是 {row.status},不是待审核;要回到它请用 revert。",
                                   f"v{version} is {row.status}, not pending; use `revert` to go back to it."))
    check_weights(row.weights, where=f"in weights version v{version}")
    return _activate(ctx, row, "approve")


def reject_weights(*, ctx: ToolContext, version: int) -> WeightVersionView:
    row = _version(ctx, version)
    if row.status not in ("pending", "rejected"):
        raise UserInputError(ctx.t(f"v{version} 的状态是 {row.status},只能拒绝待审核的版本。",
                                   f"v{version} is {row.status}; only pending versions can be rejected."))
    row.status, row.decided_by_id, row.decided_at = "rejected", ctx.user.id, ctx.now()
    ctx.session.flush()
    return next(v for v in list_weight_versions(ctx=ctx) if v.version == version)


def revert_weights(*, ctx: ToolContext, version: int) -> WeightVersionView:
    """Re-activate an earlier (retired) version."""
    row = _version(ctx, version)
    if row.status == "active":
        return next(v for v in list_weight_versions(ctx=ctx) if v.version == version)
    if row.status != "retired":
        raise UserInputError(ctx.t(f"v{version} 的状态是 {row.status};只能回退到曾经生效过的版本。",
                                   f"v{version} is {row.status}; you can only revert to a version that was active before."))
    return _activate(ctx, row, "revert")


# -- backtest ------------------------------------------------------------------------------------

def backtest(*, ctx: ToolContext) -> dict[str, Any]:
    """The engine's choice for every historical assigned lead (as of its creation, with today's
    profiles and the active weights) against its historical owner; conversion of the leads whose
    owner was the engine's better-fit choice vs the rest. An estimate, not a controlled experiment."""
    _refuse_rep(ctx)
    cfg = load_routing_config()
    now = ctx.now()
    version, base = active_weights(ctx.session)
    batch = load_batch(ctx.session, now)
    stmt = visible_leads(ctx.session, ctx.user).where(Lead.owner_id.is_not(None), Lead.status.in_(
        ("converted", "lost", "invalid", "contacted", "qualified", "nurture")), Lead.created_at <= now - timedelta(days=30))
    leads = list(ctx.session.scalars(stmt.order_by(Lead.id)))
    accounts = {a.id: a for a in ctx.session.scalars(select(Account))}
    same = {"leads": 0, "converted": 0}
    other = {"leads": 0, "converted": 0}
    for lead in leads:
        a = accounts[lead.account_id]
        ranked = score_reps(batch, scenario=lead.scenario, account_id=a.id, segment=a.segment, region_id=a.region_id,
                            international=a.international, weights=effective_weights(base, "B", cfg), cfg=cfg)
        if not ranked:
            continue
        top = {x.rep.id for x in ranked[:3]}
        bucket = same if lead.owner_id in top else other
        bucket["leads"] += 1
        bucket["converted"] += lead.status == "converted"
    rate = lambda b: round(b["converted"] / b["leads"], 4) if b["leads"] else None
    r1, r2 = rate(same), rate(other)
    return {
        "weights_version": version, "leads": len(leads),
        "owner_was_engine_top3": dict(same, conversion=r1), "owner_not_engine_top3": dict(other, conversion=r2),
        "conversion_lift_pts": round(100 * (r1 - r2), 2) if r1 is not None and r2 is not None else None,
        "method": ctx.t(
            "估算:对每条已分配且创建满30天的历史线索,用今天的能力画像和当前权重重新打分(区域、负载按今天计),看历史负责人是否在引擎前三名中;"
            "比较两组的转化率。负责人并非随机分配,画像也用到了事后数据,因此这是相关性估计,不是对照实验。",
            "Estimate: every historical assigned lead at least 30 days old is re-scored with today's capability profiles and "
            "active weights (region and load as of today); we check whether its historical owner was among the engine's top 3 "
            "and compare the conversion of the two groups. Owners were not assigned at random and the profiles use later data, "
            "so this is a correlational estimate, not a controlled experiment."),
    }


# -- for the copilot: "who should take this lead?" / "why was it routed to me?" ------------------------

@dataclass
class CandidateView:
    login: str
    name: str
    score: float
    parts: dict[str, float]  # factor → 0–100
    reasons: list[str]  # one line per factor, in the asker's language

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RoutingSuggestion:
    lead_id: int
    lead: str
    kind: str  # what the engine would do: auto / dual / nurture / review
    kind_label: str
    intent_score: int
    tier: str
    candidates: list[CandidateView]  # best first
    specialist: str | None
    review_reasons: list[str]
    events: list[dict[str, Any]]  # ≤ 5 (counts per kind in anonymized mode)
    confidence: float
    weights_version: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def who_should_take(*, ctx: ToolContext, lead_id: int, limit: int = 3) -> RoutingSuggestion:
    """Who the engine would route a lead to, right now, and why (read-only: nothing is stored).
    A manager or admin for any lead they may see; a rep for their own leads."""
    from tools.leads import get_visible_lead

    lead = get_visible_lead(ctx, lead_id)
    cfg = load_routing_config()
    now = ctx.now()
    version, base = active_weights(ctx.session)
    batch = load_batch(ctx.session, now)
    account = ctx.session.get(Account, lead.account_id)
    intent = batch_intent(ctx.session, [lead], now)[lead.id]
    weights = effective_weights(base, intent.tier, cfg)
    ranked = score_reps(batch, scenario=lead.scenario, account_id=account.id, segment=account.segment,
                        region_id=account.region_id, international=account.international, weights=weights, cfg=cfg)
    d = decide(lead, account, intent, ranked, batch, cfg, now)
    labels = cfg["labels"]
    lang = "zh" if ctx.language == "zh" else "en"
    cands = []
    for total, _load, rep, parts in ranked[:max(1, min(limit, 10))]:
        reasons = [f"{labels[k][lang]}: {parts[k]:.0f} × {weights[k]:.2f}" for k in FACTORS]
        cands.append(CandidateView(rep.login, rep.name if lang == "zh" else rep.name_en, round(total, 1),
                                   {k: round(v, 1) for k, v in parts.items()}, reasons))
    events = _reasons(intent, ranked, weights, d)["events"]
    return RoutingSuggestion(lead.id, lead.name, d.kind, cfg["kinds"][d.kind][lang], intent.score, intent.tier, cands,
                             d.specialist.rep.login if d.specialist else None, d.review, event_lines(ctx, events),
                             _confidence(intent, ranked) if ranked else 0.0, version)


def explain_lead_routing(*, ctx: ToolContext, lead_id: int) -> Explanation:
    """"Why was this lead routed to me?": the explanation of the lead's latest stored routing decision."""
    from tools.leads import get_visible_lead

    get_visible_lead(ctx, lead_id)
    d = ctx.session.scalar(select(RoutingDecision).where(RoutingDecision.lead_id == lead_id, RoutingDecision.status != "dry_run")
                           .order_by(RoutingDecision.id.desc()).limit(1))
    if d is None:
        raise NotFoundError(ctx.t(f"线索 {lead_id} 还没有分配记录(它不是由分配引擎分配的)。",
                                  f"lead {lead_id} has no routing decision (it was not assigned by the routing engine)."))
    return explain_decision(ctx=ctx, decision_id=d.id)
