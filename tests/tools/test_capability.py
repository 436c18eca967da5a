"""Capability profiles: exact scores from hand-made rows, who may see which profile, recomputing
when the data changes, and — on the demo company, both backends — the reps the generator made
patient and curious come out on top in needs discovery."""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.errors import ConfigError, NotFoundError, PermissionDenied
from crm.demo import demo_traits
from crm.models import Call, CallMetric, CapabilityProfile, Opportunity, User
from tests.tools.conftest import NOW, make_ctx
from tools.calls import recompute_call_metrics
from tools.capability import (
    CALL_METRICS,
    DIMENSIONS,
    CallRow,
    DealStats,
    OppRow,
    deal_stats,
    ensure_profiles,
    gaps_for,
    load_scenarios,
    outcomes_for,
    percentile_rank,
    quantile,
    recompute_profiles,
    rep_profile,
    scenario_fit,
    score_reps,
    team_overview,
)


# -- pure scoring ------------------------------------------------------------------------------
def test_percentile_rank_counts_values_below_and_half_the_ties():
    assert percentile_rank(3, [1, 2, 3, 4]) == 62.5
    assert percentile_rank(2, [2, 2, 1, 3]) == 50.0
    assert percentile_rank(9, [1, 2]) == 100.0


def test_quantile_interpolates_linearly_between_ranks():
    assert quantile([5, 1, 4, 2, 3], 0.75) == 4
    assert quantile([1, 2, 3, 4], 0.75) == 3.25
    assert quantile([7], 0.75) == 7


def _calls(n: int, **metrics: float) -> list[CallRow]:
    base = {m: None for m in CALL_METRICS}
    return [CallRow(i, datetime(2026, 1, 1) + timedelta(days=i), dict(base, **metrics)) for i in range(n)]


def _four_reps():
    """Reps 1–4 rise in every needs-discovery input; rep 5 has only 2 calls. Teams: {1, 2} and {3, 4, 5}."""
    calls = {
        rep: _calls(3, why_question_share=0.1 * rep, pain_point_pause_s=0.5 * rep, question_rate_per_10min=10.0 * rep,
                    talk_ratio=0.9 - 0.1 * rep, longest_customer_story_s=5.0 * rep, longest_monologue_s=10.0 * rep,
                    patience_s=0.2 * rep, interruptions=float(rep))
        for rep in (1, 2, 3, 4)
    }
    calls[5] = _calls(2, why_question_share=0.9, pain_point_pause_s=3.0)
    deals = {1: DealStats(proposal_closed=4, proposal_won=1), 2: DealStats(proposal_closed=4, proposal_won=2),
             3: DealStats(proposal_closed=4, proposal_won=3)}
    teams = {1: 10, 2: 10, 3: 20, 4: 20, 5: 20}
    return calls, deals, teams


def test_dimension_score_is_the_mean_percentile_rank_of_its_inputs_against_all_eligible_reps():
    calls, deals, teams = _four_reps()
    scored = score_reps(calls, deals, teams)
    nd = {rep: scored[rep]["needs_discovery"] for rep in teams}
    assert [nd[r]["score"] for r in (1, 2, 3, 4)] == [12.5, 37.5, 62.5, 87.5]
    assert nd[1]["team_avg"] == 25.0 and nd[3]["team_avg"] == 75.0
    assert nd[1]["vs_team"] == -12.5 and nd[4]["vs_team"] == 12.5
    assert nd[4]["top_quartile"] == round(quantile([12.5, 37.5, 62.5, 87.5], 0.75), 1)
    why = nd[2]["inputs"]["why_question_share"]
    assert why["value"] == 0.2 and why["n"] == 3 and why["rank"] == 37.5
    assert why["team_avg"] == round((0.1 + 0.2) / 2, 3)
    assert nd[2]["inputs"]["customer_talk_share"]["value"] == 0.3  # 1 − talk ratio 0.7


def test_lower_is_better_inputs_rank_the_smallest_value_highest_and_missing_deal_inputs_are_left_out():
    calls, deals, teams = _four_reps()
    sm = {rep: d["solution_matching"] for rep, d in score_reps(calls, deals, teams).items()}
    # monologue (lower better): 1→87.5 … 4→12.5; talk ratio (lower better): 1 (0.8)→12.5 … 4 (0.5)→87.5;
    # won share after proposal among reps 1–3 only (rep 4 has none): 0.25→16.67, 0.5→50, 0.75→83.33
    assert sm[1]["inputs"]["longest_monologue_s"]["rank"] == 87.5
    assert sm[1]["score"] == round((87.5 + 12.5 + 100 / 6) / 3, 1)
    assert sm[2]["score"] == 50.0
    assert sm[3]["score"] == round((37.5 + 62.5 + 250 / 3) / 3, 1)
    assert sm[4]["score"] == 50.0 and sm[4]["inputs"]["proposal_win_share"] == {
        "value": None, "n": 0, "rank": None, "team_avg": 0.75, "top_quartile": 0.625, "higher_is_better": True,
        "source": "opportunities"}


def test_a_rep_with_fewer_than_three_calls_gets_no_score_and_does_not_move_the_others():
    calls, deals, teams = _four_reps()
    scored = score_reps(calls, deals, teams)
    five = scored[5]["needs_discovery"]
    assert five["score"] is None and five["status"] == "too_few_calls" and five["calls_used"] == 2
    assert five["inputs"]["why_question_share"]["value"] == 0.9  # the inputs are still shown
    without = score_reps({r: c for r, c in calls.items() if r != 5}, deals, {r: t for r, t in teams.items() if r != 5})
    assert [scored[r]["needs_discovery"]["score"] for r in (1, 2, 3, 4)] == \
           [without[r]["needs_discovery"]["score"] for r in (1, 2, 3, 4)]


def test_deal_inputs_come_from_stage_moves_past_proposal():
    moves = [(1, 1, None, "discovery"), (1, 1, "discovery", "solution"), (1, 1, "solution", "proposal"), (1, 1, "proposal", "closed_won"),
             (1, 2, None, "proposal"), (1, 2, "proposal", "negotiation"), (1, 2, "negotiation", "closed_lost"),
             (1, 3, None, "discovery"), (1, 3, "discovery", "closed_lost"),
             (1, 4, None, "solution"), (1, 4, "solution", "proposal"),
             (2, 5, None, "solution"), (2, 5, "solution", "closed_lost")]
    stats = deal_stats(moves)
    assert stats[1] == DealStats(proposal_closed=2, proposal_won=1, late_moves=3, late_forward=2)
    assert stats[1].value("proposal_win_share") == 0.5
    assert stats[1].value("late_stage_progression") == 2 / 3
    assert stats[2].value("proposal_win_share") is None and stats[2].value("late_stage_progression") is None


def test_outcomes_give_win_rate_deal_size_cycle_payment_cycle_and_a_new_hires_first_deal():
    opps = [OppRow(True, 100_000, datetime(2026, 1, 1, 10), date(2026, 3, 2), date(2026, 4, 1)),
            OppRow(True, 300_000, datetime(2026, 2, 1), date(2026, 2, 21), None),
            OppRow(False, 50_000, datetime(2026, 1, 5), date(2026, 2, 5), None),
            OppRow(None, 70_000, datetime(2026, 5, 1), None, None)]
    out = outcomes_for(opps, hire_date=date(2025, 12, 1), as_of=date(2026, 6, 1))
    assert out["opportunities"] == 4 and (out["won"], out["closed"]) == (2, 3)
    assert out["win_rate"] == round(2 / 3, 3)
    assert out["avg_deal_size_cny"] == 200_000
    assert out["cycle_length_days"] == 40.0  # 60 and 20 days
    assert out["payment_cycle_days"] == 30.0 and out["payments_recorded"] == 1
    assert out["new_hire"] is True and out["first_deal_days"] == 82  # 2025-12-01 → 2026-02-21
    veteran = outcomes_for(opps, hire_date=date(2020, 1, 1), as_of=date(2026, 6, 1))
    assert veteran["new_hire"] is False and veteran["first_deal_days"] is None
    nothing = outcomes_for([], hire_date=date(2026, 1, 1), as_of=date(2026, 6, 1))
    assert nothing["win_rate"] is None and nothing["payment_cycle_days"] is None and nothing["first_deal_days"] is None


def test_scenario_fit_is_the_weighted_profile_and_unknown_without_every_weighted_score():
    weights = {"solution_matching": 0.45, "objection_handling": 0.30, "needs_discovery": 0.25}
    scores = {"needs_discovery": 80.0, "solution_matching": 60.0, "objection_handling": 40.0}
    assert scenario_fit(scores, weights) == 59.0
    assert scenario_fit(dict(scores, objection_handling=None), weights) is None


def test_scenario_file_weights_sum_to_one_and_a_bad_file_is_refused(tmp_path):
    labels, scenarios, drill_metrics = load_scenarios()
    assert {"government_tender", "saas_renewal"} <= set(scenarios)
    assert all(abs(sum(s.weights.values()) - 1) < 1e-9 for s in scenarios.values())
    assert all(lab["label_zh"] and lab["label_en"] for lab in labels.values())
    assert set(drill_metrics.values()) <= set(CALL_METRICS)
    bad = tmp_path / "bad.yaml"
    bad.write_text("dimensions: {needs_discovery: {label_zh: a, label_en: a}, solution_matching: {label_zh: b, label_en: b},"
                   " objection_handling: {label_zh: c, label_en: c}}\n"
                   "scenarios: {x: {label_zh: x, label_en: x, weights: {needs_discovery: 0.5, solution_matching: 0.3}}}\n")
    with pytest.raises(ConfigError, match="summing to 1"):
        load_scenarios(bad)


def test_gaps_are_dimensions_below_the_top_quartile_furthest_first_with_the_calls_that_show_them():
    def inputs(**tops):
        return {dim: {s.name: {"top_quartile": tops.get(s.name)} for s in specs} for dim, specs in DIMENSIONS.items()}

    tops = inputs(why_question_share=0.3, interruptions=1.0)
    dims = {"needs_discovery": {"score": 40.0, "top_quartile": 60.0, "inputs": tops["needs_discovery"]},
            "solution_matching": {"score": 70.0, "top_quartile": 60.0, "inputs": tops["solution_matching"]},
            "objection_handling": {"score": 50.0, "top_quartile": 55.0, "inputs": tops["objection_handling"]}}
    calls = [CallRow(11, datetime(2026, 3, 1), {"why_question_share": 0.1, "interruptions": 3.0}),
             CallRow(12, datetime(2026, 3, 2), {"why_question_share": 0.25, "interruptions": 1.0}),
             CallRow(13, datetime(2026, 3, 3), {"why_question_share": 0.4, "interruptions": 0.0})]
    gaps = gaps_for(dims, calls)
    assert [(g["dimension"], g["gap"]) for g in gaps] == [("needs_discovery", 20.0), ("objection_handling", 5.0)]
    assert [(c["call_id"], c["value"]) for c in gaps[0]["calls"]] == [(11, 0.1), (12, 0.25)]
    assert gaps[0]["calls"][0] == {"call_id": 11, "date": "2026-03-01", "metric": "why_question_share", "value": 0.1, "top_quartile": 0.3}
    assert [(c["call_id"], c["metric"], c["value"]) for c in gaps[1]["calls"]] == [(11, "interruptions", 3.0)]


# -- on a database -------------------------------------------------------------------------------
def _add_call(tiny, rep: str, when: datetime, **metrics: float) -> int:
    def make(ids):
        return Call(rep_id=ids[rep], account_id=ids["acct"], started_at=when, duration_s=600.0, language="zh")
    call_id = tiny.add(make)
    with tiny.session() as s:
        s.add_all([CallMetric(call_id=call_id, name=k, value=v) for k, v in metrics.items()])
        s.commit()
    return call_id


def test_access_rep_sees_only_self_manager_the_team_trainer_and_admin_everyone(tiny):
    with tiny.session() as s:
        assert rep_profile(ctx=make_ctx(s, "rep1")).login == "rep1"
        with pytest.raises(PermissionDenied, match="own"):
            rep_profile(ctx=make_ctx(s, "rep1", language="en"), rep_login="rep2")
        assert rep_profile(ctx=make_ctx(s, "mgr1"), rep_login="rep2").login == "rep2"
        with pytest.raises(PermissionDenied, match="团队"):
            rep_profile(ctx=make_ctx(s, "mgr1"), rep_login="rep3")
        assert rep_profile(ctx=make_ctx(s, "trainer"), rep_login="rep3").login == "rep3"
        assert rep_profile(ctx=make_ctx(s, "admin"), rep_login="rep3").login == "rep3"
        with pytest.raises(NotFoundError, match="--rep"):
            rep_profile(ctx=make_ctx(s, "mgr1", language="en"))
        assert {v.login for v in team_overview(ctx=make_ctx(s, "mgr1"))} == {"rep1", "rep2"}
        assert {v.login for v in team_overview(ctx=make_ctx(s, "admin"))} == {"rep1", "rep2", "rep3"}
        with pytest.raises(PermissionDenied):
            team_overview(ctx=make_ctx(s, "rep1"))


def test_a_trainer_sees_a_reps_capability_but_not_their_deal_outcomes(tiny):
    with tiny.session() as s:
        as_trainer = rep_profile(ctx=make_ctx(s, "trainer", language="en"), rep_login="rep1")
        as_manager = rep_profile(ctx=make_ctx(s, "mgr1", language="en"), rep_login="rep1")
    assert as_trainer.outcomes == {} and any("not shown" in n for n in as_trainer.notes)
    assert as_manager.outcomes and set(as_trainer.dimensions) == set(as_manager.dimensions)


def test_too_few_calls_says_so_instead_of_a_score(tiny):
    for day in (1, 2):
        _add_call(tiny, "rep1", NOW - timedelta(days=day), why_question_share=0.3, pain_point_pause_s=2.0)
    with tiny.session() as s:
        view = rep_profile(ctx=make_ctx(s, "rep1", language="en"))
    nd = view.dimensions["needs_discovery"]
    assert nd["score"] is None and nd["status"] == "too_few_calls" and nd["calls_used"] == 2
    assert any("only 2 call(s)" in n and "at least 3" in n for n in view.notes)
    assert view.gaps == [] and all(f["fit"] is None for f in view.scenario_fit)


def test_profile_is_recomputed_when_calls_or_outcomes_change_and_upserted_once_per_rep(tiny):
    for day in (1, 2, 3):
        _add_call(tiny, "rep1", NOW - timedelta(days=day), why_question_share=0.1 * day, interruptions=1.0)
    with tiny.session() as s:
        first = rep_profile(ctx=make_ctx(s, "rep1"))
        s.commit()
        assert ensure_profiles(s, now=NOW) is False  # nothing changed
    assert first.calls_used == 3 and first.dimensions["needs_discovery"]["inputs"]["why_question_share"]["value"] == 0.2
    _add_call(tiny, "rep1", NOW - timedelta(hours=2), why_question_share=0.6)
    tiny.add(lambda ids: Opportunity(name="x", account_id=ids["acct"], owner_id=ids["rep1"], scenario="hospital_procurement",
                                     stage="closed_won", amount_cny=120_000, won=True, created_at=NOW - timedelta(days=30),
                                     close_date=(NOW - timedelta(days=1)).date()))
    with tiny.session() as s:
        second = rep_profile(ctx=make_ctx(s, "rep1"))
        s.commit()
        n_rows = s.scalar(select(func.count()).select_from(CapabilityProfile))
        n_reps = s.scalar(select(func.count()).select_from(User).where(User.role == "rep"))
    assert second.calls_used == 4
    assert second.dimensions["needs_discovery"]["inputs"]["why_question_share"]["value"] == 0.3
    assert second.outcomes["won"] == 1 and second.outcomes["avg_deal_size_cny"] == 120_000
    assert n_rows == n_reps == 3


def _demo_profiles(session):
    recompute_call_metrics(session)
    report = recompute_profiles(session, now=NOW)
    rows = session.execute(select(User.login, CapabilityProfile).join(CapabilityProfile, CapabilityProfile.user_id == User.id)).all()
    return report, {login: p for login, p in rows}


def test_on_the_demo_the_patient_and_curious_reps_lead_needs_discovery(demo_session):
    _, profiles = _demo_profiles(demo_session)
    traits = demo_traits(demo_session)
    scored = {login: p.dimensions["needs_discovery"]["score"] for login, p in profiles.items()
              if p.dimensions["needs_discovery"]["score"] is not None}
    assert len(scored) >= 25
    patience_mid = statistics.median(traits[r]["patience_s"] for r in scored)
    curiosity_mid = statistics.median(traits[r]["curiosity"] for r in scored)
    planted = {r for r in scored if traits[r]["patience_s"] > patience_mid and traits[r]["curiosity"] > curiosity_mid}
    ranking = sorted(scored, key=lambda r: -scored[r])
    assert set(ranking[:4]) <= planted, [(r, traits[r]) for r in ranking[:4]]
    assert statistics.fmean(scored[r] for r in planted) >= statistics.fmean(scored[r] for r in scored if r not in planted) + 20
    by_patience = sorted(scored, key=lambda r: traits[r]["patience_s"])
    by_curiosity = sorted(scored, key=lambda r: traits[r]["curiosity"])
    by_score = sorted(scored, key=lambda r: scored[r])
    planted_rank = [by_patience.index(r) + by_curiosity.index(r) for r in scored]
    assert statistics.correlation(planted_rank, [by_score.index(r) for r in scored]) > 0.6  # Spearman-like


def test_recomputing_the_demo_profiles_is_idempotent(demo_session):
    first_report, first = _demo_profiles(demo_session)
    second_report = recompute_profiles(demo_session, now=NOW)
    again = {login: p.dimensions for login, p in demo_session.execute(
        select(User.login, CapabilityProfile).join(CapabilityProfile, CapabilityProfile.user_id == User.id)).all()}
    n_reps = demo_session.scalar(select(func.count()).select_from(User).where(User.role == "rep"))
    assert first_report.reps == second_report.reps == n_reps == len(again)
    assert second_report.inserted == 0 and second_report.updated == n_reps
    assert again == {login: p.dimensions for login, p in first.items()}
    assert first_report.calls_used == demo_session.scalar(select(func.count()).select_from(Call))


def test_demo_gap_evidence_calls_belong_to_the_rep_and_fall_short_of_the_top_quartile(demo_session):
    _demo_profiles(demo_session)
    view = rep_profile(ctx=make_ctx(demo_session, "wangjianhua", language="en"), rep_login="magang")
    assert view.gaps, "the demo's weakest rep has gaps"
    own = set(demo_session.scalars(select(Call.id).where(Call.rep_id == view.rep_id)))
    for gap in view.gaps:
        assert gap["score"] < gap["top_quartile"] and gap["calls"]
        for c in gap["calls"]:
            assert c["call_id"] in own
            spec = next(s for s in DIMENSIONS[gap["dimension"]] if s.name == c["metric"])
            raw = demo_session.scalar(select(CallMetric.value).where(CallMetric.call_id == c["call_id"], CallMetric.name == spec.metric))
            assert (1 - raw if spec.one_minus else raw) == pytest.approx(c["value"], abs=1e-3)
            higher = view.dimensions[gap["dimension"]]["inputs"][c["metric"]]["higher_is_better"]
            assert (c["value"] < c["top_quartile"]) if higher else (c["value"] > c["top_quartile"])


def test_rows_another_process_inserted_first_are_updated_not_duplicated(tiny, monkeypatch):
    import tools.capability as capability

    with tiny.session() as s:
        recompute_profiles(s, now=NOW - timedelta(days=1))  # "the other process", committed first
        s.commit()
    for day in (1, 2, 3):
        _add_call(tiny, "rep1", NOW - timedelta(hours=day), why_question_share=0.2)
    real = capability._existing_profiles
    stale = iter([{}])  # our first read happened before their insert

    def existing(session, ids):
        first = next(stale, None)
        return real(session, ids) if first is None else first

    monkeypatch.setattr(capability, "_existing_profiles", existing)
    with tiny.session() as s:
        assert ensure_profiles(s, now=NOW) is True
        s.commit()
        rows = list(s.scalars(select(CapabilityProfile)))
    assert len(rows) == 3 and len({r.user_id for r in rows}) == 3
    assert {r.computed_at for r in rows} == {NOW}
    assert next(r for r in rows if r.user_id == tiny["rep1"]).calls_used == 3


# -- recompute on ingest and on outcome changes -----------------------------------------------------
def _turns_json(tmp_path, name: str, pause_s: float) -> Path:
    """A transcript whose rep waits ``pause_s`` after each customer pain point and asks why."""
    import json

    turns, t = [], 0.0
    for _ in range(4):
        turns.append({"speaker": "customer", "start_s": t, "end_s": t + 4.0, "text": "我们最大的问题是设备经常停机 维修响应太慢"})
        t += 4.0 + pause_s
        turns.append({"speaker": "rep", "start_s": t, "end_s": t + 2.0, "text": "为什么维修响应一直这么慢?"})
        t += 2.5
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(turns, ensure_ascii=False), encoding="utf-8")
    return path


def test_a_call_ingested_through_the_calls_service_moves_the_next_profile_read(tiny, tmp_path):
    from crm.db import session_factory
    from tools.calls import ingest_paths

    for day in (1, 2, 3):
        _add_call(tiny, "rep1", NOW - timedelta(days=day), pain_point_pause_s=0.5, why_question_share=0.0)
    with tiny.session() as s:
        before = rep_profile(ctx=make_ctx(s, "rep1"))
        s.commit()
    report = ingest_paths(session_factory(tiny.engine), [_turns_json(tmp_path, "patient", 3.0)], rep_login="rep1", home=tmp_path)
    assert report.count("ingested") == 1
    with tiny.session() as s:
        after = rep_profile(ctx=make_ctx(s, "rep1", now=NOW + timedelta(hours=1)))
    pause_before = before.dimensions["needs_discovery"]["inputs"]["pain_point_pause_s"]
    pause_after = after.dimensions["needs_discovery"]["inputs"]["pain_point_pause_s"]
    assert (before.calls_used, after.calls_used) == (3, 4)
    assert pause_before["value"] == 0.5 and pause_after["value"] == pytest.approx((0.5 * 3 + 3.0) / 4, abs=1e-3)
    assert after.dimensions["needs_discovery"]["inputs"]["why_question_share"]["value"] > 0


def test_metrics_recomputed_in_place_with_the_same_ids_still_move_the_profile(tiny):
    """SQLite reuses the ids of deleted rows: counts and max ids alone would not see new values."""
    from crm.models import CallTurn

    ids = [_add_call(tiny, "rep1", NOW - timedelta(days=d)) for d in (1, 2, 3)]
    with tiny.session() as s:
        for cid in ids:
            s.add_all([CallTurn(call_id=cid, idx=0, speaker="customer", start_s=0.0, end_s=4.0, text="我们最大的问题是设备经常停机"),
                       CallTurn(call_id=cid, idx=1, speaker="rep", start_s=4.5, end_s=6.0, text="你们预算多少?")])
        recompute_call_metrics(s)
        s.commit()
        first = rep_profile(ctx=make_ctx(s, "rep1")).dimensions["needs_discovery"]["inputs"]["pain_point_pause_s"]["value"]
        s.commit()
        for turn in s.scalars(select(CallTurn).where(CallTurn.call_id == ids[-1], CallTurn.idx == 1)):
            turn.start_s, turn.end_s = 6.5, 8.0  # the rep now waits 2.5 s
        recompute_call_metrics(s, [ids[-1]])
        s.commit()
        second = rep_profile(ctx=make_ctx(s, "rep1")).dimensions["needs_discovery"]["inputs"]["pain_point_pause_s"]["value"]
    assert first == pytest.approx(0.5, abs=1e-3)
    assert second == pytest.approx((0.5 * 2 + 2.5) / 3, abs=1e-3)


def test_an_opportunity_outcome_changed_in_place_moves_the_outcomes_on_the_next_read(tiny):
    for day in (1, 2, 3):
        _add_call(tiny, "rep1", NOW - timedelta(days=day), why_question_share=0.2)
    opp_id = tiny.add(lambda ids: Opportunity(name="x", account_id=ids["acct"], owner_id=ids["rep1"], scenario="hospital_procurement",
                                              stage="closed_won", amount_cny=100_000, won=True, created_at=NOW - timedelta(days=30),
                                              close_date=(NOW - timedelta(days=3)).date()))
    tiny.add(lambda ids: Opportunity(name="y", account_id=ids["acct"], owner_id=ids["rep1"], scenario="hospital_procurement",
                                     stage="closed_lost", amount_cny=100_000, won=False, created_at=NOW - timedelta(days=30),
                                     close_date=(NOW - timedelta(days=2)).date()))
    with tiny.session() as s:
        before = rep_profile(ctx=make_ctx(s, "rep1")).outcomes
        s.commit()
        opp = s.get(Opportunity, opp_id)
        opp.amount_cny, opp.close_date = 250_000, (NOW - timedelta(days=10)).date()  # same counts, same max date
        s.commit()
        after = rep_profile(ctx=make_ctx(s, "rep1")).outcomes
    assert (before["avg_deal_size_cny"], before["cycle_length_days"]) == (100_000, 27.0)
    assert (after["avg_deal_size_cny"], after["cycle_length_days"]) == (250_000, 20.0)


# -- the moments behind a gap, and naming reps ---------------------------------------------------------
def test_gap_moment_picks_the_exchange_that_shows_the_shortfall():
    from speech import Turn
    from tools.capability import gap_moment

    turns = [Turn("customer", 0.0, 4.0, "我们最大的问题是设备经常停机"), Turn("rep", 4.2, 6.0, "我们的方案很好"),
             Turn("customer", 6.5, 10.0, "维修响应太慢 很头疼"), Turn("rep", 12.0, 14.0, "为什么响应这么慢?"),
             Turn("customer", 14.5, 16.0, "好的"), Turn("rep", 15.8, 30.0, "我给您介绍一下我们最新版本的全部功能")]
    quick = gap_moment(turns, "pain_point_pause_s", "zh")
    assert (quick["time"], quick["pause_s"], quick["rep"]) == ("00:00–00:06", 0.2, "我们的方案很好")
    assert gap_moment(turns, "why_question_share", "zh")["rep"] == "我们的方案很好"
    assert gap_moment(turns, "interruptions", "zh")["pause_s"] == -0.2
    assert gap_moment(turns, "longest_monologue_s", "zh")["time"] == "00:15–00:30"


def test_reps_are_found_by_login_chinese_or_english_name_in_either_order(tiny):
    from tools.capability import find_reps_in, resolve_rep

    with tiny.session() as s:
        assert [u.login for u in find_reps_in(s, "张伟需要在哪方面辅导?")] == ["rep1"]
        assert [u.login for u in find_reps_in(s, "which drills are assigned to Na Li?")] == ["rep2"]
        assert [u.login for u in find_reps_in(s, "what about Li Na")] == ["rep2"]
        assert find_reps_in(s, "王芳需要在哪方面辅导?") == []  # a contact, not a rep
        assert resolve_rep(make_ctx(s, "mgr1"), "李娜").login == "rep2"
        with pytest.raises(NotFoundError, match="王芳"):
            resolve_rep(make_ctx(s, "mgr1"), "王芳")
        with pytest.raises(PermissionDenied):
            resolve_rep(make_ctx(s, "rep1"), "李娜")


# -- the profiles eval ----------------------------------------------------------------------------------
def test_the_profiles_eval_reports_the_planted_reps_on_top_and_fails_when_the_scores_are_shuffled(demo_session, monkeypatch):
    import random

    import evals.profiles_eval as profiles_eval

    recompute_call_metrics(demo_session)
    report = profiles_eval.run_profiles_eval(demo_session, now=NOW)
    assert report["passed"] is True and report["failures"] == []
    assert report["top4_planted"] == 4 and report["planted_margin"] >= 20 and report["rank_correlation"] > 0.6
    real = profiles_eval.recompute_profiles

    def shuffled(session, *, now):
        out = real(session, now=now)
        profiles = list(session.scalars(select(CapabilityProfile)))
        scores = [p.dimensions["needs_discovery"]["score"] for p in profiles]
        random.Random(3).shuffle(scores)
        for p, score in zip(profiles, scores, strict=False):
            p.dimensions = dict(p.dimensions, needs_discovery=dict(p.dimensions["needs_discovery"], score=score))
        session.flush()
        return out

    monkeypatch.setattr(profiles_eval, "recompute_profiles", shuffled)
    broken = profiles_eval.run_profiles_eval(demo_session, now=NOW)
    assert broken["passed"] is False and broken["failures"]
