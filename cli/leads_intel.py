"""Lead intelligence commands: ``repcopilot route`` (+ ``explain``), ``review-queue``, ``feedback``,
``routing weights``, ``signals run`` and ``alerts`` — in the asking user's language."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from cli.state import STATE, console, print_json
from core.errors import UserInputError
from crm.access import get_user
from crm.db import session_scope

AsLogin = Annotated[str, typer.Option("--as", help="login of the user asking (see `repcopilot demo users`)")]
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON")]
At = Annotated[str | None, typer.Option("--at", help="act as of this time, YYYY-MM-DD[ HH:MM] UTC (default: now)", show_default=False)]

route_app = typer.Typer(help="Route new and re-opened leads to reps (with reasons); `route explain ID`.",
                        invoke_without_command=True)
review_app = typer.Typer(help="The manager review queue (high-value / cross-department leads).", no_args_is_help=True)
routing_app = typer.Typer(help="Routing weights: versions proposed by feedback, approve / reject / revert.", no_args_is_help=True)
weights_app = typer.Typer(help="Routing weight versions.", no_args_is_help=True)
routing_app.add_typer(weights_app, name="weights")
signals_app = typer.Typer(help="Signal rules over customer behaviour (tools/signals.yaml).", no_args_is_help=True)
alerts_app = typer.Typer(help="Alerts raised by the signal rules: list, adopt, dismiss, escalate, explain.", no_args_is_help=True)


def parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("T", " "))
    except ValueError:
        raise UserInputError(f"cannot read the time {value!r}; write it as YYYY-MM-DD or 'YYYY-MM-DD HH:MM' (UTC)") from None


def _context(session, login: str, at: datetime | None = None):
    from tools.context import ToolContext, utc_now

    user = get_user(session, login)
    return ToolContext(user=user, session=session, language=user.language if user.language in ("zh", "en") else "zh",
                       home=STATE.home, clock=(lambda: at) if at else utc_now,
                       anonymized=STATE.settings.anonymized_aggregate_mode)


# -- route -----------------------------------------------------------------------------------------

@route_app.callback()
def route(
    typer_ctx: typer.Context,
    as_login: Annotated[str | None, typer.Option("--as", help="login of a manager (their region's leads) or an admin")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="decide and show, store nothing")] = False,
    lead: Annotated[list[int] | None, typer.Option("--lead", help="route only this lead (repeatable) if it is new or re-opened "
                                                                  "(no owner); default: every one")] = None,
    backtest: Annotated[bool, typer.Option("--backtest", help="compare the engine with the historical owners (an estimate)")] = False,
    at: At = None,
    as_json: JsonFlag = False,
) -> None:
    """Route unassigned new leads (or --lead IDs): a decision per lead — auto, dual follow-up, nurture
    pool or manager review — with the reasons stored. Re-running routes nothing twice."""
    if typer_ctx.invoked_subcommand is not None:
        return
    if as_login is None:
        raise UserInputError("say who is routing: --as MANAGER_OR_ADMIN_LOGIN (see `repcopilot demo users`)")
    data, t = _run_route(as_login, lead_ids=lead or None, dry_run=dry_run, backtest=backtest, at=at)
    if as_json:
        print_json(data)
    elif backtest:
        _print_backtest(data, t)
    else:
        _print_routing(data, t, dry_run=dry_run)


def _run_route(as_login: str, *, lead_ids: list[int] | None, dry_run: bool, backtest: bool, at: str | None) -> tuple[dict, Callable]:
    """Route (or backtest) as ``as_login`` in one transaction: the JSON data and the asker's ``t``."""
    from tools.capability import ensure_profiles
    from tools.routing import backtest as run_backtest
    from tools.routing import route_leads

    when = parse_time(at)
    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login, when)
        ensure_profiles(session, now=ctx.now())
        data = run_backtest(ctx=ctx) if backtest else route_leads(ctx=ctx, lead_ids=lead_ids, dry_run=dry_run).to_json()
        return data, ctx.t


def _print_backtest(data: dict, t: Callable) -> None:
    a, b = data["owner_was_engine_top3"], data["owner_not_engine_top3"]
    table = Table(t("分组", "group"), t("线索", "leads"), t("转化", "converted"), t("转化率", "conversion"),
                  title=t(f"回测(权重 v{data['weights_version']},{data['leads']} 条线索)",
                          f"Backtest (weights v{data['weights_version']}, {data['leads']} leads)"))
    table.add_row(t("历史负责人在引擎前三名", "owner in engine's top 3"), str(a["leads"]), str(a["converted"]),
                  f"{(a['conversion'] or 0):.1%}")
    table.add_row(t("历史负责人不在前三名", "owner not in top 3"), str(b["leads"]), str(b["converted"]), f"{(b['conversion'] or 0):.1%}")
    console.print(table)
    console.print(t(f"差值:{data['conversion_lift_pts']} 个百分点。", f"Difference: {data['conversion_lift_pts']} points.")
                  + " " + data["method"])


def _print_routing(data: dict, t: Callable, *, dry_run: bool) -> None:
    table = Table("lead", t("方式", "kind"), t("销售", "rep"), t("专家", "specialist"), "CBI", t("等级", "tier"),
                  t("得分", "score"), t("响应截止", "respond by"), t("审核原因", "review"), "decision",
                  title=t(f"分配 {data['routed']} 条线索(权重 v{data['weights_version']})" + (",试运行未保存" if dry_run else ""),
                          f"Routed {data['routed']} leads (weights v{data['weights_version']})"
                          + (", dry run: nothing stored" if dry_run else "")))
    for r in data["leads"][:200]:
        table.add_row(f"#{r['lead_id']} {r['lead']}", r["kind"], r["rep"] or "—", r["specialist"] or "—", str(r["intent_score"]), r["tier"],
                      str(r["score"] if r["score"] is not None else "—"), r["respond_by"] or "—", ", ".join(r["review_reasons"]) or "—",
                      str(r["decision_id"] or "—"))
    console.print(table)
    console.print(t(f"按方式:{data['by_kind']};已分配或待审核而跳过:{data['skipped']}。"
                    "“为什么?”:repcopilot route explain DECISION_ID --as LOGIN",
                    f"By kind: {data['by_kind']}; skipped (already assigned or waiting for review): {data['skipped']}. "
                    "Why? repcopilot route explain DECISION_ID --as LOGIN"))


@route_app.command("explain")
def route_explain(decision_id: int, as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """Why a lead was routed where it was: factors × weights, the (up to 5) events, the confidence.
    Prints a markdown explanation report (or JSON)."""
    from tools.routing import explain_decision

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        exp = explain_decision(ctx=ctx, decision_id=decision_id)
        data, text = exp.to_json(), exp.render(ctx.language)
    print_json(data) if as_json else console.print(text, markup=False)


# -- review queue ------------------------------------------------------------------------------------

@review_app.command("list")
def review_list(as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """Leads waiting for a manager's decision (value ≥ threshold or cross-department), oldest first."""
    from tools.routing import review_queue

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        data = [v.to_json() for v in review_queue(ctx=ctx)]
        t = ctx.t
    if as_json:
        print_json(data)
        return
    table = Table("decision", "lead", t("金额", "value (CNY)"), t("建议销售", "proposed rep"), "CBI", t("原因", "why"),
                  title=t(f"待审核 {len(data)} 条", f"{len(data)} waiting for review"))
    for r in data:
        table.add_row(str(r["id"]), f"#{r['lead_id']} {r['lead']}", f"{r['value_cny']:,}", r["rep"] or "—", str(r["intent_score"]),
                      ", ".join(r["review_reasons"]))
    console.print(table)
    if data:
        console.print(t("处理:repcopilot review-queue approve ID --as LOGIN,override ID --rep LOGIN --as LOGIN,或 reject ID --as LOGIN",
                        "Decide: repcopilot review-queue approve ID --as LOGIN, override ID --rep LOGIN --as LOGIN, "
                        "or reject ID --as LOGIN"))


def _decide_in_the_queue(as_login: str, as_json: bool, decide, said: tuple[str, str]) -> None:
    """One review-queue decision as ``as_login``: ``decide(ctx)`` makes it; ``said`` (zh, en) is the line
    printed, with ``{lead}`` and ``{rep}`` filled from the decision."""
    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        data = decide(ctx).to_json()
        msg = ctx.t(*(s.format(lead=data["lead_id"], rep=data["rep"]) for s in said))
    print_json(data) if as_json else console.print(msg)


@review_app.command("approve")
def review_approve(decision_id: int, as_login: AsLogin, note: Annotated[str, typer.Option(help="why")] = "",
                   as_json: JsonFlag = False) -> None:
    """Approve the proposed rep for a lead in the review queue."""
    from tools.routing import approve_decision

    _decide_in_the_queue(as_login, as_json, lambda ctx: approve_decision(ctx=ctx, decision_id=decision_id, note=note),
                         ("已批准:线索 #{lead} 分配给 {rep}。", "Approved: lead #{lead} goes to {rep}."))


@review_app.command("override")
def review_override(decision_id: int, as_login: AsLogin,
                    rep: Annotated[str, typer.Option("--rep", help="login of the rep who takes the lead")],
                    note: Annotated[str, typer.Option(help="why")] = "", as_json: JsonFlag = False) -> None:
    """Give a lead in the review queue (or an assigned one) to another rep."""
    from tools.routing import override_decision

    _decide_in_the_queue(as_login, as_json,
                         lambda ctx: override_decision(ctx=ctx, decision_id=decision_id, rep_login=rep, note=note),
                         ("已改派:线索 #{lead} 分配给 {rep}。", "Overridden: lead #{lead} goes to {rep}."))


@review_app.command("reject")
def review_reject(decision_id: int, as_login: AsLogin, note: Annotated[str, typer.Option(help="why")] = "",
                  as_json: JsonFlag = False) -> None:
    """Reject the proposal for a lead in the review queue: nobody is assigned, the lead goes back to nurture."""
    from tools.routing import reject_decision

    _decide_in_the_queue(as_login, as_json, lambda ctx: reject_decision(ctx=ctx, decision_id=decision_id, note=note),
                         ("已驳回:线索 #{lead} 不分配,退回市场培育。", "Rejected: lead #{lead} goes back to nurture, unassigned."))


# -- feedback and weights ------------------------------------------------------------------------------

def feedback_command(
    lead_id: Annotated[int, typer.Argument(help="the lead")],
    as_login: AsLogin,
    reason: Annotated[str, typer.Option("--reason", help="invalid | competitor | wrong_fit")],
    note: Annotated[str, typer.Option("--note", help="what happened")] = "",
    as_json: JsonFlag = False,
) -> None:
    """Mark a lead routed to you invalid / signed with a competitor / wrong fit: the miss is attributed
    and a weights change proposed for a manager to review."""
    from tools.routing import submit_feedback

    with session_scope(STATE.engine()) as session:
        result = submit_feedback(ctx=_context(session, as_login), lead_id=lead_id, reason=reason, note=note)
        data = result.to_json()
    print_json(data) if as_json else console.print(data["message"])


def _versions_table(data: list[dict], title: str) -> None:
    table = Table("version", "status", "weights", "based on", "reason", "decided by", title=title)
    for v in data:
        table.add_row(f"v{v['version']}", v["status"], ", ".join(f"{k} {w:.2f}" for k, w in v["weights"].items()),
                      f"v{v['based_on']}" if v["based_on"] else "—", v["reason"], v["decided_by"] or "—")
    console.print(table)


@weights_app.command("list")
def weights_list(as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """Every routing weights version: active, pending review, retired, rejected."""
    from tools.routing import list_weight_versions

    with session_scope(STATE.engine()) as session:
        data = [v.to_json() for v in list_weight_versions(ctx=_context(session, as_login))]
    print_json(data) if as_json else _versions_table(data, "routing weights")


def _weights_action(fn_name: str, version: int, as_login: str, as_json: bool) -> None:
    from tools import routing

    with session_scope(STATE.engine()) as session:
        data = getattr(routing, fn_name)(ctx=_context(session, as_login), version=version).to_json()
    print_json(data) if as_json else console.print(f"v{data['version']}: {data['status']}")


@weights_app.command("approve")
def weights_approve(version: int, as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """Make a pending version active (the current one is retired and can be reverted to)."""
    _weights_action("approve_weights", version, as_login, as_json)


@weights_app.command("reject")
def weights_reject(version: int, as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """Reject a pending version."""
    _weights_action("reject_weights", version, as_login, as_json)


@weights_app.command("revert")
def weights_revert(version: int, as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """Re-activate an earlier version."""
    _weights_action("revert_weights", version, as_login, as_json)


# -- signals and alerts ------------------------------------------------------------------------------------

@signals_app.command("run")
def signals_run(
    as_login: AsLogin,
    since: Annotated[str | None, typer.Option("--since", help="window start YYYY-MM-DD[ HH:MM] (default: a day before --at)")] = None,
    at: At = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="find firings, log and send nothing")] = False,
    notify: Annotated[bool, typer.Option("--notify", help="also send new alerts to the owners' WeCom / Teams")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Evaluate the signal rules over a window of touchpoints: new alerts are logged once (re-runs log
    nothing twice), unanswered ones escalated to the manager, old ones expired."""
    from tools.signals import run_signals

    until = parse_time(at)
    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login, until)
        run = run_signals(ctx=ctx, since=parse_time(since), until=until, dry_run=dry_run)
        data = run.to_json()
        t = ctx.t
    if notify and not dry_run:
        from api.notify import deliver_pending

        data["delivery"] = deliver_pending(STATE.engine(), STATE.settings)
    if as_json:
        print_json(data)
        return
    table = Table(t("规则", "rule"), t("触发", "fired"),
                  title=t(f"信号 {data['since']} → {data['until']}", f"Signals {data['since']} → {data['until']}"))
    for rule, n in data["fired"].items():
        table.add_row(rule, str(n))
    console.print(table)
    console.print(t(f"检查线索 {data['leads_checked']} 条;新提醒 {data['new_alerts']};升级 {data['escalated']};过期 {data['expired']};"
                    f"窗口内未授权联系人的行为 {data['excluded_without_consent']} 条(只计数,不触发提醒);用时 {data['seconds']} 秒。",
                    f"Checked {data['leads_checked']} leads; new alerts {data['new_alerts']}; escalated {data['escalated']}; expired "
                    f"{data['expired']}; {data['excluded_without_consent']} events of contacts without consent in the window "
                    f"(counted only, never alerted); {data['seconds']} s."))
    if "delivery" in data:
        console.print(f"delivery: {data['delivery']}")


@alerts_app.command("list")
def alerts_list(as_login: AsLogin,
                status: Annotated[str | None, typer.Option(help="shown | adopted | dismissed | expired | escalated")] = None,
                rule: Annotated[str | None, typer.Option(help="only this rule")] = None,
                limit: Annotated[int, typer.Option(min=1, max=500)] = 50, as_json: JsonFlag = False) -> None:
    """Your alerts (a manager: the team's and those escalated to you), newest first."""
    from tools.alerts import list_alerts

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        data = [a.to_json() for a in list_alerts(ctx=ctx, status=status, rule=rule, limit=limit)]
        t = ctx.t
    if as_json:
        print_json(data)
        return
    table = Table("id", t("时间", "time"), t("负责人", "owner"), "lead", t("提醒", "alert"), t("建议", "action"), t("状态", "status"),
                  title=t(f"{len(data)} 条提醒", f"{len(data)} alerts"))
    for a in data:
        table.add_row(str(a["id"]), a["created_at"], a["owner"] or "—", f"#{a['lead_id']}", a["title"], a["action"], a["status"])
    console.print(table)


def _alert_decide(decision: str, alert_id: int, as_login: str, as_json: bool) -> None:
    from tools.alerts import decide_alert

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        data = decide_alert(ctx=ctx, alert_id=alert_id, decision=decision).to_json()
        msg = ctx.t(f"提醒 {alert_id}:{data['status']}", f"Alert {alert_id}: {data['status']}")
    print_json(data) if as_json else console.print(msg)


@alerts_app.command("adopt")
def alerts_adopt(alert_id: int, as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """Record that you acted on an alert."""
    _alert_decide("adopted", alert_id, as_login, as_json)


@alerts_app.command("dismiss")
def alerts_dismiss(alert_id: int, as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """Record that an alert was not useful."""
    _alert_decide("dismissed", alert_id, as_login, as_json)


@alerts_app.command("escalate")
def alerts_escalate(alert_id: int, as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """Send an alert to the owner's manager now."""
    from tools.alerts import escalate_alert

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        data = escalate_alert(ctx=ctx, alert_id=alert_id).to_json()
    print_json(data) if as_json else console.print(f"alert {alert_id}: escalated to {data['escalated_to']}")


@alerts_app.command("explain")
def alerts_explain(alert_id: int, as_login: AsLogin, as_json: JsonFlag = False) -> None:
    """Why this alert: the rule, its (up to 5) events and the confidence — a markdown report (or JSON)."""
    from tools.alerts import explain_alert

    with session_scope(STATE.engine()) as session:
        ctx = _context(session, as_login)
        exp = explain_alert(ctx=ctx, alert_id=alert_id)
        data, text = exp.to_json(), exp.render(ctx.language)
    print_json(data) if as_json else console.print(text, markup=False)
