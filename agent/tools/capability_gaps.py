"""capability_gaps: a rep's gaps against the top quartile, or the team's ranked by the biggest gap."""

from __future__ import annotations

from typing import Any

from agent.tools.base import (
    CoachingArgs,
    ToolOutput,
    ToolSpec,
    coaching_target,
    fmt_num,
    team_title,
)
from tools.capability import rep_profile, team_overview
from tools.context import ToolContext
from tools.evidence import Evidence


def _gap_call_evidence(ctx: ToolContext, c: dict[str, Any], label: str) -> Evidence:
    moment = c.get("moment")
    head = ctx.t(f"{label} {fmt_num(c['value'])}(前四分之一 {fmt_num(c['top_quartile'])})",
                 f"{label} {fmt_num(c['value'])} (top quartile {fmt_num(c['top_quartile'])})")
    return Evidence("call", str(c["call_id"]), moment["time"] if moment else c["date"],
                    f"{head}: {moment['text']}" if moment else head)



def _capability_gaps(*, ctx: ToolContext, rep: str | None, team: bool) -> ToolOutput:
    target = coaching_target(ctx, rep, team)
    if target is None:
        return _team_gaps(ctx, team_overview(ctx=ctx))
    view = rep_profile(ctx=ctx, rep_login=target.login)
    lines = [ctx.t(f"**{view.name}({view.login})的能力短板**(基于 {view.calls_used} 通通话,计算于 {view.computed_at[:10]})",
                   f"**Capability gaps of {view.name} ({view.login})** ({view.calls_used} calls, computed {view.computed_at[:10]})")]
    evidence: list[Evidence] = []
    for i, g in enumerate(view.gaps, 1):
        d = view.dimensions[g["dimension"]]
        lines.append(ctx.t(f"{i}. **{g['label']}** {fmt_num(g['score'])} 分,前四分之一线 {fmt_num(g['top_quartile'])}"
                           f"(差 {fmt_num(g['gap'])} 分;团队均值 {fmt_num(d['team_avg'])})",
                           f"{i}. **{g['label']}** {fmt_num(g['score'])}, top quartile {fmt_num(g['top_quartile'])} "
                           f"({fmt_num(g['gap'])} points below; team average {fmt_num(d['team_avg'])})"))
        for c in g["calls"]:
            lines.append(ctx.t(f"   - 通话 #{c['call_id']}({c['date']}){c['label']} {fmt_num(c['value'])},前四分之一 {fmt_num(c['top_quartile'])}",
                               f"   - call #{c['call_id']} ({c['date']}) {c['label']} {fmt_num(c['value'])}, top quartile {fmt_num(c['top_quartile'])}"))
            if c.get("moment"):
                lines.append(f"     [{c['moment']['time']}] {c['moment']['text']}")
            evidence.append(_gap_call_evidence(ctx, c, c["label"]))
    if view.gaps:
        lines.append(ctx.t("想知道练什么,可以问“我这周该练什么?”" if ctx.user.id == view.rep_id else f"练习建议:问“{view.name}这周该练什么?”",
                           "For the drills, ask \"what should I practise this week?\"" if ctx.user.id == view.rep_id
                           else f"For the drills, ask \"which drills are assigned to {view.name}?\""))
    elif all(d["score"] is not None for d in view.dimensions.values()):
        lines.append(ctx.t("各维度都已达到前四分之一线,没有能力短板。", "Every dimension is at or above the top quartile — no gaps."))
    lines.extend(f"· {n}" for n in view.notes)
    scored = [d for d in view.dimensions.values() if d["score"] is not None]
    confidence = 0.3 if not scored else (0.85 if view.calls_used >= 5 else 0.6)
    data = {"rep": view.login, "calls_used": view.calls_used, "gaps": view.gaps,
            "scores": {k: v["score"] for k, v in view.dimensions.items()}, "notes": view.notes}
    return ToolOutput(text="\n".join(lines), data=data, evidence=evidence, confidence=confidence, focus={"rep": view.login})


def _team_gaps(ctx: ToolContext, views: list) -> ToolOutput:
    limit = 12
    ranked = sorted(views, key=lambda v: (-(v.gaps[0]["gap"] if v.gaps else -1), v.login))
    lines = [team_title(ctx, len(views), "的能力短板", "capability gaps"),
             ctx.t("按最大差距排序(差距 = 前四分之一线 − 得分):", "Ranked by the biggest gap (top-quartile line − score):")]
    evidence: list[Evidence] = []
    no_gap, too_few = [], []
    shown = 0
    for v in ranked:
        if not v.gaps:
            (too_few if any(d["score"] is None for d in v.dimensions.values()) else no_gap).append(v)
            continue
        if shown >= limit:
            continue
        shown += 1
        parts = ", ".join(ctx.t(f"{g['label']} {fmt_num(g['score'])}(差 {fmt_num(g['gap'])})",
                                f"{g['label']} {fmt_num(g['score'])} (−{fmt_num(g['gap'])})") for g in v.gaps)
        first = v.gaps[0]["calls"][0] if v.gaps[0]["calls"] else None
        where = ctx.t(f" · 证据 通话 #{first['call_id']}({first['date']},{first['label']} {fmt_num(first['value'])})",
                      f" · evidence call #{first['call_id']} ({first['date']}, {first['label']} {fmt_num(first['value'])})") if first else ""
        lines.append(f"- {v.name}({v.login}):{parts}{where}" if ctx.language == "zh" else f"- {v.name} ({v.login}): {parts}{where}")
        if first:
            evidence.append(Evidence("call", str(first["call_id"]), first["date"],
                                     f"{v.login}: {first['label']} {fmt_num(first['value'])} / {fmt_num(first['top_quartile'])}"))
    with_gaps = sum(1 for v in views if v.gaps)
    if with_gaps > shown:
        lines.append(ctx.t(f"…另有 {with_gaps - shown} 人有短板(点名问某位销售可看详情)。",
                           f"… {with_gaps - shown} more reps have gaps (ask about one by name for details)."))
    if no_gap:
        lines.append(ctx.t("没有短板:", "No gaps: ") + "、".join(v.name for v in no_gap) if ctx.language == "zh"
                     else "No gaps: " + ", ".join(v.name for v in no_gap))
    if too_few:
        lines.append(ctx.t("通话不足、暂无评分:", "Too few calls to score: ") + ("、" if ctx.language == "zh" else ", ").join(v.name for v in too_few))
    data = {"reps": [{"login": v.login, "gaps": [{k: g[k] for k in ("dimension", "score", "top_quartile", "gap")} for g in v.gaps]}
                     for v in ranked]}
    return ToolOutput(text="\n".join(lines), data=data, evidence=evidence, confidence=0.85 if views else 0.3)


SPEC = ToolSpec(
    "capability_gaps",
    "A rep's capability gaps: where their needs-discovery, solution-matching and objection-handling scores fall below the "
    "top quartile, with the calls and moments (call id + timestamp) that show each gap. Without a rep: the asking rep's "
    "own; for a manager their team, for a trainer or admin every rep, ranked by the biggest gap. Use for 'what are my "
    "weaknesses', 'who needs coaching on what', '王芳需要在哪方面辅导'. Access comes from the asking user.",
    CoachingArgs, _capability_gaps)
