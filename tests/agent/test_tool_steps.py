"""The named steps the tool bodies, Copilot.stream and the offline planner were split into: each
step on small real inputs (plain records where a step only reads attributes, the demo company
where it reads the database), with exact values."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage

from agent.planners import (
    coaching_of_another_rep,
    kpi_refinement,
    same_view_of_another_account,
)
from agent.service import ToolResults, answer_token, tool_status_events
from agent.tools.alerts import alert_line
from agent.tools.call_debrief import metric_label
from agent.tools.capability_gaps import (
    gap_lines,
    profile_confidence,
    reps_without_gaps,
    team_gap_line,
)
from agent.tools.coaching_drills import team_drill_line
from agent.tools.journey_timeline import journey_period
from agent.tools.lead_routing import who_should_take_lines
from agent.tools.review_queue import override_rep
from tests.agent.conftest import noon_ctx
from tools.context import ToolContext


def _ctx(language: str = "en", login: str = "asker", user_id: int = 1) -> ToolContext:
    """A context for steps that only read the asker and the clock (no database)."""
    return ToolContext(user=SimpleNamespace(id=user_id, login=login, role="manager"), session=None, language=language,
                       clock=lambda: datetime(2026, 11, 20, 12))


def _rep(login: str, gaps: list, scores: dict) -> SimpleNamespace:
    return SimpleNamespace(login=login, name=login.title(), gaps=gaps, dimensions={k: {"score": v} for k, v in scores.items()})


CALL = {"call_id": 65, "date": "2026-11-02", "label": "pause after pain point", "value": 0.4, "top_quartile": 1.2,
        "moment": {"time": "03:12", "text": "so the budget is fixed"}}


# -- capability gaps -----------------------------------------------------------------------------

def test_reps_without_gaps_split_fully_scored_from_too_few_calls_in_the_given_order():
    with_gap = _rep("a", [{"gap": 5}], {"discovery": 40})
    none_1, none_2 = _rep("b", [], {"discovery": 80}), _rep("c", [], {"discovery": 90})
    unscored = _rep("d", [], {"discovery": None})
    assert reps_without_gaps([with_gap, none_1, unscored, none_2]) == ([none_1, none_2], [unscored])


def test_profile_confidence_grows_with_scored_dimensions_and_calls():
    view = lambda calls, score: SimpleNamespace(calls_used=calls, dimensions={"d": {"score": score}})  # noqa: E731
    assert [profile_confidence(view(9, None)), profile_confidence(view(4, 50)), profile_confidence(view(5, 50))] == [0.3, 0.6, 0.85]


def test_a_gap_lists_each_call_with_its_moment_and_each_call_is_evidence():
    evidence = []
    gap = {"label": "Discovery", "score": 42.0, "top_quartile": 70.0, "gap": 28.0, "calls": [CALL, {**CALL, "call_id": 66, "moment": None}]}
    lines = gap_lines(_ctx(), 2, gap, {"team_avg": 55.5}, evidence)
    assert lines[0] == "2. **Discovery** 42.0, top quartile 70.0 (28.0 points below; team average 55.5)"
    assert lines[1] == "   - call #65 (2026-11-02) pause after pain point 0.4, top quartile 1.2"
    assert lines[2] == "     [03:12] so the budget is fixed"
    assert len(lines) == 4  # the second call has no moment line
    assert [e.id for e in evidence] == ["65", "66"] and evidence[0].time == "03:12" and evidence[1].time == "2026-11-02"


def test_a_team_gap_line_cites_the_first_call_of_the_biggest_gap_only_when_there_is_one():
    evidence = []
    rep = _rep("wangfang", [{"label": "Discovery", "score": 40, "gap": 30, "calls": [CALL]},
                            {"label": "Objections", "score": 60, "gap": 5, "calls": []}], {})
    line = team_gap_line(_ctx(), rep, evidence)
    assert line == ("- Wangfang (wangfang): Discovery 40 (−30), Objections 60 (−5) · evidence call #65 "
                    "(2026-11-02, pause after pain point 0.4)")
    assert [(e.kind, e.id, e.text) for e in evidence] == [("call", "65", "wangfang: pause after pain point 0.4 / 1.2")]
    bare = _rep("magang", [{"label": "Discovery", "score": 40, "gap": 30, "calls": []}], {})
    assert team_gap_line(_ctx("zh"), bare, evidence) == "- Magang(magang):Discovery 40(差 30)"
    assert len(evidence) == 1


# -- coaching drills -----------------------------------------------------------------------------

def test_a_team_drill_line_counts_the_assigned_drills_not_done_and_the_overdue_ones():
    rep = SimpleNamespace(name="Gang Ma", login="magang")
    tasks = [{"title": "Ask why", "times": 3}, {"title": "Pause", "times": 2}]
    open_ = [SimpleNamespace(status="open"), SimpleNamespace(status="overdue")]
    assert team_drill_line(_ctx(), rep, tasks, open_) == "- Gang Ma (magang): Ask why×3, Pause×2; 2 assigned, not done (1 overdue)"
    assert team_drill_line(_ctx("zh"), rep, [], []) == "- Gang Ma(magang):无"


# -- call debrief, journey, routing, alerts --------------------------------------------------------

def test_a_metric_label_is_in_the_asker_language_and_falls_back_to_the_name():
    registry = {"talk_ratio": SimpleNamespace(label_zh="说话占比", label_en="talk ratio")}
    assert metric_label(_ctx("zh"), registry, "talk_ratio") == "说话占比"
    assert metric_label(_ctx("en"), registry, "talk_ratio") == "talk ratio"
    assert metric_label(_ctx("en"), registry, "unknown_metric") == "unknown_metric"


def test_the_journey_period_takes_the_dates_given_else_the_question_words_else_none():
    ctx = _ctx()
    assert journey_period(ctx, "the journey this year", "2026-01-01", "2026-02-01") == (date(2026, 1, 1), date(2026, 2, 1))
    assert journey_period(ctx, "journey of Acme", None, None) == (None, None)
    start, end = journey_period(ctx, "journey of Acme this year", None, None)
    assert start == date(2026, 1, 1) and end is not None and end > start
    with pytest.raises(ValueError):
        journey_period(ctx, "", "01/02/2026", None)


def test_who_should_take_lines_list_the_candidates_with_reasons_or_say_none_is_available():
    s = SimpleNamespace(lead_id=638, lead="Ultrasound", kind_label="auto-assign", intent_score=71, tier="A", weights_version=3,
                        candidates=[SimpleNamespace(name="Li Na", login="lina", score=82.5, reasons=["fit 90", "spare capacity 70"])],
                        specialist=None, review_reasons=[], events=[], confidence=0.8)
    lines = who_should_take_lines(_ctx(), s)
    assert lines[2:5] == ["Candidates (score = sum of each factor 0–100 × its weight):", "1. Li Na (lina) score 82.5",
                          "   fit 90; spare capacity 70"]
    assert lines[-1].startswith("Confidence: 0.80")
    s.candidates = []
    assert who_should_take_lines(_ctx(), s)[2] == "No rep is available right now (all on leave or gone)."


def test_an_alert_line_names_the_owner_only_when_it_is_not_the_asker(demo_session):
    from crm.models import User

    alert = SimpleNamespace(id=5, title="Intent jump", lead_id=638, lead="Ultrasound", status="escalated", owner="zhangwei",
                            action="call today")
    owner = demo_session.query(User).filter_by(login="zhangwei").one()
    manager = noon_ctx(demo_session, "huanglei")
    assert alert_line(manager, alert) == ("- #5 Intent jump · " + manager.t(
        f"线索 #638(Ultrasound)· 已升级,负责人 zhangwei({owner.name}) · 建议:call today",
        f"lead #638 (Ultrasound) · escalated, owner zhangwei ({owner.name_en}) · suggested: call today"))
    mine = noon_ctx(demo_session, "zhangwei")
    assert "负责人" not in alert_line(mine, alert) and "owner" not in alert_line(mine, alert)


def test_an_override_names_one_rep_by_login_or_by_a_name_that_matches_one(demo_session):
    ctx = noon_ctx(demo_session, "huanglei")
    assert override_rep(ctx, "magang") == "magang"
    assert override_rep(ctx, "马刚") == "magang"
    assert override_rep(ctx, "nobody-by-this-name") is None
    assert override_rep(ctx, None) is None


# -- Copilot.stream --------------------------------------------------------------------------------

def test_only_the_planner_words_are_answer_tokens():
    plan = {"langgraph_node": "plan_step"}
    assert answer_token(AIMessageChunk(content="Lead #432 is"), plan) == "Lead #432 is"
    assert answer_token(AIMessageChunk(content="x"), {"langgraph_node": "run_tools"}) == ""
    assert answer_token(AIMessage(content="", tool_calls=[{"name": "lead_lookup", "args": {}, "id": "1"}]), plan) == ""
    assert answer_token(HumanMessage(content="hi"), plan) == ""


def test_tool_results_gather_calls_evidence_confidences_images_and_a_permission_refusal():
    messages = [HumanMessage(content="q"),
                AIMessage(content="", tool_calls=[{"name": "kpi_query", "args": {"question": "q"}, "id": "1"},
                                                  {"name": "lead_lookup", "args": {}, "id": "2"}]),
                ToolMessage(content="a", tool_call_id="1", artifact={"evidence": [{"kind": "kpi"}], "confidence": 0.9,
                                                                      "images": ["c.png"]}),
                ToolMessage(content="b", tool_call_id="2", artifact={"evidence": [], "confidence": None, "error": "permission"}),
                AIMessage(content="done")]
    r = ToolResults.of(messages)
    assert r.tools == [{"name": "kpi_query", "args": {"question": "q"}}, {"name": "lead_lookup", "args": {}}]
    assert (r.evidence, r.confidences, r.images, r.refused) == ([{"kind": "kpi"}], [0.9], ["c.png"], True)
    assert ToolResults.of([ToolMessage(content="c", tool_call_id="3", artifact={"error": "not_found"})]).refused is False


def test_a_status_event_for_each_tool_call_the_plan_step_asks_for():
    update = {"plan_step": {"messages": [AIMessage(content="", tool_calls=[{"name": "lead_lookup", "args": {"lead_id": 432}, "id": "1"}])]}}
    assert list(tool_status_events(_ctx(), update)) == [
        ("status", {"tool": "lead_lookup", "args": {"lead_id": 432}, "text": "looking up lead #432 …"})]
    assert list(tool_status_events(_ctx(), {"run_tools": {"messages": []}})) == []


# -- OfflinePlanner.follow_up ------------------------------------------------------------------------

def _turn(question: str, focus: dict, tools: set[str], ctx=None) -> SimpleNamespace:
    return SimpleNamespace(question=question, focus=focus, tools=tools, ctx=ctx, slots=SimpleNamespace(reps=[], ids={}))


def test_a_kpi_refinement_keeps_the_previous_spec_only_after_a_kpi_answer():
    spec = {"metric": "win_rate"}
    focus = {"topic": "kpi_query", "kpi_spec": spec}
    assert kpi_refinement(_turn("那华南呢?", focus, {"kpi_query"})) == ("kpi_query", {"question": "那华南呢?", "base_spec": spec})
    assert kpi_refinement(_turn("那华南呢?", {**focus, "topic": "lead_lookup"}, {"kpi_query"})) is None
    assert kpi_refinement(_turn("那华南呢?", focus, {"lead_lookup"})) is None


def test_the_same_view_of_another_account_needs_a_short_follow_up_that_names_one():
    focus = {"topic": "journey_timeline"}
    assert same_view_of_another_account(_turn("and Acme Dental?", focus, {"journey_timeline"})) == \
        ("journey_timeline", {"query": "and Acme Dental?"})
    assert same_view_of_another_account(_turn("and him?", focus, {"journey_timeline"})) is None
    assert same_view_of_another_account(_turn("and Acme Dental?", {"topic": "kpi_query"}, {"journey_timeline"})) is None


def test_coaching_of_another_rep_links_the_rep_named_after_a_coaching_answer(demo_session):
    ctx = noon_ctx(demo_session, "huanglei", "en")
    focus = {"topic": "capability_gaps"}
    assert coaching_of_another_rep(_turn("and Gang Ma?", focus, {"capability_gaps"}, ctx)) == ("capability_gaps", {"rep": "magang"})
    assert coaching_of_another_rep(_turn("and Gang Ma?", {"topic": "lead_lookup"}, {"capability_gaps"}, ctx)) is None
    assert coaching_of_another_rep(_turn("what about it?", focus, {"capability_gaps"}, ctx)) is None
