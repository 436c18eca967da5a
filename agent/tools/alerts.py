"""alerts: signal alerts (list, adopt, dismiss, explain)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import select

from agent.tools.base import ToolOutput, ToolSpec, event_evidence, records_owner, refuse_a_hidden_account
from crm.models import User
from crm.roles import Role
from tools.alerts import decide_alert, explain_alert, list_alerts
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.leads import denied, find_leads
from tools.leads.find import close_to_best, names_its_account
from tools.text import person_name


class AlertsArgs(BaseModel):
    action: str = Field("list", description="'list' the user's alerts, 'adopt' or 'dismiss' one, or 'explain' why it was raised")
    alert_id: int | None = Field(None, description="the alert's id, for adopt / dismiss / explain")
    status: str | None = Field(None, description="for list: only alerts in this status (shown, escalated, adopted, dismissed, expired)")
    owner: str | None = Field(None, description="for list: whose alerts, when the user names a rep ('李娜的提醒'): name or login")
    customer: str | None = Field(None, description="for list: only the alerts of the customer the user names ('杭州卫健委有啥提醒'), "
                                                   "as said")


ALERT_STATUS_LABELS = {"shown": ("待处理", "open"), "escalated": ("已升级", "escalated"), "adopted": ("已采纳", "adopted"),
                       "dismissed": ("已忽略", "dismissed"), "expired": ("已过期", "expired")}


def _alert_evidence(view) -> list[Evidence]:
    return [Evidence("alert", str(view.id), view.created_at, view.title),
            *event_evidence([{"id": e.get("id"), "time": e.get("time"), "text": e["text"]} for e in view.evidence])]


def _alerts(*, ctx: ToolContext, action: str, alert_id: int | None, status: str | None, owner: str | None = None,
            customer: str | None = None) -> ToolOutput:
    if action not in ("list", "adopt", "dismiss", "explain"):
        return ToolOutput(text=ctx.t("action 只能是 list、adopt、dismiss 或 explain。", "action must be list, adopt, dismiss or explain."),
                          error="input")
    if action == "list":
        return _alert_list(ctx, status, owner, customer)
    if alert_id is None:
        return ToolOutput(text=ctx.t("请给出提醒编号,例如“采纳提醒 5”。", "Give the alert's id, e.g. “adopt alert 5”."), error="input")
    if action == "explain":
        return _why_alert(ctx, alert_id)
    return _decide(ctx, alert_id, "adopted" if action == "adopt" else "dismissed")


def _why_alert(ctx: ToolContext, alert_id: int) -> ToolOutput:
    exp = explain_alert(ctx=ctx, alert_id=alert_id)
    evidence = [Evidence("alert", str(alert_id), None, exp.summary), *event_evidence(exp.events)]
    return ToolOutput(text=exp.render(ctx.language), data=exp.to_json(), evidence=evidence, confidence=exp.confidence,
                      focus={"alert_id": alert_id})


def _decide(ctx: ToolContext, alert_id: int, decision: str) -> ToolOutput:
    view = decide_alert(ctx=ctx, alert_id=alert_id, decision=decision)
    label = ALERT_STATUS_LABELS.get(view.status, (view.status, view.status))
    text = ctx.t(f"提醒 #{view.id} 已记为{label[0]}:{view.title}", f"Alert #{view.id} is now {label[1]}: {view.title}")
    return ToolOutput(text=text + "\n\n" + view.render(ctx.language), data=view.to_json(), evidence=_alert_evidence(view),
                      confidence=view.confidence, focus={"alert_id": view.id, "lead_id": view.lead_id})


def _alert_list(ctx: ToolContext, status: str | None, owner: str | None = None, customer: str | None = None) -> ToolOutput:
    """The asker's alerts (a manager's: the team's), one rep's or one customer's — refused when that rep or customer
    is not the asker's to see (never the asker's other alerts instead)."""
    of = _whose_alerts(ctx, owner)
    leads, account = _customer_leads(ctx, customer) if customer else (None, None)
    views = list_alerts(ctx=ctx, status=status, limit=10, owner_id=of.id if of else None, lead_ids=leads)
    which = ctx.t(f"{ALERT_STATUS_LABELS[status][0]}的" if status in ALERT_STATUS_LABELS else "",
                  f"{ALERT_STATUS_LABELS[status][1]} " if status in ALERT_STATUS_LABELS else "")
    if not views and account:
        return ToolOutput(text=ctx.t(f"{account} 目前没有{which}提醒。", f"{account} has no {which}alerts."), data={"alerts": []},
                          confidence=0.9)
    if not views:
        return ToolOutput(text=ctx.t(f"目前没有{which}提醒。", f"You have no {which}alerts."), data={"alerts": []}, confidence=0.9)
    yours = ctx.user.role == Role.REP  # a manager also sees the team's, an admin all
    lines = [ctx.t(f"{'你的' if yours else '你能查看的'}{which}提醒(最新的 {len(views)} 条):",
                   f"Your {which}alerts (newest {len(views)}):" if yours else f"The {which}alerts you can see (newest {len(views)}):")]
    lines += [alert_line(ctx, v) for v in views]
    lines.append(ctx.t("说“为什么提醒 5”看依据,“采纳提醒 5”或“忽略提醒 5”处理。",
                       "Say “why alert 5” for the evidence, “adopt alert 5” or “dismiss alert 5” to act on one."))
    return ToolOutput(text="\n".join(lines), data={"alerts": [v.to_json() for v in views]},
                      evidence=[Evidence("alert", str(v.id), v.created_at, f"{v.title} · {v.lead}") for v in views],  # "the Aurora one"
                      confidence=min(v.confidence for v in views), focus={"alert_id": views[0].id})


def _whose_alerts(ctx: ToolContext, owner: str | None):
    """The rep whose alerts are asked for (None: the asker's own, a manager's team's); everyone's ("让我看下全组的预警")
    and a colleague's refused to a rep."""
    if owner == "all":
        if ctx.user.role == Role.REP:
            raise denied(ctx, "同事的提醒", "Colleagues' alerts")
        return None
    return records_owner(ctx, owner, "的提醒", "'s alerts") if owner else None


def _customer_leads(ctx: ToolContext, customer: str) -> tuple[set[int] | None, str | None]:
    """The leads of the account the words name among the asker's (refused when they name one the asker may not see);
    (None, None) when they name none — the asker's alerts then."""
    matches = find_leads(ctx=ctx, query=customer, limit=20)
    refuse_a_hidden_account(ctx, customer, matches)
    top = [m for m in close_to_best(matches) if m.score >= 0.9 and (m.matched_on != "account" or names_its_account(customer, m.account))]
    accounts = {m.account for m in top}
    if len(accounts) != 1:
        return None, None
    account = accounts.pop()
    return {m.lead_id for m in matches if m.account == account}, account


def alert_line(ctx: ToolContext, v) -> str:
    """One alert of the list: id, title, lead, status, the owner when it is not the asker, the suggested action."""
    st = ALERT_STATUS_LABELS.get(v.status, (v.status, v.status))
    name = _name_of(ctx, v.owner) if v.owner and v.owner != ctx.user.login else None
    person = ctx.t(f"{v.owner}({name})", f"{v.owner} ({name})") if name and name != v.owner else v.owner  # the login, and the person
    who = ctx.t(f",负责人 {person}", f", owner {person}") if name else ""
    return f"- #{v.id} {v.title} · " + ctx.t(f"线索 #{v.lead_id}({v.lead})· {st[0]}{who} · 建议:{v.action}",
                                             f"lead #{v.lead_id} ({v.lead}) · {st[1]}{who} · suggested: {v.action}")


def _name_of(ctx: ToolContext, login: str) -> str:
    user = ctx.session.scalar(select(User).where(User.login == login))
    return login if user is None else person_name(user, ctx.language)


SPEC = ToolSpec(
    "alerts",
    "Signal alerts raised from customer behaviour (intent jumps, an engineer's technical deep dive, policy-sensitive "
    "tenders …). action='list' shows the user's alerts (a rep: their own; a manager: the team's and those escalated to "
    "them), optionally by status ('escalated', 'shown' …); 'adopt' / 'dismiss' records the decision on one alert; "
    "'explain' says why it was raised: the rule, the up to 5 events and the confidence. Use for '我的提醒', 'my alerts', "
    "'采纳提醒 5', 'why alert 5'. Not for alert KPIs such as the alert adoption rate (kpi_query).",
    AlertsArgs, _alerts)
