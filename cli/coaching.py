"""``repcopilot profile show`` / ``drills list|assign|complete`` / ``team overview`` / ``successor``:
capability profiles, gaps, coaching drills and successor matching, in the asking user's language."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from cli.state import STATE, console, print_json
from core.errors import UserInputError
from crm.access import get_user
from crm.db import session_scope

AsLogin = Annotated[str, typer.Option("--as", help="login of the user asking (see `repcopilot demo users`)")]
RepLogin = Annotated[str | None, typer.Option("--rep", help="the rep (default: yourself, when you are a rep)")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON")]

profile_app = typer.Typer(help="Rep capability profiles: scores, gaps, scenario fit.", no_args_is_help=True)
drills_app = typer.Typer(help="Coaching drills: this week's tasks, assign, complete.", no_args_is_help=True)
team_app = typer.Typer(help="A manager's view of the team.", no_args_is_help=True)


def _context(session, login: str):
    from tools.context import ToolContext

    user = get_user(session, login)
    return ToolContext(user=user, session=session, language=user.language if user.language in ("zh", "en") else "zh",
                       home=STATE.home, anonymized=STATE.settings.anonymized_aggregate_mode)


def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:,.3f}".rstrip("0").rstrip(".") if abs(x) < 100 else f"{x:,.1f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


@profile_app.command("show")
def profile_show(as_login: AsLogin, rep: RepLogin = None, as_json: JsonFlag = False) -> None:
    """A rep's capability profile: each dimension's score with its inputs, vs the team and the top
    quartile; outcomes; gaps with the calls that show them; fit per selling scenario.
    A rep sees their own; a manager their team's reps; a trainer or admin any rep."""
    from tools.capability import rep_profile

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        view = rep_profile(ctx=ctx, rep_login=rep).to_json()
        t = ctx.t
    if as_json:
        print_json(view)
        return
    console.print(t(f"[bold]{view['name']}[/bold]({view['login']})的能力画像 · "
                    f"基于 {view['calls_used']} 通通话 · 计算于 {view['computed_at']}",
                    f"[bold]{view['name']}[/bold] ({view['login']}) capability profile · "
                    f"{view['calls_used']} calls · computed {view['computed_at']}"))
    dims = Table(t("维度", "dimension"), t("得分", "score"), t("团队均值", "team avg"), t("前四分之一线", "top quartile"),
                 t("通话数", "calls"), title=t("能力维度(0–100,全体销售中的百分位)", "Dimensions (0–100, percentile among all reps)"))
    inputs = Table(t("维度", "dimension"), t("输入", "input"), t("数值", "value"), t("排名", "rank"), t("团队均值", "team avg"),
                   t("前四分之一", "top quartile"), "n",
                   title=t("各维度的输入(↑越高越好,↓越低越好)", "Inputs (↑ higher is better, ↓ lower is better)"))
    for d in view["dimensions"].values():
        score = _fmt(d["score"]) if d["score"] is not None else t(f"通话不足(<{d['min_calls']})", f"too few calls (<{d['min_calls']})")
        dims.add_row(d["label"], score, _fmt(d["team_avg"]), _fmt(d["top_quartile"]), str(d["calls_used"]))
        for i in d["inputs"].values():
            inputs.add_row(d["label"], f"{i['label']} {'↑' if i['higher_is_better'] else '↓'}", _fmt(i["value"]), _fmt(i["rank"]),
                           _fmt(i["team_avg"]), _fmt(i["top_quartile"]), str(i["n"]))
    console.print(dims)
    console.print(inputs)
    o = view["outcomes"]  # empty for a trainer: deal outcomes are not theirs to see (a note says so)
    if o:
        _print_outcomes(o, t)
    _print_gaps_and_fit(view, t)


def _print_outcomes(o: dict, t) -> None:
    console.print(t(
        f"赢单率 {_fmt(o['win_rate'])}({o['won']}/{o['closed']})· 平均成交额 {_fmt(o['avg_deal_size_cny'])} 元 · "
        f"成交周期 {_fmt(o['cycle_length_days'])} 天 · "
        f"回款周期 {_fmt(o['payment_cycle_days'])} 天({o['payments_recorded']} 笔有回款日期)· "
        + (("新员工,尚无赢单" if o["first_deal_days"] is None else f"新员工首单 {o['first_deal_days']} 天")
           if o["new_hire"] else "非新员工"),
        f"win rate {_fmt(o['win_rate'])} ({o['won']}/{o['closed']}) · avg deal {_fmt(o['avg_deal_size_cny'])} CNY · "
        f"cycle {_fmt(o['cycle_length_days'])} days · "
        f"payment cycle {_fmt(o['payment_cycle_days'])} days ({o['payments_recorded']} with a payment date) · "
        + (("new hire, no won deal yet" if o["first_deal_days"] is None else f"new hire, first deal after {o['first_deal_days']} days")
           if o["new_hire"] else "not a new hire")))


def _print_gaps_and_fit(view: dict, t) -> None:
    if view["gaps"]:
        gaps = Table(t("差距", "gap"), t("低于前四分之一", "below top quartile"), t("体现差距的通话", "calls that show it"),
                     title=t("能力差距", "Gaps"))
        for g in view["gaps"]:
            calls = "\n".join(f"#{c['call_id']} {c['date']} {c['label']} {_fmt(c['value'])} "
                              f"({t('前四分之一', 'top quartile')} {_fmt(c['top_quartile'])})"
                              for c in g["calls"]) or "—"
            gaps.add_row(g["label"], _fmt(g["gap"]), calls)
        console.print(gaps)
    else:
        console.print(t("没有低于前四分之一线的维度。", "No dimension is below the top quartile."))
    fit = Table(t("场景", "scenario"), t("匹配度", "fit"), t("权重", "weights"), title=t("场景匹配", "Scenario fit"))
    for f in view["scenario_fit"]:
        fit.add_row(f["label"], _fmt(f["fit"]), ", ".join(f"{view['dimensions'][d]['label']} {w:.0%}" for d, w in f["weights"].items()))
    console.print(fit)
    for note in view["notes"]:
        console.print(f"· {note}")


@drills_app.command("list")
def drills_list(as_login: AsLogin, rep: RepLogin = None, as_json: JsonFlag = False) -> None:
    """This week's drill tasks (from the rep's gaps) and the rep's assignments with progress."""
    from tools.drills import list_drills

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        plan = list_drills(ctx=ctx, rep_login=rep).to_json()
        t = ctx.t
    if as_json:
        print_json(plan)
        return
    console.print(t(f"[bold]{plan['rep']}[/bold] 本周({plan['week_start']} – {plan['week_end']})练习:",
                    f"[bold]{plan['rep']}[/bold] — drills for the week {plan['week_start']} – {plan['week_end']}:"))
    for task in plan["tasks"]:
        console.print(f"  · {task['text']} [dim]{task['code']}[/dim]")
    if not plan["tasks"]:
        console.print(t("  (没有建议的练习)", "  (no drills suggested)"))
    table = Table("id", t("练习", "drill"), t("截止", "due"), t("次数", "times"), t("状态", "status"), t("进展", "progress"),
                  title=t("已布置的练习", "Assignments"))
    status = {"open": t("进行中", "open"), "overdue": t("已逾期", "overdue"), "done": t("已完成", "done")}
    for a in plan["assignments"]:
        table.add_row(str(a["id"]), f"{a['title']} ({a['drill']})", a["due_date"], str(a["times"]), status[a["status"]],
                      _progress_text(a["progress"], t))
    console.print(table)
    for note in plan["notes"]:
        console.print(f"· {note}")


def _progress_text(p: dict | None, t) -> str:
    if not p:
        return "—"
    if p["status"] == "not_measured":
        return t("不通过通话衡量", "not measured from calls")
    if p["status"] == "no_calls_since":
        return t(f"完成后还没有通话(基线 {_fmt(p['baseline'])})", f"no calls since completion (baseline {_fmt(p['baseline'])})")
    arrow = {True: t("改善", "better"), False: t("未改善", "not better"), None: ""}[p["improved"]]
    return t(f"{p['metric']}: 基线 {_fmt(p['baseline'])} → 当前 {_fmt(p['current'])}({arrow},{p['calls_since']} 通)",
             f"{p['metric']}: baseline {_fmt(p['baseline'])} → now {_fmt(p['current'])} ({arrow}, {p['calls_since']} calls)")


@drills_app.command("assign")
def drills_assign(
    drill_code: Annotated[str, typer.Argument(help="the drill's code, e.g. pain-pause")],
    rep: Annotated[str, typer.Option("--rep", help="the rep to assign it to")],
    as_login: AsLogin,
    due: Annotated[str | None, typer.Option(help="due date YYYY-MM-DD (default: this Sunday)")] = None,
    times: Annotated[int, typer.Option(help="repetitions")] = 1,
    as_json: JsonFlag = False,
) -> None:
    """Assign a drill (trainers and admins: any rep; managers: their team's reps)."""
    from tools.drills import assign_drill

    try:
        due_date = date.fromisoformat(due) if due else None
    except ValueError:
        raise UserInputError(f"--due {due!r} is not a date; write it as YYYY-MM-DD") from None
    with session_scope(STATE.engine()) as session:
        result = assign_drill(ctx=_context(session, as_login), drill_code=drill_code, rep_login=rep, due=due_date, times=times).to_json()
    if as_json:
        print_json(result)
    else:
        console.print(result["message"])


@drills_app.command("complete")
def drills_complete(
    assignment_id: Annotated[int, typer.Argument(help="the assignment's id (see `drills list`)")],
    as_login: AsLogin,
    as_json: JsonFlag = False,
) -> None:
    """Mark a drill assignment done and store the rep's baseline; later calls are compared with it."""
    from tools.drills import complete_assignment

    with session_scope(STATE.engine()) as session:
        result = complete_assignment(ctx=_context(session, as_login), assignment_id=assignment_id).to_json()
    if as_json:
        print_json(result)
    else:
        console.print(result["message"])


@team_app.command("overview")
def team_overview_command(as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """Each rep of your team (a trainer or admin: every rep): dimension scores and biggest gap."""
    from tools.capability import team_overview

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        rows = []
        views = team_overview(ctx=ctx)
        labels = {d: x["label"] for d, x in views[0].dimensions.items()} if views else {}
        for v in views:
            gap = v.gaps[0] if v.gaps else None
            rows.append({"login": v.login, "name": v.name, "calls_used": v.calls_used,
                         "scores": {d: x["score"] for d, x in v.dimensions.items()},
                         "biggest_gap": {"dimension": gap["dimension"], "label": gap["label"], "gap": gap["gap"]} if gap else None})
        t = ctx.t
    if as_json:
        print_json(rows)
        return
    table = Table(t("销售", "rep"), t("通话", "calls"), *labels.values(), t("最大差距", "biggest gap"),
                  title=t(f"团队能力概览({len(rows)} 人)", f"Team capability overview ({len(rows)} reps)"))
    for r in rows:
        gap = f"{r['biggest_gap']['label']} (−{_fmt(r['biggest_gap']['gap'])})" if r["biggest_gap"] else "—"
        table.add_row(f"{r['name']} ({r['login']})", str(r["calls_used"]),
                      *(_fmt(r["scores"][d]) if r["scores"][d] is not None else t("通话不足", "too few calls") for d in labels), gap)
    console.print(table)


def successor_command(
    rep: Annotated[str, typer.Option("--rep", help="login of the leaving rep")],
    as_login: AsLogin,
    account: Annotated[int | None, typer.Option("--account", help="only this account (its id)")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Rank internal successors for each account of a leaving rep, with a handover guide per account
    (history, open commitments, key contacts, sensitive points from calls). For the manager of the
    rep's team or an admin."""
    from tools.successor import successor_plan

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        plan = successor_plan(ctx=ctx, rep_login=rep, account_id=account).to_json()
        t = ctx.t
    if as_json:
        print_json(plan)
        return
    left = (t(f"离职日期 {plan['left_at']}", f"leaving {plan['left_at']}") if plan["left_at"]
            else t("未登记离职日期", "no leaving date recorded"))
    console.print(t(f"[bold]{plan['rep_name']}({plan['rep']})的客户交接[/bold] · {plan['team'] or ''} · "
                    f"{left} · {len(plan['accounts'])} 个客户",
                    f"[bold]Handover of {plan['rep_name']} ({plan['rep']})[/bold] · {plan['team'] or ''} · "
                    f"{left} · {len(plan['accounts'])} accounts"))
    w = plan["weights"]
    console.print(t(f"排序:场景匹配 {w['fit']:.0%} + 负载余量 {w['capacity']:.0%} + "
                    f"语言 {w['language']:.0%} + 团队/区域 {w['context']:.0%}",
                    f"Ranking: scenario fit {w['fit']:.0%} + capacity {w['capacity']:.0%} + "
                    f"language {w['language']:.0%} + team/region {w['context']:.0%}"))
    for a in plan["accounts"]:
        _print_handover(a, t)
    for note in plan["notes"]:
        console.print(f"· {note}")


def _print_handover(a: dict, t) -> None:
    _print_account_header(a, t)
    _print_successors(a["candidates"], t)
    g = a["guide"]
    _print_history(g["history"], t)
    _print_commitments(g, t)
    _print_contacts(g["contacts"], t)
    _print_sensitive_points(g["sensitive_points"], t)
    for note in g["notes"]:
        console.print(f"· {note}")


def _print_account_header(a: dict, t) -> None:
    """Rule with the account, then region, segment, scenario (and its source) and open pipeline."""
    intl = t(",国际客户", ", international") if a["international"] else ""
    console.rule(f"#{a['account_id']} {a['account']}")
    console.print(t(f"{a['region']} · {a['segment']}{intl} · 场景 {a['scenario_label']}(来自{_SOURCE_ZH[a['scenario_source']]})· "
                    f"进行中商机 {_fmt(a['open_value_cny'])} 元",
                    f"{a['region']} · {a['segment']}{intl} · scenario {a['scenario_label']} (from its {a['scenario_source']}) · "
                    f"open pipeline {_fmt(a['open_value_cny'])} CNY"))


def _print_successors(candidates: list[dict], t) -> None:
    """The ranked candidates with score, fit and reasons."""
    cands = Table("#", t("候选接任人", "candidate"), t("总分", "score"), t("场景匹配", "fit"), t("理由", "reasons"),
                  title=t("接任人排序", "Successors"))
    for i, c in enumerate(candidates, 1):
        cands.add_row(str(i), f"{c['name']} ({c['login']})", _fmt(c["score"]), _fmt(c["fit"]), "\n".join(c["reasons"]))
    console.print(cands)


def _print_history(h: dict, t) -> None:
    """Stage, first and latest activity, silence, and the latest events."""
    console.print(t(f"[bold]历史[/bold]:当前阶段 {h['current_stage_label']};"
                    f"首次互动 {h['first_activity'] or '—'},最近 {h['last_activity'] or '—'};共 {h['events']} 条记录",
                    f"[bold]History[/bold]: stage {h['current_stage_label']}; "
                    f"first activity {h['first_activity'] or '—'}, latest {h['last_activity'] or '—'}; {h['events']} events")
                  + (t(f";已 {h['silent_days']} 天没有互动", f"; silent for {h['silent_days']} days") if h["silent_days"] else ""))
    for e in h["latest"]:
        console.print(f"  · {e['time']} {e['text']}", highlight=False)


def _print_commitments(g: dict, t) -> None:
    """Open opportunities, pending next steps and renewals due — or "(none)"."""
    console.print(t("[bold]未完成的承诺[/bold]:", "[bold]Open commitments[/bold]:"))
    for o in g["open_opportunities"]:
        console.print(t(f"  · 商机 #{o['id']} {o['name']} · {o['stage_label']} · {o['amount']}",
                        f"  · opportunity #{o['id']} {o['name']} · {o['stage_label']} · {o['amount']}"), highlight=False)
    for s in g["pending_next_steps"]:
        console.print(f"  · {s['text']}", highlight=False)
    for r in g["renewals_due"]:
        console.print(_renewal_line(r, t), highlight=False)
    if not (g["open_opportunities"] or g["pending_next_steps"] or g["renewals_due"]):
        console.print(t("  (无)", "  (none)"))


def _renewal_line(r: dict, t) -> str:
    late = t("(已逾期)", " (overdue)") if r["overdue"] else ""
    high = t(",高价值", ", high value") if r["high_value"] else ""
    return t(f"  · 续约 #{r['id']} 到期 {r['due_date']}{late} · {r['amount']}{high}",
             f"  · renewal #{r['id']} due {r['due_date']}{late} · {r['amount']}{high}")


def _print_contacts(contacts: list[dict], t) -> None:
    """Key contacts; behaviour only where it was included (consent, not anonymized)."""
    table = Table(t("联系人", "contact"), t("职务", "title"), t("角色", "role"), t("最近互动", "last activity"),
                  title=t("关键联系人", "Key contacts"))
    for c in contacts:
        last = (f"{c['last_activity'] or '—'} ({c['activities']})" if "last_activity" in c
                else t("未授权,不展示行为", "no consent: behaviour not shown"))
        table.add_row(c["name"], c["title"], c["role_in_deal"], last)
    console.print(table)


def _print_sensitive_points(points: list[dict], t) -> None:
    """Objections, pain points, price and policy mentions from calls (nothing when there are none)."""
    if not points:
        return
    kinds = {"objection": t("异议", "objection"), "pain_point": t("痛点", "pain point"), "price": t("价格", "price"),
             "policy": t("政策", "policy")}
    pts = Table(t("通话", "call"), t("时间", "time"), t("类型", "kind"), t("客户原话", "customer said"),
                title=t("敏感点(来自通话)", "Sensitive points (from calls)"))
    for p in points:
        pts.add_row(f"#{p['call_id']} {p['date']}", p["time"], "/".join(kinds[k] for k in p["kinds"]), p["text"])
    console.print(pts)


_SOURCE_ZH = {"opportunity": "最新商机", "lead": "最新线索", "segment": "客户细分", "industry": "行业"}
