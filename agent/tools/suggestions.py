"""suggestions: the open AI suggestions, or adopt / dismiss one."""

from __future__ import annotations

from pydantic import BaseModel, Field

from agent.tools.base import ToolOutput, ToolSpec
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.suggestions import decide_suggestion, list_suggestions


class SuggestionArgs(BaseModel):
    action: str = Field("list", description="list | adopt | dismiss")
    suggestion_id: int | None = Field(None, description="the suggestion to adopt or dismiss")


def _suggestions(*, ctx: ToolContext, action: str, suggestion_id: int | None) -> ToolOutput:
    if action in ("adopt", "adopted", "dismiss", "dismissed"):
        if suggestion_id is None:
            return ToolOutput(text=ctx.t("请给出建议编号,例如“采纳建议 12”。", "Give the suggestion's id, e.g. \"adopt suggestion 12\"."),
                              error="input")
        decision = "adopted" if action.startswith("adopt") else "dismissed"
        result = decide_suggestion(ctx=ctx, suggestion_id=suggestion_id, decision=decision)
        return ToolOutput(text=result.message, data=result.to_json(), confidence=1.0,
                          evidence=[Evidence("suggestion", str(suggestion_id), result.suggestion.decided_at, result.suggestion.text)])
    rows = list_suggestions(ctx=ctx, status="shown", limit=10)
    if not rows:
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
