"""Decisions: what happens to each lead (auto / dual / nurture / review), and the routing run that stores them."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select, update

from core.errors import NotFoundError, PermissionDenied, UserInputError
from crm.access import visible_leads
from crm.models import (
    Account,
    AuditLog,
    Lead,
    RoutingDecision,
)
from crm.roles import Role
from tools.context import ToolContext
from tools.leads import (
    refuse_trainer,
)
from tools.routing.batch import Batch, RepInfo, load_batch
from tools.routing.config import CHUNK, active_weights, load_routing_config
from tools.routing.intent import LeadIntent, batch_intent
from tools.routing.scoring import ScoredRep, effective_weights, score_reps
from tools.text import fmt_time


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
    if ctx.user.role not in (Role.MANAGER, Role.ADMIN):
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
