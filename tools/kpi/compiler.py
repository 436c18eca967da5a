"""Compile a KPI query spec to SQL (SQLAlchemy Core) — by code, never by a model.

The same spec compiles for SQLite and PostgreSQL; dialect differences (date arithmetic,
time buckets) live in the small functions at the top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    case,
    cast,
    distinct,
    false,
    func,
    or_,
    select,
    true,
)

from core.errors import PermissionDenied, UserInputError
from crm.access import Scope
from crm.models import (
    Account,
    AISuggestion,
    Alert,
    AnswerFeedback,
    Call,
    CallMetric,
    IntentScoreSnapshot,
    Lead,
    Opportunity,
    Region,
    Renewal,
    Team,
    Touchpoint,
    User,
)
from crm.roles import Role
from tools.kpi.registry import Metric, load_registry


@dataclass(frozen=True)
class Period:
    start: date  # inclusive
    end: date  # exclusive
    grain: str | None = field(default=None, compare=False)  # month / quarter / year / week when a calendar unit

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass
class QuerySpec:
    metric: str
    dimensions: list[str] = field(default_factory=list)
    filters: dict[str, list[str]] = field(default_factory=dict)
    period: Period | None = None
    compare: str | None = None  # previous_period | last_year | None
    compare_filters: dict[str, list[str]] | None = None  # "vs 华南": the same query with these filters
    top_n: int | None = None
    order: str = "desc"

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric, "dimensions": self.dimensions, "filters": self.filters,
            "period": self.period.to_json() if self.period else None, "compare": self.compare,
            "compare_filters": self.compare_filters, "top_n": self.top_n, "order": self.order,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QuerySpec:
        period = data.get("period")
        return cls(metric=data["metric"], dimensions=list(data.get("dimensions") or []),
                   filters={k: list(v) for k, v in (data.get("filters") or {}).items()},
                   period=Period(date.fromisoformat(period["start"]), date.fromisoformat(period["end"]),
                                 data.get("period_grain")) if period else None,
                   compare=data.get("compare"), compare_filters=data.get("compare_filters"),
                   top_n=data.get("top_n"), order=data.get("order") or "desc")


# -- dialect helpers ------------------------------------------------------------------------------

def _hours_between(dialect: str, a, b) -> ColumnElement:
    if dialect == "postgresql":
        return func.extract("epoch", b - a) / 3600.0
    return (func.julianday(b) - func.julianday(a)) * 24.0


def _days_between(dialect: str, a, b) -> ColumnElement:
    if dialect == "postgresql":
        return func.extract("epoch", func.cast(b, _ts()) - func.cast(a, _ts())) / 86400.0
    return func.julianday(b) - func.julianday(a)


def _calendar_days_between(dialect: str, a, b) -> ColumnElement:
    """Whole calendar days from the date of timestamp ``a`` to date ``b`` (times of day ignored)."""
    if dialect == "postgresql":
        return cast(func.cast(b, _date()) - func.cast(a, _date()), Float)
    return func.julianday(func.date(b)) - func.julianday(func.date(a))


def _date():
    from sqlalchemy import Date

    return Date()


def _ts():
    from sqlalchemy import DateTime

    return DateTime()


def _bucket(dialect: str, grain: str, col) -> ColumnElement:
    if grain == "week":  # the Monday the week starts on, the same on both backends
        if dialect == "postgresql":
            return func.to_char(func.date_trunc("week", col), "YYYY-MM-DD")
        return func.date(col, "weekday 0", "-6 days")
    if dialect == "postgresql":
        return func.to_char(col, {"month": "YYYY-MM", "quarter": 'YYYY-"Q"Q'}[grain])
    if grain == "quarter":
        return func.strftime("%Y", col).op("||")("-Q").op("||")(
            cast((cast(func.strftime("%m", col), Float) + 2) / 3, _int()))
    return func.strftime("%Y-%m", col)


def _int():
    from sqlalchemy import Integer

    return Integer()


# -- bases: what each metric counts over, and how dimensions reach it -------------------------------
# Core tables (not ORM entities): compiling through the ORM's column adaptation cost ~6 ms a query.
L, A, R, O, TP = Lead.__table__, Account.__table__, Region.__table__, Opportunity.__table__, Touchpoint.__table__  # noqa: E741 (O: the opportunities table, like its neighbours)
U, RN, S, C, CM, T = User.__table__, Renewal.__table__, AISuggestion.__table__, Call.__table__, CallMetric.__table__, Team.__table__
IS = IntentScoreSnapshot.__table__
AL = Alert.__table__
AF = AnswerFeedback.__table__

@dataclass
class Base:
    stmt_from: Any  # a join to select from
    owner: ColumnElement  # the user whose record it is (access control)
    time_cols: dict[str, ColumnElement]
    dims: dict[str, ColumnElement]
    predicates: dict[str, ColumnElement]
    expressions: dict[str, ColumnElement]
    where: list[ColumnElement] = field(default_factory=list)
    region_for_unassigned: ColumnElement | None = None  # leads: unassigned ones belong to their region


def _base(metric: Metric, dialect: str, period: Period | None) -> Base:
    # the period only shapes the accounts base (its touchpoint subquery)
    return _base_cached(metric.name, dialect, period if metric.base == "accounts" else None)


@lru_cache(maxsize=256)
def _base_cached(metric_name: str, dialect: str, period: Period | None) -> Base:
    metric = load_registry().metrics[metric_name]
    build = _BASE_BUILDERS.get(metric.base)
    if build is None:
        raise ValueError(f"metric {metric.name}: unknown base {metric.base!r}")
    owner = User.__table__.alias("owner")
    team = Team.__table__.alias("owner_team")
    return build(metric, dialect, period, owner, team)


def _leads_base(metric: Metric, dialect: str, period: Period | None, owner, team) -> Base:
    """Leads: the owner's, an unassigned lead its account's region's."""
    frm = (L.join(A, A.c.id == L.c.account_id).join(R, R.c.id == A.c.region_id)
           .outerjoin(owner, owner.c.id == L.c.owner_id).outerjoin(team, team.c.id == owner.c.team_id))
    return Base(
        frm, L.c.owner_id, {"created_at": L.c.created_at},
        _dims(dialect, L.c.created_at, region=R.c.code, team=team.c.name, rep=owner.c.login, industry=A.c.industry,
              segment=A.c.segment, lead_source=L.c.source),
        {"all": true(),
         "followed_up_within_72h": and_(L.c.first_follow_up_at.is_not(None),
                                        _hours_between(dialect, L.c.created_at, L.c.first_follow_up_at) <= 72),
         "converted": L.c.status == "converted"},
        {}, region_for_unassigned=A.c.region_id)


def _intent_scores_base(metric: Metric, dialect: str, period: Period | None, owner, team) -> Base:
    """Stored CBI snapshots, each a lead's as of a date."""
    # stored snapshots (tools/intent_snapshots.py): a lead's CBI as of a date; it belongs to the
    # lead's owner, and an unassigned lead to its account's region, exactly as in the leads base
    frm = (IS.join(L, L.c.id == IS.c.lead_id).join(A, A.c.id == L.c.account_id).join(R, R.c.id == A.c.region_id)
           .outerjoin(owner, owner.c.id == L.c.owner_id).outerjoin(team, team.c.id == owner.c.team_id))
    return Base(
        frm, L.c.owner_id, {"as_of": IS.c.as_of},
        _dims(dialect, IS.c.as_of, region=R.c.code, team=team.c.name, rep=owner.c.login, industry=A.c.industry,
              segment=A.c.segment, lead_source=L.c.source),
        {"all": true()}, {"score": IS.c.score}, region_for_unassigned=A.c.region_id)


def _opportunities_base(metric: Metric, dialect: str, period: Period | None, owner, team) -> Base:
    """Opportunities, timed by close or creation date as the metric says."""
    frm = (O.join(A, A.c.id == O.c.account_id).join(R, R.c.id == A.c.region_id)
           .join(owner, owner.c.id == O.c.owner_id).outerjoin(team, team.c.id == owner.c.team_id))
    tcol = O.c.close_date if metric.time_field == "close_date" else O.c.created_at
    return Base(
        frm, O.c.owner_id, {"close_date": O.c.close_date, "created_at": O.c.created_at},
        _dims(dialect, tcol, region=R.c.code, team=team.c.name, rep=owner.c.login, industry=A.c.industry,
              segment=A.c.segment, stage=O.c.stage),
        {"won": O.c.won.is_(True), "closed": O.c.won.is_not(None), "open": O.c.won.is_(None)},
        {"days_created_to_close": _calendar_days_between(dialect, O.c.created_at, O.c.close_date),
         "amount_cny": O.c.amount_cny})


def _accounts_base(metric: Metric, dialect: str, period: Period | None, owner, team) -> Base:
    """Accounts with the channels they were touched on (in the period, when there is one)."""
    tp = select(TP.c.account_id.label("account_id"), func.count(distinct(TP.c.channel)).label("channels"))
    if period:
        tp = tp.where(TP.c.occurred_at >= _dt(period.start), TP.c.occurred_at < _dt(period.end))
    tp = tp.group_by(TP.c.account_id).subquery("account_channels")
    frm = (A.join(R, R.c.id == A.c.region_id).join(tp, tp.c.account_id == A.c.id)
           .outerjoin(owner, owner.c.id == A.c.owner_id).outerjoin(team, team.c.id == owner.c.team_id))
    return Base(frm, A.c.owner_id, {},  # the period is applied inside the subquery
                _dims(dialect, None, region=R.c.code, team=team.c.name, rep=owner.c.login, industry=A.c.industry,
                      segment=A.c.segment),
                {"touched": true(), "touched_by_3_channels": tp.c.channels >= 3}, {})


def _users_base(metric: Metric, dialect: str, period: Period | None, owner, team) -> Base:
    """Reps, with the date of their first won deal."""
    first_win = (select(O.c.owner_id.label("owner_id"), func.min(O.c.close_date).label("first_win"))
                 .where(O.c.won.is_(True)).group_by(O.c.owner_id).subquery("first_wins"))
    rteam = Team.__table__.alias("rep_team")
    frm = (U.join(rteam, rteam.c.id == U.c.team_id).join(R, R.c.id == rteam.c.region_id)
           .outerjoin(first_win, first_win.c.owner_id == U.c.id))
    return Base(frm, U.c.id, {"hire_date": U.c.hire_date},
                _dims(dialect, U.c.hire_date, region=R.c.code, team=rteam.c.name, rep=U.c.login),
                {"new_hire_with_win": and_(U.c.role == Role.REP, first_win.c.first_win.is_not(None))},
                {"days_hire_to_first_win": _days_between(dialect, U.c.hire_date, first_win.c.first_win)},
                where=[U.c.role == Role.REP])


def _renewals_base(metric: Metric, dialect: str, period: Period | None, owner, team) -> Base:
    """Renewals by due date."""
    frm = (RN.join(A, A.c.id == RN.c.account_id).join(R, R.c.id == A.c.region_id)
           .join(owner, owner.c.id == RN.c.owner_id).outerjoin(team, team.c.id == owner.c.team_id))
    return Base(frm, RN.c.owner_id, {"due_date": RN.c.due_date},
                _dims(dialect, RN.c.due_date, region=R.c.code, team=team.c.name, rep=owner.c.login,
                      industry=A.c.industry, segment=A.c.segment),
                {"high_value_decided": and_(RN.c.high_value.is_(True), RN.c.renewed.is_not(None)),
                 "renewed": and_(RN.c.high_value.is_(True), RN.c.renewed.is_(True))}, {})


def _ai_suggestions_base(metric: Metric, dialect: str, period: Period | None, owner, team) -> Base:
    """The copilot's suggestions, each belonging to the user it was made for."""
    rregion = Region.__table__.alias("rep_region")
    frm = (S.join(owner, owner.c.id == S.c.user_id).outerjoin(team, team.c.id == owner.c.team_id)
           .outerjoin(rregion, rregion.c.id == team.c.region_id))
    return Base(frm, S.c.user_id, {"created_at": S.c.created_at},
                _dims(dialect, S.c.created_at, region=rregion.c.code, team=team.c.name, rep=owner.c.login),
                {"adopted": S.c.status == "adopted",
                 "decided_or_expired": S.c.status.in_(("adopted", "dismissed", "expired"))}, {})


def _alerts_base(metric: Metric, dialect: str, period: Period | None, owner, team) -> Base:
    """Signal alerts."""
    # signal alerts (tools/signals.py): they belong to their owner (the rep they were sent to)
    rregion = Region.__table__.alias("rep_region")
    frm = (AL.join(owner, owner.c.id == AL.c.owner_id).outerjoin(team, team.c.id == owner.c.team_id)
           .outerjoin(rregion, rregion.c.id == team.c.region_id))
    return Base(frm, AL.c.owner_id, {"created_at": AL.c.created_at},
                _dims(dialect, AL.c.created_at, region=rregion.c.code, team=team.c.name, rep=owner.c.login,
                      signal_rule=AL.c.rule),
                {"all": true(), "adopted": AL.c.status == "adopted", "expired": AL.c.status == "expired",
                 "escalated": AL.c.escalated_at.is_not(None),
                 "decided_or_expired": AL.c.status.in_(("adopted", "dismissed", "expired"))}, {})


def _answer_feedback_base(metric: Metric, dialect: str, period: Period | None, owner, team) -> Base:
    """Ratings of web chat answers."""
    # 👍/👎 on web chat answers (api/feedback.py): a rating belongs to the user who gave it
    rregion = Region.__table__.alias("rep_region")
    frm = (AF.join(owner, owner.c.id == AF.c.user_id).outerjoin(team, team.c.id == owner.c.team_id)
           .outerjoin(rregion, rregion.c.id == team.c.region_id))
    return Base(frm, AF.c.user_id, {"created_at": AF.c.created_at},
                _dims(dialect, AF.c.created_at, region=rregion.c.code, team=team.c.name, rep=owner.c.login,
                      tool=AF.c.tool, language=AF.c.language),
                {"rated": true(), "thumbs_up": AF.c.rating == 1}, {})


def _calls_base(metric: Metric, dialect: str, period: Period | None, owner, team) -> Base:
    """Calls, or one conversation metric's values on calls."""
    rregion = Region.__table__.alias("rep_region")
    frm = C
    where: list[ColumnElement] = []
    if metric.base == "call_metrics":
        frm = CM.join(C, C.c.id == CM.c.call_id)
        where.append(CM.c.name == metric.call_metric)
    frm = (frm.join(owner, owner.c.id == C.c.rep_id).outerjoin(team, team.c.id == owner.c.team_id)
           .outerjoin(rregion, rregion.c.id == team.c.region_id).outerjoin(A, A.c.id == C.c.account_id))
    return Base(frm, C.c.rep_id, {"started_at": C.c.started_at},
                _dims(dialect, C.c.started_at, region=rregion.c.code, team=team.c.name, rep=owner.c.login,
                      industry=A.c.industry),
                {"has_value": CM.c.value.is_not(None)} if metric.base == "call_metrics" else {},
                {"metric_value": CM.c.value} if metric.base == "call_metrics" else {}, where=where)


_BASE_BUILDERS = {  # a metric's base: the builder of what it counts over
    "leads": _leads_base,
    "intent_scores": _intent_scores_base,
    "opportunities": _opportunities_base,
    "accounts": _accounts_base,
    "users": _users_base,
    "renewals": _renewals_base,
    "ai_suggestions": _ai_suggestions_base,
    "alerts": _alerts_base,
    "answer_feedback": _answer_feedback_base,
    "calls": _calls_base,
    "call_metrics": _calls_base,
}


def _dims(dialect: str, time_col, **cols) -> dict[str, ColumnElement]:
    if time_col is not None:
        for grain in ("month", "week", "quarter"):
            cols[grain] = _bucket(dialect, grain, time_col)
    return cols


def _dt(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time())


# -- compile ----------------------------------------------------------------------------------------

def compile_spec(spec: QuerySpec, *, scope: Scope, dialect: str) -> Select:
    metric = _checked_metric(spec)
    base = _base(metric, dialect, spec.period)
    measure = _measure(metric, base)
    dim_cols = [base.dims[d].label(d) for d in spec.dimensions]
    stmt = (select(*dim_cols, measure.numerator.label("numerator"), measure.denominator.label("denominator"),
                   measure.value.label("value")).select_from(base.stmt_from))
    conditions = list(base.where) + measure.conditions
    conditions += _period_conditions(spec, metric, base)
    conditions += _filter_conditions(spec, metric, base)
    conditions.append(_access(base, scope, metric))
    stmt = stmt.where(and_(*conditions))
    if dim_cols:
        stmt = _grouped(stmt, base, spec, measure.value, dialect)
    return stmt


def _checked_metric(spec: QuerySpec) -> Metric:
    """The spec's metric, refused when it is not defined or cannot be broken down as asked."""
    registry = load_registry()
    metric = registry.metrics.get(spec.metric)
    if metric is None:
        raise UserInputError(f"unknown metric {spec.metric!r}; known: {', '.join(registry.metrics)}")
    for d in spec.dimensions:
        if d not in metric.dimensions:
            raise UserInputError(f"{metric.label_en} cannot be broken down by {d}; it can by {', '.join(metric.dimensions)}")
    return metric


@dataclass
class Measure:
    """What a metric computes over its base: numerator, denominator, the value, and the rows it
    counts among (``conditions``)."""

    numerator: ColumnElement
    denominator: ColumnElement
    value: ColumnElement
    conditions: list[ColumnElement]


def _measure(metric: Metric, base: Base) -> Measure:
    m = metric.measure
    kind = m["type"]
    if kind == "ratio":
        # rows outside the denominator never count: filter them out, count the numerator among the rest
        num = func.sum(case((base.predicates[m["numerator"]], 1), else_=0))
        den = func.count()
        return Measure(num, den, cast(num, Float) / func.nullif(den, 0), [base.predicates[m["denominator"]]])
    if kind in ("avg", "sum"):
        expr = base.expressions[m["expression"]]
        value = cast(func.avg(expr) if kind == "avg" else func.sum(expr), Float)
        return Measure(func.sum(expr), func.count(), value, [base.predicates[m["where"]]])
    if kind == "count":
        num = func.count()
        return Measure(num, num, cast(func.count(), Float), [base.predicates[m["where"]]])
    if kind == "per":
        num, den = func.count(), func.count(distinct(base.owner))
        return Measure(num, den, cast(num, Float) / func.nullif(den, 0), [])
    raise ValueError(f"metric {metric.name}: unknown measure type {kind!r}")


def _period_conditions(spec: QuerySpec, metric: Metric, base: Base) -> list[ColumnElement]:
    """The period on the metric's time field, as timestamps where the column holds them (the
    accounts base applies it inside its subquery instead)."""
    if not spec.period or metric.base == "accounts":
        return []
    col = base.time_cols[metric.time_field]
    lo, hi = (spec.period.start, spec.period.end)
    if isinstance(col.type, _datetime_type()):
        lo, hi = _dt(lo), _dt(hi)
    return [col >= lo, col < hi]


def _filter_conditions(spec: QuerySpec, metric: Metric, base: Base) -> list[ColumnElement]:
    conditions = []
    for dim, values in spec.filters.items():
        if dim not in base.dims:
            raise UserInputError(f"{metric.label_en} cannot be filtered by {dim}")
        conditions.append(base.dims[dim].in_(values))
    return conditions


def _grouped(stmt: Select, base: Base, spec: QuerySpec, value: ColumnElement, dialect: str) -> Select:
    """Grouped by the spec's dimensions: in their order, or ranked by value and cut at top_n."""
    stmt = stmt.group_by(*[base.dims[d] for d in spec.dimensions])
    if not spec.top_n:
        return stmt.order_by(*[base.dims[d] for d in spec.dimensions])
    stmt = _ranked_people_only(stmt, base, spec)
    ordering = value.desc() if spec.order == "desc" else value.asc()
    return stmt.order_by(ordering.nulls_last() if dialect == "postgresql" else ordering).limit(spec.top_n)


RANKED_PEOPLE = ("rep", "team")


def _ranked_people_only(stmt: Select, base: Base, spec: QuerySpec) -> Select:
    """A ranking of people or teams gives no place to the unassigned bucket."""
    for d in spec.dimensions:
        if d in RANKED_PEOPLE:
            stmt = stmt.where(base.dims[d].is_not(None))
    return stmt


def _datetime_type():
    from sqlalchemy import DateTime

    return DateTime


def _access(base: Base, scope: Scope, metric: Metric) -> ColumnElement:
    if scope.everything:
        return true()
    if scope.role == Role.TRAINER:
        if metric.base == "call_metrics":
            return true()  # trainers see conversation metrics (group-level coaching figures)
        raise PermissionDenied("trainers see conversation-metric KPIs and practice results, not pipeline KPIs")
    if not scope.owner_ids:
        return false()
    visible = base.owner.in_(scope.owner_ids)
    if scope.region_ids and base.region_for_unassigned is not None:
        visible = or_(visible, and_(base.owner.is_(None), base.region_for_unassigned.in_(scope.region_ids)))
    return visible


def render_sql(stmt: Select, dialect_obj) -> str:
    """The SQL with its parameters inlined, for showing to a manager."""
    return str(stmt.compile(dialect=dialect_obj, compile_kwargs={"literal_binds": True}))


__all__ = ["Period", "QuerySpec", "compile_spec", "render_sql"]
