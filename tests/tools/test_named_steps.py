"""The named steps split out of journey_timeline, evaluate_window, score_reps, outcomes_for,
gap_moment, exemplar_moment, practice_scenario and the debrief's _moments (issue 21)."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

from tools.capability import OppRow, deal_cycles, dimension_entry, first_deal_days, gap_moment, reply_pairs
from tools.debrief import _interruptions, _moments, _unique
from tools.drills import exemplar_moment, find_scenario
from tools.journey import JourneyStage, _Period, mark_gaps
from tools.signals import _tender_fill, tender_expert


def turn(speaker: str, start: float, end: float, text: str) -> SimpleNamespace:
    return SimpleNamespace(speaker=speaker, start_s=start, end_s=end, text=text)


def test_reply_pairs_are_customer_then_rep_only():
    t = [turn("rep", 0, 1, "a"), turn("customer", 1, 2, "b"), turn("rep", 2.5, 3, "c"), turn("rep", 3, 4, "d")]
    assert reply_pairs(t) == [(t[1], t[2])]


def test_gap_moment_interruption_is_the_rep_starting_before_the_customer_ends():
    t = [turn("customer", 0, 5, "we have a budget"), turn("rep", 4.0, 6, "sure"),
         turn("customer", 6, 8, "ok"), turn("rep", 9, 10, "fine")]
    m = gap_moment(t, "interruptions", "en")
    assert (m["customer"], m["rep"], m["pause_s"]) == ("we have a budget", "sure", -1.0)
    assert gap_moment(t, "no_such_metric", "en") is None


def test_gap_moment_monologue_is_the_longest_rep_turn():
    t = [turn("rep", 0, 2, "short"), turn("customer", 2, 3, "x"), turn("rep", 3, 13, "long")]
    assert gap_moment(t, "talk_ratio", "en")["rep"] == "long"
    assert gap_moment([], "talk_ratio", "en") is None


def test_exemplar_calm_reply_needs_an_objection_only_when_strict():
    t = [turn("customer", 0, 2, "hello there"), turn("rep", 3, 4, "hi")]
    assert exemplar_moment(t, "patience_s", "en", strict=True) is None
    m = exemplar_moment(t, "patience_s", "en", strict=False)
    assert m == {"start_s": 0, "end_s": 4, "pause_s": 1.0, "customer": "hello there", "rep": "hi"}


def test_exemplar_without_metric_is_a_policy_exchange():
    t = [turn("customer", 0, 1, "nice"), turn("rep", 1, 2, "ok"), turn("customer", 2, 3, "what about the tender?"),
         turn("rep", 3.5, 5, "we bid")]
    assert exemplar_moment(t, None, "en")["customer"] == "what about the tender?"
    assert exemplar_moment(t, "customer_talk_share", "en") is None


def test_outcome_steps_deal_cycles_and_first_deal():
    won = [OppRow(True, 100, datetime(2026, 1, 1), date(2026, 1, 11), date(2026, 1, 21)),
           OppRow(True, 300, datetime(2026, 2, 1), date(2026, 2, 21), None)]
    assert deal_cycles(won) == {"avg_deal_size_cny": 200, "cycle_length_days": 15.0, "payment_cycle_days": 10.0,
                                "payments_recorded": 1}
    assert deal_cycles([])["avg_deal_size_cny"] is None
    assert first_deal_days(won, hire_date=date(2026, 1, 1), new_hire=True) == 10
    assert first_deal_days(won, hire_date=date(2026, 1, 1), new_hire=False) is None


def test_dimension_entry_status_and_differences():
    e = dimension_entry(60.0, 8, 5, 50.0, 70.0, {})
    assert (e["status"], e["vs_team"], e["vs_top_quartile"]) == ("ok", 10.0, -10.0)
    assert dimension_entry(None, 2, 5, None, None, {})["status"] == "too_few_calls"
    assert dimension_entry(None, 9, 5, 50.0, None, {})["vs_team"] is None


def test_mark_gaps_flags_long_and_open_silences_in_their_stage():
    stages = [JourneyStage("lead", None, None, True)]
    moments = [datetime(2026, 1, 1), datetime(2026, 1, 3), datetime(2026, 2, 1)]
    gaps = mark_gaps(moments, datetime(2026, 3, 1), 14, stages, [(None, None)])
    assert [(g.start, g.end, g.days, g.open, g.stage) for g in gaps] == [
        ("2026-01-03", "2026-02-01", 29, False, "lead"), ("2026-02-01", "2026-03-01", 28, True, "lead")]


def test_period_until_and_contains():
    p = _Period(datetime(2026, 1, 1), datetime(2026, 2, 1), datetime(2026, 1, 15))
    assert p.until == datetime(2026, 1, 15)
    assert p.contains(datetime(2026, 1, 10)) and not p.contains(datetime(2026, 1, 20))


def test_tender_expert_prefers_the_owners_team():
    owner = SimpleNamespace(id=1, team_id=7, name="张伟", name_en="Wei Zhang")
    far = SimpleNamespace(id=2, team_id=8, name="李", name_en="Li", login="li")
    near = SimpleNamespace(id=3, team_id=7, name="王", name_en="Wang", login="wang")
    assert tender_expert(owner, [far, near]) is near
    assert tender_expert(owner, [far]) is far
    assert _tender_fill(owner, None, {}, "en") == {"owner": "Wei Zhang", "expert": "the regional manager", "wins": 0,
                                                   "expert_login": None}
    assert _tender_fill(owner, far, {2: 4}, "zh")["wins"] == 4


def test_debrief_interruptions_and_dedupe():
    t = [turn("customer", 0, 5, "x"), turn("rep", 4.9, 6, "y")]
    ev = _interruptions(t, "en", 9)
    assert [(e.id, e.time, e.text) for e in ev] == [("9", "00:04", "y")]
    assert len(_unique(ev + ev)) == 1
    assert _moments(t, ["interruptions", "interruptions", "unknown"], "en", 9) == ev


def test_find_scenario_by_code_else_by_drill(tmp_path):
    (tmp_path / "a.yaml").write_text("code: A\ndrills: [d1]\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("code: B\ndrill: d1\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text(": : broken", encoding="utf-8")
    assert find_scenario(tmp_path, "B", "d1")[0] == "B"
    assert find_scenario(tmp_path, None, "d1")[0] == "A"
    assert find_scenario(tmp_path, None, "d9") is None
