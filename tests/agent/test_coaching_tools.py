"""The copilot's capability-gaps and coaching-drills tools: bilingual routing with the rep named
in the question linked to a user, access from the asking user (never from the arguments), and
answers that carry their evidence (gap calls with timestamps; exemplar excerpts and due dates)."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from agent.planners import OfflinePlanner, route_intent
from agent.service import Copilot
from agent.tools import REGISTRY, run_tool
from evals.scripted_llm import ScriptedServer, text_reply, tool_call_reply
from tests.agent.conftest import noon_ctx


@pytest.mark.parametrize("question, intent", [
    ("我这周该练什么?", "coaching_drills"),
    ("我的能力短板是什么", "capability_gaps"),
    ("王芳需要在哪方面辅导?", "capability_gaps"),
    ("What should I practise this week?", "coaching_drills"),
    ("capability gaps of my team", "capability_gaps"),
    ("which drills are assigned to Li Lei?", "coaching_drills"),
    ("复盘通话65的差距", "call_debrief"),  # a debrief keeps its route
    ("best practice for discovery calls", "knowledge_search"),
])
def test_coaching_questions_route_in_both_languages_and_other_routes_stay(question, intent):
    assert route_intent(question) == intent


_ctx = noon_ctx


def _plan(session, login: str, question: str) -> dict:
    msg = OfflinePlanner().plan({"messages": [HumanMessage(content=question)]}, _ctx(session, login), list(REGISTRY.values()))
    (call,) = msg.tool_calls
    return {"name": call["name"], "args": call["args"]}


def test_the_planner_links_the_named_rep_a_team_word_or_an_unknown_name(coaching_session):
    assert _plan(coaching_session, "huanglei", "马刚需要在哪方面辅导?") == {"name": "capability_gaps", "args": {"rep": "magang"}}
    assert _plan(coaching_session, "huanglei", "which drills are assigned to Gang Ma?") == {"name": "coaching_drills", "args": {"rep": "magang"}}
    assert _plan(coaching_session, "chenjing", "capability gaps of my team") == {"name": "capability_gaps", "args": {"team": True}}
    assert _plan(coaching_session, "chenjing", "王芳需要在哪方面辅导?") == {"name": "capability_gaps", "args": {"rep": "王芳"}}
    assert _plan(coaching_session, "zhangwei", "我这周该练什么?") == {"name": "coaching_drills", "args": {}}


def test_access_comes_from_the_asker_whatever_arguments_the_model_chose(coaching_session):
    rep = _ctx(coaching_session, "zhangwei", "en")
    for name in ("capability_gaps", "coaching_drills"):
        other = run_tool(name, {"rep": "magang"}, rep)
        team = run_tool(name, {"team": True}, rep)
        assert other.error == team.error == "permission"
        assert "magang" not in other.text and "Gang Ma" not in other.text and not other.evidence and not other.data
    outside = run_tool("capability_gaps", {"rep": "马刚"}, _ctx(coaching_session, "chenjing"))
    assert outside.error == "permission" and "不在你的团队" in outside.text
    unknown = run_tool("coaching_drills", {"rep": "Li Lei"}, _ctx(coaching_session, "huanglei", "en"))
    assert unknown.error == "not_found" and "Li Lei" in unknown.text


def test_a_gap_answer_cites_the_calls_and_moments_behind_each_gap(coaching_session):
    out = run_tool("capability_gaps", {}, _ctx(coaching_session, "magang"))
    assert out.error is None and out.data["gaps"]
    for gap in out.data["gaps"]:
        assert gap["label"] in out.text
        for c in gap["calls"]:
            assert f"通话 #{c['call_id']}" in out.text
            if c["moment"]:
                assert c["moment"]["time"] in out.text
    assert {e.id for e in out.evidence} == {str(c["call_id"]) for g in out.data["gaps"] for c in g["calls"]}
    assert all(e.kind == "call" and e.time for e in out.evidence)


def test_a_drill_answer_gives_due_dates_and_exemplar_excerpts_with_their_call(coaching_session):
    out = run_tool("coaching_drills", {}, _ctx(coaching_session, "davidchen", "en"))
    assert out.error is None and out.data["tasks"]
    for task in out.data["tasks"]:
        assert f"due {task['due_date']}" in out.text
        ex = task["exemplar"]
        assert ex and f"exemplar: call #{ex['call_id']}" in out.text and ex["time"] in out.text
    exemplar_evidence = [e for e in out.evidence if e.kind == "call"]
    assert {e.id for e in exemplar_evidence} == {str(t["exemplar"]["call_id"]) for t in out.data["tasks"]}


def test_the_llm_planner_sees_both_tools_and_its_call_runs_with_the_askers_access(coaching_session):
    from agent.planners import LLMPlanner

    schemas = {s["function"]["name"]: s["function"] for s in (t.openai_schema() for t in REGISTRY.values())}
    assert {"capability_gaps", "coaching_drills"} <= set(schemas)
    assert "rep" in schemas["capability_gaps"]["parameters"]["properties"] and "top quartile" in schemas["capability_gaps"]["description"]
    script = [tool_call_reply("capability_gaps", {"rep": "magang"}), text_reply("You may not see that.")]
    with ScriptedServer(script) as server:
        planner = LLMPlanner(base_url=server.base_url, api_key="k", model="scripted", max_retries=0)
        answer = Copilot(planner=planner).ask(_ctx(coaching_session, "zhangwei", "en"), "Where does Gang Ma need coaching?")
    assert answer.tools == [{"name": "capability_gaps", "args": {"rep": "magang"}}] and answer.refused
    tool_msg = next(m for m in server.requests[1]["messages"] if m["role"] == "tool")
    assert "permission" in tool_msg["content"] and "solution" not in tool_msg["content"]
