"""The named steps of the practice dialogue (tools/practice/dialogue.py): how a rep turn is
classified, how the scripted customer answers, how each kind of rubric evidence is checked,
and how the scores and the advice are made. On the built-in hospital price-objection scenario
(zh): three hidden pain points, a price objection at turn 2, closing accepted after two."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tools.practice import dialogue as d
from tools.practice.scenario import catalogue

CODE = "hospital-price-objection"


@pytest.fixture(scope="module")
def s():
    return catalogue(None).scenarios[CODE]


def ev(**kw):
    """Rubric evidence with every field unset but the given ones."""
    base = dict(next_step_agreed=False, pain_point=None, objection_handled=None, kind=[], mentions=[], before_first=None,
                min_count=1, pause_after_pain_s=None)
    return SimpleNamespace(**{**base, **kw})


def turn(idx, speaker, text, **kw):
    return {"idx": idx, "speaker": speaker, "text": text, **kw}


# -- classifying a rep turn ---------------------------------------------------------------------
def test_question_kind_prefers_why_then_closing_then_discovery():
    assert d.question_kind("为什么会这样", "zh", closing=True) == "why_question"
    assert d.question_kind("下周约个时间演示可以吗", "zh", closing=True) == "closing"
    assert d.question_kind("你们现在用什么系统", "zh", closing=False) == "discovery_question"
    assert d.question_kind("How do you track it today?", "en", closing=False) == "discovery_question"


def test_turn_length_counts_han_characters_in_chinese_and_words_in_english():
    assert d.turn_length("您好 打扰一下", "zh") == 6
    assert d.turn_length("thanks for the time today", "en") == 5


def test_statement_kind_short_greeting_is_small_talk_long_greeting_is_a_pitch():
    en = d.TURN_CUES["en"]
    assert d.statement_kind("thanks for your time", en, 4) == "small_talk"
    assert d.statement_kind("thanks for your time", en, 20) == "pitch"  # long enough to be a pitch
    assert d.statement_kind("thanks for your time", en, 11) == "other"  # too long for small talk, too short for a pitch
    assert d.statement_kind("our platform supports it", en, 4) == "pitch"
    assert d.statement_kind("ok", en, 1) == "other"


def test_classify_turn_uses_the_steps():
    assert d.classify_turn("您好,打扰了", "zh") == "small_talk"
    assert d.classify_turn("理解,从五年总成本看其实更省", "zh", objection_open=True) == "objection_response"
    assert d.classify_turn("理解,从五年总成本看其实更省", "zh") == "pitch"
    assert d.classify_turn("   ", "en") == "other"


# -- the customer's next move -------------------------------------------------------------------
def test_objection_due_at_its_turn_unless_the_turn_earns_a_pain_point(s):
    price = s.objections[0]
    state = d.new_state()
    state["rep_turns"] = 1
    assert not d.objection_due(price, state, "discovery_question", earned=False)
    state["rep_turns"] = 2
    assert d.objection_due(price, state, "discovery_question", earned=False)
    assert not d.objection_due(price, state, "discovery_question", earned=True)


def test_raise_due_objection_records_it_open_at_the_customers_turn(s):
    state = d.new_state()
    state["rep_turns"] = 2
    move = d.raise_due_objection(s, state, "pitch", 4, earned=False)
    assert (move.raised, move.intent, move.reply) == ("price", "raise", s.objections[0].text)
    assert state["objections"]["price"] == {"status": "open", "raised_at": 5, "pushbacks": 0}
    assert d.raise_due_objection(s, state, "pitch", 6, earned=False) is None  # raised once only


def test_an_open_objection_is_resolved_by_a_handling_kind_and_pushed_back_otherwise(s):
    state = d.new_state()
    state["objections"]["price"] = {"status": "open", "raised_at": 5, "pushbacks": 0}
    pushed = d.answer_open_objection(s, state, "price", "pitch", 6)
    assert (pushed.intent, pushed.pushback, state["objections"]["price"]["pushbacks"]) == ("pushback", "price", 1)
    resolved = d.answer_open_objection(s, state, "price", "why_question", 8)
    assert (resolved.intent, resolved.handled, resolved.reply) == ("resolve", "price", s.objections[0].resolution)
    assert state["objections"]["price"]["status"] == "handled" and state["objections"]["price"]["handled_at"] == 8


def test_hint_pain_point_hints_once_at_a_pain_point_the_question_is_about(s):
    state = d.new_state()
    move = d.hint_pain_point(s, state, "discovery_question", "设备方面怎么样")
    assert (move.hinted, move.intent) == ("downtime", "hint")
    assert d.hint_pain_point(s, state, "discovery_question", "设备方面怎么样") is None
    assert d.hint_pain_point(s, d.new_state(), "discovery_question", "价格呢") is None  # about nothing hidden


def test_answer_closing_agrees_only_after_enough_pain_points(s):
    state = d.new_state()
    state["revealed"] = {"downtime": 3}
    stall = d.answer_closing(s, state, "closing", 7)
    assert (stall.intent, stall.ended) == ("stall", False) and "agreed_at" not in state
    state["revealed"]["vendor_delay"] = 5
    agree = d.answer_closing(s, state, "closing", 9)
    assert (agree.intent, agree.ended, agree.end_reason, state["agreed_at"]) == ("agree", True, "agreed_next_step", 9)


def test_scripted_reply_scolds_a_pitch_before_any_question(s):
    state = d.new_state()
    assert d.scripted_reply(s, state, "pitch").reply == s.replies.pitch_early[0]
    state["counts"]["why_question"] = 1
    assert d.scripted_reply(s, state, "pitch").reply == s.replies.pitch[0]
    assert d.scripted_reply(s, state, "other").reply == s.replies.other[0]


# -- rubric evidence ----------------------------------------------------------------------------
def test_agreed_next_step_cites_the_agreement_or_the_last_stalled_closing(s):
    tr = [turn(1, "customer", "你好"), turn(2, "rep", "下周约个时间", kind="closing"), turn(3, "customer", "先不急")]
    ses = d.Session(s, tr, d.new_state())
    failed = d.agreed_next_step(ses, ev(next_step_agreed=True), None)
    assert isinstance(failed, d.Failure) and failed.turn["idx"] == 2 and "1 次推进" in failed.reason_zh
    ses.state["agreed_at"] = 3
    assert d.agreed_next_step(ses, ev(next_step_agreed=True), None)["idx"] == 3


def test_enough_turns_counts_only_before_the_first_pitch(s):
    tr = [turn(1, "customer", "你好"), turn(2, "rep", "我们的产品很好", kind="pitch"), turn(4, "rep", "为什么", kind="why_question")]
    ses = d.Session(s, tr, d.new_state())
    failed = d.enough_turns(ses, ev(kind=["why_question"], before_first="pitch"), None)
    assert isinstance(failed, d.Failure) and failed.turn["idx"] == 2
    assert failed.reason_en == "the first pitch came at turn 2 after only 0 why_question (needs 1)"
    assert d.enough_turns(ses, ev(kind=["why_question"]), None)["idx"] == 4


def test_too_few_turns_names_the_words_it_looked_for():
    failed = d.too_few_turns(ev(mentions=["总成本", "五年"], min_count=2), [{"idx": 3, "text": "五年"}], None)
    assert failed.reason_zh == "只有 1 次 销售发言(提到 总成本、五年),需要 2 次"
    assert failed.reason_en == "only 1 rep turn mentioning 总成本 / 五年, needs 2" and failed.turn["idx"] == 3


def test_paused_after_pain_needs_a_measured_pause_long_enough(s):
    pain = s.pain_points[0].reveal
    tr = [turn(1, "customer", pain), turn(2, "rep", "为什么会这么慢", pause_s=None)]
    ses = d.Session(s, tr, d.new_state())
    assert [r["idx"] for _, r in d.questions_after_pain(ses)] == [2]
    unmeasured = d.paused_after_pain(ses, ev(pause_after_pain_s=2.0), None)
    assert isinstance(unmeasured, d.Failure) and unmeasured.turn["idx"] == 2 and "not measured" in unmeasured.reason_en
    tr[1]["pause_s"] = 1.2
    short = d.paused_after_pain(ses, ev(pause_after_pain_s=2.0), None)
    assert short.reason_en == "the longest pause after a pain point was 1.2 s (needs ≥ 2.0 s)"
    tr[1]["pause_s"] = 2.4
    assert d.paused_after_pain(ses, ev(pause_after_pain_s=2.0), None)["idx"] == 2


def test_handled_objection_keeps_the_earlier_citation_when_the_handling_turn_is_gone(s):
    ses = d.Session(s, [turn(1, "customer", "你好")], d.new_state())
    ses.state["objections"]["price"] = {"status": "handled", "raised_at": 5, "handled_at": 6, "pushbacks": 0}
    earlier = turn(1, "customer", "你好")
    assert d.handled_objection(ses, ev(objection_handled="price"), earlier) is earlier


def test_rubric_verdict_writes_the_reason_in_the_asked_language(s):
    check = next(c for c in s.rubric if c.id == "found_downtime")
    zh = d.rubric_verdict(s, check, [turn(1, "customer", "你好")], d.new_state(), "zh")
    en = d.rubric_verdict(s, check, [turn(1, "customer", "你好")], d.new_state(), "en")
    assert not zh["passed"] and zh["reason"].startswith("痛点“") and en["reason"].startswith("the pain point “")


# -- scores and advice --------------------------------------------------------------------------
def test_discovery_score_weights_pain_points_why_questions_and_question_share():
    kinds = ["why_question", "discovery_question", "pitch", "why_question"]
    assert d.discovery_score(kinds, found=1, hidden=2) == pytest.approx(100 * (0.25 + 0.3 * 2 / 3 + 0.2 * 3 / 4))
    assert d.discovery_score([], found=0, hidden=3) == 0.0


def test_objection_handling_score_is_none_when_nothing_was_raised():
    assert d.objection_handling_score([]) is None
    assert d.objection_handling_score([{"handled": True}, {"handled": False}]) == 50.0


def test_session_metrics_withhold_pauses_in_text_practice(s):
    tr = [turn(1, "customer", "你好", start_s=0.0, end_s=1.0), turn(2, "rep", "为什么", start_s=2.0, end_s=3.0, pause_s=None)]
    metrics, measured, notes = d.session_metrics(s, tr, "en")
    assert not measured and all(metrics[m] is None for m in d.PAUSE_METRICS) and notes[0].startswith("text practice")
    assert d.session_metrics(s, [turn(1, "customer", "你好", start_s=0.0, end_s=1.0)], "en") == ({}, False, [])


def test_advice_steps_speak_only_when_the_metric_falls_short():
    good = {"metrics": {"why_question_count": 3, "pain_point_pause_s": 2.5, "talk_ratio": 0.4},
            "pain_points_hidden": 3, "pain_points_found": 3}
    assert [f(good, "en") for f in (d.why_question_advice, d.pain_pause_advice, d.talk_ratio_advice, d.hidden_pain_advice)] == [None] * 4
    bad = {"metrics": {"why_question_count": None, "pain_point_pause_s": 0.8, "talk_ratio": 0.75},
           "pain_points_hidden": 3, "pain_points_found": 1}
    assert d.pain_pause_advice(bad, "en").startswith("You waited 0.8 s")
    assert d.talk_ratio_advice(bad, "zh").startswith("你说了 75% 的话")
    assert d.hidden_pain_advice(bad, "en").startswith("2 pain point(s)")
    assert d.why_question_advice(bad, "zh").startswith("每个痛点至少追问一次")
