"""The copilot graph: routing, tool execution with the injected context, follow-ups kept by the checkpointer."""

from __future__ import annotations

import sqlite3

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from agent.graph import route_after_plan
from agent.planners import OfflinePlanner, detect_language, route_intent
from agent.service import Copilot
from crm.access import get_user
from crm.db import session_factory
from tools.context import ToolContext


def test_router_sends_tool_calls_to_run_tools_and_answers_to_the_end():
    call = {"name": "x", "args": {}, "id": "1", "type": "tool_call"}
    assert route_after_plan({"messages": [AIMessage(content="", tool_calls=[call])]}) == "run_tools"
    assert route_after_plan({"messages": [AIMessage(content="done")]}) == "__end__"


def test_router_refuses_a_state_the_planner_cannot_produce():
    with pytest.raises(ValueError):
        route_after_plan({"messages": [HumanMessage(content="hi")]})


@pytest.mark.parametrize("question, intent", [
    ("医院客户说价格太贵怎么回答?", "knowledge_search"),
    ("How do I answer 'your price is too high' for a hospital?", "knowledge_search"),
    ("复盘我最近的一次通话", "call_debrief"),
    ("Debrief my last call", "call_debrief"),
    ("苏州市第八人民医院这条线索怎么样?", "lead_lookup"),
    ("Is the Helios Wind lead ready to buy? why?", "lead_lookup"),
    ("给我看看这个客户的旅程", "journey_timeline"),
    ("Show the journey timeline of Helios Wind", "journey_timeline"),
    ("合肥医科大学附属第二医院这条线索下一步怎么跟进?", "lead_lookup"),
    ("客户说已经有供应商了怎么办", "knowledge_search"),
    ("what is our discount policy?", "knowledge_search"),
    ("best practice for discovery calls", "knowledge_search"),
    ("北京明天天气怎么样", None),
    ("我的建议", "suggestions"),
    ("list my open suggestions", "suggestions"),
    ("AI建议采纳率是多少", "kpi_query"),  # a KPI question; the old keyword router sent it on by another path
    ("今天天气怎么", None),
    ("Write me a poem", None),
])
def test_offline_intent_routing_is_bilingual(question, intent):
    assert route_intent(question) == intent


def test_language_follows_the_question():
    assert detect_language("这条线索怎么样") == "zh"
    assert detect_language("how is this lead") == "en"


def test_language_is_the_sentence_frame_not_the_names_inside_it():
    assert detect_language("Helios Wind Systems AG (Suzhou)的线索怎么样") == "zh"
    assert detect_language("How is the 宁波宏达风电 lead?") == "en"


def test_a_follow_up_in_the_same_thread_reuses_the_focus_and_another_thread_does_not(demo_engine, echo_tool, tmp_path):
    conn = sqlite3.connect(tmp_path / "cp.sqlite", check_same_thread=False)
    copilot = Copilot(planner=OfflinePlanner(), checkpointer=SqliteSaver(conn))
    with session_factory(demo_engine)() as session:
        ctx = ToolContext(user=get_user(session, "zhangwei"), session=session)
        first = copilot.ask(ctx, "Tell me about lead 4242", thread_id="t1")
        assert first.tools == [{"name": "lead_lookup", "args": {"query": "Tell me about lead 4242"}}]
        assert first.evidence == [{"kind": "lead", "id": "42", "time": None, "text": "x"}]
        assert first.confidence == 0.7 and first.language == "en"
        follow = copilot.ask(ctx, "and what about its intent?", thread_id="t1")
        assert follow.tools[0]["args"]["lead_id"] == 42
        fresh = copilot.ask(ctx, "and what about its intent?", thread_id="t2")
        assert "lead_id" not in fresh.tools[0]["args"]
    conn.close()


def test_a_refusing_tool_becomes_a_refusal_answer_not_a_crash(demo_engine, echo_tool):
    copilot = Copilot(planner=OfflinePlanner())
    with session_factory(demo_engine)() as session:
        ctx = ToolContext(user=get_user(session, "zhangwei"), session=session)
        answer = copilot.ask(ctx, "how is the forbidden Helios Wind lead?")
    assert answer.refused and answer.answer == "not yours"


def test_an_out_of_scope_question_says_what_the_copilot_can_do_in_the_users_language(demo_engine, echo_tool):
    copilot = Copilot(planner=OfflinePlanner())
    with session_factory(demo_engine)() as session:
        ctx = ToolContext(user=get_user(session, "zhangwei"), session=session)
        zh = copilot.ask(ctx, "今天天气好吗")
        en = copilot.ask(ctx, "write me a poem")
    assert zh.tools == [] and "我可以帮你" in zh.answer
    assert en.tools == [] and "I can help with" in en.answer


@pytest.mark.parametrize("question, action, sid", [
    ("采纳建议 12", "adopt", 12),
    ("忽略建议#7", "dismiss", 7),
    ("adopt suggestion 12", "adopt", 12),
    ("Dismiss suggestion #30", "dismiss", 30),
])
def test_a_suggestion_decision_is_routed_with_its_id_in_both_languages(question, action, sid, demo_engine):
    from agent.tools import REGISTRY

    with session_factory(demo_engine)() as session:
        ctx = ToolContext(user=get_user(session, "zhangwei"), session=session)
        state = {"messages": [HumanMessage(content=question)]}
        msg = OfflinePlanner().plan(state, ctx, list(REGISTRY.values()))
    assert [(c["name"], c["args"]) for c in msg.tool_calls] == [("suggestions", {"action": action, "suggestion_id": sid})]


def _thread(demo_engine, login, questions):
    from langgraph.checkpoint.memory import InMemorySaver

    copilot = Copilot(planner=OfflinePlanner(), checkpointer=InMemorySaver())
    with session_factory(demo_engine)() as session:
        ctx = ToolContext(user=get_user(session, login), session=session)
        return [copilot.ask(ctx, q, thread_id="t") for q in questions]


def test_a_kpi_follow_up_keeps_the_metric_and_changes_only_the_period_or_breakdown(demo_engine):
    first, period, by_team = _thread(demo_engine, "wangjianhua", ["上个月赢单率是多少?", "那本季度呢?", "按区域呢?"])
    spec0 = first.tools[0]["args"]
    assert spec0 == {"question": "上个月赢单率是多少?"}
    assert [t["name"] for t in period.tools] == ["kpi_query"] and period.tools[0]["args"]["base_spec"]["metric"] == "win_rate"
    assert "赢单率" in period.answer and "赢单率" in by_team.answer
    assert by_team.tools[0]["args"]["base_spec"]["period"] != spec0  # chained from the follow-up, not the first question
    assert "华东" in by_team.answer and "华南" in by_team.answer


def test_after_a_debrief_this_customers_journey_is_the_calls_account(demo_engine):
    from sqlalchemy import select

    from crm.models import Account, Call, User

    with session_factory(demo_engine)() as session:
        rep = session.scalar(select(User).where(User.login == "davidchen"))
        call = session.scalars(select(Call).where(Call.rep_id == rep.id, Call.account_id.is_not(None)).order_by(Call.id)).first()
        account = session.get(Account, call.account_id)
    debrief, journey = _thread(demo_engine, "davidchen", [f"Debrief call {call.id}", "and this customer's journey?"])
    assert debrief.tools[0]["args"] == {"call_id": call.id}
    assert journey.tools[0]["name"] == "journey_timeline" and journey.tools[0]["args"]["account_id"] == account.id
    assert (account.name_en or account.name) in journey.answer
