"""call_debrief: one call against the rep's own average and the team's top quartile."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

from agent.tools.base import ToolOutput, ToolSpec
from core.errors import PermissionDenied
from crm.models import Account, Call, User
from speech.registry import load_registry
from tools.capability import resolve_rep
from tools.context import ToolContext
from tools.debrief import call_debrief, latest_call_id
from tools.text import person_heading, person_name


class DebriefArgs(BaseModel):
    call_id: int | None = Field(None, description="the call to debrief; omit for the asking rep's latest call")
    rep: str | None = Field(None, description="a rep named in the question (name or login): that rep's latest call")
    account_id: int | None = Field(None, description="a customer named in the question: the latest call with that account")
    region: str | None = Field(None, description="a region or a manager's team named ('华北组的通话'): its latest call, if the "
                                                 "asker may see that region's calls")


def _debrief(*, ctx: ToolContext, call_id: int | None, rep: str | None = None, account_id: int | None = None,
            region: str | None = None) -> ToolOutput:
    if region and rep is None and call_id is None:
        found = _latest_in_region(ctx, region)
        if isinstance(found, ToolOutput):
            return found
        call_id = found
    if rep == "all":  # every colleague's calls: a rep debriefs their own; managers and admins name a rep or a call
        if ctx.user.role == "rep":
            raise PermissionDenied(ctx.t("同事的通话不是你的;销售只能复盘自己的通话,同事的通话请问你的经理。",
                                         "Colleagues' calls are not yours to see; a rep debriefs their own calls — ask your manager "
                                         "about the team's."))
        rep = None
    if call_id is None:
        found = _latest_call(ctx, rep, account_id)
        if isinstance(found, ToolOutput):
            return found
        call_id = found
    d = call_debrief(ctx=ctx, call_id=call_id)
    return ToolOutput(text="\n".join(debrief_lines(ctx, d)), data=d.to_json(), evidence=d.moments, confidence=0.8,
                      focus=_debrief_focus(ctx, d.call_id))


def _latest_in_region(ctx: ToolContext, code: str) -> int | ToolOutput:
    """The latest call of a region's reps, when the asker may see that region's calls."""
    from crm.models import Team

    region = _refuse_another_regions_calls(ctx, code)
    stmt = select(Call.id).join(User, User.id == Call.rep_id).join(Team, Team.id == User.team_id)
    if region is not None:
        stmt = stmt.where(Team.region_id == region.id)
    call_id = ctx.session.scalar(stmt.order_by(Call.started_at.desc(), Call.id.desc()).limit(1))
    if call_id is None:
        return ToolOutput(text=ctx.t("这个区域还没有通话记录。", "That region has no calls yet."), error="not_found")
    return call_id


def _refuse_another_regions_calls(ctx: ToolContext, code: str):
    """A region's calls: a rep's colleagues' (refused), another region's for a manager (refused); trainers and admins
    see every region's."""
    from crm.models import Region, Team

    region = ctx.session.scalar(select(Region).where(Region.code == code.strip().lower())) if code != "all" else None
    if ctx.user.role in ("trainer", "admin"):
        return region
    own = ctx.session.scalar(select(Team.region_id).where(Team.id == ctx.user.team_id)) if ctx.user.team_id else None
    if ctx.user.role == "rep" or region is None or region.id != own:
        what = ctx.t(f"{region.name_zh}的通话" if region else "全部区域的通话",
                     f"{region.name_en}'s calls" if region else "Every region's calls")
        raise PermissionDenied(ctx.t(f"{what}不在你的权限范围内:经理复盘本团队的通话,销售复盘自己的通话;其他区域请联系管理员。",
                                     f"{what} are outside what you may see: managers debrief their own team's calls, reps their "
                                     "own; ask an admin for another region's."))
    return region


def _latest_call(ctx: ToolContext, rep: str | None, account_id: int | None = None) -> int | ToolOutput:
    """The latest call of the rep the question names (access checked: a manager's team, a rep
    themself), or the asker's own — with the customer the question names, when it names one; the
    answer to give instead when there is none."""
    of = resolve_rep(ctx, rep) if rep else None
    call_id = latest_call_id(ctx=ctx, rep_id=of.id if of else None, account_id=account_id)
    if call_id is None and account_id is not None:
        customer = ctx.session.scalar(select(Account.name).where(Account.id == account_id)) or ""
        return ToolOutput(text=ctx.t(f"没有找到与{customer}的通话记录(在你能查看的通话里)。",
                                     f"There is no call with {customer} among the calls you may see."), error="not_found")
    if call_id is None:
        return ToolOutput(text=ctx.t(f"还没有{of.name if of else '你'}的通话记录。",
                                     f"{of.name + ' has' if of else 'You have'} no calls yet."), error="not_found")
    return call_id


def metric_label(ctx: ToolContext, registry: dict, name: str) -> str:
    """A conversation metric's label in the asker's language (its name when the registry lacks it)."""
    entry = registry.get(name)
    return (entry.label_zh if ctx.language == "zh" else entry.label_en) if entry else name


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def debrief_lines(ctx: ToolContext, d) -> list[str]:
    """The debrief as the chat prints it: whose call, the metric table (this call, the caller's own
    average, the team's top quartile), the biggest gaps and the moments."""
    registry = load_registry()
    caller = ctx.session.scalar(select(User).where(User.login == d.rep))
    mine = caller is None or caller.id == ctx.user.id
    person = None if caller is None else person_name(caller, ctx.language)
    who = "" if mine else ctx.t(f"{person},", f"{person_heading(caller, ctx.language)}, ")
    call = ctx.session.get(Call, d.call_id)
    customer = ctx.session.scalar(select(Account.name).where(Account.id == call.account_id)) if call and call.account_id else None
    who += ctx.t(f"{customer},", f"{customer}, ") if customer else ""
    lines = [ctx.t(f"通话 {d.call_id}({who}{d.started_at},{d.duration_s / 60:.1f} 分钟)复盘:",
                   f"Debrief of call {d.call_id} ({who}{d.started_at}, {d.duration_s / 60:.1f} min):")]
    average = ctx.t("你的平均", "your average") if mine else ctx.t(f"{person}的平均", f"{person}'s average")
    lines.append(ctx.t(f"| 指标 | 本次 | {average} | 团队前25% |", f"| metric | this call | {average} | team top quartile |"))
    lines.append("|---|---|---|---|")
    for c in d.comparisons:
        lines.append(f"| {metric_label(ctx, registry, c.name)} | {_fmt(c.value)} | {_fmt(c.own_average)} | {_fmt(c.team_top_quartile)} |")
    if d.biggest_gaps:
        lines.append(ctx.t("差距最大: ", "Biggest gaps: ") + ", ".join(metric_label(ctx, registry, n) for n in d.biggest_gaps))
    if d.moments:
        lines.append(ctx.t("关键时刻:", "Moments:"))
        lines.extend(f"- [{m.time}] {m.text}" for m in d.moments)
    return lines


def _debrief_focus(ctx: ToolContext, call_id: int) -> dict[str, Any]:
    call = ctx.session.get(Call, call_id)
    focus: dict[str, Any] = {"call_id": call_id, "lead_id": None}
    if call is not None and call.account_id is not None:
        focus["account_id"] = call.account_id  # "and this customer's journey?" follows the call's account
    rep = ctx.session.get(User, call.rep_id) if call is not None and getattr(call, "rep_id", None) else None
    if rep is not None:
        focus["rep"] = rep.login  # "给她布置个练习" follows the call's rep
    return focus


SPEC = ToolSpec(
    "call_debrief",
    "Debrief one call: talk ratio, pause after pain points, why-questions … against the rep's own average and "
    "the team's top quartile, with the moments that explain the biggest gaps.",
    DebriefArgs, _debrief)
