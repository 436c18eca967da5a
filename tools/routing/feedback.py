"""Feedback: a rep's verdict on a routed lead, attributed to one factor, proposing a new weights version."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from core.errors import NotFoundError, PermissionDenied, UserInputError
from crm.models import (
    FEEDBACK_REASONS,
    AuditLog,
    Lead,
    LeadFeedback,
    RoutingDecision,
    RoutingWeightVersion,
)
from crm.roles import Role
from tools.context import ToolContext
from tools.leads import (
    refuse_trainer,
)
from tools.routing.config import FACTORS, active_weights, load_routing_config


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
    return mine or ctx.scope.everything or (ctx.user.role == Role.MANAGER and lead.owner_id in ctx.scope.owner_ids)


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
    zh = (f"已提出权重版本 v{proposed.version},待经理审核后生效。" if proposed else "本次不调整权重(意向信号问题已记录)。")
    en = (f"Proposed weights version v{proposed.version}, effective once a manager approves it." if proposed
          else "No weight change proposed (the intent signal is noted).")
    return ctx.t(f"已记录。归因:{what['zh']}误导了这次分配。" + zh, f"Recorded. Attribution: {what['en']} misled this routing. " + en)


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
