"""KPI answers: a question (or a spec) in, the number, its comparison, a table, its
definition, the period resolved to dates, the SQL that computed it and a chart out."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.errors import PermissionDenied, UserInputError
from crm.models import Region, User
from crm.roles import Role
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.kpi.compiler import Period, QuerySpec, compile_spec, render_sql
from tools.kpi.parser import ParsedQuestion, parse_question, previous
from tools.kpi.registry import Metric, load_registry

TIME_DIMS = ("month", "week", "quarter")


@dataclass
class KpiAnswer:
    metric: str
    label: str
    unit: str
    spec: QuerySpec
    period: Period | None
    value: float | None
    numerator: float | None
    denominator: float | None
    rows: list[dict[str, Any]]
    definition: str
    sql: str
    comparison: dict[str, Any] | None = None
    chart: str | None = None
    notes: list[str] = field(default_factory=list)
    language: str = "zh"
    scope_text: str = ""  # the filters in words ("华南 · 医疗"), restated with the period

    def heading(self) -> str:
        """"华南 · 2026-10-01 ~ 2026-12-05": what the figure covers, so follow-ups are told apart."""
        period = _period_text(self.period, self.language == "zh")
        return f"{self.scope_text} · {period}" if self.scope_text else period

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "label": self.label, "unit": self.unit, "spec": self.spec.to_json(),
            "period": self.period.to_json() if self.period else None, "value": self.value,
            "numerator": self.numerator, "denominator": self.denominator, "rows": self.rows,
            "definition": self.definition, "sql": self.sql, "comparison": self.comparison, "chart": self.chart,
            "scope": self.scope_text,
        }

    def render(self, *, chart_path: bool = True) -> str:
        """The answer as text; ``chart_path=False`` leaves out the chart's file path where the
        chart travels as an image of its own (the copilot's answers)."""
        lines = self._figure_lines()
        comparison = self._comparison_line()
        if comparison is not None:
            lines.append(comparison)
        lines += self._table_lines()
        lines += self._definition_lines(chart_path=chart_path)
        return "\n".join(lines)

    def _figure_lines(self) -> list[str]:
        """The headline figure with what it covers; a share also as numerator / denominator."""
        zh = self.language == "zh"
        period = self.heading()
        if self.value is None:
            return [f"**{self.label}**({period}):没有可计算的数据。" if zh else f"**{self.label}** ({period}): no data to compute it from."]
        lines = [f"**{self.label}**({period}):**{fmt_value(self.value, self.unit)}**" if zh
                 else f"**{self.label}** ({period}): **{fmt_value(self.value, self.unit)}**"]
        if self.denominator is not None and self.unit == "percent":
            lines.append(f"({_num(self.numerator)} / {_num(self.denominator)})")
        elif self.denominator and self.metric == "calls_per_rep":  # "一共打了多少通": the total is said too
            lines.append(f"({_num(self.numerator)} 通 / {_num(self.denominator)} 人)" if zh
                         else f"({_num(self.numerator)} calls / {_num(self.denominator)} reps)")
        return lines

    def _comparison_line(self) -> str | None:
        """"vs previous period: 41.0% (change +3.2 pp)", or that the comparison has no data."""
        if not self.comparison:
            return None
        zh = self.language == "zh"
        c = self.comparison
        if c.get("value") is None or self.value is None:
            return f"对比 {c['label']}:没有数据" if zh else f"vs {c['label']}: no data"
        delta = self.value - c["value"]
        sign = "+" if delta >= 0 else "−"
        shown = fmt_value(abs(delta), self.unit, delta=True)
        return (f"对比 {c['label']}:{fmt_value(c['value'], self.unit)}(变化 {sign}{shown})" if zh
                else f"vs {c['label']}: {fmt_value(c['value'], self.unit)} (change {sign}{shown})")

    def _table_lines(self) -> list[str]:
        """The breakdown as a markdown table (a blank line first), none without dimensions."""
        if not (self.rows and self.spec.dimensions):
            return []
        registry = load_registry()
        heads = [registry.dimensions[d].label(self.language) for d in self.spec.dimensions]
        lines = ["", "| " + " | ".join(heads + [self.label]) + " |", "|" + "---|" * (len(heads) + 1)]
        for r in self.rows:
            cells = [str(r[d]) for d in self.spec.dimensions]
            lines.append("| " + " | ".join(cells + [fmt_value(r["value"], self.unit)]) + " |")
        return lines

    def _definition_lines(self, *, chart_path: bool) -> list[str]:
        """The metric's definition, the default-period note and the chart's path."""
        zh = self.language == "zh"
        lines = ["", ("口径:" if zh else "Definition: ") + self.definition]
        if "default_period" in self.notes:
            lines.append("(问题没有指定时间,按默认统计期计算)" if zh
                         else "(no period in the question: the metric's default period was used)")
        lines += [f"({note})" for note in self.notes if note not in INTERNAL_NOTES]  # what the asker is not shown, said
        if self.chart and chart_path:
            lines.append(("图表:" if zh else "Chart: ") + self.chart)
        return lines

    def evidence(self) -> list[Evidence]:
        return [Evidence("metric", self.metric, _period_text(self.period, False), self.definition),
                Evidence("query", self.metric, None, self.sql)]


#: notes kept for the API and the eval, not sentences for the asker
INTERNAL_NOTES = {"default_period", "linked_by_meaning", "unsure", "undefined"}


def fmt_value(value: float | None, unit: str, delta: bool = False) -> str:
    if value is None:
        return "—"
    if unit == "percent":
        return f"{value * 100:.1f} pp" if delta else f"{value * 100:.1f}%"
    if unit == "cny":
        return f"¥{value:,.0f}"
    if unit in ("days", "seconds"):
        return f"{value:.1f} {'d' if unit == 'days' else 's'}"
    if unit == "score":  # a 0–100 index such as the CBI
        return f"{value:.1f}"
    return f"{value:.2f}" if value != int(value) else f"{int(value)}"


def _num(v: float | None) -> str:
    return "—" if v is None else (f"{int(v):,}" if float(v).is_integer() else f"{v:,.1f}")


def _period_text(period: Period | None, zh: bool) -> str:
    if period is None:
        return "全部" if zh else "all time"
    last = period.end - timedelta(days=1)
    return f"{period.start.isoformat()} ~ {last.isoformat()}" if zh else f"{period.start.isoformat()} to {last.isoformat()}"


def run_spec(*, ctx: ToolContext, spec: QuerySpec, chart_path: Path | None = None, notes: list[str] | None = None) -> KpiAnswer:
    metric = _metric_for(ctx, spec)
    _check_filters_in_scope(ctx, spec)
    refuse_team_figures_to_a_rep(ctx, "", spec)  # a spec from the LLM planner: its region/team filters
    dialect = ctx.session.get_bind().dialect
    stmt, sql = _compiled(spec, ctx.scope, dialect)
    region_names = _region_names(ctx) if "region" in spec.dimensions or spec.compare_filters else {}
    raw = ctx.session.execute(stmt).mappings().all()
    rows = _table_rows(ctx, spec, raw, region_names)
    total = _total(ctx, spec, metric, raw, rows)
    answer = KpiAnswer(
        metric=metric.name, label=metric.label(ctx.language), unit=metric.unit, spec=spec, period=spec.period,
        value=_f(total["value"]), numerator=_f(total["numerator"]), denominator=_f(total["denominator"]),
        rows=rows, definition=metric.definition(ctx.language), sql=sql,
        notes=list(notes or []) + _own_row_only(ctx, spec), language=ctx.language, scope_text=filters_text(ctx, spec),
    )
    answer.comparison = _compare(ctx, spec, metric, region_names)
    if chart_path is not None and rows and spec.dimensions:
        answer.chart = str(draw_chart(answer, chart_path))
    return answer


def _own_row_only(ctx: ToolContext, spec: QuerySpec) -> list[str]:
    """A rep's breakdown by rep holds their own row only, a manager's by region their region's: say so,
    so it does not read as a ranking."""
    if ctx.role == Role.MANAGER and "region" in spec.dimensions:
        return [ctx.t("只列出你所在区域;其他区域的数字由管理员查看(可以用“华东和华南对比”看对比总数)。",
                      "Only your region is listed; other regions' figures are for admins (\"East vs South\" gives a comparison total).")]
    if ctx.role != Role.REP or "rep" not in spec.dimensions:
        return []
    return [ctx.t("按销售拆分时你只能看到自己这一行;同事的数字和团队排名请问你的经理。",
                  "Broken down by rep, you see only your own row; colleagues' figures and the team ranking are your manager's to share.")]


def _metric_for(ctx: ToolContext, spec: QuerySpec) -> Metric:
    """The spec's metric, if it is defined and the asker's role may see it (trainers: conversation
    metrics only)."""
    metric = load_registry().metrics.get(spec.metric)
    if metric is None:
        raise UserInputError(f"unknown metric {spec.metric!r}")
    if ctx.role == Role.TRAINER and metric.base != "call_metrics":
        raise PermissionDenied(ctx.t("培训师可以查看通话类指标和练习结果,不能查看销售管道指标。",
                                     "Trainers see conversation-metric KPIs and practice results, not pipeline KPIs."))
    return metric


#: money and deal figures, defined or not: not a trainer's ("各区域营收", "he signed how much")
DEAL_FIGURE = re.compile(r"营收|收入|销售额|业绩|签了?多少|签单|成交|赢单|回款|合同额|金额|多少钱|毛利|利润|"
                         r"\b(revenue|sales\s+figures?|bookings|deals?|signed|won|win\s+rate|quota|profit|margin|pipeline|"
                         r"payments?|collections?)\b", re.I)


def _refuse_deal_figures_to_a_trainer(ctx: ToolContext, question: str) -> None:
    """A trainer asking a money or deal figure no metric defines is told it is not theirs (as for a defined
    pipeline metric), not offered the closest defined ones."""
    if ctx.role == Role.TRAINER and DEAL_FIGURE.search(question):
        raise PermissionDenied(ctx.t("培训师可以查看通话类指标和练习结果,不能查看销售管道指标。",
                                     "Trainers see conversation-metric KPIs and practice results, not pipeline KPIs."))


def _table_rows(ctx: ToolContext, spec: QuerySpec, raw: list, region_names: dict[str, str]) -> list[dict[str, Any]]:
    """The result rows in words; a breakdown by rep (not a ranking) in the order of the names shown."""
    rows = [_row(ctx, spec, r, region_names) for r in raw]
    if "rep" in spec.dimensions and not spec.top_n:
        rows.sort(key=lambda row: [str(row[d]) for d in spec.dimensions])
    return rows


def _total(ctx: ToolContext, spec: QuerySpec, metric: Metric, raw: list, rows: list[dict[str, Any]]) -> Any:
    """The headline figure: the single row without dimensions; added up from the groups when they
    add up (no second query); else, for a ranking or a per-owner figure, queried over all groups."""
    if not spec.dimensions:
        return raw[0] if raw else {"value": None, "numerator": None, "denominator": None}
    if not spec.top_n and metric.measure["type"] != "per":
        return _total_from_rows(rows, metric.measure["type"])
    total_spec = QuerySpec(metric=spec.metric, filters=spec.filters, period=spec.period)
    dialect = ctx.session.get_bind().dialect.name
    return ctx.session.execute(compile_spec(total_spec, scope=ctx.scope, dialect=dialect)).mappings().one()


def _row(ctx: ToolContext, spec: QuerySpec, r: Any, region_names: dict[str, str]) -> dict[str, Any]:
    """One table row: regions, people, industries and lead sources in words (the stored value kept
    as ``rep_login`` / ``region_code`` / ``industry_code`` / ``lead_source_code``), the unassigned
    bucket said in words."""
    row: dict[str, Any] = {}
    for d in spec.dimensions:
        if d == "region":
            row[d], row["region_code"] = region_names.get(r[d], r[d]), r[d]
        elif d == "rep":
            row[d], row["rep_login"] = _person_name(ctx, r[d]), r[d]
        elif d in FILTER_WORDS and r[d] is not None:
            row[d], row[f"{d}_code"] = FILTER_WORDS[d].get(r[d], (r[d], r[d]))[0 if ctx.language == "zh" else 1], r[d]
        else:
            row[d] = r[d] if r[d] is not None else ctx.t("未分配", "unassigned")
    row.update(value=_f(r["value"]), numerator=_f(r["numerator"]), denominator=_f(r["denominator"]))
    return row


def _person_name(ctx: ToolContext, login: str | None) -> str:
    if login is None:
        return ctx.t("未分配", "unassigned")
    names = _people(ctx)
    zh, en = names.get(login, (login, login))
    return zh if ctx.language == "zh" else en


def _people(ctx: ToolContext) -> dict[str, tuple[str, str]]:
    from crm.models import User

    return {u.login: (u.name, u.name_en) for u in ctx.session.scalars(select(User))}


FILTER_WORDS = {  # the words a filter value is restated with, zh and en
    "industry": {"healthcare": ("医疗", "healthcare"), "manufacturing": ("制造", "manufacturing"), "energy": ("能源", "energy"),
                 "software": ("软件", "software"), "government": ("政府", "government")},
    "lead_source": {"website": ("官网", "website"), "expo": ("展会", "expo"), "wecom": ("企业微信", "WeCom"),
                    "referral": ("转介绍", "referral"), "tender": ("招标", "tender"), "email_campaign": ("邮件营销", "e-mail campaign"),
                    "partner": ("合作伙伴", "partner"), "inbound_call": ("来电", "inbound call")},
}


def filters_text(ctx: ToolContext, spec: QuerySpec) -> str:
    """The spec's filters in words: "华南 · 医疗" / "South China · healthcare"."""
    zh = ctx.language == "zh"
    regions = _region_names(ctx) if spec.filters.get("region") else {}
    people = _people(ctx) if spec.filters.get("rep") else {}
    parts = []
    for dim, values in spec.filters.items():
        for v in values:
            if dim == "region":
                parts.append(regions.get(v, v))
            elif dim == "rep":
                parts.append(people.get(v, (v, v))[0 if zh else 1])
            else:
                parts.append(FILTER_WORDS.get(dim, {}).get(v, (v, v))[0 if zh else 1])
    return " · ".join(parts)


_COMPILED: OrderedDict[tuple, tuple[Any, str]] = OrderedDict()
_COMPILED_LOCK = threading.Lock()


def _compiled(spec: QuerySpec, scope, dialect) -> tuple[Any, str]:
    """The spec's statement and its SQL text, built once per (spec, scope, dialect): building
    the statement and rendering its SQL with literal values were two thirds of the layer's own
    time per question (profiled: 1.9 of 3.1 ms), which is all of it on a small table."""
    key = (repr(spec), scope, dialect.name)
    with _COMPILED_LOCK:
        hit = _COMPILED.get(key)
        if hit is not None:
            _COMPILED.move_to_end(key)
            return hit
    stmt = compile_spec(spec, scope=scope, dialect=dialect.name)
    value = (stmt, render_sql(stmt, dialect))
    with _COMPILED_LOCK:
        _COMPILED[key] = value
        while len(_COMPILED) > 512:
            _COMPILED.popitem(last=False)
    return value


def clear_compiled_cache() -> None:
    """Forget every compiled spec (the benchmark's first-ask figures)."""
    with _COMPILED_LOCK:
        _COMPILED.clear()


def _total_from_rows(rows: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """ratio: Σnumerator/Σdenominator; avg: Σsum/Σcount; sum and count: Σ."""
    num = sum(r["numerator"] or 0.0 for r in rows)
    den = sum(r["denominator"] or 0.0 for r in rows)
    additive = kind in ("sum", "count")
    if not rows or (not additive and not den):
        return {"value": None, "numerator": None, "denominator": None}
    return {"value": num if additive else num / den, "numerator": num, "denominator": den}


def _compare(ctx: ToolContext, spec: QuerySpec, metric: Metric, region_names: dict[str, str]) -> dict[str, Any] | None:
    dialect = ctx.session.get_bind().dialect.name
    if spec.compare_filters:
        other = QuerySpec(metric=spec.metric, filters={**spec.filters, **spec.compare_filters}, period=spec.period)
        row = ctx.session.execute(compile_spec(other, scope=_compare_scope(ctx), dialect=dialect)).mappings().one()
        label = ", ".join(region_names.get(v, v) for vs in spec.compare_filters.values() for v in vs)
        return {"label": label, "value": _f(row["value"]), "filters": spec.compare_filters}
    if spec.compare and spec.period:
        prev = previous(spec.period, spec.compare)
        other = QuerySpec(metric=spec.metric, filters=spec.filters, period=prev)
        row = ctx.session.execute(compile_spec(other, scope=ctx.scope, dialect=dialect)).mappings().one()
        last_year = spec.compare == "last_year"
        label = ctx.t("去年同期" if last_year else "上一期", "same period last year" if last_year else "previous period")
        return {"label": f"{label} ({_period_text(prev, ctx.language == 'zh')})", "value": _f(row["value"]), "period": prev.to_json()}
    return None


def _compare_scope(ctx: ToolContext):
    """Comparing with another region is a region-level figure: managers may see other regions'
    totals (not their rows), reps may not."""
    from crm.access import Scope

    if ctx.role in (Role.MANAGER, Role.ADMIN):
        return Scope(ctx.user.id, "admin", True, frozenset(), frozenset(), frozenset())
    return ctx.scope


def _check_filters_in_scope(ctx: ToolContext, spec: QuerySpec) -> None:
    """A region, team or rep named in the question that the asker may not see is refused
    plainly — an empty "no data" would read as a real zero."""
    scope = ctx.scope
    if scope.everything or scope.role == Role.TRAINER:
        return
    # a comparison with another region stays allowed: it comes back as that region's total only
    wanted = {k: list(v) for k, v in spec.filters.items()}
    region_ids, team_ids = _visible_regions_and_teams(ctx)
    outside = (_regions_outside(ctx, wanted.get("region"), region_ids)
               + _teams_outside(ctx, wanted.get("team"), team_ids)
               + _reps_outside(ctx, wanted.get("rep"), scope.owner_ids))
    if outside:
        raise _outside_scope(ctx, outside)


# a rep asking for the team's or the region's figure, not their own ("我们组…", "华东的…", "my team's …")
TEAM_WORDS = re.compile(r"我们组|咱们组|咱组|组里|组内|全组|本组|我们团队|咱们团队|团队|我们部门|我们区|全区|整个区|排第?几|第几名|排名"
                        r"|各(个)?(区域|大区|团队|组)|(所有|全部|每个)(的)?(区域|大区|团队|组)|全公司"
                        r"|\b(?:my|our|the|whole)\s+team\b|\bteam'?s\b|\bteammates?\b|\bcolleagues?\b"
                        r"|\b(?:every|each|all)\s+(?:regions?|teams?)\b|\bcompany[- ]wide\b|\bwhole company\b"
                        r"|\bwhere do i rank\b|\bmy rank(ing)?\b",
                        re.IGNORECASE)


class TeamFiguresRefused(PermissionDenied):
    """A rep refused a team's or region's figure; ``own_spec`` is the same question about their own
    figure, kept for the follow-up "那我自己的呢" / "and mine?"."""

    def __init__(self, own_spec: QuerySpec, message: str):
        super().__init__(message)
        self.own_spec = own_spec


def _own_spec(spec: QuerySpec) -> QuerySpec:
    """The spec without the team, region and colleagues it was refused for."""
    own = QuerySpec.from_json(spec.to_json())
    own.filters = {k: v for k, v in own.filters.items() if k not in ("region", "team", "rep")}
    own.dimensions = [d for d in own.dimensions if d not in ("region", "team")]
    return own


def _your_manager(ctx: ToolContext) -> str:
    """Whom a rep refused a figure is told to ask, in the asker's language."""
    from crm.access import team_manager

    manager = team_manager(ctx.session, ctx.user.team_id)
    return ctx.t(f"你的经理{manager.name}", f"your manager {manager.name_en}") if manager else ctx.t("你的经理", "your manager")


def refuse_team_figures_to_a_rep(ctx: ToolContext, question: str, spec: QuerySpec) -> None:
    """Reps see their own figures only. A rep who asks for the team's or the region's figure (their
    own region named, or "我们组 / my team") is told so and whom to ask, instead of getting their own
    figure under the region's label; "各销售的赢单率" without a team word stays their own row."""
    if ctx.role != Role.REP:
        return
    if not (spec.filters.get("region") or spec.filters.get("team") or {"region", "team"} & set(spec.dimensions)
            or TEAM_WORDS.search(question)):
        return
    who = _your_manager(ctx)
    raise TeamFiguresRefused(_own_spec(spec), ctx.t(
        f"团队和区域的数字由经理查看,销售只能看自己的数字;要团队的数字请问{who}。看自己的:去掉团队或区域再问,例如“我这个月的72小时跟进率”。",
        f"Team and region figures are for managers; reps see their own. Ask {who} for the team's figure, "
        "or ask without the team or region to see yours (e.g. \"my 72-hour follow-up rate this month\")."))


# the company's figures ("全国四个区赢单率排名", "win rate nationwide")
NATIONWIDE = re.compile(r"全国|全公司|[四4](个)?(大)?区|\b(nationwide|company[- ]wide|whole company|all four regions)\b", re.I)


def _refuse_the_company_to_a_manager(ctx: ToolContext, question: str) -> None:
    """A manager sees their own region (other regions only as a comparison total). Asked for the
    company's figures, they are told so and whom to ask — not given their own region's row as if it
    were the company's ranking."""
    if ctx.role != Role.MANAGER or not NATIONWIDE.search(question):
        return
    raise PermissionDenied(ctx.t(
        "全国和全公司的数字由管理员查看,经理看自己区域的数字;需要全国数字请联系管理员。看本区域的:去掉“全国”再问。",
        "Company-wide figures are for admins; managers see their own region. Ask an admin for the company's "
        "figures, or ask without \"nationwide\" to see your region's."))


def _refuse_another_managers_team(ctx: ToolContext, question: str) -> None:
    """"huang lei team follow up rate?" from another region's manager (or a rep): that team's figure is not theirs — never
    their own region's figure under no label."""
    if ctx.role not in (Role.MANAGER, Role.REP):
        return
    low = question.lower()
    for m in ctx.session.scalars(select(User).where(User.role == Role.MANAGER, User.id != ctx.user.id)):
        english = (m.name_en or "").lower().split()
        said = m.name in question or any(n and re.search(rf"(?<![a-z]){re.escape(n)}(?![a-z])", low)
                                         for n in (" ".join(english), " ".join(reversed(english))))
        if said and m.team_id != ctx.user.team_id:
            raise PermissionDenied(ctx.t(f"{m.name}团队的数字不在你的权限范围内:经理看自己团队的数字,销售看自己的;需要请联系管理员。",
                                         f"{m.name_en}'s team's figures are outside what you may see: managers see their own "
                                         "team's, reps their own; ask an admin."))


def _visible_regions_and_teams(ctx: ToolContext) -> tuple[set, set]:
    """The regions and teams the asker sees: their scope's, plus their own team and its region
    (a rep's own team and region narrow nothing they may not see)."""
    from crm.models import Team

    region_ids, team_ids = set(ctx.scope.region_ids), set(ctx.scope.team_ids)
    if ctx.user.team_id is not None:
        own = ctx.session.get(Team, ctx.user.team_id)
        team_ids.add(own.id)
        region_ids.add(own.region_id)
    return region_ids, team_ids


def _regions_outside(ctx: ToolContext, codes: list[str] | None, region_ids: set) -> list[str]:
    """The named regions the asker may not see, in words, in the order they were named."""
    if not codes:
        return []
    regions = {r.code: r for r in ctx.session.scalars(select(Region).where(Region.code.in_(codes)))}
    named = [regions.get(code) for code in codes]
    return [r.name_zh if ctx.language == "zh" else r.name_en for r in named if r is not None and r.id not in region_ids]


def _teams_outside(ctx: ToolContext, names: list[str] | None, team_ids: set) -> list[str]:
    """The named teams the asker may not see, in words."""
    if not names:
        return []
    from crm.models import Team

    teams = ctx.session.scalars(select(Team).where(Team.name.in_(names)))
    return [t.name if ctx.language == "zh" else t.name_en for t in teams if t.id not in team_ids]


def _reps_outside(ctx: ToolContext, logins: list[str] | None, owner_ids) -> list[str]:
    """The named reps whose records the asker may not see, by name."""
    if not logins:
        return []
    from crm.models import User

    users = ctx.session.scalars(select(User).where(User.login.in_(logins)))
    return [u.name if ctx.language == "zh" else u.name_en for u in users if u.id not in owner_ids]


def _outside_scope(ctx: ToolContext, outside: list[str]) -> PermissionDenied:
    """The refusal naming what is outside the asker's scope, and how to ask instead."""
    names = "、".join(outside) if ctx.language == "zh" else ", ".join(outside)
    return PermissionDenied(ctx.t(
        f"{names} 不在你的查看范围内:经理看自己团队的数据,销售看自己的数据。可以去掉这个条件,看你范围内的数字。",
        f"{names} is outside what you may see: managers see their own teams' figures, reps their own. "
        "Ask without it to see the figures in your scope."))


def _region_names(ctx: ToolContext) -> dict[str, str]:
    return {r.code: (r.name_zh if ctx.language == "zh" else r.name_en) for r in ctx.session.scalars(select(Region))}


def _f(v: Any) -> float | None:
    return None if v is None else float(v)


class KpiClarification(UserInputError):
    """The question names no metric for sure: no number, but the metric understood and the
    alternatives (``choices``: metric names, most likely first) to offer as buttons / chips."""

    def __init__(self, message: str, choices: list[str], understood: str | None):
        super().__init__(message)
        self.choices = choices
        self.understood = understood


def clarification(ctx: ToolContext, parsed: ParsedQuestion) -> KpiClarification:
    """The answer when the metric is unsure (the reading and 2–3 alternatives) or not defined
    (the closest defined metrics) — never a guessed number."""
    registry = load_registry()
    label = (lambda n: registry.metrics[n].label(ctx.language))  # noqa: E731
    if parsed.unsure:
        others = [n for n in parsed.alternatives if n != parsed.understood][:2]
        choices = [parsed.understood, *others]
        listed = "\n".join(f"{i}. {label(n)}" for i, n in enumerate(choices, 1))
        return KpiClarification(ctx.t(
            f"我理解你问的是「{label(parsed.understood)}」,但不够确定,所以先不给数字。你指的是哪一个?\n{listed}",
            f"I understood this as the {label(parsed.understood)}, but I'm not sure enough to give a number. "
            f"Which one do you mean?\n{listed}"), choices, parsed.understood)
    names = ("、" if ctx.language == "zh" else ", ").join(label(n) for n in parsed.closest)
    if "other_quantity" in parsed.notes:
        return KpiClarification(ctx.t(
            f"你问的是一个数量或时长,已定义的指标里没有这个数,我不会拿别的指标代替。最接近的指标:{names}。",
            f"You are asking for a count or a length of time, which no defined metric gives, so I won't answer with "
            f"another metric. Closest metrics: {names}."), list(parsed.closest), None)
    return KpiClarification(ctx.t(
        f"这个指标未定义(不在已定义的指标里),我不会猜一个数字。最接近的指标:{names}。",
        f"That is not a defined metric, so I won't guess a number. Closest metrics: {names}."),
        list(parsed.closest), None)


def answer_question(*, ctx: ToolContext, question: str, chart_path: Path | None = None) -> KpiAnswer:
    parsed = parse_question(question, session=ctx.session, today=ctx.now().date())
    if parsed.spec is None:
        _refuse_deal_figures_to_a_trainer(ctx, question)
        _refuse_others_figures_to_a_rep(ctx, question)
        raise clarification(ctx, parsed)
    refuse_team_figures_to_a_rep(ctx, question, parsed.spec)
    _refuse_the_company_to_a_manager(ctx, question)
    _refuse_another_managers_team(ctx, question)
    return run_spec(ctx=ctx, spec=parsed.spec, chart_path=chart_path, notes=parsed.notes)


def _refuse_others_figures_to_a_rep(ctx: ToolContext, question: str) -> None:
    """A rep asking a colleague's or the team's figure ("张伟这个月签了几单", "the South team's ranking by revenue") is
    told it is not theirs, whether or not a metric defines it — not offered the closest metrics."""
    if ctx.role != Role.REP:
        return
    low = question.lower()
    colleague = any(u.id != ctx.user.id and (u.name in question or re.search(rf"(?<![a-z]){re.escape(u.name_en.lower())}(?![a-z])", low))
                    for u in ctx.session.scalars(select(User).where(User.role == Role.REP)))
    if colleague or TEAM_WORDS.search(question):
        who = _your_manager(ctx)
        raise PermissionDenied(ctx.t(f"同事和团队的数字由经理查看,销售只能看自己的数字;请问{who}。",
                                     f"Colleagues' and the team's figures are for managers; reps see their own. Ask {who}."))


def _chart_fonts(plt) -> None:
    """A CJK font first (labels are often Chinese), DejaVu for the rest."""
    from matplotlib import font_manager

    cjk = [f.name for f in font_manager.fontManager.ttflist
           if any(k in f.name for k in ("WenQuanYi", "Noto Sans CJK", "Noto Sans SC", "Source Han"))]
    if cjk:
        plt.rcParams["font.sans-serif"] = [cjk[0], "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False


def warm_chart_renderer() -> None:
    """Load matplotlib and its CJK font once (≈0.7 s), so a server's first chart answer is
    not the one that pays for it."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _chart_fonts(plt)
    fig, ax = plt.subplots(figsize=(2, 1), dpi=50)
    ax.bar(["华东"], [1.0])
    ax.set_title("预热")
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


def draw_chart(answer: KpiAnswer, path: Path) -> Path:
    """A PNG: a line for a trend over time, bars for a breakdown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _chart_fonts(plt)
    dims = answer.spec.dimensions
    labels = [" / ".join(str(r[d]) for d in dims) for r in answer.rows]
    scale = 100.0 if answer.unit == "percent" else 1.0
    values = [(r["value"] or 0.0) * scale for r in answer.rows]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    if dims and dims[0] in TIME_DIMS:
        ax.plot(labels, values, marker="o", color="#2563eb")
    else:
        ax.bar(labels, values, color="#2563eb")
    ax.set_title(f"{answer.label} ({answer.heading()})", fontsize=10)
    ax.set_ylabel("%" if answer.unit == "percent" else answer.unit)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
