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
from tools.text import person_heading


def _gap_call_evidence(ctx: ToolContext, c: dict[str, Any], label: str) -> Evidence:
    moment = c.get("moment")
    head = ctx.t(f"{label} {fmt_num(c['value'])}(前四分之一 {fmt_num(c['top_quartile'])})",
                 f"{label} {fmt_num(c['value'])} (top quartile {fmt_num(c['top_quartile'])})")
    return Evidence("call", str(c["call_id"]), moment["time"] if moment else c["date"],
                    f"{head}: {moment['text']}" if moment else head)


def _capability_gaps(*, ctx: ToolContext, rep: str | None, team: bool, region: str | None = None,
                     dimension: str | None = None) -> ToolOutput:
    target = coaching_target(ctx, rep, team or bool(region))
    if target is None:
        views = team_overview(ctx=ctx, region=region)
        return _weakest_at(ctx, views, dimension, region) if dimension else _team_gaps(ctx, views, region)
    view = rep_profile(ctx=ctx, rep_login=target.login)
    lines = [ctx.t(f"**{view.name}({view.login})的能力短板**(基于 {view.calls_used} 通通话,计算于 {view.computed_at[:10]})",
                   f"**Capability gaps of {person_heading(target, 'en', login=True)}** ({view.calls_used} calls, "
                   f"computed {view.computed_at[:10]})")]
    evidence: list[Evidence] = []
    for i, g in enumerate(view.gaps, 1):
        lines.extend(gap_lines(ctx, i, g, view.dimensions[g["dimension"]], evidence))
    lines.extend(_what_next_lines(ctx, view))
    lines.extend(f"· {n}" for n in view.notes)
    data = {"rep": view.login, "calls_used": view.calls_used, "gaps": view.gaps,
            "scores": {k: v["score"] for k, v in view.dimensions.items()}, "notes": view.notes}
    return ToolOutput(text="\n".join(lines), data=data, evidence=evidence, confidence=profile_confidence(view),
                      focus={"rep": view.login})


def gap_lines(ctx: ToolContext, i: int, gap: dict[str, Any], dimension: dict[str, Any], evidence: list[Evidence]) -> list[str]:
    """The ``i``-th gap of a rep: score against the top-quartile line and the team average, then each
    call that shows it (with its moment); each call goes into ``evidence`` too."""
    g = gap
    lines = [ctx.t(f"{i}. **{g['label']}** {fmt_num(g['score'])} 分,前四分之一线 {fmt_num(g['top_quartile'])}"
                   f"(差 {fmt_num(g['gap'])} 分;团队均值 {fmt_num(dimension['team_avg'])})",
                   f"{i}. **{g['label']}** {fmt_num(g['score'])}, top quartile {fmt_num(g['top_quartile'])} "
                   f"({fmt_num(g['gap'])} points below; team average {fmt_num(dimension['team_avg'])})")]
    for c in g["calls"]:
        lines.append(ctx.t(f"   - 通话 #{c['call_id']}({c['date']}){c['label']} {fmt_num(c['value'])},前四分之一 "
                           f"{fmt_num(c['top_quartile'])}",
                           f"   - call #{c['call_id']} ({c['date']}) {c['label']} {fmt_num(c['value'])}, top quartile "
                           f"{fmt_num(c['top_quartile'])}"))
        if c.get("moment"):
            lines.append(f"     [{c['moment']['time']}] {c['moment']['text']}")
        evidence.append(_gap_call_evidence(ctx, c, c["label"]))
    return lines


def _what_next_lines(ctx: ToolContext, view) -> list[str]:
    """After the gaps: how to ask for the drills — or, with every dimension scored and none below
    the line, that there is no gap."""
    mine = ctx.user.id == view.rep_id
    if view.gaps:
        return [ctx.t("想知道练什么,可以问“我这周该练什么?”" if mine else f"练习建议:问“{view.name}这周该练什么?”",
                      "For the drills, ask \"what should I practise this week?\"" if mine
                      else f"For the drills, ask \"which drills are assigned to {view.name}?\"")]
    if all(d["score"] is not None for d in view.dimensions.values()):
        return [ctx.t("各维度都已达到前四分之一线,没有能力短板。", "Every dimension is at or above the top quartile — no gaps.")]
    return []


def profile_confidence(view) -> float:
    """0.3 with no dimension scored, 0.6 on fewer than five calls, else 0.85."""
    scored = [d for d in view.dimensions.values() if d["score"] is not None]
    return 0.3 if not scored else (0.85 if view.calls_used >= 5 else 0.6)


TEAM_GAPS_SHOWN = 12  # reps listed with their gaps; the rest are counted


def _team_gaps(ctx: ToolContext, views: list, region: str | None = None) -> ToolOutput:
    ranked = sorted(views, key=lambda v: (-(v.gaps[0]["gap"] if v.gaps else -1), v.login))
    lines = [team_title(ctx, len(views), "的能力短板", "capability gaps", region),
             ctx.t("按最大差距排序(差距 = 前四分之一线 − 得分):", "Ranked by the biggest gap (top-quartile line − score):")]
    evidence: list[Evidence] = []
    with_gaps = [v for v in ranked if v.gaps]
    shown = with_gaps[:TEAM_GAPS_SHOWN]
    for v in shown:
        lines.append(team_gap_line(ctx, v, evidence))
    lines.extend(_team_gaps_tail(ctx, ranked, len(shown)))
    data = {"reps": [{"login": v.login, "gaps": [{k: g[k] for k in ("dimension", "score", "top_quartile", "gap")} for g in v.gaps]}
                     for v in ranked]}
    return ToolOutput(text="\n".join(lines), data=data, evidence=evidence, confidence=0.85 if views else 0.3,
                      focus={"ranked_reps": [v.login for v in with_gaps]})  # "第二弱的呢": the second of them


def _weakest_at(ctx: ToolContext, views: list, dimension: str, region: str | None) -> ToolOutput:
    """"谁的异议处理最弱": the team ranked by one dimension's score, weakest first; the weakest is the
    rep a follow-up means ("给他布置…")."""
    from tools.capability import dimension_label

    def score(v) -> float:
        value = (v.dimensions.get(dimension) or {}).get("score")
        return float("inf") if value is None else value

    ranked = sorted((v for v in views if score(v) != float("inf")), key=lambda v: (score(v), v.login))  # scored reps only
    label = dimension_label(ctx, dimension)
    if not ranked:
        return ToolOutput(text=ctx.t(f"还没有人有{label}得分(需要分析过的通话)。",
                                     f"Nobody has a {label} score yet (it needs analysed calls)."),
                          data={"dimension": dimension, "reps": []}, confidence=0.5)
    lines = [team_title(ctx, len(views), f"的{label}", label, region),
             ctx.t(f"按{label}得分排序,最弱在前:", f"Ranked by {label} score, weakest first:")]
    from sqlalchemy import select

    from crm.models import User

    users = {u.login: u for u in ctx.session.scalars(select(User).where(User.login.in_([v.login for v in ranked[:TEAM_GAPS_SHOWN]])))}
    for v in ranked[:TEAM_GAPS_SHOWN]:
        d = v.dimensions.get(dimension) or {}
        lines.append(ctx.t(f"- {v.name}({v.login}):{fmt_num(d.get('score'))} 分(前四分之一线 {fmt_num(d.get('top_quartile'))})",
                           f"- {person_heading(users[v.login], 'en', login=True)}: {fmt_num(d.get('score'))} "
                           f"(top-quartile line {fmt_num(d.get('top_quartile'))})"))
    data = {"dimension": dimension, "reps": [{"login": v.login, "score": (v.dimensions.get(dimension) or {}).get("score")}
                                             for v in ranked]}
    focus = {"ranked_reps": [v.login for v in ranked], **({"rep": ranked[0].login} if ranked else {})}
    return ToolOutput(text="\n".join(lines), data=data, confidence=0.85 if views else 0.3, focus=focus)


def team_gap_line(ctx: ToolContext, view, evidence: list[Evidence]) -> str:
    """One rep of the team view: every gap (score and distance to the line) and the first call that
    shows the biggest one, which also goes into ``evidence``."""
    v = view
    parts = ", ".join(ctx.t(f"{g['label']} {fmt_num(g['score'])}(差 {fmt_num(g['gap'])})",
                            f"{g['label']} {fmt_num(g['score'])} (−{fmt_num(g['gap'])})") for g in v.gaps)
    first = v.gaps[0]["calls"][0] if v.gaps[0]["calls"] else None
    where = ctx.t(f" · 证据 通话 #{first['call_id']}({first['date']},{first['label']} {fmt_num(first['value'])})",
                  f" · evidence call #{first['call_id']} ({first['date']}, {first['label']} {fmt_num(first['value'])})") if first else ""
    if first:
        evidence.append(Evidence("call", str(first["call_id"]), first["date"],
                                 f"{v.login}: {first['label']} {fmt_num(first['value'])} / {fmt_num(first['top_quartile'])}"))
    return f"- {v.name}({v.login}):{parts}{where}" if ctx.language == "zh" else f"- {v.name} ({v.login}): {parts}{where}"


def _team_gaps_tail(ctx: ToolContext, ranked: list, shown: int) -> list[str]:
    """Below the ranked reps: how many more have gaps, who has none, who has too few calls to score."""
    no_gap, too_few = reps_without_gaps(ranked)
    lines = []
    more = sum(1 for v in ranked if v.gaps) - shown
    if more > 0:
        lines.append(ctx.t(f"…另有 {more} 人有短板(点名问某位销售可看详情)。",
                           f"… {more} more reps have gaps (ask about one by name for details)."))
    if no_gap:
        lines.append(ctx.t("没有短板:", "No gaps: ") + _names(ctx, no_gap))
    if too_few:
        lines.append(ctx.t("通话不足、暂无评分:", "Too few calls to score: ") + _names(ctx, too_few))
    return lines


def reps_without_gaps(views: list) -> tuple[list, list]:
    """The reps with no gap, split in two: every dimension scored (none below the line), and some
    dimension still unscored (too few calls); each in the order given."""
    no_gap, too_few = [], []
    for v in views:
        if not v.gaps:
            (too_few if any(d["score"] is None for d in v.dimensions.values()) else no_gap).append(v)
    return no_gap, too_few


def _names(ctx: ToolContext, views: list) -> str:
    return ("、" if ctx.language == "zh" else ", ").join(v.name for v in views)


SPEC = ToolSpec(
    "capability_gaps",
    "A rep's capability gaps: where their needs-discovery, solution-matching and objection-handling scores fall below the "
    "top quartile, with the calls and moments (call id + timestamp) that show each gap. Without a rep: the asking rep's "
    "own; for a manager their team, for a trainer or admin every rep, ranked by the biggest gap. Use for 'what are my "
    "weaknesses', 'who needs coaching on what', '王芳需要在哪方面辅导'. Access comes from the asking user.",
    CoachingArgs, _capability_gaps)
