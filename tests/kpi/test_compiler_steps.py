"""The named steps of the KPI compiler and service (compile_spec, _base_cached, run_spec,
_check_filters_in_scope, KpiAnswer.render), each on its own."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from core.errors import PermissionDenied, UserInputError
from crm.access import Scope, get_user
from crm.db import session_factory
from tools.context import ToolContext
from tools.kpi import compiler, service
from tools.kpi.compiler import Period, QuerySpec
from tools.kpi.registry import load_registry

EVERYTHING = Scope(1, "admin", True, frozenset(), frozenset(), frozenset())


def _sql(clause) -> str:
    return str(clause.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def _metric(name: str):
    return load_registry().metrics[name]


# -- compiler ---------------------------------------------------------------------------------------

def test_checked_metric_refuses_an_unknown_metric_and_a_dimension_it_cannot_break_down_by():
    assert compiler._checked_metric(QuerySpec(metric="win_rate", dimensions=["region"])).name == "win_rate"
    with pytest.raises(UserInputError, match="unknown metric 'nope'"):
        compiler._checked_metric(QuerySpec(metric="nope"))
    with pytest.raises(UserInputError, match="cannot be broken down by signal_rule"):
        compiler._checked_metric(QuerySpec(metric="win_rate", dimensions=["signal_rule"]))


def test_a_ratio_counts_among_its_denominator_a_per_owner_figure_among_all_rows():
    ratio = compiler._measure(_metric("win_rate"), compiler._base(_metric("win_rate"), "sqlite", None))
    assert [_sql(c) for c in ratio.conditions] == ["opportunities.won IS NOT NULL"]
    assert "/ (nullif(count(*), 0)" in _sql(ratio.value)
    per = compiler._measure(_metric("calls_per_rep"), compiler._base(_metric("calls_per_rep"), "sqlite", None))
    assert per.conditions == []
    assert "count(DISTINCT calls.rep_id)" in _sql(per.denominator)


def test_a_count_is_its_own_numerator_and_denominator():
    measure = compiler._measure(_metric("alert_volume"), compiler._base(_metric("alert_volume"), "sqlite", None))
    assert measure.numerator is measure.denominator
    assert len(measure.conditions) == 1


def test_the_period_bounds_the_metrics_time_field_as_timestamps_where_it_holds_them():
    metric = _metric("lead_conversion_rate")
    base = compiler._base(metric, "sqlite", None)
    assert compiler._period_conditions(QuerySpec(metric=metric.name), metric, base) == []
    conds = compiler._period_conditions(QuerySpec(metric=metric.name, period=Period(date(2026, 1, 1), date(2026, 2, 1))), metric, base)
    assert [_sql(c) for c in conds] == ["leads.created_at >= '2026-01-01 00:00:00.000000'", "leads.created_at < '2026-02-01 00:00:00.000000'"]


def test_the_accounts_base_takes_the_period_in_its_subquery_not_as_conditions():
    metric = _metric("journey_data_coverage")
    period = Period(date(2026, 1, 1), date(2026, 2, 1))
    base = compiler._base(metric, "sqlite", period)
    assert compiler._period_conditions(QuerySpec(metric=metric.name, period=period), metric, base) == []
    assert "touchpoints.occurred_at >=" in _sql(compiler.select(compiler.A.c.id).select_from(base.stmt_from))


def test_a_filter_on_a_dimension_the_base_lacks_is_refused():
    metric = _metric("win_rate")
    base = compiler._base(metric, "sqlite", None)
    conds = compiler._filter_conditions(QuerySpec(metric=metric.name, filters={"region": ["east", "south"]}), metric, base)
    assert [_sql(c) for c in conds] == ["regions.code IN ('east', 'south')"]
    with pytest.raises(UserInputError, match="cannot be filtered by nope"):
        compiler._filter_conditions(QuerySpec(metric=metric.name, filters={"nope": ["x"]}), metric, base)


def test_grouped_orders_by_the_dimensions_or_ranks_and_cuts_at_top_n():
    spec = QuerySpec(metric="win_rate", dimensions=["rep"])
    stmt = compiler.compile_spec(spec, scope=EVERYTHING, dialect="sqlite")
    assert "GROUP BY owner.login ORDER BY owner.login" in _sql(stmt)
    ranked = compiler.compile_spec(QuerySpec(metric="win_rate", dimensions=["rep"], top_n=3, order="asc"), scope=EVERYTHING, dialect="sqlite")
    text = _sql(ranked)
    assert "owner.login IS NOT NULL" in text and ") ASC\n LIMIT 3" in text and "LIMIT 3" in text
    pg = compiler.compile_spec(QuerySpec(metric="win_rate", dimensions=["rep"], top_n=3), scope=EVERYTHING, dialect="postgresql")
    assert "NULLS LAST" in str(pg.compile(dialect=postgresql.dialect()))


def test_every_metric_base_has_a_builder_and_an_unknown_base_is_an_error(monkeypatch):
    bases = {m.base for m in load_registry().metrics.values()}
    assert bases <= set(compiler._BASE_BUILDERS)
    owner, team = compiler.User.__table__.alias("owner"), compiler.Team.__table__.alias("owner_team")
    calls = compiler._calls_base(_metric("calls_per_rep"), "sqlite", None, owner, team)
    talk = compiler._calls_base(_metric("talk_ratio"), "sqlite", None, owner, team)
    assert calls.where == [] and "metric_value" not in calls.expressions
    assert [_sql(w) for w in talk.where] == ["call_metrics.name = 'talk_ratio'"] and "metric_value" in talk.expressions
    monkeypatch.delitem(compiler._BASE_BUILDERS, "leads")
    compiler._base_cached.cache_clear()
    try:
        with pytest.raises(ValueError, match="unknown base 'leads'"):
            compiler._base_cached("lead_conversion_rate", "sqlite", None)
    finally:
        compiler._base_cached.cache_clear()


# -- service: the answer's text ----------------------------------------------------------------------

def _answer(**kw) -> service.KpiAnswer:
    values = {"metric": "win_rate", "label": "Win rate", "unit": "percent", "spec": QuerySpec(metric="win_rate"), "period": None,
              "value": 0.5, "numerator": 5.0, "denominator": 10.0, "rows": [], "definition": "won / closed", "sql": "SELECT 1",
              "language": "en"}
    return service.KpiAnswer(**{**values, **kw})


def test_the_figure_lines_give_the_value_and_a_shares_counts_or_say_there_is_no_data():
    assert service.KpiAnswer._figure_lines(_answer()) == ["**Win rate** (all time): **50.0%**", "(5 / 10)"]
    assert service.KpiAnswer._figure_lines(_answer(value=None)) == ["**Win rate** (all time): no data to compute it from."]
    assert _answer(language="zh", value=None)._figure_lines() == ["**Win rate**(全部):没有可计算的数据。"]


def test_the_comparison_line_gives_the_change_or_no_data_and_nothing_without_a_comparison():
    assert _answer()._comparison_line() is None
    assert _answer(comparison={"label": "previous period", "value": 0.4})._comparison_line() == \
        "vs previous period: 40.0% (change +10.0 pp)"
    assert _answer(comparison={"label": "previous period", "value": 0.6})._comparison_line() == \
        "vs previous period: 60.0% (change −10.0 pp)"
    assert _answer(comparison={"label": "上一期", "value": None}, language="zh")._comparison_line() == "对比 上一期:没有数据"


def test_the_table_lines_need_rows_and_dimensions():
    assert _answer(rows=[{"value": 0.5}])._table_lines() == []
    rows = [{"region": "East China", "value": 0.25}]
    lines = _answer(spec=QuerySpec(metric="win_rate", dimensions=["region"]), rows=rows)._table_lines()
    assert lines[0] == "" and lines[2] == "|---|---|" and lines[3] == "| East China | 25.0% |"


def test_the_definition_lines_add_the_default_period_note_and_the_chart_path_when_asked():
    answer = _answer(notes=["default_period"], chart="/tmp/c.png")
    assert answer._definition_lines(chart_path=True) == ["", "Definition: won / closed",
                                                         "(no period in the question: the metric's default period was used)",
                                                         "Chart: /tmp/c.png"]
    assert answer._definition_lines(chart_path=False)[-1].startswith("(no period")
    assert answer.render(chart_path=False).splitlines() == (["**Win rate** (all time): **50.0%**", "(5 / 10)", "",
                                                         "Definition: won / closed",
                                                         "(no period in the question: the metric's default period was used)"])


# -- service: run_spec and the scope check, on the demo company ----------------------------------------

def _ctx(session, login, lang="en"):
    return ToolContext(user=get_user(session, login), session=session, language=lang, clock=lambda: datetime(2026, 11, 20, 12))


def test_metric_for_refuses_an_unknown_metric_and_pipeline_metrics_to_a_trainer(demo_engine):
    with session_factory(demo_engine)() as session:
        admin = _ctx(session, "wangjianhua")
        assert service._metric_for(admin, QuerySpec(metric="win_rate")).name == "win_rate"
        with pytest.raises(UserInputError):
            service._metric_for(admin, QuerySpec(metric="nope"))
        trainer = next((u.login for u in session.scalars(compiler.select(compiler.User)) if u.role == "trainer"), None)
        if trainer:
            with pytest.raises(PermissionDenied):
                service._metric_for(_ctx(session, trainer), QuerySpec(metric="win_rate"))
            assert service._metric_for(_ctx(session, trainer), QuerySpec(metric="talk_ratio")).name == "talk_ratio"


def test_total_adds_up_the_groups_or_asks_again_for_a_ranking(demo_engine):
    with session_factory(demo_engine)() as session:
        ctx = _ctx(session, "wangjianhua")
        metric = _metric("win_rate")
        assert service._total(ctx, QuerySpec(metric="win_rate"), metric, [], []) == {"value": None, "numerator": None, "denominator": None}
        rows = [{"numerator": 1.0, "denominator": 4.0}, {"numerator": 3.0, "denominator": 4.0}]
        assert service._total(ctx, QuerySpec(metric="win_rate", dimensions=["region"]), metric, [], rows)["value"] == 0.5
        whole = service.run_spec(ctx=ctx, spec=QuerySpec(metric="win_rate"))
        ranked = service._total(ctx, QuerySpec(metric="win_rate", dimensions=["rep"], top_n=2), metric, [], rows)
        assert float(ranked["value"]) == pytest.approx(whole.value)


def test_table_rows_put_reps_in_the_order_of_their_names(demo_engine):
    with session_factory(demo_engine)() as session:
        answer = service.run_spec(ctx=_ctx(session, "wangjianhua"), spec=QuerySpec(metric="win_rate", dimensions=["rep"]))
        names = [r["rep"] for r in answer.rows]
        assert names == sorted(names) and "rep_login" in answer.rows[0]


def test_a_managers_scope_covers_their_teams_and_names_what_lies_outside(demo_engine):
    with session_factory(demo_engine)() as session:
        manager = _ctx(session, "chenjing")
        regions, teams = service._visible_regions_and_teams(manager)
        assert regions and teams
        assert service._regions_outside(manager, ["east"], regions) == []
        assert service._regions_outside(manager, ["south", "nowhere", "north"], regions) == ["South China", "North China"]
        assert service._regions_outside(manager, None, regions) == []
        assert service._teams_outside(manager, ["华南销售一组"], teams) == ["South China Sales"]
        assert service._reps_outside(manager, ["lina"], manager.scope.owner_ids) == []
        refusal = service._outside_scope(manager, ["South China", "Ming Hu"])
        assert isinstance(refusal, PermissionDenied) and str(refusal).startswith("South China, Ming Hu is outside")
        with pytest.raises(PermissionDenied, match="South China"):
            service._check_filters_in_scope(manager, QuerySpec(metric="win_rate", filters={"region": ["south"]}))
        service._check_filters_in_scope(manager, QuerySpec(metric="win_rate", filters={"region": ["east"]}))
