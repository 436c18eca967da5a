"""AI suggestions: list the ones shown to you (a manager: to the team), and record whether
you adopted or dismissed one — the input of the "AI suggestion adoption rate" KPI.

Only the suggestion's owner (``AISuggestion.user_id``) or the manager of the owner's team may
decide it. Deciding again the same way is a no-op; changing a decision is refused. Every
decision is written to the audit log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import func, select, update

from core.errors import NotFoundError, PermissionDenied, UserInputError
from crm.models import SUGGESTION_STATUSES, Account, AISuggestion, AuditLog, Lead, User
from crm.roles import Role
from tools.context import ToolContext
from tools.leads import SUGGESTION_KIND_PREFIX, refuse_trainer

Decision = Literal["adopted", "dismissed"]
DECISIONS = ("adopted", "dismissed")
MAX_LIMIT = 500


@dataclass
class SuggestionRecord:
    id: int
    user_id: int  # whose suggestion it is (the lead's owner when it was shown)
    owner_login: str | None
    kind: str  # "nba:<rule>" for next best actions, else the stored kind
    rule: str | None  # the intent.yaml rule id, when kind is "nba:<rule>"
    lead_id: int | None
    account_id: int | None
    account: str | None  # the customer's name (the lead's account when the suggestion names only a lead)
    text: str
    evidence: list[Any]
    confidence: float
    status: str  # shown / adopted / dismissed / expired
    created_at: str
    decided_at: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DecisionResult:
    suggestion: SuggestionRecord
    changed: bool  # False: it had already been decided this way (nothing written)
    message: str  # in the asker's language

    def to_json(self) -> dict[str, Any]:
        return {"suggestion": self.suggestion.to_json(), "changed": self.changed, "message": self.message}


def _record(row: AISuggestion, login: str | None, account: str | None = None) -> SuggestionRecord:
    rule = row.kind[len(SUGGESTION_KIND_PREFIX):] if row.kind.startswith(SUGGESTION_KIND_PREFIX) else None
    return SuggestionRecord(
        id=row.id, user_id=row.user_id, owner_login=login, kind=row.kind, rule=rule, lead_id=row.lead_id,
        account_id=row.account_id, account=account, text=row.text, evidence=list(row.evidence or []), confidence=row.confidence,
        status=row.status, created_at=row.created_at.isoformat(sep=" ", timespec="seconds"),
        decided_at=row.decided_at.isoformat(sep=" ", timespec="seconds") if row.decided_at else None)


def list_suggestions(*, ctx: ToolContext, status: str | None = None, limit: int = 50,
                     owner_id: int | None = None) -> list[SuggestionRecord]:
    """Suggestions shown to the asker (a manager: to the team; an admin: all), newest first;
    ``owner_id``: only that rep's (the caller has checked the asker may see them)."""
    refuse_trainer(ctx)
    if status is not None and status not in SUGGESTION_STATUSES:
        raise UserInputError(ctx.t(f"未知的状态 {status!r};可选:{', '.join(SUGGESTION_STATUSES)}",
                                   f"unknown status {status!r}; use one of {', '.join(SUGGESTION_STATUSES)}"))
    limit = max(1, min(int(limit), MAX_LIMIT))
    stmt = (select(AISuggestion, User.login, Account.name).join(User, User.id == AISuggestion.user_id)
            .outerjoin(Lead, Lead.id == AISuggestion.lead_id)
            .outerjoin(Account, Account.id == func.coalesce(AISuggestion.account_id, Lead.account_id)))
    if not ctx.scope.everything:
        stmt = stmt.where(AISuggestion.user_id.in_(ctx.scope.owner_ids))
    if status is not None:
        stmt = stmt.where(AISuggestion.status == status)
    if owner_id is not None:
        stmt = stmt.where(AISuggestion.user_id == owner_id)
    stmt = stmt.order_by(AISuggestion.created_at.desc(), AISuggestion.id.desc()).limit(limit)
    return [_record(row, login, account) for row, login, account in ctx.session.execute(stmt)]


def _may_decide(ctx: ToolContext, owner: User | None) -> bool:
    if owner is None:
        return False
    if owner.id == ctx.user.id:
        return True
    return ctx.user.role == Role.MANAGER and owner.team_id is not None and owner.team_id == ctx.user.team_id


def decide_suggestion(*, ctx: ToolContext, suggestion_id: int, decision: Decision) -> DecisionResult:
    """Record that a suggestion was adopted or dismissed (by its owner or the owner's manager).
    The same decision again changes nothing; a different one is refused. The caller commits."""
    refuse_trainer(ctx)
    if decision not in DECISIONS:
        raise UserInputError(ctx.t(f"决定只能是 adopted(采纳)或 dismissed(忽略),而不是 {decision!r}",
                                   f"the decision must be 'adopted' or 'dismissed', not {decision!r}"))
    row = ctx.session.get(AISuggestion, suggestion_id)
    if row is None:
        raise NotFoundError(ctx.t(f"没有编号为 {suggestion_id} 的建议;可以先列出你的建议。",
                                  f"There is no suggestion {suggestion_id}; list your suggestions to find its id."))
    owner = ctx.session.get(User, row.user_id)
    if not _may_decide(ctx, owner):
        raise PermissionDenied(ctx.t(
            f"建议 {suggestion_id} 不是给你的:只有收到建议的人或其团队经理可以采纳或忽略;你可以列出并处理自己的建议。",
            f"Suggestion {suggestion_id} is not yours to decide: only the person it was shown to, or their team's "
            "manager, may adopt or dismiss it; list and decide your own suggestions instead."))
    login = owner.login if owner else None
    if row.status == decision:
        return DecisionResult(_record(row, login, _account_of(ctx, row)), False, ctx.t(
            f"建议 {suggestion_id} 已经标记为{_zh(decision)},无需重复操作。",
            f"Suggestion {suggestion_id} was already {decision}; nothing changed."))
    if row.status in DECISIONS:
        when = row.decided_at.strftime("%Y-%m-%d %H:%M") if row.decided_at else "—"
        raise UserInputError(ctx.t(
            f"建议 {suggestion_id} 已于 {when} 标记为{_zh(row.status)},决定不能更改;如情况有变,请等待新的建议。",
            f"Suggestion {suggestion_id} was already {row.status} on {when}; a decision cannot be changed — "
            "a new suggestion will follow if the situation changes."))
    if row.status != "shown":
        raise UserInputError(ctx.t(f"建议 {suggestion_id} 已过期,不能再采纳或忽略。",
                                   f"Suggestion {suggestion_id} has expired and can no longer be adopted or dismissed."))
    now = ctx.now()
    previous = row.status
    # a conditional update: of two concurrent decisions only the first one lands
    claimed = ctx.session.execute(
        update(AISuggestion).where(AISuggestion.id == row.id, AISuggestion.status == "shown")
        .values(status=decision, decided_at=now).execution_options(synchronize_session=False)).rowcount
    ctx.session.refresh(row)
    if not claimed:
        return decide_suggestion(ctx=ctx, suggestion_id=suggestion_id, decision=decision)
    ctx.session.add(AuditLog(at=now, user_id=ctx.user.id, action=f"suggestion.{decision}", target=f"ai_suggestion:{row.id}",
                             detail={"previous_status": previous, "decision": decision, "owner_id": row.user_id,
                                     "lead_id": row.lead_id, "kind": row.kind,
                                     "on_behalf_of_owner": row.user_id != ctx.user.id}))
    ctx.session.flush()
    account = _account_of(ctx, row)
    return DecisionResult(_record(row, login, account), True, ctx.t(
        f"已将建议 {suggestion_id} 标记为{_zh(decision)}:" + (f"{account} · " if account else "") + row.text,
        f"Suggestion {suggestion_id} marked {decision}: " + (f"{account} · " if account else "") + row.text))


def _account_of(ctx: ToolContext, row: AISuggestion) -> str | None:
    """The customer a suggestion is about: its account, else its lead's."""
    account_id = row.account_id or (ctx.session.scalar(select(Lead.account_id).where(Lead.id == row.lead_id)) if row.lead_id else None)
    return ctx.session.scalar(select(Account.name).where(Account.id == account_id)) if account_id else None


def _zh(status: str) -> str:
    return {"adopted": "已采纳", "dismissed": "已忽略", "shown": "待处理", "expired": "已过期"}.get(status, status)
