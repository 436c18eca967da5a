"""The LLM path end to end through the real openai / langchain-openai clients, against a
scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

from agent.planners import LLMPlanner
from agent.service import Copilot
from crm.access import get_user
from crm.db import session_factory
from evals.scripted_llm import ScriptedServer, status_reply, text_reply, tool_call_reply
from tools.context import ToolContext


def _ask(demo_engine, server, question, login="zhangwei"):
    planner = LLMPlanner(base_url=server.base_url, api_key="test-key", model="scripted", max_retries=2)
    with session_factory(demo_engine)() as session:
        ctx = ToolContext(user=get_user(session, login), session=session)
        return Copilot(planner=planner).ask(ctx, question)


def test_the_model_calls_a_tool_and_answers_from_its_result(demo_engine, echo_tool):
    script = [tool_call_reply("lead_lookup", {"query": "Helios", "lead_id": 7}), text_reply("Lead 7 looks warm.")]
    with ScriptedServer(script) as server:
        answer = _ask(demo_engine, server, "How is the Helios lead?")
    assert answer.tools == [{"name": "lead_lookup", "args": {"query": "Helios", "lead_id": 7}}]
    assert answer.answer == "Lead 7 looks warm."
    assert answer.evidence[0]["id"] == "7"
    first, second = server.requests
    assert first["tools"][0]["function"]["name"] == "lead_lookup"
    assert first["messages"][0]["role"] == "system" and "English" in first["messages"][0]["content"]
    tool_msg = [m for m in second["messages"] if m["role"] == "tool"][0]
    assert "zhangwei asked about lead 7" in tool_msg["content"]


def test_a_429_is_retried_and_the_answer_still_arrives(demo_engine, echo_tool):
    with ScriptedServer([status_reply(429), text_reply("你好,我能帮你查线索。")]) as server:
        answer = _ask(demo_engine, server, "你能做什么")
    assert answer.answer == "你好,我能帮你查线索。"
    assert len(server.requests) == 2
    assert "中文" in server.requests[1]["messages"][0]["content"]


def test_a_malformed_tool_call_becomes_a_polite_answer_not_a_crash(demo_engine, echo_tool):
    with ScriptedServer([tool_call_reply("lead_lookup", "{not json")]) as server:
        answer = _ask(demo_engine, server, "How is the Helios lead?")
    assert answer.tools == []
    assert "cannot run" in answer.answer


def test_a_tool_the_registry_does_not_have_is_not_run(demo_engine, echo_tool):
    with ScriptedServer([tool_call_reply("drop_database", {"really": True})]) as server:
        answer = _ask(demo_engine, server, "How is the Helios lead?")
    assert answer.tools == [] and "drop_database" in answer.answer


def test_the_models_answer_streams_token_by_token_and_ends_with_the_whole_answer(demo_engine, echo_tool):
    script = [tool_call_reply("lead_lookup", {"query": "Helios", "lead_id": 7}), text_reply("Lead 7 looks warm and ready.")]
    with ScriptedServer(script) as server:
        planner = LLMPlanner(base_url=server.base_url, api_key="test-key", model="scripted")
        with session_factory(demo_engine)() as session:
            ctx = ToolContext(user=get_user(session, "zhangwei"), session=session)
            events = list(Copilot(planner=planner).stream(ctx, "How is the Helios lead?"))
    tokens = [text for kind, text in events if kind == "token"]
    kind, answer = events[-1]
    assert kind == "done" and answer.answer == "Lead 7 looks warm and ready."
    assert len(tokens) > 3 and "".join(tokens).strip() == answer.answer
    assert all(r.get("stream") for r in server.requests)  # the client asked the endpoint to stream
    assert answer.tools == [{"name": "lead_lookup", "args": {"query": "Helios", "lead_id": 7}}]
