"""Conversation metrics on hand-made turns, with values computed by hand."""

from __future__ import annotations

import pytest

from speech import Turn, compute_metrics, load_registry
from speech.metrics import interruptions, pain_point_pause_s, patience_s, talk_ratio

ZH_CALL = [
    Turn("rep", 0.0, 4.0, "您好 能具体说说现在的流程是怎么走的吗"),          # open question
    Turn("customer", 5.0, 12.0, "我们最头疼的是维修响应太慢"),                 # pain point
    Turn("rep", 14.5, 17.0, "为什么这个问题现在变得这么紧迫"),                # why question after 2.5 s
    Turn("customer", 17.1, 25.0, "因为预算压得很紧"),
    Turn("rep", 25.1, 30.0, "我们的方案可以降低停机"),                        # pitch, 0.1 s after: interruption
]


def test_talk_ratio_is_rep_time_over_both_speakers_time():
    # rep 4 + 2.5 + 4.9 = 11.4 s; customer 7 + 7.9 = 14.9 s
    assert talk_ratio(ZH_CALL) == pytest.approx(11.4 / 26.3)


def test_pain_point_pause_is_measured_to_the_next_question_only():
    assert pain_point_pause_s(ZH_CALL, "zh") == pytest.approx(2.5)
    pitched = ZH_CALL[:2] + [Turn("rep", 13.0, 15.0, "我们的方案可以降低停机")]
    assert pain_point_pause_s(pitched, "zh") is None


def test_patience_is_the_median_customer_to_rep_gap_and_overlaps_count_as_zero():
    assert patience_s(ZH_CALL) == pytest.approx(1.3)  # gaps 2.5 and 0.1 → median 1.3
    overlapping = [Turn("customer", 0, 5, "x"), Turn("rep", 4.0, 6, "y"), Turn("customer", 7, 8, "z"), Turn("rep", 9, 10, "w")]
    assert patience_s(overlapping) == pytest.approx(0.5)  # gaps 0 (overlap) and 1.0


def test_an_interruption_is_a_rep_turn_starting_within_0_2_s_of_the_customer_end_or_before_it():
    assert interruptions(ZH_CALL) == 1
    assert interruptions([Turn("customer", 0, 5, "x"), Turn("rep", 4.0, 6, "y")]) == 1
    assert interruptions([Turn("customer", 0, 5, "x"), Turn("rep", 5.3, 6, "y")]) == 0


def test_the_whole_metric_set_for_a_chinese_call():
    m = compute_metrics(ZH_CALL, "zh")
    assert m["why_question_count"] == 1
    assert m["why_question_share"] == pytest.approx(0.5)
    assert m["open_question_share"] == pytest.approx(1.0)
    assert m["question_rate_per_10min"] == pytest.approx(2 / 0.5 * 10)  # 2 questions in 30 s
    assert m["longest_monologue_s"] == pytest.approx(4.9)
    assert m["longest_customer_story_s"] == pytest.approx(7.9)
    assert m["interactivity_per_min"] == pytest.approx(4 / 0.5)
    # rep characters: 18 + 15 + 11 = 44 over 11.4 s
    assert m["speaking_rate_wpm"] == pytest.approx(44 / (11.4 / 60))


def test_english_why_questions_and_words_per_minute():
    turns = [Turn("customer", 0, 6, "Honestly our biggest headache is unplanned downtime"),
             Turn("rep", 8.3, 11.3, "Why has this become urgent right now"),
             Turn("customer", 12, 20, "We lost two shifts last month"),
             Turn("rep", 20.5, 23.5, "Do you have budget allocated this year")]
    m = compute_metrics(turns, "en")
    assert m["pain_point_pause_s"] == pytest.approx(2.3)
    assert m["why_question_count"] == 1 and m["why_question_share"] == pytest.approx(0.5)
    assert m["open_question_share"] == pytest.approx(0.5)
    assert m["speaking_rate_wpm"] == pytest.approx(14 / (6 / 60))


def test_without_speaker_separation_speaker_metrics_are_unavailable_not_guessed():
    mono = [Turn("unknown", 0, 3, "hello there"), Turn("unknown", 4, 6, "why is that")]
    m = compute_metrics(mono, "en")
    speaker_metrics = [name for name, d in load_registry().items() if d.needs_speakers]
    assert all(m[name] is None for name in speaker_metrics)
    assert m["speaking_rate_wpm"] == pytest.approx(5 / (5 / 60))


def test_every_computed_metric_has_a_registry_definition_and_vice_versa():
    assert set(compute_metrics(ZH_CALL, "zh")) == set(load_registry())
