"""review_queue: the manager review queue of lead routing (list, approve, override)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import select

from agent.tools.base import ToolOutput, ToolSpec
from crm.models import Region, User
from tools.capability import find_reps_in
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.routing import approve_decision, override_decision, reject_decision, review_queue
from tools.text import person_label


class ReviewQueueArgs(BaseModel):
    action: str = Field("list", description="'list' the leads waiting for review, 'approve' the engine's proposal, "
                                             "'override' it with another rep, or 'reject' it (nobody assigned: the lead "
                                             "goes back to marketing's nurture)")
    decision_id: int | None = Field(None, description="the routing decision's id, for approve / override (with list: only it)")
    rep: str | None = Field(None, description="for override: the rep to assign instead (login or name)")
    note: str | None = Field(None, description="why, kept with the decision")
    region: str | None = Field(None, description="for list: a region named in the question (code), when it is not the asker's own")
    lead_id: int | None = Field(None, description="for approve / override: the lead whose waiting decision is meant, when the "
                                                  "question names a lead rather than a decision")


def _decision_line(ctx: ToolContext, v) -> str:
    who = v.rep or ctx.t("(无可用销售)", "(no rep available)")
    reasons = "; ".join(v.review_reasons)
    return ctx.t(f"- #{v.id} 线索 #{v.lead_id} {v.lead}({v.account})· {v.value_cny:,} 元 · 建议 {who} · 意向 {v.intent_score}({v.tier})"
                 + (f" · 原因:{reasons}" if reasons else ""),
                 f"- #{v.id} lead #{v.lead_id} {v.lead} ({v.account}) · CNY {v.value_cny:,} · proposed {who} · intent {v.intent_score} "
                 f"({v.tier})"
                 + (f" · because: {reasons}" if reasons else ""))


def _review_queue(*, ctx: ToolContext, action: str, decision_id: int | None, rep: str | None, note: str | None,
                  region: str | None = None, lead_id: int | None = None) -> ToolOutput:
    """The human circuit breaker from the chat: leads over the value threshold or needing
    cross-department work wait here until a manager (of the account's region) or an admin
    approves the engine's proposal or assigns another rep. The caller commits."""
    if action not in ("list", "approve", "override", "reject"):
        return ToolOutput(text=ctx.t("action 只能是 list、approve、override 或 reject。",
                                     "action must be list, approve, override or reject."), error="input")
    if action == "list":
        _refuse_another_regions_queue(ctx, region)
        return _waiting_for_review(ctx, decision_id, region)
    if decision_id is None and lead_id is not None:
        decision_id = _waiting_decision_of(ctx, lead_id)
        if decision_id is None:
            return _nothing_waits_for(ctx, lead_id)
    if decision_id is None:
        return ToolOutput(text=ctx.t("请给出分配记录编号,例如“批准分配 12”。", "Give the decision's id, e.g. “approve decision 12”."),
                          error="input")
    if action == "approve":
        return _decided(ctx, action, approve_decision(ctx=ctx, decision_id=decision_id, note=note or ""))
    if action == "reject":
        return _rejected(ctx, reject_decision(ctx=ctx, decision_id=decision_id, note=note or ""))
    login = override_rep(ctx, rep)
    if login is None:
        return ToolOutput(text=ctx.t(f"请说明改派给哪位销售(姓名或登录名),例如“把分配 {decision_id} 改派给李娜”。",
                                     f"Say which rep to assign instead (name or login), e.g. “override decision {decision_id} to lina”."),
                          error="input")
    return _decided(ctx, action, override_decision(ctx=ctx, decision_id=decision_id, rep_login=login, note=note or ""))


def _waiting_decision_of(ctx: ToolContext, lead_id: int) -> int | None:
    """The decision waiting for review of a lead the asker may see (refused when they may not)."""
    from tools.leads.access import get_visible_lead

    get_visible_lead(ctx, lead_id)
    return next((v.id for v in review_queue(ctx=ctx) if v.lead_id == lead_id), None)


def _nothing_waits_for(ctx: ToolContext, lead_id: int) -> ToolOutput:
    """A review action on a lead with no decision waiting: say so, and what the queue holds."""
    waiting = len(review_queue(ctx=ctx))
    text = ctx.t(f"线索 #{lead_id} 没有等待审核的分配,所以没有可批准或改派的。审核队列里现在有 {waiting} 条;说“审核队列”查看,"
                 f"或问“线索 {lead_id} 该给谁”看推荐。",
                 f"Lead #{lead_id} has no routing decision waiting for review, so there is nothing to approve or override. "
                 f"The queue holds {waiting}; say “review queue” to see them, or ask “who should take lead {lead_id}”.")
    return ToolOutput(text=text, data={"lead_id": lead_id, "waiting": waiting}, confidence=0.9, focus={"lead_id": lead_id})


def _refuse_another_regions_queue(ctx: ToolContext, region: str | None) -> None:
    """A manager asking for another region's queue is refused, naming whose it is (an admin sees every region's)."""
    from core.errors import PermissionDenied
    from crm.access import team_manager
    from crm.models import Team
    from crm.policy import sees_everything

    if not region or sees_everything(ctx.user):
        return
    if region == "all":  # "list all pending routing approvals company-wide": every region's queue is the admins'
        raise PermissionDenied(ctx.t("全公司的审核队列由管理员处理;你看到的是自己区域的队列。",
                                     "The company-wide review queue is for admins; yours is your own region's."))
    r = ctx.session.scalar(select(Region).where(Region.code == region))
    own = ctx.session.get(Team, ctx.user.team_id).region_id if ctx.user.team_id else None
    if r is None or r.id == own:
        return
    team = ctx.session.scalar(select(Team.id).where(Team.region_id == r.id).order_by(Team.id).limit(1))
    manager = team_manager(ctx.session, team)
    who_zh = manager.name if manager else ""
    who_en = f" (manager {manager.name_en})" if manager else ""
    raise PermissionDenied(ctx.t(f"{r.name_zh}的审核队列由{r.name_zh}的经理{who_zh}或管理员处理;你看到的是自己区域的队列。",
                                 f"{r.name_en}'s review queue is for its manager{who_en} or an admin; yours is your own region's."))


def override_rep(ctx: ToolContext, rep: str | None) -> str | None:
    """The login of the one rep an override names: an exact login, else the single rep whose name
    matches; None when no rep or several match."""
    exact = ctx.session.scalar(select(User.login).where(User.login == (rep or "").strip())) if rep else None
    reps = [exact] if exact else [u.login for u in find_reps_in(ctx.session, rep or "")]
    return reps[0] if len(reps) == 1 else None


def _person(ctx: ToolContext, login: str | None) -> str | None:
    """"李娜 (lina)": people by name, with the login that commands take."""
    user = ctx.session.scalar(select(User).where(User.login == login)) if login else None
    return person_label(user, ctx.language) if user is not None else login


def _decided(ctx: ToolContext, action: str, view) -> ToolOutput:
    """The answer once a decision is approved or overridden: who now has the lead, and by when to respond."""
    rep = _person(ctx, view.rep)
    done = ctx.t(f"分配 #{view.id} 已{'批准' if action == 'approve' else '改派'}:线索 #{view.lead_id} {view.lead} 由 {rep} 负责"
                 + (f",请在 {view.respond_by} 前响应。" if view.respond_by else "。"),
                 f"Decision #{view.id} {'approved' if action == 'approve' else 'overridden'}: lead #{view.lead_id} {view.lead} "
                 f"now belongs to {rep}" + (f"; respond by {view.respond_by}." if view.respond_by else "."))
    return ToolOutput(text=done, data=view.to_json(), confidence=view.confidence,
                      evidence=[Evidence("routing_decision", str(view.id), view.created_at, done)],
                      focus={"lead_id": view.lead_id, "decision_id": view.id})


def _waiting_for_review(ctx: ToolContext, decision_id: int | None = None, region: str | None = None) -> ToolOutput:
    """The queue (of the region named, for an admin), or — with ``decision_id`` — the one waiting decision asked about."""
    code = region.strip().lower() if region and region != "all" else None
    views = review_queue(ctx=ctx, region_id=ctx.session.scalar(select(Region.id).where(Region.code == code)) if code else None)
    if decision_id is not None:
        views = [v for v in views if v.id == decision_id] or views
    if not views:
        return ToolOutput(text=ctx.t("审核队列是空的:没有等待审核的线索。", "The review queue is empty: no lead is waiting for review."),
                          data={"decisions": []}, confidence=0.9)
    lines = [ctx.t(f"等待审核的线索({len(views)} 条,最早的在前):", f"Leads waiting for review ({len(views)}, oldest first):")]
    lines += [_decision_line(ctx, v) for v in views[:15]]
    lines.append(ctx.t("说“批准分配 12”采用建议,或“把分配 12 改派给李娜”。",
                       "Say “approve decision 12” to accept the proposal, or “override decision 12 to lina”."))
    return ToolOutput(text="\n".join(lines), data={"decisions": [v.to_json() for v in views]},
                      evidence=[Evidence("routing_decision", str(v.id), v.created_at, f"lead #{v.lead_id} {v.lead}") for v in views[:15]],
                      confidence=min(v.confidence for v in views),
                      focus={"decision_id": views[0].id, "only": "decision_id" if len(views) == 1 else None})


SPEC = ToolSpec(
    "review_queue",
    "The manager review queue of lead routing (leads over the value threshold or needing cross-department work are not "
    "auto-assigned). action='list' shows the leads waiting; 'approve' accepts the engine's proposed rep for a decision; "
    "'override' assigns another rep (rep = login or name). Managers of the account's region and admins only. Use for "
    "'审核队列', '批准分配 12', '把分配 12 改派给李娜', 'review queue', 'approve decision 12'.",
    ReviewQueueArgs, _review_queue)


def _rejected(ctx: ToolContext, view) -> ToolOutput:
    """The answer once a proposal is rejected: nobody has the lead, it is back in marketing's nurture."""
    done = ctx.t(f"分配 #{view.id} 已驳回:线索 #{view.lead_id} {view.lead}({view.account})不分配给任何销售,退回市场培育"
                 + (f";备注:{view.note}" if view.note else "") + "。要改派给某位销售,请说“改派给 …”。",
                 f"Decision #{view.id} rejected: lead #{view.lead_id} {view.lead} ({view.account}) is assigned to nobody and goes "
                 "back to marketing's nurture" + (f"; note: {view.note}" if view.note else "")
                 + ". To give it to a rep instead, say “override to …”.")
    return ToolOutput(text=done, data=view.to_json(), confidence=view.confidence,
                      evidence=[Evidence("routing_decision", str(view.id), view.created_at, done)],
                      focus={"lead_id": view.lead_id, "decision_id": view.id})
