"""kpi_query: a KPI question (or a follow-up that changes the previous one) through the metric registry."""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from agent.tools.base import ToolOutput, ToolSpec
from tools.context import ToolContext
from tools.kpi import answer_question, clarification, load_registry, run_spec
from tools.kpi.compiler import Period, QuerySpec
from tools.kpi.parser import find_metric, parse_period, parse_question
from tools.kpi.service import TeamFiguresRefused, refuse_team_figures_to_a_rep


class KpiArgs(BaseModel):
    question: str = Field(description="the KPI question in the user's words")
    metric: str | None = Field(None, description="a metric name from the registry, when the model fills the spec itself")
    dimensions: list[str] = Field(default_factory=list,
                                  description="breakdowns: region, team, rep, industry, segment, lead_source, stage, month, week, quarter")
    filters: dict[str, list[str]] = Field(default_factory=dict, description="e.g. {'region': ['east']}")
    period_start: str | None = Field(None, description="YYYY-MM-DD, inclusive")
    period_end: str | None = Field(None, description="YYYY-MM-DD, exclusive")
    compare: str | None = Field(None, description="previous_period | last_year")
    base_spec: dict[str, Any] | None = Field(None, description="the previous KPI answer's spec, when this question only changes "
                                                                "its period, breakdown or filters ('and last quarter?', '按团队呢?')")


def _kpi(*, ctx: ToolContext, question: str, metric: str | None, dimensions: list[str], filters: dict[str, list[str]],
         period_start: str | None, period_end: str | None, compare: str | None,
         base_spec: dict[str, Any] | None = None) -> ToolOutput:
    chart = None
    if ctx.home is not None:
        # named "<user id>-<random>.png" like the API's charts, so GET /api/charts/{name} serves it to its owner
        chart = ctx.home / "charts" / f"{ctx.user.id}-{uuid.uuid4().hex}.png"
    if metric:  # a model-filled spec, validated against the registry before it runs
        registry = load_registry()
        if metric not in registry.metrics:
            return ToolOutput(text=ctx.t(f"没有名为 {metric} 的指标", f"there is no metric named {metric}"), error="input")
        period = Period(date.fromisoformat(period_start), date.fromisoformat(period_end)) if period_start and period_end else None
        answer = run_spec(ctx=ctx, spec=QuerySpec(metric=metric, dimensions=dimensions, filters=filters, period=period,
                                                  compare=compare), chart_path=chart)
    else:
        try:
            answer = _follow_up(ctx, question, base_spec, chart) if base_spec else answer_question(ctx=ctx, question=question,
                                                                                                chart_path=chart)
        except TeamFiguresRefused as refused:  # the refusal, with the asker's own figure as what a follow-up refers to
            return ToolOutput(text=str(refused), error="permission", focus={"kpi_spec": _spec_focus(refused.own_spec), "kpi_reps": []})
    return ToolOutput(text=answer.render(chart_path=False), data=answer.to_json(), evidence=answer.evidence(), confidence=0.95,
                      images=[answer.chart] if answer.chart else [],
                      focus={"kpi_spec": _spec_focus(answer.spec), "kpi_reps": _rep_values(answer.rows)})


def _follow_up(ctx: ToolContext, question: str, base_spec: dict[str, Any], chart):
    """The previous KPI changed as the follow-up says — a rep's "组里平均多少 我排第几" refused as the question would be."""
    spec = _follow_up_spec(ctx, question, base_spec)
    refuse_team_figures_to_a_rep(ctx, question, spec)
    return run_spec(ctx=ctx, spec=spec, chart_path=chart)


def _rep_values(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """A breakdown by rep as [login, value] pairs, so "最低那个是谁 看下他的能力短板" can name one."""
    return [[r["rep_login"], r["value"]] for r in rows if r.get("rep_login") and isinstance(r.get("value"), int | float)]


def _spec_focus(spec: QuerySpec) -> dict[str, Any]:
    return spec.to_json() | {"period_grain": spec.period.grain if spec.period else None}


#: the asker's own figure, asked after someone else's
OWN = re.compile(r"我自己|自己的|(?<![a-z])(mine|my own)(?![a-z])", re.I)


def _follow_up_spec(ctx: ToolContext, question: str, base_spec: dict[str, Any]):
    """The previous KPI spec with what the follow-up changes: its period (and comparison), its
    breakdown, its filters ("华南呢?"), its top/bottom N. A follow-up naming another metric is a
    new question."""
    registry = load_registry()
    today = ctx.now().date()
    named, _ = find_metric(question, registry)
    base = QuerySpec.from_json(base_spec)
    if named is not None or base.metric not in registry.metrics:
        parsed = parse_question(question, session=ctx.session, today=today)
        if parsed.spec is None:
            raise clarification(ctx, parsed)  # another metric, unsure or undefined: never the previous metric's number
        return parsed.spec
    metric = registry.metrics[base.metric]
    new = parse_question(f"{metric.label_zh if ctx.language == 'zh' else metric.label_en} {question}",
                         session=ctx.session, today=today).spec
    period, compare = parse_period(question, today)
    if period is not None:
        base.period, base.compare = new.period, new.compare
    elif compare:
        base.compare = compare
    if new.dimensions:
        base.dimensions = new.dimensions
    if OWN.search(question) and ctx.user.role == "rep":
        base.filters.pop("rep", None)  # "那就看我自己的 今年以来" after a colleague's figure: the rep's own
    if ADDS.search(question) and new.filters.get("rep"):
        _add_reps(base, new.filters["rep"])  # "再加上刘洋" after "张伟和李娜对比": one table of the three
    else:
        for key, values in new.filters.items():
            base.filters[key] = values
    if new.compare_filters:
        base.compare_filters = new.compare_filters
    if new.top_n:
        base.top_n, base.order = new.top_n, new.order
    return base


#: a follow-up that adds people to the comparison rather than replacing them
ADDS = re.compile(r"加上|再加|添上|还有|\b(add|plus|also)\b", re.I)


def _add_reps(spec, reps: list[str]) -> None:
    """The reps already compared (the filter and the "vs" side) and the new ones, as one table by rep."""
    shown = list(spec.filters.get("rep") or []) + list((spec.compare_filters or {}).get("rep") or [])
    spec.filters["rep"] = list(dict.fromkeys(shown + list(reps)))
    spec.compare_filters = None
    if "rep" not in spec.dimensions:
        spec.dimensions = [*spec.dimensions, "rep"]


SPEC = ToolSpec(
    "kpi_query",
    "Answer a KPI question (follow-up rate, conversion, win rate, sales cycle, pipeline, journey coverage, new-hire "
    "first-deal days, renewal rate, AI-suggestion adoption, calls per rep, conversation metrics) from the governed "
    "metric registry, with its definition, the period resolved to dates, the SQL and a chart.",
    KpiArgs, _kpi)
