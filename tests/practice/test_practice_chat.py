"""Practice from the copilot chat: a request in either language starts the session it names and
answers with the opening line, the session id and how to continue; no match lists the scenarios;
"what should I practise" stays coaching; while a session is open, a line meant for the customer
is answered with how to continue — it never becomes a practice turn, and real questions still
reach their tools. The LLM planner is offered the practice tool."""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from agent.planners import LLMPlanner, OfflinePlanner
from agent.service import Copilot
from crm.models import PracticeSession, User
from evals.scripted_llm import ScriptedServer, text_reply, tool_call_reply
from tests.tools.conftest import make_ctx
from tools.practice.scenario import BUILTIN_DIR, load_file


@pytest.fixture
def ask(demo_session):
    copilot = Copilot(planner=OfflinePlanner(), checkpointer=InMemorySaver())

    def run(login: str, question: str, thread: str | None = None):
        return copilot.ask(make_ctx(demo_session, login), question, thread_id=thread)
    return run


def _session_of(demo_session, answer) -> PracticeSession:
    sid = int(answer.evidence[0]["id"])
    assert answer.evidence[0]["kind"] == "practice_session"
    return demo_session.get(PracticeSession, sid)


@pytest.mark.parametrize(("login", "question", "code"), [
    ("zhangwei", "开始练习 医院采购价格异议", "hospital-price-objection"),
    ("lina", "我想练习一下价格异议", "hospital-price-objection"),
    ("davidchen", "start practice hospital price objection", "hospital-price-objection"),
    ("davidchen", "practise the manufacturing CFO with no budget", "mfg-cfo-no-budget"),
    ("magang", "陪我练一下政府招标", "gov-tender-policy"),
    ("zhangwei", "开始练习 新能源风场运维的“为什么”追问", "energy-remote-monitoring"),  # 为什么 in a title is no "what"
])
def test_a_practice_request_starts_the_named_scenario_for_the_asker(ask, demo_session, login, question, code):
    answer = ask(login, question)
    assert [t["name"] for t in answer.tools] == ["practice"]
    row = _session_of(demo_session, answer)
    s = load_file(BUILTIN_DIR / f"{code}.yaml")
    assert row.scenario_code == code and demo_session.get(User, row.user_id).login == login
    assert row.ended_at is None and row.transcript[0]["text"] == s.opening
    assert s.opening in answer.answer and s.title.pick(answer.language) in answer.answer
    assert f"repcopilot practice say {row.id}" in answer.answer and f"/api/practice/sessions/{row.id}/turns" in answer.answer


@pytest.mark.parametrize(("question", "says"), [("开始练习", "可以练习这些场景"), ("I want to practise", "You can practise these scenarios"),
                                                ("开始练习 火星殖民地谈判", "没有找到与“火星殖民地谈判”")])
def test_no_matching_scenario_lists_the_scenarios_and_starts_nothing(ask, demo_session, question, says):
    before = demo_session.query(PracticeSession).count()
    answer = ask("zhangwei", question)
    assert [t["name"] for t in answer.tools] == ["practice"] and says in answer.answer
    assert all(code in answer.answer for code in ("hospital-price-objection", "mfg-cfo-no-budget", "gov-tender-policy"))
    assert demo_session.query(PracticeSession).count() == before


@pytest.mark.parametrize("question", ["我这周该练什么?", "What should I practise this week?", "给马刚布置了哪些练习?"])
def test_asking_what_to_practise_stays_coaching(ask, question):
    assert [t["name"] for t in ask("linfang" if "马刚" in question else "zhangwei", question).tools] == ["coaching_drills"]


def test_while_a_session_is_open_the_chat_plays_the_customer_until_the_rep_ends_it(ask, demo_session):
    started = ask("zhangwei", "开始练习 医院采购价格异议", thread="t1")
    row = _session_of(demo_session, started)
    assert "直接在这里回复" in started.answer
    line = ask("zhangwei", "周主任您好,我们先聊聊贵院的设备维修", thread="t1")
    assert [t["name"] for t in line.tools] == ["practice_turn"] and line.answer.startswith("客户:“")
    # a why-question that would otherwise be a knowledge question is a turn, too: the session has the floor
    why = ask("zhangwei", "为什么设备维修这么影响临床科室?怎么处理的?", thread="t1")
    assert [t["name"] for t in why.tools] == ["practice_turn"]
    demo_session.refresh(row)
    assert [t["speaker"] for t in row.transcript][-4:] == ["rep", "customer", "rep", "customer"]
    cont = ask("zhangwei", "继续练习", thread="t1")
    assert cont.tools == [] and "还在进行中" in cont.answer and row.transcript[-1]["text"] in cont.answer
    done = ask("zhangwei", "结束练习", thread="t1")
    demo_session.refresh(row)
    assert [t["name"] for t in done.tools] == ["practice_turn"] and "练习结束 · 总分" in done.answer and row.ended_at
    assert "✓" in done.answer or "✗" in done.answer  # the rubric verdicts
    # the session is over: the thread is a normal copilot conversation again
    assert [t["name"] for t in ask("zhangwei", "我这周该练什么?", thread="t1").tools] == ["coaching_drills"]
    demo_session.refresh(row)
    assert len(row.transcript) == 5  # nothing after the end became a turn


def test_an_english_session_in_the_chat_answers_in_english_and_ends_with_the_report(ask, demo_session):
    ask("davidchen", "practise the manufacturing CFO with no budget", thread="e1")
    reply = ask("davidchen", "Why is budget the main blocker this year?", thread="e1")
    assert [t["name"] for t in reply.tools] == ["practice_turn"] and reply.answer.startswith("Customer: “")
    done = ask("davidchen", "end practice", thread="e1")
    assert "Practice ended · overall" in done.answer


def test_a_thread_without_a_practice_session_gets_the_capabilities_answer_not_practice_advice(ask):
    answer = ask("davidchen", "Hi Grace, good to meet you.", thread="fresh")
    assert answer.tools == [] and "still open" not in answer.answer and "practice dialogue" in answer.answer


def test_the_llm_planner_is_offered_the_practice_tool_and_its_call_starts_the_session(demo_session):
    script = [tool_call_reply("practice", {"scenario": "hospital price objection"}), text_reply("Session started.")]
    with ScriptedServer(script) as server:
        planner = LLMPlanner(base_url=server.base_url, api_key="k", model="scripted", max_retries=0)
        answer = Copilot(planner=planner).ask(make_ctx(demo_session, "davidchen"), "Let me rehearse the price objection call")
    offered = {t["function"]["name"]: t["function"] for t in server.requests[0]["tools"]}
    assert "practice" in offered and "scenario" in offered["practice"]["parameters"]["properties"]
    assert "practice" in server.requests[0]["messages"][0]["content"]  # the system prompt says when to use it
    assert _session_of(demo_session, answer).scenario_code == "hospital-price-objection"
