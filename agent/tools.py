"""The copilot's tool declarations: typed arguments the model (or the offline planner)
chooses, bodies that call the service functions in ``tools/`` with the injected
ToolContext. Expected failures come back as error results, not crashes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select

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
    rep: str | None = Field(None, description="a rep named in the question (name or login): that rep's latest call")


def _debrief(*, ctx: ToolContext, call_id: int | None, rep: str | None = None) -> ToolOutput:
    from speech.registry import load_registry
    from tools.capability import resolve_rep
    from tools.debrief import call_debrief, latest_call_id

    of = resolve_rep(ctx, rep) if rep and call_id is None else None  # access checked: a manager's team, a rep themself
    if call_id is None:
        call_id = latest_call_id(ctx=ctx, rep_id=of.id if of else None)
        if call_id is None:
            return ToolOutput(text=ctx.t(f"还没有{of.name if of else '你'}的通话记录。",
                                         f"{of.name + ' has' if of else 'You have'} no calls yet."), error="not_found")
    d = call_debrief(ctx=ctx, call_id=call_id)
    registry = load_registry()

    def label(name: str) -> str:
        entry = registry.get(name)
        return (entry.label_zh if ctx.language == "zh" else entry.label_en) if entry else name

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f}"

    from crm.models import User

    caller = ctx.session.scalar(select(User).where(User.login == d.rep))
    mine = caller is None or caller.id == ctx.user.id
    who = "" if mine else ctx.t(f"{caller.name},", f"{caller.name}, ")
    lines = [ctx.t(f"通话 {d.call_id}({who}{d.started_at},{d.duration_s / 60:.1f} 分钟)复盘:",
                   f"Debrief of call {d.call_id} ({who}{d.started_at}, {d.duration_s / 60:.1f} min):")]
    average = ctx.t("你的平均", "your average") if mine else ctx.t(f"{caller.name}的平均", f"{caller.name}'s average")
    lines.append(ctx.t(f"| 指标 | 本次 | {average} | 团队前25% |", f"| metric | this call | {average} | team top quartile |"))
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
        from tools.kpi import clarification

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
    query: str = Field("", description="the lead or account as the user named it (Chinese or English), or 'lead 123'")
    lead_id: int | None = Field(None, description="the lead id, when already known from the conversation")
    list: bool = Field(False, description="true for the user's open leads ranked by intent score ('which leads should I call "
                                          "first?', '我手上哪些线索最热')")


def _resolve_lead(ctx: ToolContext, query: str, *, account_level: bool = False) -> int | ToolOutput:
    """The lead the question names, or the answer to give instead (no match / a choice list).
    With ``account_level``, several close matches on one account are not ambiguous: any of
    them leads to the account."""
    from sqlalchemy import select

    from crm.models import Lead
    from tools.leads import find_leads

    matches = find_leads(ctx=ctx, query=query)
    if not any(m.score >= 0.995 for m in matches) and _names_hidden_account(ctx, query):
        # the question names an account the asker may not see: never answer with a look-alike of it
        from core.errors import PermissionDenied

        raise PermissionDenied(ctx.t("这个客户不在你的权限范围内,我不能提供它的信息;如需了解,请联系你的经理或管理员。",
                                     "That account is outside what you may see, so I can't share anything about it; "
                                     "ask your manager or an admin."))
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


def _names_hidden_account(ctx: ToolContext, query: str) -> bool:
    """Does the question name, in full, an account none of whose leads the asker may see?"""
    from crm.access import visible_leads
    from crm.models import Account, Lead

    low = query.lower()
    named = [a.id for a in ctx.session.scalars(select(Account))
             if (a.name and len(a.name) >= 4 and a.name in query) or (a.name_en and len(a.name_en) >= 6 and a.name_en.lower() in low)]
    if not named:
        return False
    visible = set(ctx.session.scalars(visible_leads(ctx.session, ctx.user).with_only_columns(Lead.account_id)
                                      .where(Lead.account_id.in_(named))))
    return not visible


def _lead(*, ctx: ToolContext, query: str, lead_id: int | None, list: bool = False) -> ToolOutput:  # noqa: A002 — the argument's name
    from tools.leads import lead_summary

    if list and lead_id is None:
        return _lead_list(ctx)
    if lead_id is None:
        resolved = _resolve_lead(ctx, query)
        if isinstance(resolved, ToolOutput):
            return resolved
        lead_id = resolved
    summary = lead_summary(ctx=ctx, lead_id=lead_id)  # logs each suggestion shown (once per lead, rule and day)
    # each open suggestion is evidence too, by its id: channels render it with adopt / dismiss buttons
    open_suggestions = [Evidence("suggestion", str(s.suggestion_id), None, s.text)
                        for s in summary.suggestions if s.suggestion_id and s.status == "shown"]
    return ToolOutput(text=summary.render(ctx.language), data=summary.to_json(),
                      evidence=[*summary.intent.top_events, *open_suggestions], confidence=summary.intent.confidence or 0.3,
                      focus={"lead_id": lead_id})


LEAD_LIST_SIZE = 8
LEAD_LIST_SCAN = 60  # the newest open leads scored for the ranking


def _lead_list(ctx: ToolContext) -> ToolOutput:
    """The asker's open leads, hottest first: intent score, tier, account, status."""
    from sqlalchemy import select

    from crm.access import visible_leads
    from crm.models import Account, Lead
    from tools.leads import intent_score, refuse_trainer

    refuse_trainer(ctx)
    stmt = visible_leads(ctx.session, ctx.user).where(Lead.status.in_(("new", "contacted", "qualified")))
    leads = ctx.session.scalars(stmt.order_by(Lead.created_at.desc(), Lead.id.desc()).limit(LEAD_LIST_SCAN)).all()
    if not leads:
        return ToolOutput(text=ctx.t("你目前没有进行中的线索。", "You have no open leads right now."), data={"leads": []}, confidence=0.9)
    scored = sorted(((intent_score(ctx=ctx, lead_id=lead.id), lead) for lead in leads), key=lambda p: (-p[0].score, -p[1].id))
    top = scored[:LEAD_LIST_SIZE]
    accounts = {a.id: a for a in ctx.session.scalars(select(Account).where(Account.id.in_({lead.account_id for _, lead in top})))}
    lines = [ctx.t(f"最值得先跟进的线索(按意向指数,{len(leads)} 条进行中的线索里的前 {len(top)} 条):",
                   f"Leads to call first (by intent score; top {len(top)} of {len(leads)} open leads):")]
    for i, (score, lead) in enumerate(top, 1):
        acct = accounts.get(lead.account_id)
        name = (acct.name if ctx.language == "zh" or not acct.name_en else acct.name_en) if acct else ""
        lines.append(ctx.t(f"{i}. 线索 #{lead.id} {name} · 意向 {score.score}({score.tier})· {lead.status}",
                           f"{i}. lead #{lead.id} {name} · intent {score.score} ({score.tier}) · {lead.status}"))
    lines.append(ctx.t("说“第一条”或客户名称查看详情和下一步。", "Say “the first one” or the account's name for details and the next step."))
    evidence = [Evidence("lead", str(lead.id), None, f"{lead.name} {accounts[lead.account_id].name if lead.account_id in accounts else ''}")
                for _, lead in top]
    return ToolOutput(text="\n".join(lines), data={"leads": [{"lead_id": lead.id, "intent": score.score, "tier": score.tier}
                                                             for score, lead in top]},
                      evidence=evidence, confidence=0.8)


register(ToolSpec(
    "lead_lookup",
    "Look up a lead by account name, lead name or id: facts, intent score (CBI 0-100) with the events behind it, "
    "and the next best action with its evidence. Only leads the user may see. list=true: the user's open leads "
    "ranked by intent score (which to call first).",
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


# -- capability gaps and coaching drills ----------------------------------------------------------

class CoachingArgs(BaseModel):
    rep: str | None = Field(None, description="the rep as the user named them (Chinese or English name, or login); omit for "
                                              "the asking rep themself, or — for a manager, trainer or admin — their whole team")
    team: bool = Field(False, description="true for every rep the user may see (a manager: their team; a trainer or admin: "
                                          "all reps), ranked by the biggest gap")


def _fmt_num(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def _coaching_target(ctx: ToolContext, rep: str | None, team: bool):
    """The one rep asked about (access checked by ``visible_rep``), or None for the team view —
    which only managers, trainers and admins get; the asker's role decides, never the arguments."""
    from core.errors import PermissionDenied
    from tools.capability import resolve_rep, visible_rep

    if rep:
        try:
            return resolve_rep(ctx, rep)
        except PermissionDenied:
            if ctx.role == "manager":
                raise PermissionDenied(ctx.t(f"{rep} 不在你的团队;经理只能查看本团队销售的能力短板和练习。",
                                             f"{rep} is not on your team; a manager sees the capability gaps and drills of their own team's reps only.")) from None
            raise PermissionDenied(ctx.t("销售只能查看自己的能力短板和练习;可以问“我的能力短板是什么”或“我这周该练什么”。",
                                         "A rep sees only their own capability gaps and drills; ask \"what are my capability gaps?\" "
                                         "or \"what should I practise this week?\"")) from None
    if team or ctx.role != "rep":
        if ctx.role == "rep":
            raise PermissionDenied(ctx.t("团队的能力短板和练习只对经理、培训师和管理员开放;你可以问“我的能力短板是什么”。",
                                         "Team capability gaps and drills are for managers, trainers and admins; ask "
                                         "\"what are my capability gaps?\" for yours."))
        return None
    return visible_rep(ctx, None)


def _team_title(ctx: ToolContext, n: int, what_zh: str, what_en: str) -> str:
    from crm.models import Team

    team = ctx.session.get(Team, ctx.user.team_id) if ctx.role == "manager" and ctx.user.team_id else None
    if team is not None:
        return ctx.t(f"**{team.name}{what_zh}({n} 人)**", f"**{team.name_en} — {what_en} ({n} reps)**")
    return ctx.t(f"**全部销售{what_zh}({n} 人)**", f"**All reps — {what_en} ({n} reps)**")


def _gap_call_evidence(ctx: ToolContext, c: dict[str, Any], label: str) -> Evidence:
    moment = c.get("moment")
    head = ctx.t(f"{label} {_fmt_num(c['value'])}(前四分之一 {_fmt_num(c['top_quartile'])})",
                 f"{label} {_fmt_num(c['value'])} (top quartile {_fmt_num(c['top_quartile'])})")
    return Evidence("call", str(c["call_id"]), moment["time"] if moment else c["date"],
                    f"{head}: {moment['text']}" if moment else head)


def _capability_gaps(*, ctx: ToolContext, rep: str | None, team: bool) -> ToolOutput:
    from tools.capability import rep_profile, team_overview

    target = _coaching_target(ctx, rep, team)
    if target is None:
        return _team_gaps(ctx, team_overview(ctx=ctx))
    view = rep_profile(ctx=ctx, rep_login=target.login)
    lines = [ctx.t(f"**{view.name}({view.login})的能力短板**(基于 {view.calls_used} 通通话,计算于 {view.computed_at[:10]})",
                   f"**Capability gaps of {view.name} ({view.login})** ({view.calls_used} calls, computed {view.computed_at[:10]})")]
    evidence: list[Evidence] = []
    for i, g in enumerate(view.gaps, 1):
        d = view.dimensions[g["dimension"]]
        lines.append(ctx.t(f"{i}. **{g['label']}** {_fmt_num(g['score'])} 分,前四分之一线 {_fmt_num(g['top_quartile'])}"
                           f"(差 {_fmt_num(g['gap'])} 分;团队均值 {_fmt_num(d['team_avg'])})",
                           f"{i}. **{g['label']}** {_fmt_num(g['score'])}, top quartile {_fmt_num(g['top_quartile'])} "
                           f"({_fmt_num(g['gap'])} points below; team average {_fmt_num(d['team_avg'])})"))
        for c in g["calls"]:
            lines.append(ctx.t(f"   - 通话 #{c['call_id']}({c['date']}){c['label']} {_fmt_num(c['value'])},前四分之一 {_fmt_num(c['top_quartile'])}",
                               f"   - call #{c['call_id']} ({c['date']}) {c['label']} {_fmt_num(c['value'])}, top quartile {_fmt_num(c['top_quartile'])}"))
            if c.get("moment"):
                lines.append(f"     [{c['moment']['time']}] {c['moment']['text']}")
            evidence.append(_gap_call_evidence(ctx, c, c["label"]))
    if view.gaps:
        lines.append(ctx.t("想知道练什么,可以问“我这周该练什么?”" if ctx.user.id == view.rep_id else f"练习建议:问“{view.name}这周该练什么?”",
                           "For the drills, ask \"what should I practise this week?\"" if ctx.user.id == view.rep_id
                           else f"For the drills, ask \"which drills are assigned to {view.name}?\""))
    elif all(d["score"] is not None for d in view.dimensions.values()):
        lines.append(ctx.t("各维度都已达到前四分之一线,没有能力短板。", "Every dimension is at or above the top quartile — no gaps."))
    lines.extend(f"· {n}" for n in view.notes)
    scored = [d for d in view.dimensions.values() if d["score"] is not None]
    confidence = 0.3 if not scored else (0.85 if view.calls_used >= 5 else 0.6)
    data = {"rep": view.login, "calls_used": view.calls_used, "gaps": view.gaps,
            "scores": {k: v["score"] for k, v in view.dimensions.items()}, "notes": view.notes}
    return ToolOutput(text="\n".join(lines), data=data, evidence=evidence, confidence=confidence, focus={"rep": view.login})


def _team_gaps(ctx: ToolContext, views: list) -> ToolOutput:
    limit = 12
    ranked = sorted(views, key=lambda v: (-(v.gaps[0]["gap"] if v.gaps else -1), v.login))
    lines = [_team_title(ctx, len(views), "的能力短板", "capability gaps"),
             ctx.t("按最大差距排序(差距 = 前四分之一线 − 得分):", "Ranked by the biggest gap (top-quartile line − score):")]
    evidence: list[Evidence] = []
    no_gap, too_few = [], []
    shown = 0
    for v in ranked:
        if not v.gaps:
            (too_few if any(d["score"] is None for d in v.dimensions.values()) else no_gap).append(v)
            continue
        if shown >= limit:
            continue
        shown += 1
        parts = ", ".join(ctx.t(f"{g['label']} {_fmt_num(g['score'])}(差 {_fmt_num(g['gap'])})",
                                f"{g['label']} {_fmt_num(g['score'])} (−{_fmt_num(g['gap'])})") for g in v.gaps)
        first = v.gaps[0]["calls"][0] if v.gaps[0]["calls"] else None
        where = ctx.t(f" · 证据 通话 #{first['call_id']}({first['date']},{first['label']} {_fmt_num(first['value'])})",
                      f" · evidence call #{first['call_id']} ({first['date']}, {first['label']} {_fmt_num(first['value'])})") if first else ""
        lines.append(f"- {v.name}({v.login}):{parts}{where}" if ctx.language == "zh" else f"- {v.name} ({v.login}): {parts}{where}")
        if first:
            evidence.append(Evidence("call", str(first["call_id"]), first["date"],
                                     f"{v.login}: {first['label']} {_fmt_num(first['value'])} / {_fmt_num(first['top_quartile'])}"))
    with_gaps = sum(1 for v in views if v.gaps)
    if with_gaps > shown:
        lines.append(ctx.t(f"…另有 {with_gaps - shown} 人有短板(点名问某位销售可看详情)。",
                           f"… {with_gaps - shown} more reps have gaps (ask about one by name for details)."))
    if no_gap:
        lines.append(ctx.t("没有短板:", "No gaps: ") + "、".join(v.name for v in no_gap) if ctx.language == "zh"
                     else "No gaps: " + ", ".join(v.name for v in no_gap))
    if too_few:
        lines.append(ctx.t("通话不足、暂无评分:", "Too few calls to score: ") + ("、" if ctx.language == "zh" else ", ").join(v.name for v in too_few))
    data = {"reps": [{"login": v.login, "gaps": [{k: g[k] for k in ("dimension", "score", "top_quartile", "gap")} for g in v.gaps]}
                     for v in ranked]}
    return ToolOutput(text="\n".join(lines), data=data, evidence=evidence, confidence=0.85 if views else 0.3)


register(ToolSpec(
    "capability_gaps",
    "A rep's capability gaps: where their needs-discovery, solution-matching and objection-handling scores fall below the "
    "top quartile, with the calls and moments (call id + timestamp) that show each gap. Without a rep: the asking rep's "
    "own; for a manager their team, for a trainer or admin every rep, ranked by the biggest gap. Use for 'what are my "
    "weaknesses', 'who needs coaching on what', '王芳需要在哪方面辅导'. Access comes from the asking user.",
    CoachingArgs, _capability_gaps))


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
        out.append(ctx.t(f"   练习场景「{pr['title_zh']}」:`{pr['command']}`", f"   practice scenario “{pr['title_en']}”: `{pr['command']}`"))
    return out


def _coaching_drills(*, ctx: ToolContext, rep: str | None, team: bool) -> ToolOutput:
    from tools.drills import list_drills

    target = _coaching_target(ctx, rep, team)
    if target is None:
        return _team_drills(ctx)
    plan = list_drills(ctx=ctx, rep_login=target.login)
    name = target.name if ctx.language == "zh" else target.name_en
    lines = [ctx.t(f"**{name}({plan.rep})本周({plan.week_start} – {plan.week_end})的练习**",
                   f"**Drills for {name} ({plan.rep}), week {plan.week_start} – {plan.week_end}**")]
    evidence: list[Evidence] = []
    status = {"open": ctx.t("进行中", "open"), "overdue": ctx.t("已逾期", "overdue"), "done": ctx.t("已完成", "done")}
    for i, t in enumerate(plan.tasks, 1):
        lines.append(f"{i}. " + _drill_line(ctx, t["title"], t["code"], t["times"], t["due_date"],
                                           ctx.t(f"——{_dim_label(ctx, t['dimension'])}距前四分之一差 {_fmt_num(t['gap'])} 分",
                                                 f" — {_dim_label(ctx, t['dimension'])} {_fmt_num(t['gap'])} points below the top quartile")))
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
    return ToolOutput(text="\n".join(lines), data=plan.to_json(), evidence=evidence, confidence=0.85 if plan.tasks or plan.assignments else 0.6,
                      focus={"rep": plan.rep})


def _dim_label(ctx: ToolContext, dim: str) -> str:
    from tools.capability import dimension_label

    try:
        return dimension_label(ctx, dim)
    except KeyError:
        return dim


def _team_drills(ctx: ToolContext) -> ToolOutput:
    from tools.capability import team_overview
    from tools.drills import list_drills, week_of

    views = team_overview(ctx=ctx)
    lines = [_team_title(ctx, len(views), "本周的练习", "this week's drills")]
    evidence: list[Evidence] = []
    data = []
    for v in sorted(views, key=lambda v: (-(v.gaps[0]["gap"] if v.gaps else -1), v.login)):
        plan = list_drills(ctx=ctx, rep_login=v.login, with_links=False)
        tasks = ("、" if ctx.language == "zh" else ", ").join(f"{t['title']}×{t['times']}" for t in plan.tasks) or ctx.t("无", "none")
        open_ = [a for a in plan.assignments if a.status != "done"]
        overdue = [a for a in open_ if a.status == "overdue"]
        assigned = ctx.t(f";已布置未完成 {len(open_)} 项" + (f"(逾期 {len(overdue)} 项)" if overdue else ""),
                         f"; {len(open_)} assigned, not done" + (f" ({len(overdue)} overdue)" if overdue else "")) if open_ else ""
        lines.append(f"- {v.name}({v.login}):{tasks}{assigned}" if ctx.language == "zh" else f"- {v.name} ({v.login}): {tasks}{assigned}")
        evidence.extend(Evidence("drill_assignment", str(a.id), a.due_date, f"{v.login}: {a.drill} · {a.status}") for a in open_)
        data.append({"rep": v.login, "tasks": [{k: t[k] for k in ("code", "times", "gap")} for t in plan.tasks],
                     "open_assignments": [a.id for a in open_]})
    sunday = week_of(ctx.now().date())[1]
    lines.append(ctx.t(f"建议练习截止本周日 {sunday};点名问某位销售可看范例录音和做法。",
                       f"Suggested drills are due this Sunday, {sunday}; ask about one rep by name for the exemplar excerpts."))
    return ToolOutput(text="\n".join(lines), data={"reps": data}, evidence=evidence, confidence=0.85 if views else 0.3)


register(ToolSpec(
    "coaching_drills",
    "Coaching drills: this week's drill tasks derived from a rep's capability gaps (repetitions, due date, how to do it, "
    "an exemplar excerpt from a top rep's call with call id + timestamp, the linked practice scenario) and the drills "
    "assigned to the rep (open / overdue / done, with progress). Without a rep: the asking rep's own; for a manager "
    "their team, for a trainer or admin every rep. Use for '我这周该练什么', 'which drills are assigned to X'.",
    CoachingArgs, _coaching_drills))


# -- practice dialogues -----------------------------------------------------------------------

class PracticeArgs(BaseModel):
    scenario: str | None = Field(None, description="the scenario to practise: its code or the user's words for it, e.g. "
                                                    "'医院采购价格异议', 'hospital price objection', 'manufacturing CFO with no budget'; "
                                                    "leave it out to list the scenarios")
    assign_to: str | None = Field(None, description="managers and trainers: assign the scenario to this rep (name or login) "
                                                    "instead of starting a session")
    due: str | None = Field(None, description="with assign_to: the due date, YYYY-MM-DD")
    times: int | None = Field(None, ge=1, le=20, description="with assign_to: how many sessions")


def practice_howto(ctx: ToolContext, session_id: int) -> list[str]:
    """How a rep continues a practice session: right here in the chat, or the CLI and the HTTP API."""
    login = ctx.user.login
    return [ctx.t("直接在这里回复就是对客户说的话;说“结束练习”结束并评分。其他方式(每次说一句):",
                  "Reply here: each message is what you say to the customer; say “end practice” to end it and get the score. "
                  "Or continue (one turn at a time):"),
            f"- CLI: `repcopilot practice say {session_id} --as {login} --text \"…\"`" + ctx.t("(或 `--audio 录音.wav`)", " (or `--audio turn.wav`)"),
            f"- Web/API: `POST /api/practice/sessions/{session_id}/turns` " + ctx.t('{"text": "…"},或上传录音(multipart 字段 file)',
                                                                                   '{"text": "…"}, or a recording as multipart field file'),
            ctx.t(f"结束并查看评分:`repcopilot practice end {session_id} --as {login}` 或 `POST /api/practice/sessions/{session_id}/end`。",
                  f"End it and get the scores: `repcopilot practice end {session_id} --as {login}` or `POST /api/practice/sessions/{session_id}/end`.")]


def practice_follow_up(ctx: ToolContext, session_id: int) -> str:
    """The chat's answer to a message that is no question for the copilot while a practice session
    is open in the thread: the chat does not play the customer; it says where the session goes on."""
    from crm.models import PracticeSession

    row = ctx.session.get(PracticeSession, session_id)
    if row is None or row.user_id != ctx.user.id:
        return ctx.t("这个对话里没有进行中的练习;说“开始练习 医院采购价格异议”开始一个。",
                     "There is no practice session open in this chat; say “start practice hospital price objection” to begin one.")
    if row.ended_at is not None:
        overall = (row.scores or {}).get("overall")
        return ctx.t(f"练习 {session_id} 已经结束(总分 {overall});查看报告:`repcopilot practice end {session_id} --as {ctx.user.login}`。"
                     "说“开始练习 …”再练一个。",
                     f"Practice session {session_id} has ended (overall {overall}); see the report with "
                     f"`repcopilot practice end {session_id} --as {ctx.user.login}`. Say “start practice …” for another one.")
    transcript = row.transcript or []
    last = next((t.get("text") for t in reversed(transcript) if t.get("speaker") == "customer"), "")
    head = ctx.t(f"练习 {session_id}({row.scenario_code},已进行 {len(transcript)} 句)还在进行中。客户刚才说:“{last}”",
                 f"Practice session {session_id} ({row.scenario_code}, {len(transcript)} turns so far) is still open. "
                 f"The customer just said: “{last}”")
    return "\n".join([head, *practice_howto(ctx, session_id)])


def _scenario_choices(ctx: ToolContext, phrase: str | None) -> ToolOutput:
    from tools.practice.service import list_scenarios

    view = list_scenarios(ctx)
    head = (ctx.t(f"没有找到与“{phrase}”对应的练习场景。", f"No practice scenario matches “{phrase}”.") if phrase else "")
    lines = [head + ctx.t("可以练习这些场景:", "You can practise these scenarios:")]
    for s in view["scenarios"]:
        lines.append(f"- {s['title']}({s['code']},{s['persona']})" if ctx.language == "zh" else f"- {s['title']} ({s['code']}, {s['persona']})")
    example = view["scenarios"][0]["title"] if view["scenarios"] else "hospital-price-objection"
    lines.append(ctx.t(f"说“开始练习 {example}”就能开始。", f"Say “start practice {example}” to begin."))
    return ToolOutput(text="\n".join(lines), data={"scenarios": [s["code"] for s in view["scenarios"]]},
                      evidence=[Evidence("scenario", s["code"], None, s["title"]) for s in view["scenarios"]], confidence=0.5)


def _practice(*, ctx: ToolContext, scenario: str | None, assign_to: str | None = None, due: str | None = None,
              times: int | None = None) -> ToolOutput:
    from agent.practice import start_session
    from tools.practice.scenario import find_scenario, scenario_phrase

    raw = (scenario or "").strip()
    phrase = scenario_phrase(raw)
    code = (find_scenario(raw, ctx.home) if raw else None) or (find_scenario(phrase, ctx.home) if phrase else None)
    if assign_to is not None or (ctx.role in ("manager", "trainer", "admin") and (due or times)):
        return _assign_practice(ctx, code, phrase, assign_to, due, times)
    if code is None:
        return _scenario_choices(ctx, phrase or None)
    view = start_session(ctx, code)
    sid = view["session_id"]
    lines = [ctx.t(f"**练习开始:{view['title']}**(练习编号 {sid})", f"**Practice started: {view['title']}** (session {sid})"),
             ctx.t(f"客户:{view['persona']}", f"Customer: {view['persona']}"),
             ctx.t(f"情境:{view['situation']}", f"Situation: {view['situation']}"),
             ctx.t(f"客户开场:“{view['opening']}”", f"The customer opens: “{view['opening']}”"),
             *practice_howto(ctx, sid)]
    if view.get("drill_assignment_id"):
        lines.append(ctx.t(f"这次练习计入你的练习任务 #{view['drill_assignment_id']}。",
                           f"This session counts toward your assigned drill #{view['drill_assignment_id']}."))
    return ToolOutput(text="\n".join(lines), data=view,
                      evidence=[Evidence("practice_session", str(sid), ctx.now().isoformat(timespec="seconds"), view["title"]),
                                Evidence("scenario", code, None, view["opening"])],
                      confidence=0.9, focus={"practice_session_id": sid, "practice_scenario": code})


def _assign_practice(ctx: ToolContext, code: str | None, phrase: str, rep: str | None, due: str | None,
                     times: int | None) -> ToolOutput:
    """A manager or trainer assigns a scenario from the chat: the drill that points at it, with a due
    date and a count (tools/practice/service.py rules: trainers and admins any rep, managers their team)."""
    from datetime import date

    from core.errors import PermissionDenied
    from tools.capability import resolve_rep
    from tools.practice.service import assign_scenario

    if ctx.role not in ("manager", "trainer", "admin"):
        raise PermissionDenied(ctx.t("只有经理和培训师可以布置练习;你可以说“开始练习 …”自己练。",
                                     "Only managers and trainers assign practice; say “start practice …” to practise yourself."))
    if not rep:
        return ToolOutput(text=ctx.t("要布置给哪位销售?例如“给胡明安排政府招标的模拟练习,这周做完”。",
                                     "Which rep? E.g. “assign Emily the SaaS renewal role-play twice by Friday”."), error="input")
    if code is None:
        return _scenario_choices(ctx, phrase or None)
    who = resolve_rep(ctx, rep)
    try:
        due_date = date.fromisoformat(due) if due else None
    except ValueError:
        return ToolOutput(text=ctx.t("截止日期格式应为 YYYY-MM-DD。", "The due date must be written YYYY-MM-DD."), error="input")
    out = assign_scenario(ctx, code, who.login, due_date, times or 1)
    a = out["assignment"]
    if out["created"]:
        text = ctx.t(f"已给{who.name}布置练习「{a['title']}」× {a['times']},截止 {a['due_date']}(练习任务 #{a['id']})。",
                     f"Assigned “{a['title']}” × {a['times']} to {who.name}, due {a['due_date']} (assignment #{a['id']}).")
    else:
        text = ctx.t(f"{who.name}已有截止 {a['due_date']} 的「{a['title']}」练习(#{a['id']}),未重复布置。",
                     f"{who.name} already has “{a['title']}” due {a['due_date']} (#{a['id']}); nothing added.")
    return ToolOutput(text=text, data=out, confidence=0.9, evidence=[Evidence("drill_assignment", str(a["id"]), a["assigned_at"], text)])


class PracticeTurnArgs(BaseModel):
    session_id: int = Field(description="the open practice session of this conversation")
    text: str | None = Field(None, description="what the rep says to the customer, word for word")
    end: bool = Field(False, description="true to end the session and get the scores and the report")


def practice_report_text(ctx: ToolContext, result: dict[str, Any]) -> str:
    """A finished session for the chat: scores, each rubric verdict with its turn, what to do next time."""
    sc = result["scores"]
    lines = [ctx.t(f"**练习结束 · 总分 {sc['overall']}** · 需求挖掘 {sc['discovery']} · 评分项 {sc['rubric']} · "
                   f"痛点 {sc['pain_points_found']}/{sc['pain_points_hidden']}",
                   f"**Practice ended · overall {sc['overall']}** · discovery {sc['discovery']} · rubric {sc['rubric']} · "
                   f"pain points {sc['pain_points_found']}/{sc['pain_points_hidden']}")]
    for v in result.get("rubric") or []:
        cite = f"(#{v['turn']} “{v['quote']}”)" if v.get("turn") else f" — {v.get('reason') or ''}"
        lines.append(f"- {'✓' if v['passed'] else '✗'} {v['check']} {cite}".rstrip())
    todo = (result.get("report") or {}).get("do_differently") or []
    if todo:
        lines.append(ctx.t("下次这样做:", "Next time:"))
        lines += [f"- {a}" for a in todo[:5]]
    return "\n".join(lines)


def _practice_turn(*, ctx: ToolContext, session_id: int, text: str | None, end: bool) -> ToolOutput:
    """One turn of an open practice session in the chat (the copilot plays the customer), or its end."""
    from agent.practice import end_session, rep_turn

    if end:
        result = end_session(ctx, session_id)
        return ToolOutput(text=practice_report_text(ctx, result), data=result, confidence=0.9,
                          evidence=[Evidence("practice_session", str(session_id), None, str(result["scores"]["overall"]))],
                          focus={"practice_session_id": None})
    if not (text or "").strip():
        return ToolOutput(text=ctx.t("请说出你要对客户说的话。", "Say what you want to tell the customer."), error="input")
    out = rep_turn(ctx, session_id, text=text)
    lines = [ctx.t(f"客户:“{out['customer']['text']}”", f"Customer: “{out['customer']['text']}”")]
    focus: dict[str, Any] = {"practice_session_id": session_id}
    if out.get("ended"):
        lines.append(practice_report_text(ctx, out))
        focus = {"practice_session_id": None}
    else:
        run = out.get("running") or {}
        lines.append(ctx.t(f"(第 {run.get('rep_turns')} 句 · 已挖掘痛点 {run.get('pain_points_found')}/{run.get('pain_points_hidden')} · "
                           "说“结束练习”结束并评分)",
                           f"(turn {run.get('rep_turns')} · pain points uncovered {run.get('pain_points_found')}/"
                           f"{run.get('pain_points_hidden')} · say “end practice” to end and score)"))
    return ToolOutput(text="\n".join(lines), data=out, confidence=0.9, focus=focus,
                      evidence=[Evidence("practice_turn", f"{session_id}:{out['rep']['idx']}", None, out["rep"]["kind"])])


register(ToolSpec(
    "practice_turn",
    "While a practice session is open in this conversation, every user message is what the rep says to the customer: "
    "pass it word for word as text with the session id; the customer's reply comes back. end=true ends the session "
    "('结束练习', 'end practice') and returns the scores, the rubric verdicts and what to do next time.",
    PracticeTurnArgs, _practice_turn))


register(ToolSpec(
    "practice",
    "Start a practice dialogue in which the copilot plays the customer of a scenario (hospital price objection, "
    "manufacturing CFO with no budget, government tender policy, SaaS renewal price rise …). Give the scenario as a "
    "code or in the user's words; it returns the scenario title, the customer's opening line and the session id; "
    "from then on each message in this conversation is a turn for practice_turn. Without a "
    "matching scenario it lists the scenarios to choose from. Use for '开始练习 医院采购价格异议', '我想练习一下价格异议', "
    "'start practice hospital price objection'; not for 'what should I practise this week' (coaching_drills).",
    PracticeArgs, _practice))


# -- successor ----------------------------------------------------------------------------------

class SuccessorArgs(BaseModel):
    rep: str = Field(description="the leaving rep (name or login)")


def _successor(*, ctx: ToolContext, rep: str) -> ToolOutput:
    """Who should take over a leaving rep's accounts: the successor service (managers of the rep's
    team and admins), ranked per account with reasons, and the handover guide's headline."""
    from tools.capability import resolve_rep
    from tools.successor import successor_plan

    if ctx.role not in ("manager", "admin"):
        from core.errors import PermissionDenied

        raise PermissionDenied(ctx.t("接任人匹配和交接指南只对离职销售所在团队的经理和管理员开放。",
                                     "Successor matching and handover guides are for the leaving rep's manager and admins only."))
    who = resolve_rep(ctx, rep)
    plan = successor_plan(ctx=ctx, rep_login=who.login).to_json()
    w = plan["weights"]
    lines = [ctx.t(f"**{plan['rep_name']}的客户交接** · {len(plan['accounts'])} 个客户", f"**{plan['rep_name']}'s handover** · "
                   f"{len(plan['accounts'])} accounts"),
             ctx.t(f"排序:场景匹配 {w['fit']:.0%} + 负载余量 {w['capacity']:.0%} + 语言 {w['language']:.0%} + 团队/区域 {w['context']:.0%}",
                   f"Ranking: scenario fit {w['fit']:.0%} + spare capacity {w['capacity']:.0%} + language {w['language']:.0%} + "
                   f"team/region {w['context']:.0%}")]
    evidence = []
    for a in plan["accounts"][:10]:
        best = a["candidates"][:2]
        names = ", ".join(f"{c['name']} ({c['score']})" for c in best) or ctx.t("无可用销售", "no rep available")
        lines.append(f"- {a['account']} · " + ctx.t(f"建议接手:{names}", f"suggested: {names}"))
        if best and best[0].get("reasons"):
            lines.append("  " + ("; " if ctx.language == "en" else ";").join(best[0]["reasons"][:3]))
        evidence.append(Evidence("account", str(a["account_id"]), None, a["account"]))
    if len(plan["accounts"]) > 10:
        lines.append(ctx.t(f"……另有 {len(plan['accounts']) - 10} 个客户;完整交接指南:`repcopilot successor --rep {who.login}`",
                           f"… {len(plan['accounts']) - 10} more; the full guide: `repcopilot successor --rep {who.login}`"))
    lines += [f"· {n}" for n in plan["notes"]]
    return ToolOutput(text="\n".join(lines), data=plan, evidence=evidence, confidence=0.8)


register(ToolSpec(
    "successor",
    "A leaving rep's accounts: ranked internal successors per account (scenario fit, spare capacity, language, team/region) "
    "with reasons. Managers of the rep's team and admins. Use for '张伟要离职了,他的客户谁接合适?', 'David is leaving — who "
    "takes his accounts?'.",
    SuccessorArgs, _successor))


# -- lead intelligence: routing and alerts ------------------------------------------------------

class LeadRoutingArgs(BaseModel):
    query: str = Field("", description="the lead as the user named it (account or lead name, 'lead 638'); empty for 'this lead'")
    lead_id: int | None = Field(None, description="the lead id, when known from the question or the conversation")
    mode: str = Field("who", description="'who': who should take the lead (ranked reps with reasons); "
                                         "'why': why the lead was routed where it was (the stored decision)")


def _event_evidence(events: list[dict[str, Any]]) -> list[Evidence]:
    return [Evidence("touchpoint" if e.get("id") is not None else "aggregate", str(e.get("id") or ""), e.get("time"), e["text"],
                     e.get("weight")) for e in events]


def _event_lines(ctx: ToolContext, events: list[dict[str, Any]]) -> list[str]:
    if not events:
        return [ctx.t("- (无已授权的行为事件)", "- (no consented behaviour events)")]
    return [f"- {e['time'] + ' ' if e.get('time') else ''}{e['text']}" + (f" (+{e['weight']})" if e.get("weight") is not None else "")
            for e in events]


REVIEW_REASON_LABELS = {"value": ("金额达到审核门槛({threshold:,} 元)", "value at or above the review threshold ({threshold:,} CNY)"),
                        "cross_department_scenario": ("跨部门场景", "a cross-department scenario"),
                        "cross_team": ("最合适的销售不在客户现负责人的团队", "the best rep is outside the account owner's team"),
                        "no_rep": ("没有可用的销售", "no rep available")}


def _review_reasons(ctx: ToolContext, codes: list[str]) -> str:
    from tools.routing import load_routing_config

    threshold = int(load_routing_config()["review"]["value_threshold_cny"])
    return ("、" if ctx.language == "zh" else ", ").join(
        REVIEW_REASON_LABELS[c][0 if ctx.language == "zh" else 1].format(threshold=threshold) if c in REVIEW_REASON_LABELS else c
        for c in codes)


def _lead_routing(*, ctx: ToolContext, query: str, lead_id: int | None, mode: str) -> ToolOutput:
    from tools.routing import explain_lead_routing, my_decisions, who_should_take

    if mode not in ("who", "why"):
        return ToolOutput(text=ctx.t("mode 只能是 who 或 why。", "mode must be 'who' or 'why'."), error="input")
    if lead_id is None and mode == "why" and not query.strip():
        # "why did I get this lead?" with nothing named: the latest lead actually routed to me (not a proposal still in review)
        latest = [d for d in my_decisions(ctx=ctx, limit=50) if d.status in ("assigned", "approved", "overridden")
                  and ctx.user.login in (d.rep, d.specialist)]
        if not latest:
            return ToolOutput(text=ctx.t("还没有由分配引擎分给你的线索。", "No lead has been routed to you by the routing engine yet."),
                              error="not_found")
        lead_id = latest[0].lead_id
    if lead_id is None:
        resolved = _resolve_lead(ctx, query)
        if isinstance(resolved, ToolOutput):
            return resolved
        lead_id = resolved
    if mode == "why":
        exp = explain_lead_routing(ctx=ctx, lead_id=lead_id)
        decision_id = exp.subject.split(":", 1)[1]
        evidence = [Evidence("routing_decision", decision_id, None, exp.summary), *_event_evidence(exp.events)]
        return ToolOutput(text=exp.render(ctx.language), data=exp.to_json(), evidence=evidence, confidence=exp.confidence,
                          focus={"lead_id": lead_id})
    s = who_should_take(ctx=ctx, lead_id=lead_id)
    lines = [ctx.t(f"**线索 #{s.lead_id}({s.lead})由谁跟进最合适**", f"**Who should take lead #{s.lead_id} ({s.lead})**"),
             ctx.t(f"引擎的处理方式:{s.kind_label};意向指数 {s.intent_score}(等级 {s.tier});权重版本 v{s.weights_version}。",
                   f"The engine would: {s.kind_label}; intent {s.intent_score} (tier {s.tier}); weights version v{s.weights_version}.")]
    if s.candidates:
        lines.append(ctx.t("候选销售(得分 = 各因素 0–100 分 × 权重之和):", "Candidates (score = sum of each factor 0–100 × its weight):"))
        for i, c in enumerate(s.candidates, 1):
            lines.append(ctx.t(f"{i}. {c.name}({c.login})得分 {c.score}", f"{i}. {c.name} ({c.login}) score {c.score}"))
            lines.append("   " + ("; " if ctx.language == "en" else ";").join(c.reasons))
    else:
        lines.append(ctx.t("目前没有可用的销售(都在休假或已离职)。", "No rep is available right now (all on leave or gone)."))
    if s.specialist:
        lines.append(ctx.t(f"双人跟进的专家:{s.specialist}", f"Specialist for the dual follow-up: {s.specialist}"))
    if s.review_reasons:
        lines.append(ctx.t(f"需经理审核:{_review_reasons(ctx, s.review_reasons)}", f"Needs a manager's review: {_review_reasons(ctx, s.review_reasons)}"))
    lines.append(ctx.t("依据事件(最多 5 条):", "Events behind the intent score (up to 5):"))
    lines.extend(_event_lines(ctx, s.events))
    lines.append(ctx.t(f"置信度:{s.confidence:.2f}(只是建议,未保存;分配由经理用 `repcopilot route` 执行)",
                       f"Confidence: {s.confidence:.2f} (a suggestion only, nothing stored; a manager routes with `repcopilot route`)"))
    evidence = [Evidence("lead", str(s.lead_id), None, s.lead), *_event_evidence(s.events)]
    return ToolOutput(text="\n".join(lines), data=s.to_json(), evidence=evidence, confidence=s.confidence, focus={"lead_id": lead_id})


register(ToolSpec(
    "lead_routing",
    "Lead routing. mode='who': who should take a lead — the reps the routing engine ranks best for it, each with their "
    "scenario fit, spare capacity, region, past wins and language scores × weights, what the engine would do (auto, dual "
    "follow-up, nurture, manager review), the up to 5 events behind the intent score and a confidence (read-only). "
    "mode='why': why a lead was routed where it was — the stored routing decision's factors × weights, events and "
    "confidence. Use for '这条线索该分给谁?', 'who should take lead 638?', '为什么这条线索分给我?', 'why did I get this lead?'. "
    "Managers and admins for leads they may see; reps only for their own leads.",
    LeadRoutingArgs, _lead_routing))


class ReviewQueueArgs(BaseModel):
    action: str = Field("list", description="'list' the leads waiting for review, 'approve' the engine's proposal, "
                                             "or 'override' it with another rep")
    decision_id: int | None = Field(None, description="the routing decision's id, for approve / override")
    rep: str | None = Field(None, description="for override: the rep to assign instead (login or name)")
    note: str | None = Field(None, description="why, kept with the decision")


def _decision_line(ctx: ToolContext, v) -> str:
    who = v.rep or ctx.t("(无可用销售)", "(no rep available)")
    reasons = "; ".join(v.review_reasons)
    return ctx.t(f"- #{v.id} 线索 #{v.lead_id} {v.lead}({v.account})· {v.value_cny:,} 元 · 建议 {who} · 意向 {v.intent_score}({v.tier})"
                 + (f" · 原因:{reasons}" if reasons else ""),
                 f"- #{v.id} lead #{v.lead_id} {v.lead} ({v.account}) · CNY {v.value_cny:,} · proposed {who} · intent {v.intent_score} ({v.tier})"
                 + (f" · because: {reasons}" if reasons else ""))


def _review_queue(*, ctx: ToolContext, action: str, decision_id: int | None, rep: str | None, note: str | None) -> ToolOutput:
    """The human circuit breaker from the chat: leads over the value threshold or needing
    cross-department work wait here until a manager (of the account's region) or an admin
    approves the engine's proposal or assigns another rep. The caller commits."""
    from sqlalchemy import select

    from crm.models import User
    from tools.capability import find_reps_in
    from tools.routing import approve_decision, override_decision, review_queue

    if action not in ("list", "approve", "override"):
        return ToolOutput(text=ctx.t("action 只能是 list、approve 或 override。", "action must be list, approve or override."),
                          error="input")
    if action != "list" and decision_id is None:
        return ToolOutput(text=ctx.t("请给出分配记录编号,例如“批准分配 12”。", "Give the decision's id, e.g. “approve decision 12”."),
                          error="input")
    if action == "override":
        exact = ctx.session.scalar(select(User.login).where(User.login == (rep or "").strip())) if rep else None
        reps = [exact] if exact else [u.login for u in find_reps_in(ctx.session, rep or "")]
        if len(reps) != 1:
            return ToolOutput(text=ctx.t(f"请说明改派给哪位销售(姓名或登录名),例如“把分配 {decision_id} 改派给李娜”。",
                                         f"Say which rep to assign instead (name or login), e.g. “override decision {decision_id} to lina”."),
                              error="input")
        view = override_decision(ctx=ctx, decision_id=decision_id, rep_login=reps[0], note=note or "")
    elif action == "approve":
        view = approve_decision(ctx=ctx, decision_id=decision_id, note=note or "")
    if action != "list":
        done = ctx.t(f"分配 #{view.id} 已{'批准' if action == 'approve' else '改派'}:线索 #{view.lead_id} {view.lead} 由 {view.rep} 负责"
                     + (f",请在 {view.respond_by} 前响应。" if view.respond_by else "。"),
                     f"Decision #{view.id} {'approved' if action == 'approve' else 'overridden'}: lead #{view.lead_id} {view.lead} "
                     f"now belongs to {view.rep}" + (f"; respond by {view.respond_by}." if view.respond_by else "."))
        return ToolOutput(text=done, data=view.to_json(), confidence=view.confidence,
                          evidence=[Evidence("routing_decision", str(view.id), view.created_at, done)],
                          focus={"lead_id": view.lead_id, "decision_id": view.id})
    views = review_queue(ctx=ctx)
    if not views:
        return ToolOutput(text=ctx.t("审核队列是空的:没有等待审核的线索。", "The review queue is empty: no lead is waiting for review."),
                          data={"decisions": []}, confidence=0.9)
    lines = [ctx.t(f"等待审核的线索({len(views)} 条,最早的在前):", f"Leads waiting for review ({len(views)}, oldest first):")]
    lines += [_decision_line(ctx, v) for v in views[:15]]
    lines.append(ctx.t("说“批准分配 12”采用建议,或“把分配 12 改派给李娜”。",
                       "Say “approve decision 12” to accept the proposal, or “override decision 12 to lina”."))
    return ToolOutput(text="\n".join(lines), data={"decisions": [v.to_json() for v in views]},
                      evidence=[Evidence("routing_decision", str(v.id), v.created_at, f"lead #{v.lead_id} {v.lead}") for v in views[:15]],
                      confidence=min(v.confidence for v in views), focus={"decision_id": views[0].id})


register(ToolSpec(
    "review_queue",
    "The manager review queue of lead routing (leads over the value threshold or needing cross-department work are not "
    "auto-assigned). action='list' shows the leads waiting; 'approve' accepts the engine's proposed rep for a decision; "
    "'override' assigns another rep (rep = login or name). Managers of the account's region and admins only. Use for "
    "'审核队列', '批准分配 12', '把分配 12 改派给李娜', 'review queue', 'approve decision 12'.",
    ReviewQueueArgs, _review_queue))


class AlertsArgs(BaseModel):
    action: str = Field("list", description="'list' the user's alerts, 'adopt' or 'dismiss' one, or 'explain' why it was raised")
    alert_id: int | None = Field(None, description="the alert's id, for adopt / dismiss / explain")
    status: str | None = Field(None, description="for list: only alerts in this status (shown, escalated, adopted, dismissed, expired)")


ALERT_STATUS_LABELS = {"shown": ("待处理", "open"), "escalated": ("已升级", "escalated"), "adopted": ("已采纳", "adopted"),
                       "dismissed": ("已忽略", "dismissed"), "expired": ("已过期", "expired")}


def _alert_evidence(view) -> list[Evidence]:
    return [Evidence("alert", str(view.id), view.created_at, view.title),
            *_event_evidence([{"id": e.get("id"), "time": e.get("time"), "text": e["text"]} for e in view.evidence])]


def _alerts(*, ctx: ToolContext, action: str, alert_id: int | None, status: str | None) -> ToolOutput:
    from tools.alerts import decide_alert, explain_alert, list_alerts

    if action not in ("list", "adopt", "dismiss", "explain"):
        return ToolOutput(text=ctx.t("action 只能是 list、adopt、dismiss 或 explain。", "action must be list, adopt, dismiss or explain."),
                          error="input")
    if action != "list" and alert_id is None:
        return ToolOutput(text=ctx.t("请给出提醒编号,例如“采纳提醒 5”。", "Give the alert's id, e.g. “adopt alert 5”."), error="input")
    if action == "explain":
        exp = explain_alert(ctx=ctx, alert_id=alert_id)
        evidence = [Evidence("alert", str(alert_id), None, exp.summary), *_event_evidence(exp.events)]
        return ToolOutput(text=exp.render(ctx.language), data=exp.to_json(), evidence=evidence, confidence=exp.confidence,
                          focus={"alert_id": alert_id})
    if action in ("adopt", "dismiss"):
        view = decide_alert(ctx=ctx, alert_id=alert_id, decision="adopted" if action == "adopt" else "dismissed")
        label = ALERT_STATUS_LABELS.get(view.status, (view.status, view.status))
        text = ctx.t(f"提醒 #{view.id} 已记为{label[0]}:{view.title}", f"Alert #{view.id} is now {label[1]}: {view.title}")
        return ToolOutput(text=text + "\n\n" + view.render(ctx.language), data=view.to_json(), evidence=_alert_evidence(view),
                          confidence=view.confidence, focus={"alert_id": view.id, "lead_id": view.lead_id})
    views = list_alerts(ctx=ctx, status=status, limit=10)
    which = ctx.t(f"{ALERT_STATUS_LABELS[status][0]}的" if status in ALERT_STATUS_LABELS else "",
                  f"{ALERT_STATUS_LABELS[status][1]} " if status in ALERT_STATUS_LABELS else "")
    if not views:
        return ToolOutput(text=ctx.t(f"目前没有{which}提醒。", f"You have no {which}alerts."), data={"alerts": []}, confidence=0.9)
    yours = ctx.user.role == "rep"  # a manager also sees the team's, an admin all
    lines = [ctx.t(f"{'你的' if yours else '你能查看的'}{which}提醒(最新的 {len(views)} 条):",
                   f"Your {which}alerts (newest {len(views)}):" if yours else f"The {which}alerts you can see (newest {len(views)}):")]
    evidence: list[Evidence] = []
    for v in views:
        st = ALERT_STATUS_LABELS.get(v.status, (v.status, v.status))
        who = ctx.t(f",负责人 {v.owner}", f", owner {v.owner}") if v.owner and v.owner != ctx.user.login else ""
        lines.append(f"- #{v.id} {v.title} · " + ctx.t(f"线索 #{v.lead_id}({v.lead})· {st[0]}{who} · 建议:{v.action}",
                                                       f"lead #{v.lead_id} ({v.lead}) · {st[1]}{who} · suggested: {v.action}"))
        evidence.append(Evidence("alert", str(v.id), v.created_at, v.title))
    lines.append(ctx.t("说“为什么提醒 5”看依据,“采纳提醒 5”或“忽略提醒 5”处理。",
                       "Say “why alert 5” for the evidence, “adopt alert 5” or “dismiss alert 5” to act on one."))
    return ToolOutput(text="\n".join(lines), data={"alerts": [v.to_json() for v in views]}, evidence=evidence,
                      confidence=min(v.confidence for v in views), focus={"alert_id": views[0].id})


register(ToolSpec(
    "alerts",
    "Signal alerts raised from customer behaviour (intent jumps, an engineer's technical deep dive, policy-sensitive "
    "tenders …). action='list' shows the user's alerts (a rep: their own; a manager: the team's and those escalated to "
    "them), optionally by status ('escalated', 'shown' …); 'adopt' / 'dismiss' records the decision on one alert; "
    "'explain' says why it was raised: the rule, the up to 5 events and the confidence. Use for '我的提醒', 'my alerts', "
    "'采纳提醒 5', 'why alert 5'. Not for alert KPIs such as the alert adoption rate (kpi_query).",
    AlertsArgs, _alerts))
