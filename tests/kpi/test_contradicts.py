"""A metric is never answered for a question that says it is about something else (metrics.yaml
``contradicts``; a reading by meaning also doubts another kind of figure and another metric's subject)."""

import pytest

from tools.kpi.linker import link_metric
from tools.kpi.registry import load_registry


@pytest.mark.parametrize(("question", "not_answered"), [
    ("现在还开着的单子平均已经挂了多少天？", "avg_sales_cycle_days"),  # open deals, not the won deals' cycle
    ("单子在谈判阶段平均卡多久？", "avg_sales_cycle_days"),  # one stage, not the whole cycle
    ("已经成交的客户，平均意向分是多少？", "avg_intent_score"),  # won customers, not open leads
    ("每个客户平均接到我们几通电话？", "calls_per_rep"),  # per customer, not per rep
    ("How many questions do customers ask our reps per call?", "question_rate_per_10min"),  # the customer's questions
    ("How many questions did people ask the copilot this month?", "question_rate_per_10min"),  # the copilot's, not calls
    ("新人入职后多久打出第一个电话？", "new_hire_first_deal_days"),  # a first call, not a first deal
    ("按金额算，关掉的单子里赢回来的钱占多少比例？", "win_rate"),  # by amount, not by count
    # blind metric batches 12 and 13
    ("share of new leads we followed up within 24 hours last week", "lead_followup_72h_rate"),  # another threshold
    ("when the rep finishes talking, how long does the customer pause before replying", "pain_point_pause_s"),  # the customer's
    ("how many questions do customers ask per 10 minutes on our calls", "question_rate_per_10min"),  # found by meaning after "calls"
    ("销售一通电话平均问几个问题", "question_rate_per_10min"),  # per call, not per 10 minutes
    ("现在还有多少条提醒挂着没处理", "alert_volume"),  # the open backlog, not the alerts raised in a period
    ("average time for reps to act on an alert after it fires", "alert_adoption_rate"),  # a duration, not a share
    ("全部合同的续约率 不分大小 今年", "high_value_renewal_rate"),  # every contract, not the 500k+ ones
    ("what's the weighted forecast on my open deals", "pipeline_value_cny"),  # weighted, not the open value
    ("华为这个客户现在意向分多少", "avg_intent_score"),  # one customer's score, not an average
    ("for reps hired since January, average days from start date to first closed-won deal", "avg_sales_cycle_days"),
    ("average intent score of my open opportunities", "avg_intent_score"),  # opportunities, not leads
    ("客户问为什么的比例多少 按行业", "why_question_share"),  # the customer's why, though 问为什么 names the metric
    ("how many days from a lead coming in to the deal being signed, on average", "avg_sales_cycle_days"),  # from the lead
    ("客户每10分钟问几个问题 按团队", "question_rate_per_10min"),  # the customer's questions
])
def test_a_contradicted_metric_is_never_the_confident_reading(question, not_answered):
    link = link_metric(question, load_registry())
    assert not (link.confident and link.metric == not_answered), link


@pytest.mark.parametrize(("question", "metric"), [
    ("上个月平均销售周期多少天", "avg_sales_cycle_days"),
    ("华东本季度人均通话数", "calls_per_rep"),
    ("今年新人首单天数", "new_hire_first_deal_days"),
    ("各区域赢单率对比", "win_rate"),
    ("rep's share of airtime on calls last quarter", "talk_ratio"),
    ("上周线索72小时跟进率", "lead_followup_72h_rate"),
    ("华北组员why问题占比", "why_question_share"),
    ("本季度高价值客户续约率", "high_value_renewal_rate"),
    ("每10分钟提问数 按销售", "question_rate_per_10min"),
])
def test_the_metric_itself_is_still_answered(question, metric):
    link = link_metric(question, load_registry())
    assert link.confident and link.metric == metric, link


def test_a_word_inside_the_phrase_that_named_the_metric_is_not_against_it():
    link = link_metric("销售问为什么的比例 按行业", load_registry())
    assert link.confident and link.metric == "why_question_share", link
