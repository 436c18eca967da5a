"""coaching_drills: this week's drills from a rep's gaps and the drills assigned to them, or the team's."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from agent.tools.base import (
    CoachingArgs,
    ToolOutput,
    ToolSpec,
    coaching_target,
    fmt_num,
    team_title,
)
from core.errors import NotFoundError
from tools.capability import dimension_label, team_overview
from tools.context import ToolContext
from tools.drills import list_drills, week_of
from tools.evidence import Evidence
from tools.text import person_heading


def _drill_line(ctx: ToolContext, title: str, code: str, times: int, due: str, extra: str = "") -> str:
    return ctx.t(f"「{title}」({code})× {times},截止 {due}{extra}", f"“{title}” ({code}) × {times}, due {due}{extra}")


def _drill_links_lines(ctx: ToolContext, item: dict[str, Any], evidence: list[Evidence]) -> list[str]:
    out = []
    ex = item.get("exemplar")
    if ex:
        out.append(ctx.t(f"   范例录音:通话 #{ex['call_id']}({ex['rep']},{ex['date']})[{ex['time']}] {ex['text']}",
                         f"   exemplar: call #{ex['call_id']} ({ex['rep']}, {ex['date']}) [{ex['time']}] {ex['text']}"))
        evidence.append(Evidence("call", str(ex["call_id"]), ex["time"], ex["text"]))
    pr = item.get("practice")
    if pr:
        out.append(ctx.t(f"   练习场景「{pr['title_zh']}」:`{pr['command']}`",
                         f"   practice scenario “{pr['title_en']}”: `{pr['command']}`"))
    return out


class DrillArgs(CoachingArgs):
    drill: str | None = Field(None, description="a catalogue drill the user names ('招标政策解读那个drill是练什么的'): its code; "
                                                "what it trains and how to do it")


def _coaching_drills(*, ctx: ToolContext, rep: str | None, team: bool, region: str | None = None,
                     dimension: str | None = None, drill: str | None = None) -> ToolOutput:  # noqa: ARG001 — every dimension
    if drill:
        return _one_drill(ctx, drill)
    target = coaching_target(ctx, rep, team or bool(region))
    if target is None:
        return _team_drills(ctx, region)
    plan = list_drills(ctx=ctx, rep_login=target.login)
    lines = [ctx.t(f"**{target.name}({plan.rep})本周({plan.week_start} – {plan.week_end})的练习**",
                   f"**Drills for {person_heading(target, 'en', login=True)}, week {plan.week_start} – {plan.week_end}**")]
    evidence: list[Evidence] = []
    status = {"open": ctx.t("进行中", "open"), "overdue": ctx.t("已逾期", "overdue"), "done": ctx.t("已完成", "done")}
    for i, t in enumerate(plan.tasks, 1):
        lines.append(f"{i}. " + _drill_line(ctx, t["title"], t["code"], t["times"], t["due_date"],
                                           ctx.t(f"——{_dim_label(ctx, t['dimension'])}距前四分之一差 {fmt_num(t['gap'])} 分",
                                                 f" — {_dim_label(ctx, t['dimension'])} {fmt_num(t['gap'])} points "
                                                 "below the top quartile")))
        lines.append(ctx.t(f"   做法:{t['description']}", f"   how: {t['description']}"))
        lines.extend(_drill_links_lines(ctx, t, evidence))
        evidence.append(Evidence("drill", t["code"], t["due_date"], t["text"]))
    if not plan.tasks:
        lines.append(ctx.t("本周没有根据短板建议的练习。", "No drills suggested from gaps this week."))
    if plan.assignments:
        lines.append(ctx.t("已布置的练习:", "Assigned drills:"))
        order = {"overdue": 0, "open": 1, "done": 2}
        for a in sorted(plan.assignments, key=lambda a: (order[a.status], a.due_date, a.id))[:6]:
            by = ctx.t(f",布置人 {a.assigned_by}", f", assigned by {a.assigned_by}") if a.assigned_by else ""
            lines.append(f"- #{a.id} " + _drill_line(ctx, a.title, a.drill, a.times, a.due_date, f" · {status[a.status]}{by}"))
            lines.extend(_drill_links_lines(ctx, a.to_json(), evidence))
            evidence.append(Evidence("drill_assignment", str(a.id), a.due_date, f"{a.drill} · {a.status}"))
    else:
        lines.append(ctx.t("目前没有布置给该销售的练习。", "No drills are assigned to this rep yet."))
    lines.extend(f"· {n}" for n in plan.notes)
    return ToolOutput(text="\n".join(lines), data=plan.to_json(), evidence=evidence,
                      confidence=0.85 if plan.tasks or plan.assignments else 0.6,
                      focus={"rep": plan.rep, "drills": [t["code"] for t in plan.tasks]})  # "就给他布置第一个": by place


def _dim_label(ctx: ToolContext, dim: str) -> str:
    try:
        return dimension_label(ctx, dim)
    except KeyError:
        return dim


def _team_drills(ctx: ToolContext, region: str | None = None) -> ToolOutput:
    views = team_overview(ctx=ctx, region=region)
    lines = [team_title(ctx, len(views), "本周的练习", "this week's drills", region)]
    evidence: list[Evidence] = []
    data = []
    for v in sorted(views, key=lambda v: (-(v.gaps[0]["gap"] if v.gaps else -1), v.login)):
        plan = list_drills(ctx=ctx, rep_login=v.login, with_links=False, view=v)
        open_ = [a for a in plan.assignments if a.status != "done"]
        lines.append(team_drill_line(ctx, v, plan.tasks, open_))
        evidence.extend(Evidence("drill_assignment", str(a.id), a.due_date, f"{v.login}: {a.drill} · {a.status}") for a in open_)
        data.append({"rep": v.login, "tasks": [{k: t[k] for k in ("code", "times", "gap")} for t in plan.tasks],
                     "open_assignments": [a.id for a in open_]})
    sunday = week_of(ctx.now().date())[1]
    lines.append(ctx.t(f"建议练习截止本周日 {sunday};点名问某位销售可看范例录音和做法。",
                       f"Suggested drills are due this Sunday, {sunday}; ask about one rep by name for the exemplar excerpts."))
    return ToolOutput(text="\n".join(lines), data={"reps": data}, evidence=evidence, confidence=0.85 if views else 0.3)


def team_drill_line(ctx: ToolContext, view, tasks: list[dict[str, Any]], open_assignments: list) -> str:
    """One rep of the team view: this week's suggested drills (title × times, or none) and how many
    assigned drills are not done, how many of them overdue."""
    v = view
    drills = ("、" if ctx.language == "zh" else ", ").join(f"{t['title']}×{t['times']}" for t in tasks) or ctx.t("无", "none")
    assigned = _not_done_note(ctx, open_assignments)
    return f"- {v.name}({v.login}):{drills}{assigned}" if ctx.language == "zh" else f"- {v.name} ({v.login}): {drills}{assigned}"


def _not_done_note(ctx: ToolContext, open_assignments: list) -> str:
    if not open_assignments:
        return ""
    n = len(open_assignments)
    overdue = sum(1 for a in open_assignments if a.status == "overdue")
    return ctx.t(f";已布置未完成 {n} 项" + (f"(逾期 {overdue} 项)" if overdue else ""),
                 f"; {n} assigned, not done" + (f" ({overdue} overdue)" if overdue else ""))


def _one_drill(ctx: ToolContext, code: str) -> ToolOutput:
    """One catalogue drill: what it trains (its dimension), how to do it, the practice scenario it links to."""
    from sqlalchemy import select

    from crm.models import Drill

    d = ctx.session.scalar(select(Drill).where(Drill.code == code))
    if d is None:
        raise NotFoundError(ctx.t(f"没有编号为 {code!r} 的练习;问“我这周该练什么”看适合你的练习。",
                                  f"no drill {code!r}; ask \"what should I practise this week?\" for yours."))
    dim = _dim_label(ctx, d.dimension)
    trains = ctx.t(f" · 练的是{dim}", f" · trains {dim}") if dim != d.dimension else ""  # a dimension with a label
    lines = [ctx.t(f"**练习「{d.title_zh}」**({d.code}){trains}", f"**Drill “{d.title_en}”** ({d.code}){trains}"),
             ctx.t(f"做法:{d.description_zh}", f"How: {d.description_en}")]
    if d.scenario_code:
        lines.append(ctx.t(f"配套模拟练习场景:{d.scenario_code}(说“开始练习 {d.scenario_code}”)",
                           f"Practice scenario: {d.scenario_code} (say “start practice {d.scenario_code}”)"))
    return ToolOutput(text="\n".join(lines), data={"code": d.code, "dimension": d.dimension, "title": ctx.t(d.title_zh, d.title_en),
                                                   "scenario": d.scenario_code}, confidence=0.9)


SPEC = ToolSpec(
    "coaching_drills",
    "Coaching drills: this week's drill tasks derived from a rep's capability gaps (repetitions, due date, how to do it, "
    "an exemplar excerpt from a top rep's call with call id + timestamp, the linked practice scenario) and the drills "
    "assigned to the rep (open / overdue / done, with progress). Without a rep: the asking rep's own; for a manager "
    "their team, for a trainer or admin every rep; with drill: what that catalogue drill trains and how. Use for '我这周该练什么', "
    "'which drills are assigned to X'.",
    DrillArgs, _coaching_drills)
