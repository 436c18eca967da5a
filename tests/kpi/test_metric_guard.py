"""The property that matters most in the KPI layer: a different metric is never answered with a
number. A number comes only from a registry name or synonym, or from a reading by meaning that is
probable *and* clear; a near tie (with another metric or with an undefined concept), a short
synonym the rest of the question contradicts, a share asked of a count, or an undefined concept
named word for word gets the understood metric and its alternatives — or "not defined" — instead.

The unit tests replace the encoder's similarities with chosen ones, so each rule is checked for
every pair of metrics, not only for the wordings that happen to sit near a threshold today."""

from __future__ import annotations

import itertools
from datetime import date, datetime

import pytest

from crm.access import get_user
from crm.db import session_factory
from tools.context import ToolContext
from tools.kpi import KpiClarification, answer_question, linker, load_registry, parse_question
from tools.kpi.linker import CONFIDENT, EMBED_MARGIN, FLOOR, GUARD_MARGIN, OVERRULE_MARGIN, UNDEFINED, contradictions, link_metric

REGISTRY = load_registry()
NAMES = list(REGISTRY.metrics)
PAIRS = list(itertools.permutations(NAMES, 2))
NO_WORDS = "xyzzy plugh"  # no registry name, synonym or undefined concept in it
TODAY = date(2026, 11, 20)


@pytest.fixture
def similarities(monkeypatch):
    """Make the encoder's cosine similarities whatever the test says (0.80 for everything unnamed),
    and drop the subject words, so any metric can be the nearest."""
    def use(**chosen: float) -> None:
        scores = {n: 0.80 for n in NAMES} | {UNDEFINED: 0.80}
        scores.update({UNDEFINED if k == "undefined" else k: v for k, v in chosen.items()})
        monkeypatch.setattr(linker, "metric_scores", lambda text, registry: dict(scores))
        monkeypatch.setattr(linker, "subjects", lambda: {})
    return use


def _no_number(question: str) -> None:
    parsed = parse_question(question, session=None, today=TODAY)  # an unsure link returns before any query
    assert parsed.spec is None


@pytest.mark.parametrize("best,second", PAIRS)
def test_a_near_tie_between_two_metrics_is_asked_back(similarities, best, second):
    similarities(**{best: 0.95, second: 0.95 - EMBED_MARGIN / 2})
    link = link_metric(NO_WORDS, REGISTRY)
    assert not link.confident and link.how == "unsure"
    assert link.metric == best and second in link.alternatives
    _no_number(NO_WORDS)


@pytest.mark.parametrize("best", NAMES)
def test_a_reading_close_to_an_undefined_concept_gives_no_number(similarities, best):
    similarities(**{best: 0.95, "undefined": 0.95 - EMBED_MARGIN / 2})
    assert not link_metric(NO_WORDS, REGISTRY).confident
    _no_number(NO_WORDS)


@pytest.mark.parametrize("best,second", PAIRS[:: len(NAMES) - 1])
def test_a_clear_reading_by_meaning_is_answered(similarities, best, second):
    similarities(**{best: 0.95, second: 0.95 - 3 * EMBED_MARGIN})
    link = link_metric(NO_WORDS, REGISTRY)
    assert link.confident and link.how == "embedding" and link.metric == best and link.confidence >= CONFIDENT


def test_nothing_near_any_metric_is_not_defined(similarities):
    similarities(win_rate=FLOOR - 0.01)
    link = link_metric(NO_WORDS, REGISTRY)
    assert link.metric is None and link.how == "undefined"


@pytest.mark.parametrize("other", [n for n in NAMES if n != "calls_per_rep"])
def test_a_short_synonym_contradicted_by_a_clear_reading_gives_way_to_it(similarities, other):
    similarities(calls_per_rep=0.90, **{other: 0.90 + OVERRULE_MARGIN + 0.01})
    link = link_metric(f"calls {NO_WORDS}", REGISTRY)
    if "calls" in contradictions().get(other, ()):
        # the reading that replaces the word is doubted like any reading by meaning: "calls" is not what a new
        # hire's first deal counts — asked back, never answered
        assert link.metric == other and not link.confident
        return
    assert link.metric == other and link.confident and "calls_per_rep" in link.alternatives


@pytest.mark.parametrize("other", [n for n in NAMES if n != "calls_per_rep"])
def test_a_short_synonym_contradicted_without_a_clear_winner_is_asked_back(similarities, other):
    ahead = 0.90 + (GUARD_MARGIN + OVERRULE_MARGIN) / 2  # contradicts the synonym, not by enough to replace it
    similarities(calls_per_rep=0.90, **{other: ahead})
    link = link_metric(f"calls {NO_WORDS}", REGISTRY)
    assert not link.confident and link.how == "unsure"
    _no_number(f"calls {NO_WORDS}")


def test_a_short_synonym_the_question_agrees_with_is_answered(similarities):
    similarities(calls_per_rep=0.90, talk_ratio=0.90 + GUARD_MARGIN / 2)
    link = link_metric(f"calls {NO_WORDS}", REGISTRY)
    assert link.metric == "calls_per_rep" and link.confident


@pytest.mark.parametrize("question", ["what share of alerts were dismissed", "alerts 的比例", "rate of alerts we closed"])
def test_a_share_is_never_answered_with_a_count(similarities, question):
    # "alerts" is a short synonym of the alert volume (a count); a nearby rate, not clearly ahead
    similarities(alert_volume=0.90, alert_adoption_rate=0.905, alert_escalation_rate=0.904)
    link = link_metric(question, REGISTRY)
    assert link.metric != "alert_volume" or not link.confident


@pytest.mark.parametrize("question", ["renewal rate amount xyzzy", "赢单率 金额", "sales cycle value in cny"])
def test_an_amount_is_never_answered_with_a_rate_or_a_duration(similarities, question):
    # even a full registry name is not enough when the question asks for money and the metric is not money
    metric = linker.lexical(question, REGISTRY)[0]
    similarities(**{metric.name: 0.99})
    link = link_metric(question, REGISTRY)
    assert metric.unit != "cny" and not link.confident


def test_a_registry_name_beside_another_metrics_subject_is_checked_not_replaced(monkeypatch):
    # "follow-up rate" names the lead metric; "alerts" is what the alert metrics are about
    scores = {n: 0.80 for n in NAMES} | {UNDEFINED: 0.80, "lead_followup_72h_rate": 0.85, "alert_adoption_rate": 0.97}
    monkeypatch.setattr(linker, "metric_scores", lambda text, registry: dict(scores))
    link = link_metric("follow-up rate on alerts", REGISTRY)
    assert not link.confident and link.metric == "lead_followup_72h_rate" and "alert_adoption_rate" in link.alternatives


def test_the_metrics_own_words_are_not_a_cue_against_it(similarities):
    similarities(question_rate_per_10min=0.95)
    assert link_metric("question rate on software calls", REGISTRY).confident  # a count per 10 minutes named "rate"


def test_an_undefined_concept_named_more_fully_than_a_metric_is_refused(similarities):
    similarities(lead_conversion_rate=0.99)
    link = link_metric("线索数量和转化率", REGISTRY)  # 线索数量 (undefined) is longer than 转化率
    assert link.metric is None and link.how == "undefined" and "lead_conversion_rate" in link.alternatives


def test_an_undefined_concept_named_word_for_word_is_never_answered_by_meaning(similarities):
    similarities(pain_point_pause_s=0.99)  # as clear as a reading gets
    link = link_metric("电话里客户说了多少痛点", REGISTRY)
    assert not link.confident and link.metric == "pain_point_pause_s"


# -- the same through the real encoder and the answer ---------------------------------------------

@pytest.mark.parametrize("question,lang", [
    ("what share of alerts got dismissed last month", "en"),
    ("客户讲话占比 本月", "zh"),
    ("how many deals did each rep close this quarter", "en"),
    ("电话里客户说了多少痛点", "zh"),
    ("how long do reps take to act on alerts", "en"),
    ("续约金额 今年", "zh"),
    ("number of renewals this quarter", "en"),
])
def test_questions_next_to_a_metric_get_no_number(demo_engine, question, lang):
    ctx_user = "wangjianhua"
    with session_factory(demo_engine)() as session, pytest.raises(KpiClarification) as err:
        ctx = ToolContext(user=get_user(session, ctx_user), session=session, language=lang, clock=lambda: datetime(2026, 11, 20, 12))
        answer_question(ctx=ctx, question=question)
    assert 2 <= len(err.value.choices) <= 3 and all(c in REGISTRY.metrics for c in err.value.choices)


def test_a_weak_synonym_gives_way_to_what_the_question_asks(demo_engine):
    with session_factory(demo_engine)() as session:
        spec = parse_question("how often do I ask why on calls? this year", session=session, today=TODAY).spec
    assert spec is not None and spec.metric == "why_question_share"


@pytest.mark.parametrize("name", NAMES)
def test_a_count_or_a_length_of_time_is_never_answered_with_a_metric_of_another_unit(name):
    """"这个月新进来了多少条线索" named the follow-up rate's words but asked for a count (dev batch k10): a metric
    whose unit is not a count answers no count question, and one that is not a time answers no "how many hours"."""
    from tools.kpi.quantity import asks_another_quantity

    metric = REGISTRY.metrics[name]
    count = parse_question(f"{metric.label_zh}相关的线索一共有多少条", session=None, today=TODAY) \
        if metric.unit != "count" else None
    if count is not None:
        assert count.spec is None and "other_quantity" in count.notes
        assert name in count.closest  # the metric it was near is offered, not answered
    assert (asks_another_quantity("平均要多少个小时", metric.unit) is None) == (metric.unit in ("days", "seconds"))
    assert (asks_another_quantity("how many leads came in", metric.unit) is None) == (metric.unit == "count")


@pytest.mark.parametrize("question", ["哪几个人跟进最慢 近30天 倒数三名", "how many days do my won deals take to close",
                                      "每10分钟问几个问题", "72小时内跟进的比例", "客户讲完痛点停顿几秒"])
def test_which_ones_a_rate_in_hours_or_a_count_metric_are_not_another_quantity(question):
    from tools.kpi.quantity import asks_another_quantity

    units = {"哪几个": "percent", "days": "days", "每10分钟": "count", "72小时": "percent", "停顿几秒": "seconds"}
    unit = next(u for k, u in units.items() if k in question)
    assert asks_another_quantity(question, unit) is None
