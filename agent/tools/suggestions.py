"""suggestions: the open AI suggestions, or adopt / dismiss one."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent.tools.base import ToolOutput, ToolSpec, records_owner
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.suggestions import decide_suggestion, list_suggestions
from tools.text import person_name


class SuggestionArgs(BaseModel):
    action: str = Field("list", description="list | adopt | dismiss")
    suggestion_id: int | None = Field(None, description="the suggestion to adopt or dismiss")
    owner: str | None = Field(None, description="for list: whose suggestions, when the user names a rep ('杨勇的建议'): name or login")


def _suggestions(*, ctx: ToolContext, action: str, suggestion_id: int | None, owner: str | None = None) -> ToolOutput:
    if action in ("adopt", "adopted", "dismiss", "dismissed"):
        if suggestion_id is None:
            return ToolOutput(text=ctx.t("请给出建议编号,例如“采纳建议 12”。", "Give the suggestion's id, e.g. \"adopt suggestion 12\"."),
                              error="input")
        decision = "adopted" if action.startswith("adopt") else "dismissed"
        result = decide_suggestion(ctx=ctx, suggestion_id=suggestion_id, decision=decision)
        return ToolOutput(text=result.message, data=result.to_json(), confidence=1.0,
                          evidence=[Evidence("suggestion", str(suggestion_id), result.suggestion.decided_at, result.suggestion.text)])
    of = records_owner(ctx, owner, "的 AI 建议", "'s AI suggestions") if owner else None
    rows = list_suggestions(ctx=ctx, status="shown", limit=10, owner_id=of.id if of else None)
    if not rows:
        if of is not None and of.id != ctx.user.id:
            name = person_name(of, ctx.language)
            return ToolOutput(text=ctx.t(f"{name}目前没有待处理的 AI 建议。", f"{name} has no open AI suggestions."), confidence=1.0)
        return ToolOutput(text=ctx.t("你目前没有待处理的 AI 建议。", "You have no open AI suggestions."), confidence=1.0)
    lines = [ctx.t("待处理的 AI 建议(回复“采纳建议 编号”或“忽略建议 编号”):",
                   "Open AI suggestions (reply \"adopt suggestion ID\" or \"dismiss suggestion ID\"):")]
    for r in rows:
        lead = ctx.t(f"线索 #{r.lead_id}", f"lead #{r.lead_id}") if r.lead_id else ""
        customer = f"{r.account} · " if r.account else ""
        lines.append(f"- [{r.id}] {r.created_at[:10]} {customer}{lead} {r.text}")
    return ToolOutput(text="\n".join(lines), data={"suggestions": [r.to_json() for r in rows]}, confidence=1.0,
                      evidence=[Evidence("suggestion", str(r.id), r.created_at, r.text) for r in rows])


SPEC = ToolSpec(
    "suggestions",
    "The AI suggestions shown to the user that are still open, or record that one was adopted or dismissed.",
    SuggestionArgs, _suggestions)
