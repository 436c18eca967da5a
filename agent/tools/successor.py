"""successor: who should take over a leaving rep's accounts."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent.tools.base import ToolOutput, ToolSpec
from core.errors import PermissionDenied
from crm.policy import is_admin, is_manager
from tools.capability import resolve_rep
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.successor import successor_plan
from tools.text import name_tokens, person_heading


class SuccessorArgs(BaseModel):
    rep: str = Field(description="the leaving rep (name or login)")
    account: str | None = Field(None, description="one of the rep's accounts the question names ('厦门市中心医院这家谁接'): only it")


def _successor(*, ctx: ToolContext, rep: str, account: str | None = None) -> ToolOutput:
    """Who should take over a leaving rep's accounts: the successor service (managers of the rep's
    team and admins), ranked per account with reasons; the full handover guide is one command away."""
    if not (is_manager(ctx.user) or is_admin(ctx.user)):
        raise PermissionDenied(ctx.t("接任人匹配和交接指南只对离职销售所在团队的经理和管理员开放。",
                                     "Successor matching and handover guides are for the leaving rep's manager and admins only."))
    who = resolve_rep(ctx, rep)
    # the chat shows the ranking; the handover guides (a journey per account) are the CLI's and the API's
    plan = successor_plan(ctx=ctx, rep_login=who.login, guides=False).to_json()
    if account:
        plan["accounts"] = named_accounts(plan["accounts"], account) or plan["accounts"]
    w = plan["weights"]
    lines = [ctx.t(f"**{plan['rep_name']}的客户交接** · {len(plan['accounts'])} 个客户", f"**Handover of {person_heading(who, 'en')}** · "
                   f"{len(plan['accounts'])} accounts"),
             ctx.t(f"排序:场景匹配 {w['fit']:.0%} + 负载余量 {w['capacity']:.0%} + 语言 {w['language']:.0%} + 团队/区域 {w['context']:.0%}",
                   f"Ranking: scenario fit {w['fit']:.0%} + spare capacity {w['capacity']:.0%} + language {w['language']:.0%} + "
                   f"team/region {w['context']:.0%}")]
    evidence = []
    for a in plan["accounts"][:10]:
        best = a["candidates"][:2]
        names = ", ".join(f"{c['name']} ({c['score']})" for c in best) or ctx.t("无可用销售", "no rep available")
        lines.append(f"- {a['account']} · " + ctx.t(f"建议接手:{names}", f"suggested: {names}"))
        if best and best[0].get("reasons"):
            lines.append("  " + ("; " if ctx.language == "en" else ";").join(best[0]["reasons"][:3]))
        evidence.append(Evidence("account", str(a["account_id"]), None, a["account"]))
    if len(plan["accounts"]) > 10:
        lines.append(ctx.t(f"……另有 {len(plan['accounts']) - 10} 个客户;完整交接指南:`repcopilot successor --rep {who.login}`",
                           f"… {len(plan['accounts']) - 10} more; the full guide: `repcopilot successor --rep {who.login}`"))
    lines += [f"· {n}" for n in plan["notes"]]
    return ToolOutput(text="\n".join(lines), data=plan, evidence=evidence, confidence=0.8, focus={"leaving_rep": who.login})


def named_accounts(accounts: list[dict], question: str) -> list[dict]:
    """The handover's accounts the question names: those sharing the most name tokens with it (at least
    two — "医院" alone names nothing)."""
    words = name_tokens(question)
    overlap = [(len(words & name_tokens(a["account"])), a) for a in accounts]
    best = max((n for n, _ in overlap), default=0)
    return [a for n, a in overlap if n == best] if best >= 2 else []


SPEC = ToolSpec(
    "successor",
    "A leaving rep's accounts: ranked internal successors per account (scenario fit, spare capacity, language, team/region) "
    "with reasons. Managers of the rep's team and admins. Use for '张伟要离职了,他的客户谁接合适?', 'David is leaving — who "
    "takes his accounts?'.",
    SuccessorArgs, _successor)
