"""The copilot's tool declarations: typed arguments the model (or the offline planner)
chooses, bodies that call the service functions in ``tools/`` with the injected
ToolContext. Expected failures come back as error results, not crashes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from core.errors import RepcopilotError
from tools.context import ToolContext
from tools.evidence import Evidence


@dataclass
class ToolOutput:
    text: str  # what the user reads (already in their language)
    data: dict[str, Any] = field(default_factory=dict)  # what a model reads
    evidence: list[Evidence] = field(default_factory=list)
    confidence: float | None = None
    focus: dict[str, Any] = field(default_factory=dict)  # what follow-up questions may refer to
    error: str | None = None  # "permission" / "not_found" / "input" when the tool refused
    images: list[str] = field(default_factory=list)  # PNG files to show with the answer (KPI charts)


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str  # what the model reads
    args: type[BaseModel]
    run: Callable[..., ToolOutput]

    def openai_schema(self) -> dict[str, Any]:
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        return {"type": "function", "function": {"name": self.name, "description": self.description, "parameters": schema}}


REGISTRY: dict[str, ToolSpec] = {}


def register(spec: ToolSpec) -> ToolSpec:
    REGISTRY[spec.name] = spec
    return spec


def run_tool(name: str, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
    spec = REGISTRY.get(name)
    if spec is None:
        return ToolOutput(text=ctx.t(f"没有名为 {name} 的工具", f"there is no tool named {name}"), error="input")
    try:
        parsed = spec.args.model_validate(args or {})
    except ValueError as exc:
        return ToolOutput(text=ctx.t(f"工具 {name} 的参数无效: {exc}", f"invalid arguments for {name}: {exc}"), error="input")
    try:
        return spec.run(ctx=ctx, **parsed.model_dump())
    except RepcopilotError as exc:
        kind = type(exc).__name__
        error = {"PermissionDenied": "permission", "NotFoundError": "not_found"}.get(kind, "input")
        return ToolOutput(text=str(exc), error=error)


# -- knowledge search -------------------------------------------------------------------------

class KnowledgeArgs(BaseModel):
    query: str = Field(description="what to look for, in the user's words (Chinese or English)")
    k: int = Field(4, ge=1, le=10, description="how many passages")


def _knowledge(*, ctx: ToolContext, query: str, k: int) -> ToolOutput:
    from tools.knowledge import search_knowledge

    hits = search_knowledge(ctx=ctx, query=query, k=k)
    if not hits:
        return ToolOutput(text=ctx.t("知识库里没有找到相关内容。", "Nothing relevant in the knowledge base."), confidence=0.0)
    lines = [ctx.t("知识库中的相关内容:", "From the knowledge base:")]
    evidence = []
    for i, h in enumerate(hits, 1):
        snippet = h.text if len(h.text) <= 300 else h.text[:300] + " …"
        lines.append(f"{i}. {snippet}\n   — {h.citation}")
        evidence.append(Evidence("playbook" if h.kind == "playbook" else "call", h.id, None, h.citation))
    top = hits[0].score
    return ToolOutput(text="\n".join(lines), data={"hits": [{"citation": h.citation, "text": h.text} for h in hits]},
                      evidence=evidence, confidence=round(min(1.0, 0.5 + 10 * top), 2) if top else 0.5)


register(ToolSpec(
    "knowledge_search",
    "Search the company's playbooks and top reps' call transcripts (bilingual). Returns cited passages. "
    "Use for how-to questions: objection handling, procurement, tenders, pricing policy, discovery.",
    KnowledgeArgs, _knowledge))


# -- call debrief -----------------------------------------------------------------------------

class DebriefArgs(BaseModel):
    call_id: int | None = Field(None, description="the call to debrief; omit for the asking rep's latest call")


def _debrief(*, ctx: ToolContext, call_id: int | None) -> ToolOutput:
    from speech.registry import load_registry
    from tools.debrief import call_debrief, latest_call_id

    if call_id is None:
        call_id = latest_call_id(ctx=ctx)
        if call_id is None:
            return ToolOutput(text=ctx.t("还没有你的通话记录。", "You have no calls yet."), error="not_found")
    d = call_debrief(ctx=ctx, call_id=call_id)
    registry = load_registry()

    def label(name: str) -> str:
        entry = registry.get(name)
        return (entry.label_zh if ctx.language == "zh" else entry.label_en) if entry else name

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f}"

    lines = [ctx.t(f"通话 {d.call_id}({d.started_at},{d.duration_s / 60:.1f} 分钟)复盘:",
                   f"Debrief of call {d.call_id} ({d.started_at}, {d.duration_s / 60:.1f} min):")]
    lines.append(ctx.t("| 指标 | 本次 | 你的平均 | 团队前25% |", "| metric | this call | your average | team top quartile |"))
    lines.append("|---|---|---|---|")
    for c in d.comparisons:
        lines.append(f"| {label(c.name)} | {fmt(c.value)} | {fmt(c.own_average)} | {fmt(c.team_top_quartile)} |")
    if d.biggest_gaps:
        lines.append(ctx.t("差距最大: ", "Biggest gaps: ") + ", ".join(label(n) for n in d.biggest_gaps))
    if d.moments:
        lines.append(ctx.t("关键时刻:", "Moments:"))
        lines.extend(f"- [{m.time}] {m.text}" for m in d.moments)
    from crm.models import Call

    call = ctx.session.get(Call, d.call_id)
    focus: dict[str, Any] = {"call_id": d.call_id, "lead_id": None}
    if call is not None and call.account_id is not None:
        focus["account_id"] = call.account_id  # "and this customer's journey?" follows the call's account
    return ToolOutput(text="\n".join(lines), data=d.to_json(), evidence=d.moments, confidence=0.8, focus=focus)


register(ToolSpec(
    "call_debrief",
    "Debrief one call: talk ratio, pause after pain points, why-questions … against the rep's own average and "
    "the team's top quartile, with the moments that explain the biggest gaps.",
    DebriefArgs, _debrief))


# -- KPI questions ------------------------------------------------------------------------------

class KpiArgs(BaseModel):
    question: str = Field(description="the KPI question in the user's words")
    metric: str | None = Field(None, description="a metric name from the registry, when the model fills the spec itself")
    dimensions: list[str] = Field(default_factory=list, description="breakdowns: region, team, rep, industry, segment, lead_source, stage, month, week, quarter")
    filters: dict[str, list[str]] = Field(default_factory=dict, description="e.g. {'region': ['east']}")
    period_start: str | None = Field(None, description="YYYY-MM-DD, inclusive")
    period_end: str | None = Field(None, description="YYYY-MM-DD, exclusive")
    compare: str | None = Field(None, description="previous_period | last_year")
    base_spec: dict[str, Any] | None = Field(None, description="the previous KPI answer's spec, when this question only changes "
                                                                "its period, breakdown or filters ('and last quarter?', '按团队呢?')")


def _kpi(*, ctx: ToolContext, question: str, metric: str | None, dimensions: list[str], filters: dict[str, list[str]],
         period_start: str | None, period_end: str | None, compare: str | None,
         base_spec: dict[str, Any] | None = None) -> ToolOutput:
    from datetime import date

    from tools.kpi import answer_question, load_registry, run_spec
    from tools.kpi.compiler import Period, QuerySpec

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
    elif base_spec:
        answer = run_spec(ctx=ctx, spec=_follow_up_spec(ctx, question, base_spec), chart_path=chart)
    else:
        answer = answer_question(ctx=ctx, question=question, chart_path=chart)
    return ToolOutput(text=answer.render(chart_path=False), data=answer.to_json(), evidence=answer.evidence(), confidence=0.95,
                      images=[answer.chart] if answer.chart else [],
                      focus={"kpi_spec": answer.spec.to_json() | {"period_grain": answer.spec.period.grain if answer.spec.period else None}})


def _follow_up_spec(ctx: ToolContext, question: str, base_spec: dict[str, Any]):
    """The previous KPI spec with what the follow-up changes: its period (and comparison), its
    breakdown, its filters ("华南呢?"), its top/bottom N. A follow-up naming another metric is a
    new question."""
    from tools.kpi import load_registry
    from tools.kpi.compiler import QuerySpec
    from tools.kpi.parser import find_metric, parse_period, parse_question

    registry = load_registry()
    today = ctx.now().date()
    named, _ = find_metric(question, registry)
    base = QuerySpec.from_json(base_spec)
    if named is not None or base.metric not in registry.metrics:
        parsed = parse_question(question, session=ctx.session, today=today)
        return parsed.spec or base
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
    for key, values in new.filters.items():
        base.filters[key] = values
    if new.compare_filters:
        base.compare_filters = new.compare_filters
    if new.top_n:
        base.top_n, base.order = new.top_n, new.order
    return base


register(ToolSpec(
    "kpi_query",
    "Answer a KPI question (follow-up rate, conversion, win rate, sales cycle, pipeline, journey coverage, new-hire "
    "first-deal days, renewal rate, AI-suggestion adoption, calls per rep, conversation metrics) from the governed "
    "metric registry, with its definition, the period resolved to dates, the SQL and a chart.",
    KpiArgs, _kpi))


# -- leads ------------------------------------------------------------------------------------

class LeadArgs(BaseModel):
    query: str = Field(description="the lead or account as the user named it (Chinese or English), or 'lead 123'")
    lead_id: int | None = Field(None, description="the lead id, when already known from the conversation")


def _resolve_lead(ctx: ToolContext, query: str, *, account_level: bool = False) -> int | ToolOutput:
    """The lead the question names, or the answer to give instead (no match / a choice list).
    With ``account_level``, several close matches on one account are not ambiguous: any of
    them leads to the account."""
    from sqlalchemy import select

    from crm.models import Lead
    from tools.leads import find_leads

    matches = find_leads(ctx=ctx, query=query)
    if not matches:
        return ToolOutput(text=ctx.t("在你能查看的线索里没有找到这条线索;可以给出客户名称或线索编号。",
                                     "I found no such lead among the ones you may see; give the account name or the lead id."),
                          error="not_found")
    top = [m for m in matches if m.score >= matches[0].score - 0.05]
    if len(top) > 1 and account_level:
        accounts = set(ctx.session.scalars(select(Lead.account_id).where(Lead.id.in_([m.lead_id for m in top]))))
        if len(accounts) == 1:
            return top[0].lead_id
    if len(top) > 1:
        names = "\n".join(f"- #{m.lead_id} {m.name}" for m in matches[:5])
        return ToolOutput(text=ctx.t(f"找到多条可能的线索,请指明是哪一条:\n{names}", f"Several leads match — which one?\n{names}"),
                          data={"choices": [m.to_json() for m in matches]}, confidence=0.3)
    return matches[0].lead_id


def _lead(*, ctx: ToolContext, query: str, lead_id: int | None) -> ToolOutput:
    from tools.leads import lead_summary

    if lead_id is None:
        resolved = _resolve_lead(ctx, query)
        if isinstance(resolved, ToolOutput):
            return resolved
        lead_id = resolved
    summary = lead_summary(ctx=ctx, lead_id=lead_id)  # logs each suggestion shown (once per lead, rule and day)
    return ToolOutput(text=summary.render(ctx.language), data=summary.to_json(),
                      evidence=summary.intent.top_events, confidence=summary.intent.confidence or 0.3,
                      focus={"lead_id": lead_id})


register(ToolSpec(
    "lead_lookup",
    "Look up a lead by account name, lead name or id: facts, intent score (CBI 0-100) with the events behind it, "
    "and the next best action with its evidence. Only leads the user may see.",
    LeadArgs, _lead))


# -- journey timeline -------------------------------------------------------------------------

class JourneyArgs(BaseModel):
    query: str = Field(description="the account or lead as the user named it, with any period words ('last 90 days', '今年')")
    lead_id: int | None = Field(None, description="a lead id already known from the conversation: its account's journey")
    account_id: int | None = Field(None, description="the account id, when known")
    period_start: str | None = Field(None, description="YYYY-MM-DD, inclusive")
    period_end: str | None = Field(None, description="YYYY-MM-DD, exclusive")


def _journey(*, ctx: ToolContext, query: str, lead_id: int | None, account_id: int | None,
             period_start: str | None, period_end: str | None) -> ToolOutput:
    from datetime import date

    from tools.journey import journey_timeline
    from tools.kpi.parser import parse_period
    from tools.leads import get_visible_lead

    if lead_id is None and account_id is None:
        resolved = _resolve_lead(ctx, query, account_level=True)
        if isinstance(resolved, ToolOutput):
            return resolved
        lead_id = resolved
    if account_id is None and lead_id is not None:
        account_id = get_visible_lead(ctx, lead_id).account_id  # the account's whole journey, all its leads
    try:
        start = date.fromisoformat(period_start) if period_start else None
        end = date.fromisoformat(period_end) if period_end else None
    except ValueError:
        return ToolOutput(text=ctx.t("日期格式应为 YYYY-MM-DD。", "Dates must be written YYYY-MM-DD."), error="input")
    if start is None and end is None:
        period, _ = parse_period(query, ctx.now().date())
        if period is not None:
            start, end = period.start, period.end
    journey = journey_timeline(ctx=ctx, account_id=account_id, start=start, end=end)
    events = [e for stage in journey.stages for e in stage.events]
    evidence = [Evidence(e.kind, str(e.id), e.time, e.text(ctx.language)) for e in events[-10:]]
    return ToolOutput(text=journey.render(ctx.language), data=journey.to_json(), evidence=evidence,
                      confidence=0.9 if events else 0.4,
                      focus={"account_id": journey.account_id, **({"lead_id": lead_id} if lead_id else {})})


register(ToolSpec(
    "journey_timeline",
    "The customer journey of an account: every touchpoint, lead, call, opportunity and stage change in time order, "
    "grouped by stage, with long silences and the current stage marked; an optional period.",
    JourneyArgs, _journey))


# -- AI suggestions ---------------------------------------------------------------------------

class SuggestionArgs(BaseModel):
    action: str = Field("list", description="list | adopt | dismiss")
    suggestion_id: int | None = Field(None, description="the suggestion to adopt or dismiss")


def _suggestions(*, ctx: ToolContext, action: str, suggestion_id: int | None) -> ToolOutput:
    from tools.suggestions import decide_suggestion, list_suggestions

    if action in ("adopt", "adopted", "dismiss", "dismissed"):
        if suggestion_id is None:
            return ToolOutput(text=ctx.t("请给出建议编号,例如“采纳建议 12”。", "Give the suggestion's id, e.g. \"adopt suggestion 12\"."),
                              error="input")
        decision = "adopted" if action.startswith("adopt") else "dismissed"
        result = decide_suggestion(ctx=ctx, suggestion_id=suggestion_id, decision=decision)
        return ToolOutput(text=result.message, data=result.to_json(), confidence=1.0,
                          evidence=[Evidence("suggestion", str(suggestion_id), result.suggestion.decided_at, result.suggestion.text)])
    rows = list_suggestions(ctx=ctx, status="shown", limit=10)
    if not rows:
        return ToolOutput(text=ctx.t("你目前没有待处理的 AI 建议。", "You have no open AI suggestions."), confidence=1.0)
    lines = [ctx.t("待处理的 AI 建议(回复“采纳建议 编号”或“忽略建议 编号”):",
                   "Open AI suggestions (reply \"adopt suggestion ID\" or \"dismiss suggestion ID\"):")]
    for r in rows:
        lead = ctx.t(f"线索 #{r.lead_id}", f"lead #{r.lead_id}") if r.lead_id else ""
        lines.append(f"- [{r.id}] {r.created_at[:10]} {lead} {r.text}")
    return ToolOutput(text="\n".join(lines), data={"suggestions": [r.to_json() for r in rows]}, confidence=1.0,
                      evidence=[Evidence("suggestion", str(r.id), r.created_at, r.text) for r in rows])


register(ToolSpec(
    "suggestions",
    "The AI suggestions shown to the user that are still open, or record that one was adopted or dismissed.",
    SuggestionArgs, _suggestions))
