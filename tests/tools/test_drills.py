"""Coaching drills: the weekly list follows the gaps, who may assign and complete, and completion
stores a baseline that later calls are compared with."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import NotFoundError, PermissionDenied, UserInputError
from crm.models import AuditLog, Call, CallMetric, Drill, DrillAssignment
from tests.tools.conftest import NOW, make_ctx
from tools.calls import recompute_call_metrics
from tools.capability import CallRow
from tools.drills import (
    assign_drill,
    complete_assignment,
    list_drills,
    progress,
    repetitions_for,
    week_of,
    weekly_tasks,
)

DRILLS = [("pain-pause", "needs_discovery"), ("why-ladder", "needs_discovery"), ("price-objection", "objection_handling"),
          ("tender-policy", "policy_interpretation")]


def test_week_runs_monday_to_sunday():
    assert week_of(date(2026, 11, 20)) == (date(2026, 11, 16), date(2026, 11, 22))  # a Friday
    assert week_of(date(2026, 11, 16)) == (date(2026, 11, 16), date(2026, 11, 22))


def test_repetitions_grow_with_the_gap_from_one_to_three():
    assert [repetitions_for(g) for g in (0.5, 10.0, 10.1, 25.0, 80.0)] == [1, 1, 2, 3, 3]


def test_weekly_tasks_pick_per_gap_the_drill_whose_metric_the_rep_ranks_lowest():
    gaps = [{"dimension": "needs_discovery", "gap": 24.0}, {"dimension": "objection_handling", "gap": 4.0},
            {"dimension": "solution_matching", "gap": 2.0}]
    dims = {"needs_discovery": {"inputs": {"pain_point_pause_s": {"rank": 10.0}, "why_question_share": {"rank": 55.0}}},
            "objection_handling": {"inputs": {"patience_s": {"rank": 30.0}}},
            "solution_matching": {"inputs": {}}}
    drills = [{"code": c, "dimension": d} for c, d in DRILLS]
    metrics = {"pain-pause": "pain_point_pause_s", "why-ladder": "why_question_share", "price-objection": "patience_s"}
    tasks = weekly_tasks(gaps, dims, drills, metrics)
    assert [(t["code"], t["times"]) for t in tasks] == [("pain-pause", 3), ("price-objection", 1)]  # no solution drill exists
    dims["needs_discovery"]["inputs"]["why_question_share"]["rank"] = 5.0
    assert weekly_tasks(gaps, dims, drills, metrics)[0]["code"] == "why-ladder"


def test_progress_compares_calls_after_completion_with_the_baseline_in_the_metrics_direction():
    baseline = {"measured": True, "inputs": {"pain_point_pause_s": {"value": 1.0}, "interruptions": {"value": 2.0}}}
    after = [CallRow(1, datetime(2026, 12, 1), {"pain_point_pause_s": 2.0, "interruptions": 3.0}),
             CallRow(2, datetime(2026, 12, 2), {"pain_point_pause_s": 1.5, "interruptions": None})]
    assert progress(baseline, after, "pain_point_pause_s") == {
        "status": "measured", "metric": "pain_point_pause_s", "baseline": 1.0, "current": 1.75, "change": 0.75,
        "improved": True, "calls_since": 2}
    worse = progress(baseline, after, "interruptions")
    assert (worse["current"], worse["improved"], worse["calls_since"]) == (3.0, False, 1)
    assert progress(baseline, [], "pain_point_pause_s")["status"] == "no_calls_since"
    assert progress({"measured": False}, after, None) == {"status": "not_measured"}


# -- on a database -------------------------------------------------------------------------------
@pytest.fixture
def drilled(tiny):
    """The tiny company with the drill catalogue and three calls of rep1 (pain-point pause 1, 2, 3 s)."""
    for code, dim in DRILLS:
        tiny.add(lambda ids, code=code, dim=dim: Drill(code=code, dimension=dim, title_zh=f"练习{code}", title_en=f"drill {code}",
                                                        description_zh="说明", description_en="how"))
    for day, pause in ((3, 1.0), (2, 2.0), (1, 3.0)):
        call_id = tiny.add(lambda ids, day=day: Call(rep_id=ids["rep1"], account_id=ids["acct"], started_at=NOW - timedelta(days=day),
                                                     duration_s=600.0, language="zh"))
        with tiny.session() as s:
            s.add_all([CallMetric(call_id=call_id, name="pain_point_pause_s", value=pause),
                       CallMetric(call_id=call_id, name="why_question_share", value=0.1)])
            s.commit()
    return tiny


def test_trainers_and_managers_assign_reps_and_other_teams_managers_may_not(drilled):
    with drilled.session() as s:
        with pytest.raises(PermissionDenied, match="trainers and managers"):
            assign_drill(ctx=make_ctx(s, "rep1", language="en"), drill_code="pain-pause", rep_login="rep1")
        with pytest.raises(PermissionDenied):
            assign_drill(ctx=make_ctx(s, "mgr2"), drill_code="pain-pause", rep_login="rep1")
        by_trainer = assign_drill(ctx=make_ctx(s, "trainer"), drill_code="pain-pause", rep_login="rep3", times=2)
        by_manager = assign_drill(ctx=make_ctx(s, "mgr1"), drill_code="why-ladder", rep_login="rep1", due=date(2026, 11, 30))
        s.commit()
        rows = {a.id: a for a in s.scalars(select(DrillAssignment))}
        audit = list(s.scalars(select(AuditLog.action).where(AuditLog.action == "drill.assign")))
    assert by_trainer.created and by_manager.created
    t = rows[by_trainer.assignment.id]
    assert (t.user_id, t.repetitions, t.due_date, t.completed_at) == (drilled["rep3"], 2, week_of(NOW.date())[1], None)
    assert rows[by_manager.assignment.id].due_date == date(2026, 11, 30)
    assert rows[by_manager.assignment.id].assigned_by_id == drilled["mgr1"]
    assert len(audit) == 2


def test_assigning_the_same_open_drill_again_adds_nothing_and_bad_input_is_refused(drilled):
    with drilled.session() as s:
        ctx = make_ctx(s, "mgr1", language="en")
        first = assign_drill(ctx=ctx, drill_code="pain-pause", rep_login="rep1", due=date(2026, 11, 27))
        again = assign_drill(ctx=ctx, drill_code="pain-pause", rep_login="rep1", due=date(2026, 11, 27))
        with pytest.raises(UserInputError, match="past"):
            assign_drill(ctx=ctx, drill_code="pain-pause", rep_login="rep1", due=date(2026, 11, 1))
        with pytest.raises(NotFoundError, match="pain-pause"):
            assign_drill(ctx=ctx, drill_code="no-such-drill", rep_login="rep1")
        s.commit()
        n = len(list(s.scalars(select(DrillAssignment))))
    assert first.created and not again.created and again.assignment.id == first.assignment.id and n == 1


def test_completing_stores_the_baseline_and_later_calls_show_progress(drilled):
    with drilled.session() as s:
        a = assign_drill(ctx=make_ctx(s, "mgr1"), drill_code="pain-pause", rep_login="rep1").assignment
        with pytest.raises(PermissionDenied):
            complete_assignment(ctx=make_ctx(s, "rep2"), assignment_id=a.id)
        done = complete_assignment(ctx=make_ctx(s, "rep1"), assignment_id=a.id)
        again = complete_assignment(ctx=make_ctx(s, "rep1", now=NOW + timedelta(days=1)), assignment_id=a.id)
        s.commit()
        row = s.get(DrillAssignment, a.id)
    assert done.created
    assert not again.created and row.completed_at == NOW
    assert row.baseline["measured"] is True and row.baseline["dimension"] == "needs_discovery"
    assert row.baseline["inputs"]["pain_point_pause_s"] == {"value": 2.0, "calls": 3}
    assert done.assignment.progress["status"] == "no_calls_since"
    later = drilled.add(lambda ids: Call(rep_id=ids["rep1"], account_id=ids["acct"], started_at=NOW + timedelta(days=2),
                                         duration_s=600.0, language="zh"))
    with drilled.session() as s:
        s.add(CallMetric(call_id=later, name="pain_point_pause_s", value=2.5))
        s.commit()
        plan = list_drills(ctx=make_ctx(s, "rep1", now=NOW + timedelta(days=3)))
    shown = next(x for x in plan.assignments if x.id == a.id)
    assert shown.status == "done"
    assert (shown.progress["baseline"], shown.progress["current"], shown.progress["improved"]) == (2.0, 2.5, True)


def test_a_drill_not_measured_from_calls_is_stored_as_such(drilled):
    with drilled.session() as s:
        a = assign_drill(ctx=make_ctx(s, "trainer"), drill_code="tender-policy", rep_login="rep1").assignment
        done = complete_assignment(ctx=make_ctx(s, "trainer"), assignment_id=a.id)
        s.commit()
    assert done.assignment.baseline["measured"] is False
    assert done.assignment.progress == {"status": "not_measured"}


def test_open_assignments_past_their_due_date_are_overdue_and_a_rep_sees_only_their_own(drilled):
    with drilled.session() as s:
        a = assign_drill(ctx=make_ctx(s, "mgr1"), drill_code="why-ladder", rep_login="rep1").assignment
        s.commit()
        late = list_drills(ctx=make_ctx(s, "rep1", now=NOW + timedelta(days=10)))
        with pytest.raises(PermissionDenied):
            list_drills(ctx=make_ctx(s, "rep2"), rep_login="rep1")
    assert [(x.id, x.status) for x in late.assignments] == [(a.id, "overdue")]


def test_on_the_demo_each_gap_gets_a_drill_of_its_dimension_this_week(demo_session):
    recompute_call_metrics(demo_session)
    plan = list_drills(ctx=make_ctx(demo_session, "linfang", language="zh"), rep_login="magang")
    from tools.capability import rep_profile

    gaps = rep_profile(ctx=make_ctx(demo_session, "linfang"), rep_login="magang").gaps
    catalogue = {d.code: d.dimension for d in demo_session.scalars(select(Drill))}
    assert plan.tasks and [t["dimension"] for t in plan.tasks] == [g["dimension"] for g in gaps if g["dimension"] in catalogue.values()]
    for t, g in zip(plan.tasks, gaps, strict=False):
        assert catalogue[t["code"]] == g["dimension"] and t["times"] == repetitions_for(g["gap"])
        assert f"{t['times']} 次" in t["text"]
    assert (plan.week_start, plan.week_end) == tuple(d.isoformat() for d in week_of(NOW.date()))


def test_a_drill_links_to_its_practice_scenario_only_when_the_scenario_file_exists(tmp_path):
    from tools.drills import practice_scenario

    assert practice_scenario("price-talk", "price-objection", "zhangwei", folder=tmp_path / "missing") is None
    assert practice_scenario("price-talk", "price-objection", "zhangwei", folder=tmp_path) is None
    (tmp_path / "price-talk.yaml").write_text("code: price-talk\ntitle: {zh: 价格异议演练, en: Price objection role-play}\n", encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("code: [unclosed\n", encoding="utf-8")
    (tmp_path / "budget.yaml").write_text("code: budget-rp\ndrills: [budget-objection]\n", encoding="utf-8")
    linked = practice_scenario("price-talk", "price-objection", "zhangwei", folder=tmp_path)
    assert linked == {"code": "price-talk", "title_zh": "价格异议演练", "title_en": "Price objection role-play",
                      "command": "repcopilot practice start price-talk --as zhangwei"}
    assert practice_scenario(None, "budget-objection", "lina", folder=tmp_path)["command"] == "repcopilot practice start budget-rp --as lina"
    assert practice_scenario(None, "why-ladder", "lina", folder=tmp_path) is None


def test_drill_views_show_the_linked_practice_command_and_an_exemplar_moment(drilled, tmp_path, monkeypatch):
    import tools.drills as drills_module
    from crm.models import CallTurn

    (tmp_path / "pp.yaml").write_text("code: pp\ndrills: [pain-pause]\n", encoding="utf-8")
    monkeypatch.setattr(drills_module, "SCENARIOS_DIR", tmp_path)
    exemplar = drilled.add(lambda ids: Call(rep_id=ids["rep2"], account_id=ids["acct"], started_at=NOW - timedelta(days=9),
                                            duration_s=60.0, language="zh", is_exemplar=True))
    with drilled.session() as s:
        s.add_all([CallTurn(call_id=exemplar, idx=0, speaker="customer", start_s=1.0, end_s=5.0, text="我们最大的问题是设备经常停机"),
                   CallTurn(call_id=exemplar, idx=1, speaker="rep", start_s=7.4, end_s=9.0, text="为什么会经常停机?")])
        s.add(CallMetric(call_id=exemplar, name="pain_point_pause_s", value=2.4))
        s.commit()
        a = assign_drill(ctx=make_ctx(s, "mgr1"), drill_code="pain-pause", rep_login="rep1").assignment
        s.commit()
        plan = list_drills(ctx=make_ctx(s, "rep1"))
    shown = next(x for x in plan.assignments if x.id == a.id)
    assert shown.practice["command"] == "repcopilot practice start pp --as rep1"
    assert shown.exemplar["call_id"] == exemplar and shown.exemplar["time"] == "00:01–00:09"
    assert "(2.4s)" in shown.exemplar["text"] and "为什么会经常停机" in shown.exemplar["text"]
