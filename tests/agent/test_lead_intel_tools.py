"""The copilot's lead-intelligence tools: "who should take this lead?" / "why was it routed to me?"
(lead_routing) and "my alerts" / "adopt alert 5" / "why alert 5" (alerts), routed in both languages
without taking the alert KPIs' questions; access comes from the asking user, and an adopt through
the chat changes the alert once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from agent.planners import OfflinePlanner, route_intent
from agent.service import Copilot
from agent.tools import run_tool
from crm.access import get_user
from crm.models import Alert, AuditLog, Lead, RoutingDecision, User
from evals.demo import NOON
from tests.agent.conftest import noon_ctx, pending_in_region_of, planned_call
from tools.context import ToolContext


@pytest.mark.parametrize("question, focus, call", [
    ("这条线索该分给谁?", {"lead_id": 638}, ("lead_routing", {"mode": "who", "lead_id": 638})),
    ("线索638谁来跟进最合适?", {}, ("lead_routing", {"mode": "who", "lead_id": 638})),
    ("who should take lead 638?", {}, ("lead_routing", {"mode": "who", "lead_id": 638})),
    ("who is the best rep for the Helios Wind lead?", {},
     ("lead_routing", {"mode": "who", "query": "who is the best rep for the Helios Wind lead?"})),
    ("为什么这条线索分给我?", {}, ("lead_routing", {"mode": "why"})),
    ("线索638为什么分配给我", {}, ("lead_routing", {"mode": "why", "lead_id": 638})),
    ("why was lead 638 routed to me?", {}, ("lead_routing", {"mode": "why", "lead_id": 638})),
    ("why did I get this lead?", {"lead_id": 887}, ("lead_routing", {"mode": "why", "lead_id": 887})),
    ("我的提醒", {}, ("alerts", {"action": "list"})),
    ("有什么新的信号提醒?", {}, ("alerts", {"action": "list"})),
    ("my alerts", {}, ("alerts", {"action": "list"})),
    ("any alerts for me?", {}, ("alerts", {"action": "list"})),
    ("show escalated alerts", {}, ("alerts", {"action": "list", "status": "escalated"})),
    ("采纳提醒 5", {}, ("alerts", {"action": "adopt", "alert_id": 5})),
    ("dismiss alert 5", {}, ("alerts", {"action": "dismiss", "alert_id": 5})),
    ("为什么提醒 5", {}, ("alerts", {"action": "explain", "alert_id": 5})),
    ("why alert 5", {}, ("alerts", {"action": "explain", "alert_id": 5})),
])
def test_routing_and_alert_questions_are_routed_in_both_languages(demo_session, question, focus, call):
    assert planned_call(demo_session, "chenjing", question, focus) == call


@pytest.mark.parametrize("question", ["上个月各规则的提醒采纳率", "提醒采纳率", "alert adoption rate by rule last month",
                                      "本月信号提醒数量是多少"])
def test_alert_kpis_stay_kpi_questions(demo_session, question):
    assert planned_call(demo_session, "chenjing", question)[0] == "kpi_query"


@pytest.mark.parametrize("question, intent", [("采纳建议 12", None), ("线索638怎么样", "lead_lookup"),
                                              ("How is the Helios Wind lead?", "lead_lookup")])
def test_other_routes_stay(demo_session, question, intent):
    assert planned_call(demo_session, "zhangwei", question)[0] not in ("lead_routing", "alerts", "review_queue")
    if intent:
        assert route_intent(question) == intent


_ctx = noon_ctx


def _colleagues_lead(session, login: str) -> int:
    me = get_user(session, login)
    other = session.scalar(select(User.id).where(User.team_id == me.team_id, User.role == "rep", User.id != me.id).order_by(User.id))
    return session.scalar(select(Lead.id).where(Lead.owner_id == other).order_by(Lead.id).limit(1))


def test_a_rep_asking_who_should_take_a_colleagues_lead_is_refused_without_data(intel_session):
    lead_id = _colleagues_lead(intel_session, "zhangwei")
    out = run_tool("lead_routing", {"mode": "who", "lead_id": lead_id}, _ctx(intel_session, "zhangwei"))
    assert out.error == "permission" and not out.data and not out.evidence and "候选" not in out.text
    manager = run_tool("lead_routing", {"mode": "who", "lead_id": lead_id}, _ctx(intel_session, "chenjing", "en"))
    assert manager.error is None and manager.data["candidates"] and "Candidates" in manager.text
    assert [e.kind for e in manager.evidence][:1] == ["lead"] and all(e.kind == "touchpoint" for e in manager.evidence[1:])


def test_trainers_are_refused_routing_and_alerts(intel_session):
    ctx = _ctx(intel_session, "linfang")
    for name, args in [("lead_routing", {"mode": "who", "lead_id": 638}), ("lead_routing", {"mode": "why"}),
                       ("alerts", {"action": "list"}), ("alerts", {"action": "explain", "alert_id": 1})]:
        out = run_tool(name, args, ctx)
        assert out.error == "permission" and not out.data, (name, args)


def test_why_gives_the_stored_decision_with_factors_events_and_confidence(intel_session):
    rep_id = intel_session.scalar(select(RoutingDecision.rep_id).where(RoutingDecision.status == "assigned").order_by(RoutingDecision.id))
    out = run_tool("lead_routing", {"mode": "why"}, _ctx(intel_session, intel_session.get(User, rep_id).login, "en"))
    assert out.error is None and "Factors and weights" in out.text and len(out.data["factors"]) == 5
    assert out.evidence[0].kind == "routing_decision" and 1 <= len(out.evidence) - 1 <= 5
    assert out.confidence == out.data["confidence"]


def test_an_adopt_through_the_chat_changes_the_alerts_status_once(intel_session):
    me = get_user(intel_session, "zhangwei")
    alert_id = intel_session.scalar(select(Alert.id).where(Alert.owner_id == me.id, Alert.status == "shown").order_by(Alert.id))
    copilot = Copilot(planner=OfflinePlanner())
    first = copilot.ask(_ctx(intel_session, "zhangwei"), f"采纳提醒 {alert_id}")
    again = copilot.ask(_ctx(intel_session, "zhangwei"), f"采纳提醒 {alert_id}")
    assert [t["name"] for t in first.tools] == ["alerts"] and f"提醒 #{alert_id} 已记为已采纳" in first.answer
    assert intel_session.get(Alert, alert_id).status == "adopted" and "已采纳" in again.answer
    logged = intel_session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "alert.adopted",
                                                                                    AuditLog.target == f"alert:{alert_id}"))
    assert logged == 1
    flipped = copilot.ask(_ctx(intel_session, "zhangwei"), f"忽略提醒 {alert_id}")
    assert intel_session.get(Alert, alert_id).status == "adopted" and not flipped.refused


def test_a_rep_cannot_act_on_a_colleagues_alert(intel_session):
    me = get_user(intel_session, "zhangwei")
    other = intel_session.scalar(select(Alert.id).where(Alert.owner_id != me.id, Alert.owner_id.in_(
        select(User.id).where(User.role == "rep"))).order_by(Alert.id))
    answer = Copilot(planner=OfflinePlanner()).ask(_ctx(intel_session, "zhangwei", "en"), f"adopt alert {other}")
    assert answer.refused and intel_session.get(Alert, other).status == "shown"


def test_anonymized_mode_shows_counts_only_in_routing_and_alert_answers(intel_session):
    from crm.models import Contact

    rep_id = intel_session.scalar(select(RoutingDecision.rep_id).where(RoutingDecision.status == "assigned").order_by(RoutingDecision.id))
    rep = intel_session.get(User, rep_id)
    alert_id = intel_session.scalar(select(Alert.id).where(Alert.owner_id == rep_id).order_by(Alert.id)) or 1
    ctx = ToolContext(user=rep, session=intel_session, clock=lambda: NOON, anonymized=True)
    titles = {t for t in intel_session.scalars(select(Contact.title)) if t}
    for name, args in [("lead_routing", {"mode": "why"}), ("lead_routing", {"mode": "who", "lead_id": intel_session.scalar(
            select(RoutingDecision.lead_id).where(RoutingDecision.rep_id == rep_id))}),
                       ("alerts", {"action": "list"}), ("alerts", {"action": "explain", "alert_id": alert_id})]:
        out = run_tool(name, args, ctx)
        assert out.error is None and all(e.kind != "touchpoint" for e in out.evidence), (name, args)
        assert not [t for t in titles if f"({t})" in out.text or f"({t})" in out.text], (name, args)


# -- the review queue from the chat (the human circuit breaker) ---------------------------------------------

@pytest.mark.parametrize("question, call", [
    ("审核队列", ("review_queue", {"action": "list"})),
    ("有哪些待审核的线索?", ("review_queue", {"action": "list"})),
    ("show the review queue", ("review_queue", {"action": "list"})),
    ("批准分配 12", ("review_queue", {"action": "approve", "decision_id": 12})),
    ("approve decision 12", ("review_queue", {"action": "approve", "decision_id": 12})),
    ("把分配 12 改派给李娜", ("review_queue", {"action": "override", "decision_id": 12, "rep": "李娜"})),
    ("override decision 12 to lina", ("review_queue", {"action": "override", "decision_id": 12, "rep": "lina"})),
])
def test_review_queue_questions_are_routed_in_both_languages(demo_session, question, call):
    assert planned_call(demo_session, "chenjing", question) == call


def test_a_manager_lists_the_queue_and_approves_from_the_chat_and_a_rep_cannot(intel_session):
    pending = [d for d in intel_session.scalars(select(RoutingDecision).where(RoutingDecision.status == "pending_review"))]
    manager = next(m for m in ("chenjing", "huanglei", "zhaomin") if pending_in_region_of(intel_session, m))
    d = pending_in_region_of(intel_session, manager)
    listed = run_tool("review_queue", {"action": "list"}, _ctx(intel_session, manager))
    assert f"#{d.id} " in listed.text and len(pending) >= 1
    refused = run_tool("review_queue", {"action": "approve", "decision_id": d.id}, _ctx(intel_session, "zhangwei"))
    assert refused.error == "permission" and intel_session.get(RoutingDecision, d.id).status == "pending_review"
    done = run_tool("review_queue", {"action": "approve", "decision_id": d.id}, _ctx(intel_session, manager))
    lead = intel_session.get(Lead, d.lead_id)
    assert intel_session.get(RoutingDecision, d.id).status == "approved" and lead.owner_id == d.rep_id
    assert f"#{d.id}" in done.text and "已批准" in done.text


def test_an_override_from_the_chat_names_the_rep_by_name_and_records_who_decided(intel_session):
    manager = next(m for m in ("chenjing", "huanglei", "zhaomin") if pending_in_region_of(intel_session, m))
    d = pending_in_region_of(intel_session, manager)
    other = intel_session.scalar(select(User).where(User.team_id == get_user(intel_session, manager).team_id,
                                                    User.role == "rep", User.id != d.rep_id, User.left_at.is_(None),
                                                    User.away_until.is_(None)).order_by(User.id))
    out = run_tool("review_queue", {"action": "override", "decision_id": d.id, "rep": other.name}, _ctx(intel_session, manager))
    row = intel_session.get(RoutingDecision, d.id)
    assert (row.status, row.rep_id, row.decided_by_id) == ("overridden", other.id, get_user(intel_session, manager).id)
    assert intel_session.get(Lead, d.lead_id).owner_id == other.id and other.login in out.text
