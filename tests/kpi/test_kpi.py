"""KPI questions: the parser reads each eval question into the expected spec, and the
compiled SQL's number equals an independent hand-written computation, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from core.errors import PermissionDenied, UserInputError
from crm.access import get_user
from crm.db import session_factory
from tests.kpi.oracle import expected, ranked
from tools.context import ToolContext
from tools.kpi import answer_question, load_registry, parse_question, run_spec
from tools.kpi.compiler import Period

CASES = [json.loads(line) for line in (Path(__file__).parents[2] / "evals" / "kpi_cases.jsonl").read_text().splitlines() if line.strip()]
TODAY = date(2026, 11, 20)


def _ctx(session, login, lang="zh"):
    return ToolContext(user=get_user(session, login), session=session, language=lang, clock=lambda: datetime(2026, 11, 20, 12))


def test_there_are_at_least_40_cases_and_half_are_chinese():
    assert len(CASES) >= 40
    assert sum(c["lang"] == "zh" for c in CASES) * 2 >= len(CASES) - 2


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_question_parses_into_the_expected_spec(case, demo_engine):
    with session_factory(demo_engine)() as session:
        parsed = parse_question(case["question"], session=session, today=TODAY)
    exp = case["expect"]
    if exp["metric"] is None:
        assert parsed.spec is None and parsed.closest
        return
    spec = parsed.spec
    assert spec.metric == exp["metric"]
    assert spec.dimensions == exp["dimensions"]
    assert spec.filters == exp["filters"]
    period = [spec.period.start.isoformat(), spec.period.end.isoformat()] if spec.period else None
    assert period == exp["period"]
    assert spec.compare == exp.get("compare")
    assert spec.compare_filters == exp.get("compare_filters")
    assert spec.top_n == exp.get("top_n")
    if exp.get("top_n"):
        assert spec.order == exp["order"]


@pytest.mark.parametrize("case", [c for c in CASES if c["expect"]["metric"]], ids=[c["id"] for c in CASES if c["expect"]["metric"]])
def test_the_answer_equals_the_hand_written_computation(case, demo_engine):
    with session_factory(demo_engine)() as session:
        ctx = _ctx(session, case["as"], case["lang"])
        answer = answer_question(ctx=ctx, question=case["question"])
        oracle = expected(session, metric=answer.metric, scope=ctx.scope, spec=answer.spec)
    if oracle["value"] is None:
        assert answer.value is None
    else:
        assert answer.value == pytest.approx(oracle["value"], rel=1e-6)
    got = {_key(r, answer.spec.dimensions): r["value"] for r in answer.rows}
    if answer.spec.top_n:
        assert sorted(got.values(), reverse=answer.spec.order == "desc") == pytest.approx(ranked(oracle["rows"], answer.spec))
    elif answer.spec.dimensions:
        assert set(got) == set(oracle["rows"])
        for k in got:
            assert got[k] == pytest.approx(oracle["rows"][k], rel=1e-6)
    assert answer.definition and answer.sql.startswith("SELECT")


def _key(row, dims):
    """A table row's key in the oracle's terms: region codes and rep logins (the table shows names)."""
    return tuple(row.get(f"{d}_login", row.get(f"{d}_code", row[d])) for d in dims)


def test_a_rep_only_ever_gets_their_own_figures(demo_engine):
    with session_factory(demo_engine)() as session:
        ctx = _ctx(session, "zhangwei")
        answer = answer_question(ctx=ctx, question="今年赢单率按销售")
    assert [r["rep_login"] for r in answer.rows] == ["zhangwei"]
    assert [r["rep"] for r in answer.rows] == ["张伟"]  # the table shows the name, never the login


def test_a_manager_sees_other_regions_only_as_a_comparison_total(demo_engine):
    with session_factory(demo_engine)() as session:
        ctx = _ctx(session, "chenjing")
        by_region = answer_question(ctx=ctx, question="今年各区域赢单率")
        vs = answer_question(ctx=ctx, question="华东和华南的赢单率对比 今年")
    assert [r["region"] for r in by_region.rows] == ["华东"]
    assert vs.comparison and vs.comparison["value"] is not None


def test_a_question_outside_the_metrics_names_the_closest_ones_and_no_number(demo_engine):
    with session_factory(demo_engine)() as session:
        with pytest.raises(UserInputError, match="最接近的指标"):
            answer_question(ctx=_ctx(session, "wangjianhua"), question="上个月员工满意度是多少")
        with pytest.raises(UserInputError, match="Closest metrics"):
            answer_question(ctx=_ctx(session, "wangjianhua", "en"), question="what is our net promoter score")


def test_trainers_are_refused_pipeline_kpis_in_their_language(demo_engine):
    with session_factory(demo_engine)() as session, pytest.raises(PermissionDenied, match="培训师"):
        answer_question(ctx=_ctx(session, "linfang"), question="上个月赢单率")


def test_every_registry_metric_compiles_and_runs_on_this_backend(demo_engine):
    with session_factory(demo_engine)() as session:
        ctx = _ctx(session, "wangjianhua")
        for name, metric in load_registry().metrics.items():
            from tools.kpi.compiler import QuerySpec

            for dims in ([], [metric.dimensions[0]]):
                answer = run_spec(ctx=ctx, spec=QuerySpec(metric=name, dimensions=dims, period=Period(date(2026, 1, 1), date(2026, 11, 21))))
                assert answer.definition


def test_a_breakdown_writes_a_png_chart(demo_engine, tmp_path):
    with session_factory(demo_engine)() as session:
        answer = answer_question(ctx=_ctx(session, "wangjianhua"), question="上个月各区域线索72小时跟进率", chart_path=tmp_path / "c.png")
    data = (tmp_path / "c.png").read_bytes()
    assert answer.chart and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_this_quarter_vs_last_quarter_compares_with_the_whole_previous_quarter(demo_engine):
    with session_factory(demo_engine)() as session:
        answer = answer_question(ctx=_ctx(session, "wangjianhua", "en"), question="win rate this quarter vs last quarter")
    assert answer.comparison["period"] == {"start": "2026-07-01", "end": "2026-10-01"}


def test_a_metric_with_a_unit_the_answers_cannot_format_is_refused(tmp_path):
    import yaml

    from tools.kpi.registry import REGISTRY_FILE

    raw = yaml.safe_load(REGISTRY_FILE.read_text(encoding="utf-8"))
    raw["metrics"]["avg_intent_score"]["unit"] = "points"
    path = tmp_path / "metrics.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="avg_intent_score has unit 'points'"):
        load_registry(path)
    assert load_registry().metrics["avg_intent_score"].unit == "score"


def test_the_readme_metric_table_is_the_one_generated_from_the_registry():
    from tools.kpi.registry import markdown_table

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme


def test_a_region_outside_a_managers_scope_is_refused_not_answered_with_no_data(demo_engine):
    with session_factory(demo_engine)() as session:
        with pytest.raises(PermissionDenied, match="华南"):
            answer_question(ctx=_ctx(session, "chenjing"), question="上个月华南区赢单率")
        with pytest.raises(PermissionDenied, match="South China"):
            answer_question(ctx=_ctx(session, "chenjing", "en"), question="win rate in South China last month")
        own = answer_question(ctx=_ctx(session, "chenjing"), question="上个月华东区赢单率")
    assert own.spec.filters == {"region": ["east"]}


def test_a_rep_asking_for_the_team_or_region_figure_is_told_whom_to_ask_not_given_their_own_under_its_label(demo_engine):
    with session_factory(demo_engine)() as session:
        for question, lang in (("上个月华东区赢单率", "zh"), ("我们组这个月的跟进率 按人排一下", "zh"),
                               ("what's our team's win rate this quarter?", "en")):
            with pytest.raises(PermissionDenied, match="陈静|Jing Chen"):
                answer_question(ctx=_ctx(session, "zhangwei", lang), question=question)
        mine = answer_question(ctx=_ctx(session, "zhangwei"), question="本季度各销售的赢单率")
    assert [r["rep_login"] for r in mine.rows] == ["zhangwei"]


@pytest.mark.parametrize(("question", "metric"), [("赢单率 不是线索转化率啊 按月给我看今年的", "win_rate"),
                                                  ("线索转化率多少 别给我赢单率", "lead_conversion_rate"),
                                                  ("win rate, not the conversion rate, by month this year", "win_rate")])
def test_a_metric_said_after_a_negation_is_not_the_one_answered(demo_engine, question, metric):
    with session_factory(demo_engine)() as session:
        answer = answer_question(ctx=_ctx(session, "chenjing", "en" if question.isascii() else "zh"), question=question)
    assert answer.metric == metric
