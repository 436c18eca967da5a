"""The named steps of lead routing (issue 21): each decides one thing, on hand-made inputs."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

from sqlalchemy import func, select

from crm.models import Opportunity
from tools import routing
from tools.leads import OPEN_STAGES
from tools.routing import Batch, Decision, LeadIntent, RepInfo, RepLoad, ScoredRep

NOW = datetime(2026, 11, 20, 9, 0)
CFG = routing.load_routing_config()


def _rep(rep_id: int, team_id: int = 1, login: str | None = None) -> RepInfo:
    return RepInfo(rep_id, login or f"rep{rep_id}", f"销售{rep_id}", f"Rep {rep_id}", "zh", team_id, 10, {}, 0.0, 0, 0)


def _scored(rep: RepInfo, total: float, fit: float) -> ScoredRep:
    return ScoredRep(total, 0.0, rep, {"fit": fit, "capacity": 0.0, "region": 0.0, "history": 0.0, "language": 0.0})


def _batch(reps: list[RepInfo], teams_of_owner: dict[int, int | None] | None = None) -> Batch:
    return Batch(reps, {r.id: r for r in reps}, {}, {}, {}, {1: 10, 2: 20}, teams_of_owner or {}, [0.0] * len(reps))


def _intent(score: int = 40, tier: str = "B", last: datetime | None = NOW) -> LeadIntent:
    return LeadIntent(score, tier, 0.5, 3, last, [])


LEAD = SimpleNamespace(id=7, name="超声影像系统", value_cny=200_000, scenario="ultrasound")
ACCOUNT = SimpleNamespace(id=3, owner_id=None)


def test_review_reasons_name_value_cross_team_and_no_rep():
    best = _scored(_rep(1, team_id=1), 80, 70)
    big = SimpleNamespace(**{**vars(LEAD), "value_cny": 500_000})
    assert routing.review_reasons(LEAD, ACCOUNT, best, _batch([best.rep]), CFG) == []
    assert routing.review_reasons(big, ACCOUNT, best, _batch([best.rep]), CFG) == ["value"]
    owned = SimpleNamespace(id=3, owner_id=99)
    assert routing.review_reasons(LEAD, owned, best, _batch([best.rep], {99: 2}), CFG) == ["cross_team"]
    assert routing.review_reasons(LEAD, owned, best, _batch([best.rep], {99: 1}), CFG) == []
    assert routing.review_reasons(LEAD, ACCOUNT, None, _batch([]), CFG) == ["no_rep"]


def test_quiet_low_intent_needs_both_a_low_score_and_no_recent_event():
    quiet = NOW - timedelta(days=CFG["nurture"]["quiet_days"] + 1)
    assert routing.quiet_low_intent(_intent(score=5, last=quiet), CFG, NOW)
    assert routing.quiet_low_intent(_intent(score=5, last=None), CFG, NOW)
    assert not routing.quiet_low_intent(_intent(score=5, last=NOW - timedelta(days=1)), CFG, NOW)
    assert not routing.quiet_low_intent(_intent(score=CFG["nurture"]["max_score"], last=None), CFG, NOW)


def test_the_specialist_is_the_best_fit_after_the_first_rep():
    first, a, b = _scored(_rep(1), 90, 99), _scored(_rep(2), 80, 60), _scored(_rep(3), 70, 75)
    assert routing.pick_specialist([first, a, b]) is b
    assert routing.pick_specialist([first]) is None
    tie = _scored(_rep(4), 80, 75)
    assert routing.pick_specialist([first, b, tie]) is tie, "equal fit: the higher total"


def test_decide_gives_each_kind_its_status_and_deadline():
    best, other = _scored(_rep(1), 90, 50), _scored(_rep(2), 80, 70)
    batch = _batch([best.rep, other.rep])
    auto = routing.decide(LEAD, ACCOUNT, _intent(), [best, other], batch, CFG, NOW)
    assert auto == Decision("auto", "assigned", best, None, NOW + timedelta(hours=72), [])
    dual = routing.decide(LEAD, ACCOUNT, _intent(score=90, tier="S"), [best, other], batch, CFG, NOW)
    assert (dual.kind, dual.specialist, dual.respond_by) == ("dual", other, NOW + timedelta(hours=24))
    nurture = routing.decide(LEAD, ACCOUNT, _intent(score=1, last=None), [best, other], batch, CFG, NOW)
    assert (nurture.kind, nurture.status, nurture.respond_by) == ("nurture", "nurture", None)
    review = routing.decide(LEAD, ACCOUNT, _intent(), [], _batch([]), CFG, NOW)
    assert (review.kind, review.status, review.best, review.review) == ("review", "pending_review", None, ["no_rep"])


def test_the_decision_row_and_the_report_line_agree_and_a_dry_run_is_marked():
    best = _scored(_rep(1, login="zhangwei"), 87.26, 50)
    d = Decision("auto", "assigned", best, None, NOW + timedelta(hours=72), [])
    row = routing.decision_row(LEAD, d, best.rep, _intent(), {"r": 1}, confidence=0.7, version=3, now=NOW, dry_run=True)
    assert (row["status"], row["score"], row["rep_id"], row["decided_at"], row["weights_version"]) == ("dry_run", 87.3, 1, NOW, 3)
    line = routing.routed_lead(LEAD, row, d, best.rep)
    assert (line.rep, line.status, line.score, line.respond_by, line.decision_id) == ("zhangwei", "dry_run", 87.3, "2026-11-23 09:00", None)
    nurture = Decision("nurture", "nurture", best, None, None, [])
    row = routing.decision_row(LEAD, nurture, None, _intent(), {}, confidence=0.7, version=3, now=NOW, dry_run=False)
    assert (row["status"], row["score"], row["rep_id"]) == ("nurture", None, None)


def test_rep_info_turns_talk_seconds_into_minutes_and_reads_the_scores():
    u = SimpleNamespace(id=5, login="lina", name="李娜", name_en="Li Na", language="zh", team_id=1)
    load = RepLoad({5: 3600}, {5: 2}, {})
    r = routing.rep_info(u, {"needs": {"score": 71.0}, "empty": None}, 10, load)
    assert (r.talk_min, r.open_opps, r.open_leads, r.region_id) == (60.0, 2, 0, 10)
    assert r.scores == {"needs": 71.0, "empty": None}


def test_feedback_is_allowed_for_the_owner_the_decisions_reps_and_a_manager_of_the_owner():
    scope = SimpleNamespace(everything=False, owner_ids={8})
    rep = SimpleNamespace(user=SimpleNamespace(id=5, role="rep"), scope=scope)
    manager = SimpleNamespace(user=SimpleNamespace(id=6, role="manager"), scope=scope)
    lead = SimpleNamespace(owner_id=8)
    assert not routing.may_give_feedback(rep, lead, None)
    assert routing.may_give_feedback(rep, lead, SimpleNamespace(rep_id=1, specialist_id=5))
    assert routing.may_give_feedback(rep, SimpleNamespace(owner_id=5), None)
    assert routing.may_give_feedback(manager, lead, None)
    assert not routing.may_give_feedback(manager, SimpleNamespace(owner_id=9), None)


def test_the_batch_tables_add_up_on_the_demo_company(demo_session):
    load = routing.rep_load(demo_session, NOW, CFG)
    open_opps = demo_session.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.stage.in_(OPEN_STAGES)))
    assert sum(load.open_opps.values()) == open_opps > 0
    wins_account, wins_segment = routing.won_deals(demo_session, NOW)
    assert sum(wins_account.values()) == sum(wins_segment.values()) > 0
    batch = routing.load_batch(demo_session, NOW)
    assert all(len(fits) == len(batch.reps) for fits in routing.scenario_fits(batch.reps).values())


def test_the_cli_prints_a_routing_run_and_a_backtest_in_the_askers_language():
    from cli.leads_intel import _print_backtest, _print_routing
    from cli.state import console

    def en(zh, en):
        return en

    run = {"routed": 1, "weights_version": 2, "by_kind": {"auto": 1}, "skipped": 0,
           "leads": [{"lead_id": 7, "lead": "ultrasound", "kind": "auto", "rep": "zhangwei", "specialist": None, "intent_score": 40,
                      "tier": "B", "score": 87.3, "respond_by": "2026-11-23 09:00", "review_reasons": [], "decision_id": 11}]}
    with console.capture() as cap:
        _print_routing(run, en, dry_run=True)
    text = cap.get()
    assert "dry run: nothing stored" in text and "#7" in text and "skipped (already assigned" in text
    bt = {"weights_version": 2, "leads": 10, "owner_was_engine_top3": {"leads": 6, "converted": 3, "conversion": 0.5},
          "owner_not_engine_top3": {"leads": 4, "converted": 1, "conversion": 0.25}, "conversion_lift_pts": 25.0, "method": "Estimate."}
    with console.capture() as cap:
        _print_backtest(bt, en)
    text = cap.get()
    assert "Backtest (weights v2, 10 leads)" in text and "50.0%" in text and "Difference: 25.0 points. Estimate." in text
