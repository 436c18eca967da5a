"""Access to leads: trainers refused, the visible lead or a refusal that says what the user can do."""

from __future__ import annotations

from core.errors import NotFoundError, PermissionDenied
from crm.access import team_manager, visible_leads
from crm.models import Lead
from tools.context import ToolContext

# -- access ---------------------------------------------------------------------------------

def refuse_trainer(ctx: ToolContext) -> None:
    if ctx.user.role == "trainer":
        raise PermissionDenied(ctx.t(
            "培训师账号看不到销售线索和客户数据;你可以查看场景、练习任务和练习成绩。",
            "Trainers don't see leads or accounts; you can look at scenarios, drills and practice results."))


def denied(ctx: ToolContext, what_zh: str, what_en: str) -> PermissionDenied:
    """A refusal that says what the user *can* do — and nothing about the record refused."""
    if ctx.user.role == "rep":
        manager = team_manager(ctx.session, ctx.user.team_id)
        who_zh = f"你的经理{manager.name}" if manager else "你的经理"
        who_en = f"your manager ({manager.name_en})" if manager else "your manager"
        return PermissionDenied(ctx.t(
            f"{what_zh}不在你的权限范围内。你可以查看自己名下的线索和客户(例如说“我的线索”或给出你负责的客户名称);"
            f"如需查看同事的线索,请联系{who_zh}。",
            f"{what_en}: not yours to see. You can ask about your own leads and accounts (say “my leads” or name an "
            f"account you own); for a colleague's lead, ask {who_en}."))
    return PermissionDenied(ctx.t(
        f"{what_zh}不在你的权限范围内。经理可以查看本团队成员的线索和客户,以及本区域未分配的线索;需要其他团队的数据请联系管理员。",
        f"{what_en}: outside what you may see. Managers see their team members' leads and accounts and the "
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
