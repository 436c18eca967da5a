"""General parsing rules added for the second independent KPI set, each checked with wordings of
our own (not the cases' text): comparisons said around a period, years placing a finer unit,
rolling quarters and half years, start-of-unit-to-date, month ranges, filters named by a lead
metric's own words, stages, reps counted as 人, ascending rankings said in Chinese, a time
breakdown named second, reps named surname first, two values compared."""

from __future__ import annotations

from datetime import date

import pytest

from crm.db import session_factory
from tools.kpi import parse_question
from tools.kpi.periods import parse_period

TODAY = date(2026, 11, 20)


@pytest.mark.parametrize("text,start,end,compare", [
    ("赢单率同比 上季度", "2026-07-01", "2026-10-01", "last_year"),
    ("说话占比上个月", "2026-10-01", "2026-11-01", None),  # 占比 is not 比 (compared with)
    ("为什么类提问占比去年", "2025-01-01", "2026-01-01", None),
    ("转化率 去年同期对比 上个月", "2026-10-01", "2026-11-01", "last_year"),
    ("conversion rate in 2025 Q4", "2025-10-01", "2026-01-01", None),
    ("Q3和Q2比", "2026-07-01", "2026-10-01", "previous_period"),
    ("去年Q4", "2025-10-01", "2026-01-01", None),
    ("win rate 2025 vs 2024", "2025-01-01", "2026-01-01", "previous_period"),
    ("最近两个季度", "2026-05-25", "2026-11-21", None),
    ("past half year", "2026-05-25", "2026-11-21", None),
    ("最近一个季度", "2026-07-01", "2026-10-01", None),  # still the last calendar quarter
    ("年初至今", "2026-01-01", "2026-11-21", None),
    ("since the beginning of the quarter", "2026-10-01", "2026-11-21", None),
    ("月初以来", "2026-11-01", "2026-11-21", None),
    ("7到9月", "2026-07-01", "2026-10-01", None),
    ("1-6月份", "2026-01-01", "2026-07-01", None),
    ("从9月到11月", "2026-09-01", "2026-12-01", None),
    ("去年下半年", "2025-07-01", "2026-01-01", None),
    ("H1 2025", "2025-01-01", "2025-07-01", None),
    ("2025年上半年", "2025-01-01", "2025-07-01", None),
    ("上周和本周对比", "2026-11-16", "2026-11-21", "previous_period"),  # the later unit, compared with the one before
    ("今年vs去年", "2026-01-01", "2026-11-21", "last_year"),
    ("my close rate last qtr", "2026-07-01", "2026-10-01", None),
])
def test_periods_and_comparisons(text, start, end, compare):
    period, said = parse_period(text, TODAY)
    assert (period.start.isoformat(), period.end.isoformat(), said) == (start, end, compare)


# (question, metric, dimensions, filters, compare_filters, top_n, order)
SPECS = [
    ("展会来的线索转化率 今年", "lead_conversion_rate", [], {"lead_source": ["expo"]}, None, None, None),
    ("referral lead conversion rate last quarter", "lead_conversion_rate", [], {"lead_source": ["referral"]}, None, None, None),
    ("合作伙伴渠道的72小时跟进率", "lead_followup_72h_rate", [], {"lead_source": ["partner"]}, None, None, None),
    ("pipeline sitting in the proposal stage", "pipeline_value_cny", [], {"stage": ["proposal"]}, None, None, None),
    ("谈判阶段的在途商机金额 按区域", "pipeline_value_cny", ["region"], {"stage": ["negotiation"]}, None, None, None),
    ("本季度跟进率最低的三个人", "lead_followup_72h_rate", ["rep"], {}, None, 3, "asc"),
    ("赢单率 各销售 本季度 倒数前二", "win_rate", ["rep"], {}, None, 2, "asc"),
    ("哪个区域最不积极采纳AI建议 本月", "ai_suggestion_adoption_rate", ["region"], {}, None, 1, "asc"),
    ("续约率 按销售 今年 最高的4个", "high_value_renewal_rate", ["rep"], {}, None, 4, "desc"),
    ("calls per rep by team and month this year", "calls_per_rep", ["team", "month"], {}, None, None, None),
    ("conversion rate by quarter and region this year", "lead_conversion_rate", ["quarter", "region"], {}, None, None, None),
    ("Zhang Wei win rate this year", "win_rate", [], {"rep": ["zhangwei"]}, None, None, None),
    ("官网和展会的线索转化率对比 今年", "lead_conversion_rate", [], {"lead_source": ["website"]}, {"lead_source": ["expo"]}, None, None),
    ("李娜和张伟的赢单率比一比 今年", "win_rate", [], {"rep": ["lina"]}, {"rep": ["zhangwei"]}, None, None),
    ("谁打电话最多 本月", "calls_per_rep", ["rep"], {}, None, 1, "desc"),  # 打电话 holds 话最多, which is not the talk ratio
    ("问为什么最多的人 今年", "why_question_share", ["rep"], {}, None, 1, "desc"),
    ("提醒过期率 按人 本月", "alert_expiry_rate", ["rep"], {}, None, None, None),
    ("coverage of accounts touched on at least three channels by region", "journey_data_coverage", ["region"], {}, None, None, None),
    ("call volume per salesperson by team last month", "calls_per_rep", ["team"], {}, None, None, None),
    ("share of AI suggestions adopted by reps this month", "ai_suggestion_adoption_rate", [], {}, None, None, None),
    ("eastern region win rate this year", "win_rate", [], {"region": ["east"]}, None, None, None),
]


@pytest.mark.parametrize("question,metric,dims,filters,compare_filters,top_n,order", SPECS, ids=[s[0] for s in SPECS])
def test_specs(demo_engine, question, metric, dims, filters, compare_filters, top_n, order):
    with session_factory(demo_engine)() as session:
        spec = parse_question(question, session=session, today=TODAY).spec
    assert spec is not None and spec.metric == metric
    assert (spec.dimensions, spec.filters, spec.compare_filters, spec.top_n) == (dims, filters, compare_filters, top_n)
    if top_n:
        assert spec.order == order


@pytest.mark.parametrize("text", ["按区域呢?", "那本季度呢?", "and by team?", "按月看呢"])
def test_a_follow_up_with_nothing_measured_names_no_metric_by_meaning(text):
    from tools.kpi import link_metric, load_registry
    from tools.kpi.linker import named_metric

    link = link_metric(text, load_registry())
    assert link.metric is None and named_metric(text, load_registry()) is None


@pytest.mark.parametrize("text, metric", [("上个月赢单率是多少", "win_rate"), ("close rate by region", "win_rate"),
                                          ("oakridge renewal status", None)])
def test_named_metric_is_the_guarded_word_match(text, metric):
    from tools.kpi import load_registry
    from tools.kpi.linker import named_metric

    assert named_metric(text, load_registry()) == metric
