"""lead_routing: who should take a lead, or why it was routed where it was."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent.tools.base import (
    ToolOutput,
    ToolSpec,
    event_evidence,
    event_lines,
    resolve_lead,
)
from core.errors import PermissionDenied
from crm.access import team_manager
from crm.roles import Role
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.routing import (
    explain_lead_routing,
    load_routing_config,
    my_decisions,
    who_should_take,
)


class LeadRoutingArgs(BaseModel):
    query: str = Field("", description="the lead as the user named it (account or lead name, 'lead 638'); empty for 'this lead'")
    lead_id: int | None = Field(None, description="the lead id, when known from the question or the conversation")
    mode: str = Field("who", description="'who': who should take the lead (ranked reps with reasons); "
                                         "'why': why the lead was routed where it was (the stored decision); "
                                         "'reassign': the asker wants the lead handed to someone (refused to reps)")
    reps: list[str] = Field(default_factory=list, description="the reps the question names (a reassignment's from and to, "
                                                              "a colleague asked about), checked against who the asker may see")
    region: str | None = Field(None, description="reassign: a region named (code), checked against the asker's own")


REVIEW_REASON_LABELS = {"value": ("金额达到审核门槛({threshold:,} 元)", "value at or above the review threshold ({threshold:,} CNY)"),
                        "cross_department_scenario": ("跨部门场景", "a cross-department scenario"),
                        "cross_team": ("最合适的销售不在客户现负责人的团队", "the best rep is outside the account owner's team"),
                        "no_rep": ("没有可用的销售", "no rep available")}


def _review_reasons(ctx: ToolContext, codes: list[str]) -> str:
    threshold = int(load_routing_config()["review"]["value_threshold_cny"])
    return ("、" if ctx.language == "zh" else ", ").join(
        REVIEW_REASON_LABELS[c][0 if ctx.language == "zh" else 1].format(threshold=threshold) if c in REVIEW_REASON_LABELS else c
        for c in codes)


def _lead_routing(*, ctx: ToolContext, query: str, lead_id: int | None, mode: str, reps: list[str] | None = None,
                  region: str | None = None) -> ToolOutput:
    if mode not in ("who", "why", "reassign"):
        return ToolOutput(text=ctx.t("mode 只能是 who、why 或 reassign。", "mode must be 'who', 'why' or 'reassign'."), error="input")
    _refuse_another_teams(ctx, reps or [], region)  # "韩子涵那条 为啥分给她不给我": a colleague's routing, refused to a rep
    if mode == "reassign":
        _refuse_a_reps_transfer(ctx)
        mode = "who"  # a manager asking to hand a lead over sees who should take it (the review queue overrides)
    if lead_id is None:
        found = _lead_asked_about(ctx, query, mode)
        if isinstance(found, ToolOutput):
            return found
        lead_id = found
    return _why_routed(ctx, lead_id) if mode == "why" else _who_should_take(ctx, lead_id)


def _refuse_a_reps_transfer(ctx: ToolContext) -> None:
    """Leads are assigned by the routing engine and reassigned by managers: a rep asking to hand a lead
    over (or to be given one) is told so, naming their manager."""
    if ctx.role != Role.REP:
        return
    manager = team_manager(ctx.session, ctx.user.team_id)
    name = (manager.name if ctx.language == "zh" else manager.name_en) if manager else None
    raise PermissionDenied(ctx.t(
        f"线索的分配和改派由经理决定,销售不能自己转出或领取线索;请联系你的经理{name or ''},说明原因。",
        f"Leads are assigned by the routing engine and reassigned by managers; reps cannot hand a lead over or "
        f"take one. Ask your manager{' ' + name if name else ''}, with the reason."))


def _refuse_another_teams(ctx: ToolContext, reps: list[str], region: str | None) -> None:
    """A manager moving leads from or to a rep outside their team, or in another region, is refused
    ("把西部田野的线索转两条给朱艳" from 华南's manager), saying what they may do instead."""
    from sqlalchemy import select

    from agent.tools.lead_lookup import region_of_the_list
    from crm.models import User
    from crm.policy import may_see_member
    from tools.leads import denied
    from tools.text import person_name

    for login in reps:
        rep = ctx.session.scalar(select(User).where(User.login == login))
        if rep is not None and not may_see_member(ctx.user, rep):
            raise denied(ctx, f"{rep.name}的线索", f"{person_name(rep, 'en')}'s leads")
    if region:
        region_of_the_list(ctx, region)


def _lead_asked_about(ctx: ToolContext, query: str, mode: str) -> int | ToolOutput:
    """The lead the question names; for "why did I get this lead?" with nothing named, the latest
    lead routed to the asker. The answer to give instead when there is none (or several)."""
    if mode == "why" and not query.strip():
        lead_id = latest_lead_routed_to_me(ctx)
        if lead_id is None:
            return ToolOutput(text=ctx.t("还没有由分配引擎分给你的线索。", "No lead has been routed to you by the routing engine yet."),
                              error="not_found")
        return lead_id
    proposed = _proposed_to_me(ctx, query) if mode == "why" and ctx.role == Role.REP else None
    return proposed or resolve_lead(ctx, query, prefer=lambda ids: _routed_or_new(ctx, ids))


def _proposed_to_me(ctx: ToolContext, query: str) -> int | None:
    """A lead the engine proposed to the asker that still waits for a manager's review — not theirs yet,
    so not among the leads they see ("Helios苏州那条 听说要分给我 为啥是我")."""
    from tools.leads import find_among

    proposed = {d.lead_id for d in my_decisions(ctx=ctx, limit=50) if ctx.user.login in (d.rep, d.specialist)}
    named = {m.lead_id for m in find_among(ctx=ctx, query=query, lead_ids=proposed)} if proposed else set()
    return next(iter(named)) if len(named) == 1 else None


def _routed_or_new(ctx: ToolContext, lead_ids: list[int]) -> set[int]:
    """Of one customer's leads, the ones a routing question is about: those the engine routed, else
    the new ones ("南京妇幼那条新线索 为什么是我跟", "青岛市中心医院那条新线索 给谁跟")."""
    from sqlalchemy import select

    from crm.models import Lead, RoutingDecision

    routed = set(ctx.session.scalars(select(RoutingDecision.lead_id).where(RoutingDecision.lead_id.in_(lead_ids),
                                                                          RoutingDecision.status != "dry_run")))
    return routed or set(ctx.session.scalars(select(Lead.id).where(Lead.id.in_(lead_ids), Lead.status == "new")))


def latest_lead_routed_to_me(ctx: ToolContext) -> int | None:
    """The latest lead actually routed to the asker, as rep or specialist (not a proposal still in
    review), among their last 50 routing decisions."""
    latest = [d for d in my_decisions(ctx=ctx, limit=50) if d.status in ("assigned", "approved", "overridden")
              and ctx.user.login in (d.rep, d.specialist)]
    return latest[0].lead_id if latest else None


def _why_routed(ctx: ToolContext, lead_id: int) -> ToolOutput:
    exp = explain_lead_routing(ctx=ctx, lead_id=lead_id)
    decision_id = exp.subject.split(":", 1)[1]
    evidence = [Evidence("routing_decision", decision_id, None, exp.summary), *event_evidence(exp.events)]
    focus = {"lead_id": lead_id, **({"decision_id": int(decision_id), "only": "decision_id"} if decision_id.isdigit() else {})}
    return ToolOutput(text=exp.render(ctx.language), data=exp.to_json(), evidence=evidence, confidence=exp.confidence,
                      focus=focus)  # "ok approve it" right after: this decision


def _who_should_take(ctx: ToolContext, lead_id: int) -> ToolOutput:
    s = who_should_take(ctx=ctx, lead_id=lead_id)
    evidence = [Evidence("lead", str(s.lead_id), None, s.lead), *event_evidence(s.events)]
    return ToolOutput(text="\n".join(who_should_take_lines(ctx, s)), data=s.to_json(), evidence=evidence, confidence=s.confidence,
                      focus={"lead_id": lead_id, "decision_id": None, "only": None})  # "就按推荐的批了吧": this lead's, not an earlier one


def who_should_take_lines(ctx: ToolContext, s) -> list[str]:
    """The routing suggestion as the chat prints it: what the engine would do, the ranked candidates
    with their reasons, the specialist, why a manager must review, the events, the confidence."""
    lines = [ctx.t(f"**线索 #{s.lead_id}({s.lead})由谁跟进最合适**", f"**Who should take lead #{s.lead_id} ({s.lead})**"),
             ctx.t(f"引擎的处理方式:{s.kind_label};意向指数 {s.intent_score}(等级 {s.tier});权重版本 v{s.weights_version}。",
                   f"The engine would: {s.kind_label}; intent {s.intent_score} (tier {s.tier}); weights version v{s.weights_version}.")]
    lines.extend(_candidate_lines(ctx, s.candidates))
    if s.specialist:
        lines.append(ctx.t(f"双人跟进的专家:{s.specialist}", f"Specialist for the dual follow-up: {s.specialist}"))
    if s.review_reasons:
        lines.append(ctx.t(f"需经理审核:{_review_reasons(ctx, s.review_reasons)}",
                           f"Needs a manager's review: {_review_reasons(ctx, s.review_reasons)}"))
    lines.append(ctx.t("依据事件(最多 5 条):", "Events behind the intent score (up to 5):"))
    lines.extend(event_lines(ctx, s.events))
    lines.append(ctx.t(f"置信度:{s.confidence:.2f}(只是建议,未保存;分配由经理用 `repcopilot route` 执行)",
                       f"Confidence: {s.confidence:.2f} (a suggestion only, nothing stored; a manager routes with `repcopilot route`)"))
    return lines


def _candidate_lines(ctx: ToolContext, candidates: list) -> list[str]:
    if not candidates:
        return [ctx.t("目前没有可用的销售(都在休假或已离职)。", "No rep is available right now (all on leave or gone).")]
    lines = [ctx.t("候选销售(得分 = 各因素 0–100 分 × 权重之和):", "Candidates (score = sum of each factor 0–100 × its weight):")]
    for i, c in enumerate(candidates, 1):
        lines.append(ctx.t(f"{i}. {c.name}({c.login})得分 {c.score}", f"{i}. {c.name} ({c.login}) score {c.score}"))
        lines.append("   " + ("; " if ctx.language == "en" else ";").join(c.reasons))
    return lines


SPEC = ToolSpec(
    "lead_routing",
    "Lead routing. mode='who': who should take a lead — the reps the routing engine ranks best for it, each with their "
    "scenario fit, spare capacity, region, past wins and language scores × weights, what the engine would do (auto, dual "
    "follow-up, nurture, manager review), the up to 5 events behind the intent score and a confidence (read-only). "
    "mode='why': why a lead was routed where it was — the stored routing decision's factors × weights, events and "
    "confidence. Use for '这条线索该分给谁?', 'who should take lead 638?', '为什么这条线索分给我?', 'why did I get this lead?'. "
    "Managers and admins for leads they may see; reps only for their own leads.",
    LeadRoutingArgs, _lead_routing)
