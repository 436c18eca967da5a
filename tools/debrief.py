"""Call debrief: one call's metrics against the rep's own average and the team's top
quartile, with the moments (timestamps + text) that explain the biggest gaps."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from sqlalchemy import func, select

from core.errors import NotFoundError, PermissionDenied
from crm.models import Call, CallMetric, CallTurn, User
from crm.policy import is_trainer
from crm.roles import Role
from speech.text import is_pain_point, is_question, is_why_question
from tools.context import ToolContext
from tools.evidence import Evidence

#: which way is better for each metric the debrief compares
GOOD_DIRECTION = {
    "pain_point_pause_s": "higher",
    "patience_s": "higher",
    "why_question_share": "higher",
    "why_question_count": "higher",
    "question_rate_per_10min": "higher",
    "open_question_share": "higher",
    "longest_customer_story_s": "higher",
    "interactivity_per_min": "higher",
    "talk_ratio": "lower",
    "longest_monologue_s": "lower",
    "interruptions": "lower",
}


@dataclass
class MetricComparison:
    name: str
    value: float | None
    own_average: float | None
    team_top_quartile: float | None
    gap: float | None  # how far below the top quartile, as a share of it (0 = at or above)


@dataclass
class CallDebrief:
    call_id: int
    rep: str
    started_at: str
    duration_s: float
    language: str
    comparisons: list[MetricComparison]
    biggest_gaps: list[str]
    moments: list[Evidence] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id, "rep": self.rep, "started_at": self.started_at, "duration_s": self.duration_s,
            "language": self.language, "comparisons": [c.__dict__ for c in self.comparisons],
            "biggest_gaps": self.biggest_gaps, "moments": [m.to_json() for m in self.moments],
        }


def _visible_call(ctx: ToolContext, call: Call) -> bool:
    """An admin: every call; a manager: the team's; a rep: their own; the trainer: every rep's call — coaching
    is their work, and the capability profiles they see are made from these calls."""
    scope = ctx.scope
    if scope.everything or is_trainer(ctx.user):
        return True
    return call.rep_id in scope.owner_ids


def latest_call_id(*, ctx: ToolContext, rep_id: int | None = None, account_id: int | None = None) -> int | None:
    """The newest call the user may see (of a rep / account when given)."""
    stmt = select(Call).order_by(Call.started_at.desc(), Call.id.desc())
    if rep_id is not None:
        stmt = stmt.where(Call.rep_id == rep_id)
    elif not ctx.scope.everything:
        stmt = stmt.where(Call.rep_id.in_(ctx.scope.owner_ids or {ctx.user.id}))
    if account_id is not None:
        stmt = stmt.where(Call.account_id == account_id)
    for call in ctx.session.scalars(stmt.limit(50)):
        if _visible_call(ctx, call):
            return call.id
    return None


def _averages(ctx: ToolContext, rep_ids: list[int], exclude_call: int | None = None) -> dict[int, dict[str, float]]:
    stmt = (select(Call.rep_id, CallMetric.name, func.avg(CallMetric.value))
            .join(Call, Call.id == CallMetric.call_id)
            .where(Call.rep_id.in_(rep_ids), CallMetric.value.is_not(None))
            .group_by(Call.rep_id, CallMetric.name))
    if exclude_call is not None:
        stmt = stmt.where(Call.id != exclude_call)
    out: dict[int, dict[str, float]] = {}
    for rep_id, name, avg in ctx.session.execute(stmt):
        out.setdefault(rep_id, {})[name] = float(avg)
    return out


def _top_quartile(values: list[float], direction: str) -> float | None:
    if len(values) < 2:
        return values[0] if values else None
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[2] if direction == "higher" else q[0]


def call_debrief(*, ctx: ToolContext, call_id: int) -> CallDebrief:
    call = ctx.session.get(Call, call_id)
    if call is None:
        raise NotFoundError(ctx.t(f"没有编号为 {call_id} 的通话", f"there is no call {call_id}"))
    if not _visible_call(ctx, call):
        raise PermissionDenied(ctx.t(
            f"通话 {call_id} 不是你的通话,你只能复盘自己的通话(经理可复盘本团队的通话)",
            f"call {call_id} is not one of yours; you can debrief your own calls (managers: their team's)"))
    rep = ctx.session.get(User, call.rep_id)
    metrics = {m.name: m.value for m in ctx.session.scalars(select(CallMetric).where(CallMetric.call_id == call_id))}
    team_reps = list(ctx.session.scalars(select(User.id).where(User.team_id == rep.team_id, User.role == Role.REP)))
    averages = _averages(ctx, team_reps or [rep.id])
    own = _averages(ctx, [rep.id], exclude_call=call_id).get(rep.id, {})
    comparisons = []
    for name, direction in GOOD_DIRECTION.items():
        if name not in metrics:
            continue
        value = metrics[name]
        top = _top_quartile([a[name] for a in averages.values() if name in a], direction)
        gap = None
        if value is not None and top:
            shortfall = (top - value) if direction == "higher" else (value - top)
            gap = round(max(0.0, shortfall / abs(top)), 3)
        comparisons.append(MetricComparison(name, value, own.get(name), top, gap))
    ranked = sorted((c for c in comparisons if c.gap), key=lambda c: -c.gap)
    biggest = [c.name for c in ranked[:3]]
    turns = list(ctx.session.scalars(select(CallTurn).where(CallTurn.call_id == call_id).order_by(CallTurn.idx)))
    return CallDebrief(
        call_id=call.id, rep=rep.login, started_at=call.started_at.isoformat(sep=" "), duration_s=call.duration_s,
        language=call.language, comparisons=comparisons, biggest_gaps=biggest,
        moments=_moments(turns, biggest, call.language, call.id)[:5],
    )


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60):02d}:{int(seconds % 60):02d}"


PAUSE_GAPS = ("pain_point_pause_s", "patience_s", "why_question_share", "why_question_count", "open_question_share",
              "question_rate_per_10min")


def _pain_point_replies(turns: list[CallTurn], language: str, call_id: int) -> list[Evidence]:
    """Pain points answered too fast (under 1.5 s) or without a "why" question."""
    out = []
    for prev, cur in pairwise(turns):
        if not (prev.speaker == "customer" and cur.speaker == "rep" and is_pain_point(prev.text, language)):
            continue
        pause = cur.start_s - prev.end_s
        asked_why = is_question(cur.text, language) and is_why_question(cur.text, language)
        if pause < 1.5 or not asked_why:
            out.append(Evidence(
                "call", f"{call_id}", f"{_clock(prev.start_s)}–{_clock(cur.end_s)}",
                f"客户: {prev.text} → ({pause:.1f}s) 销售: {cur.text}" if language == "zh"
                else f"customer: {prev.text} → ({pause:.1f}s) rep: {cur.text}"))
    return out


def _longest_monologue(turns: list[CallTurn], language: str, call_id: int) -> list[Evidence]:
    longest = max((t for t in turns if t.speaker == "rep"), key=lambda t: t.end_s - t.start_s, default=None)
    return [Evidence("call", f"{call_id}", f"{_clock(longest.start_s)}–{_clock(longest.end_s)}", longest.text)] if longest else []


def _interruptions(turns: list[CallTurn], language: str, call_id: int) -> list[Evidence]:
    return [Evidence("call", f"{call_id}", f"{_clock(cur.start_s)}", cur.text)
            for prev, cur in pairwise(turns)
            if prev.speaker == "customer" and cur.speaker == "rep" and cur.start_s < prev.end_s + 0.2]


def _gap_evidence(name: str):
    if name in PAUSE_GAPS:
        return _pain_point_replies
    return {"longest_monologue_s": _longest_monologue, "interruptions": _interruptions}.get(name)


def _unique(evidence: list[Evidence]) -> list[Evidence]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for e in evidence:
        if (e.time, e.text) not in seen:
            seen.add((e.time, e.text))
            unique.append(e)
    return unique


def _moments(turns: list[CallTurn], gaps: list[str], language: str, call_id: int) -> list[Evidence]:
    """The turns that show each gap, newest concern first."""
    out: list[Evidence] = []
    for name in gaps:
        find = _gap_evidence(name)
        if find is not None:
            out.extend(find(turns, language, call_id))
    return _unique(out)
