"""Alerts raised by the signal rules: list them (a rep: their own; a manager: the team's and the ones
escalated to them; an admin: all), adopt / dismiss / escalate one, and explain one ("why this
alert?": its up-to-5 events, the rule, the confidence). Decisions update the alert's AISuggestion
too, so the AI-suggestion adoption KPI counts alerts."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import or_, select, update

from core.errors import NotFoundError, PermissionDenied, UserInputError
from crm.models import ALERT_STATUSES, Account, AISuggestion, Alert, AuditLog, Lead, User
from tools.context import ToolContext
from tools.leads import refuse_trainer
from tools.routing import Explanation
from tools.text import fmt_time

AlertDecision = Literal["adopted", "dismissed"]
MAX_LIMIT = 500


@dataclass
class AlertView:
    id: int
    rule: str
    lead_id: int | None
    lead: str | None
    account: str | None  # the lead's customer
    owner: str | None
    title: str
    action: str
    evidence: list[dict[str, Any]]  # up to 5 events (counts per kind in anonymized mode)
    confidence: float
    status: str
    created_at: str
    escalated_to: str | None
    expires_at: str | None
    suggestion_id: int | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def render(self, language: str) -> str:
        zh = language == "zh"
        customer = f"{self.account} · " if self.account else ""
        head = f"**{self.title}**" + (f"({customer}线索 #{self.lead_id})" if zh else f" ({customer}lead #{self.lead_id})")
        lines = [head, ("建议:" if zh else "Suggested: ") + self.action]
        lines += [f"- {e.get('time') or ''} {e['text']}".rstrip() for e in self.evidence]
        lines.append(f"置信度 {self.confidence:.2f} · 状态 {self.status}" if zh else
                      f"confidence {self.confidence:.2f} · status {self.status}")
        return "  \n".join(lines)


def shown_evidence(ctx: ToolContext, evidence: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the asker may see of an alert's evidence: the events, or in anonymized aggregate mode
    only a count per kind of event (no time, no asset, no title)."""
    if not ctx.anonymized:
        return [dict(e) for e in evidence[:5]]
    from tools.text import KIND_LABELS, label

    counts = Counter(e.get("event_kind") or e.get("kind") for e in evidence)
    return [{"kind": "aggregate", "id": None, "time": None, "text": f"{label(KIND_LABELS, k, ctx.language)} × {n}"
             if k in KIND_LABELS else f"{k} × {n}"} for k, n in sorted(counts.items())]


def shown_title(ctx: ToolContext, a: Alert) -> str:
    """The alert's title, or in anonymized aggregate mode the rule's short name (the title may name a
    contact's job title or a document)."""
    if not ctx.anonymized:
        return a.title
    from tools.signals import rule_by_id

    rule = rule_by_id(a.rule)
    return rule["name_zh"] if ctx.language == "zh" else rule["name_en"]


def _view(ctx: ToolContext, a: Alert) -> AlertView:
    lead = ctx.session.get(Lead, a.lead_id) if a.lead_id else None
    login = lambda uid: ctx.session.scalar(select(User.login).where(User.id == uid)) if uid else None  # noqa: E731
    account = ctx.session.scalar(select(Account.name).where(Account.id == lead.account_id)) if lead else None
    return AlertView(a.id, a.rule, a.lead_id, lead.name if lead else None, account, login(a.owner_id), shown_title(ctx, a), a.action,
                     shown_evidence(ctx, a.evidence or []), a.confidence, a.status, fmt_time(a.created_at),
                     login(a.escalated_to_id), fmt_time(a.expires_at) if a.expires_at else None, a.suggestion_id)


def _visible(ctx: ToolContext):
    stmt = select(Alert)
    if ctx.scope.everything:
        return stmt
    return stmt.where(or_(Alert.owner_id.in_(ctx.scope.owner_ids), Alert.escalated_to_id == ctx.user.id))


def list_alerts(*, ctx: ToolContext, status: str | None = None, rule: str | None = None, limit: int = 50,
                owner_id: int | None = None, lead_ids: set[int] | None = None) -> list[AlertView]:
    """Alerts for the asker, newest first: a rep's own, a manager's team's (and escalated to them), an admin's all."""
    refuse_trainer(ctx)
    if status is not None and status not in ALERT_STATUSES:
        raise UserInputError(ctx.t(f"未知的状态 {status!r};可选:{', '.join(ALERT_STATUSES)}",
                                   f"unknown status {status!r}; use one of {', '.join(ALERT_STATUSES)}"))
    stmt = _visible(ctx)
    if status:
        stmt = stmt.where(Alert.status == status)
    if rule:
        stmt = stmt.where(Alert.rule == rule)
    if owner_id is not None:
        stmt = stmt.where(Alert.owner_id == owner_id)
    if lead_ids is not None:
        stmt = stmt.where(Alert.lead_id.in_(lead_ids))
    stmt = stmt.order_by(Alert.created_at.desc(), Alert.id.desc()).limit(max(1, min(int(limit), MAX_LIMIT)))
    return [_view(ctx, a) for a in ctx.session.scalars(stmt)]


def get_alert(ctx: ToolContext, alert_id: int) -> Alert:
    refuse_trainer(ctx)
    a = ctx.session.get(Alert, alert_id)
    if a is None:
        raise NotFoundError(ctx.t(f"没有编号为 {alert_id} 的提醒;用 `repcopilot alerts list` 查看。",
                                  f"there is no alert {alert_id}; list yours with `repcopilot alerts list`."))
    if ctx.session.scalar(_visible(ctx).where(Alert.id == alert_id).with_only_columns(Alert.id)) is None:
        raise PermissionDenied(ctx.t(f"提醒 {alert_id} 不是给你的;你可以查看和处理自己的提醒。",
                                     f"alert {alert_id} is not yours; you can list and act on your own alerts."))
    return a


def decide_alert(*, ctx: ToolContext, alert_id: int, decision: AlertDecision) -> AlertView:
    """Adopt or dismiss an alert (its owner, the owner's manager, or whoever it was escalated to).
    The same decision again changes nothing; a different one, or one on an expired alert, is refused."""
    if decision not in ("adopted", "dismissed"):
        raise UserInputError(ctx.t("决定只能是 adopted(采纳)或 dismissed(忽略)。", "the decision must be 'adopted' or 'dismissed'."))
    a = get_alert(ctx, alert_id)
    if a.status == decision:
        return _view(ctx, a)
    if a.status not in ("shown", "escalated"):
        raise UserInputError(ctx.t(f"提醒 {alert_id} 已是 {a.status},不能再更改。",
                                   f"alert {alert_id} is already {a.status}; it cannot be changed."))
    now = ctx.now()
    claimed = ctx.session.execute(update(Alert).where(Alert.id == a.id, Alert.status.in_(("shown", "escalated")))
                                  .values(status=decision, decided_at=now).execution_options(synchronize_session=False)).rowcount
    if a.suggestion_id:
        ctx.session.execute(update(AISuggestion).where(AISuggestion.id == a.suggestion_id, AISuggestion.status == "shown")
                            .values(status=decision, decided_at=now).execution_options(synchronize_session=False))
    ctx.session.refresh(a)
    if claimed:
        ctx.session.add(AuditLog(at=now, user_id=ctx.user.id, action=f"alert.{decision}", target=f"alert:{a.id}",
                                 detail={"rule": a.rule, "lead_id": a.lead_id}))
        ctx.session.flush()
    return _view(ctx, a)


def escalate_alert(*, ctx: ToolContext, alert_id: int) -> AlertView:
    """Send an alert to the owner's manager now (by its owner, or a manager/admin)."""
    from tools.signals import _manager_of_team

    a = get_alert(ctx, alert_id)
    if a.status == "escalated":
        return _view(ctx, a)
    if a.status != "shown":
        raise UserInputError(ctx.t(f"提醒 {alert_id} 已是 {a.status},不能升级。",
                                   f"alert {alert_id} is already {a.status}; it cannot be escalated."))
    owner = ctx.session.get(User, a.owner_id) if a.owner_id else None
    manager = _manager_of_team(ctx.session, owner.team_id if owner else None, {})
    if manager is None or manager.id == a.owner_id:
        raise UserInputError(ctx.t("这条提醒的负责人没有上级经理可升级。", "this alert's owner has no manager to escalate to."))
    now = ctx.now()
    a.status, a.escalated_at, a.escalated_to_id = "escalated", now, manager.id
    ctx.session.add(AuditLog(at=now, user_id=ctx.user.id, action="alert.escalated", target=f"alert:{a.id}",
                             detail={"to": manager.id, "automatic": False}))
    ctx.session.flush()
    return _view(ctx, a)


def explain_alert(*, ctx: ToolContext, alert_id: int) -> Explanation:
    """Why this alert: the rule (tools/signals.yaml), its (up to 5) events and the confidence."""
    from tools.signals import rule_by_id

    a = get_alert(ctx, alert_id)
    rule = rule_by_id(a.rule)
    params = ", ".join(f"{k}={v}" for k, v in (rule.get("params") or {}).items())
    title = shown_title(ctx, a)
    lead = ctx.session.get(Lead, a.lead_id) if a.lead_id else None
    if lead is not None:
        customer = ctx.session.scalar(select(Account.name).where(Account.id == lead.account_id))
        title = ctx.t(f"{title}({customer} · 线索 #{lead.id})", f"{title} ({customer} · lead #{lead.id})")
    summary = ctx.t(f"提醒 #{a.id}:{title}。建议:{a.action}。规则 {a.rule}({rule['check']}:{params})。",
                    f"Alert #{a.id}: {title}. Suggested: {a.action}. Rule {a.rule} ({rule['check']}: {params}).")
    method = ctx.t("方法:规则在该时间窗口内的客户行为序列上触发;只使用已授权跟踪的联系人的行为(以及无联系人的公开事件,如招标公告);"
                   "置信度为规则的基础置信度,证据越多越高(上限 0.95)。",
                   "Method: the rule fired over the customer's behaviour sequence in the window; only events of contacts who "
                   "consented to tracking (and contact-less public events such as tender notices) are used; the confidence is the "
                   "rule's base confidence, raised by extra evidence (at most 0.95).")
    events = [{"id": e.get("id"), "time": e.get("time"), "text": e["text"], "weight": e.get("weight")}
              for e in shown_evidence(ctx, a.evidence or [])]
    return Explanation(f"alert:{a.id}", summary, [], events, a.confidence, method, ctx.anonymized)
