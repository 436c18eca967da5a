"""The review queue: leads waiting for a manager, who approves or overrides."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select

from core.errors import NotFoundError, PermissionDenied, UserInputError
from crm.models import (
    Account,
    AuditLog,
    Lead,
    RoutingDecision,
    User,
)
from crm.roles import Role
from tools.context import ToolContext
from tools.leads import (
    refuse_trainer,
)
from tools.routing.batch import available
from tools.routing.config import load_routing_config
from tools.routing.engine import _refuse_rep


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
    if ctx.user.role == Role.REP:
        return ctx.user.id in (d.rep_id, d.specialist_id)
    if ctx.user.role == Role.MANAGER:
        lead = ctx.session.get(Lead, d.lead_id)
        region = ctx.session.scalar(select(Account.region_id).where(Account.id == lead.account_id))
        return region in scope.region_ids or bool({d.rep_id, d.specialist_id} & scope.owner_ids)
    return False


def get_decision(ctx: ToolContext, decision_id: int) -> RoutingDecision:
    refuse_trainer(ctx)
    d = ctx.session.get(RoutingDecision, decision_id)
    if d is None:
        raise NotFoundError(ctx.t(f"没有编号为 {decision_id} 的分配记录;"
                                  "用 `repcopilot review-queue list` 或 `repcopilot route --json` 查看编号。",
                                  f"there is no routing decision {decision_id}; "
                                  "find ids with `repcopilot review-queue list` or `repcopilot route --json`."))
    if not _may_see_decision(ctx, d):
        raise PermissionDenied(ctx.t(f"分配记录 {decision_id} 不在你的权限范围内;你可以查看分给你(或你团队、区域)的记录。",
                                     f"routing decision {decision_id} is outside what you may see; you can see the ones "
                                     "routed to you (a manager: the team's and the region's)."))
    return d


def my_decisions(*, ctx: ToolContext, limit: int = 20) -> list[DecisionView]:
    """Routing decisions the asker may see, newest first (a rep: routed to them)."""
    refuse_trainer(ctx)
    stmt = select(RoutingDecision).where(RoutingDecision.status != "dry_run")
    if ctx.user.role == Role.REP:
        stmt = stmt.where(or_(RoutingDecision.rep_id == ctx.user.id, RoutingDecision.specialist_id == ctx.user.id))
    elif not ctx.scope.everything:
        region_leads = select(Lead.id).join(Account, Account.id == Lead.account_id).where(Account.region_id.in_(ctx.scope.region_ids))
        stmt = stmt.where(or_(RoutingDecision.rep_id.in_(ctx.scope.owner_ids), RoutingDecision.lead_id.in_(region_leads)))
    rows = ctx.session.scalars(stmt.order_by(RoutingDecision.created_at.desc(), RoutingDecision.id.desc()).limit(max(1, min(limit, 500))))
    return [_view(ctx, d) for d in rows]


def review_queue(*, ctx: ToolContext, region_id: int | None = None) -> list[DecisionView]:
    """Leads waiting for a manager's review (the circuit breaker), oldest first — of one region, when given."""
    _refuse_rep(ctx)
    stmt = select(RoutingDecision).where(RoutingDecision.status == "pending_review")
    if not ctx.scope.everything:
        region_leads = select(Lead.id).join(Account, Account.id == Lead.account_id).where(Account.region_id.in_(ctx.scope.region_ids))
        stmt = stmt.where(RoutingDecision.lead_id.in_(region_leads))
    if region_id is not None:  # "north region pending routing approvals?" from an admin
        stmt = stmt.where(RoutingDecision.lead_id.in_(select(Lead.id).join(Account, Account.id == Lead.account_id)
                                                      .where(Account.region_id == region_id)))
    return [_view(ctx, d) for d in ctx.session.scalars(stmt.order_by(RoutingDecision.created_at, RoutingDecision.id))]


def _pending(ctx: ToolContext, decision_id: int) -> RoutingDecision:
    _refuse_rep(ctx)
    d = get_decision(ctx, decision_id)
    if ctx.user.role == Role.MANAGER:
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
    if rep is None or rep.role != Role.REP:
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


def reject_decision(*, ctx: ToolContext, decision_id: int, note: str = "") -> DecisionView:
    """Reject the engine's proposal for a lead in the review queue: nobody is assigned and the lead goes
    back to marketing's nurture ("鼎盛那条驳回 让市场先培育着"), with the note. Rejecting it again changes
    nothing; a decision already approved or overridden is not rejected (override it instead). The caller commits."""
    d = _pending(ctx, decision_id)
    if d.status == "nurture" and d.decided_by_id is not None:
        return _view(ctx, d)
    if d.status != "pending_review":
        raise UserInputError(ctx.t(f"分配记录 {decision_id} 的状态是 {d.status},不在审核队列中,不能驳回;要换人请改派。",
                                   f"routing decision {decision_id} is {d.status}, not waiting for review, so it cannot be "
                                   "rejected; override it to change the rep."))
    now = ctx.now()
    proposed = d.rep_id
    d.status, d.rep_id, d.decided_by_id, d.decided_at, d.note = "nurture", None, ctx.user.id, now, note or None
    ctx.session.get(Lead, d.lead_id).owner_id = None
    ctx.session.add(AuditLog(at=now, user_id=ctx.user.id, action="routing.rejected", target=f"routing_decision:{d.id}",
                             detail={"lead_id": d.lead_id, "proposed_rep_id": proposed, "note": note}))
    ctx.session.flush()
    return _view(ctx, d)


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
