"""journey_timeline: an account's touchpoints in time order, grouped by stage."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from agent.tools.base import ToolOutput, ToolSpec, resolve_lead
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.journey import journey_timeline
from tools.kpi.parser import parse_period
from tools.leads import get_visible_lead


class JourneyArgs(BaseModel):
    query: str = Field(description="the account or lead as the user named it, with any period words ('last 90 days', '今年')")
    lead_id: int | None = Field(None, description="a lead id already known from the conversation: its account's journey")
    account_id: int | None = Field(None, description="the account id, when known")
    period_start: str | None = Field(None, description="YYYY-MM-DD, inclusive")
    period_end: str | None = Field(None, description="YYYY-MM-DD, exclusive")


def _journey(*, ctx: ToolContext, query: str, lead_id: int | None, account_id: int | None,
             period_start: str | None, period_end: str | None) -> ToolOutput:
    if lead_id is None and account_id is None:
        resolved = resolve_lead(ctx, query, account_level=True)
        if isinstance(resolved, ToolOutput):
            return resolved
        lead_id = resolved
    if account_id is None and lead_id is not None:
        account_id = get_visible_lead(ctx, lead_id).account_id  # the account's whole journey, all its leads
    try:
        start, end = journey_period(ctx, query, period_start, period_end)
    except ValueError:
        return ToolOutput(text=ctx.t("日期格式应为 YYYY-MM-DD。", "Dates must be written YYYY-MM-DD."), error="input")
    journey = journey_timeline(ctx=ctx, account_id=account_id, start=start, end=end)
    events = [e for stage in journey.stages for e in stage.events]
    evidence = [Evidence(e.kind, str(e.id), e.time, e.text(ctx.language)) for e in events[-10:]]
    return ToolOutput(text=journey.render(ctx.language), data=journey.to_json(), evidence=evidence,
                      confidence=0.9 if events else 0.4,
                      focus={"account_id": journey.account_id, **({"lead_id": lead_id} if lead_id else {})})


def journey_period(ctx: ToolContext, query: str, period_start: str | None,
                   period_end: str | None) -> tuple[date | None, date | None]:
    """The period to show: the dates given (ValueError when one is not YYYY-MM-DD), else the period
    words of the question ("last 90 days", "今年") at the context's clock, else none (the whole journey)."""
    start = date.fromisoformat(period_start) if period_start else None
    end = date.fromisoformat(period_end) if period_end else None
    if start is None and end is None:
        period, _ = parse_period(query, ctx.now().date())
        if period is not None:
            start, end = period.start, period.end
    return start, end


SPEC = ToolSpec(
    "journey_timeline",
    "The customer journey of an account: every touchpoint, lead, call, opportunity and stage change in time order, "
    "grouped by stage, with long silences and the current stage marked; an optional period.",
    JourneyArgs, _journey)
