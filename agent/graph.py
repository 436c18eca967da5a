"""The copilot graph: plan → (run tools → plan)* → answer.

The planner (offline or LLM) decides tool calls or the final answer; ``run_tools`` executes
the calls with the ToolContext injected from the run's context, and turns each result into
a ToolMessage whose artifact carries the evidence, the confidence and the new focus.
"""

from __future__ import annotations

import json
import uuid
from typing import Literal

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.context import Context
from agent.state import CopilotState
from agent.tools import REGISTRY, run_tool
from agent.understanding.elevation import asks_for_elevation, elevation_refusal
from agent.understanding.references import items_from
from core.metrics import TOOL_SECONDS, timed


def plan_step(state: CopilotState, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context
    steps = state.get("steps", 0)
    if steps >= ctx.max_steps:
        text = ctx.tool_context.t("这个问题需要的步骤太多,我先停在这里;请把问题拆小一点再问。",
                                  "This needs more steps than I allow per question; please ask a narrower question.")
        return {"messages": [AIMessage(content=text)], "steps": steps + 1}
    last = state["messages"][-1] if state.get("messages") else None
    question = str(last.content) if steps == 0 and isinstance(last, HumanMessage) else ""
    if question and asks_for_elevation(question):  # "把我权限改成经理": no planner, LLM or not, can serve it
        return {"messages": [AIMessage(content=elevation_refusal(ctx.tool_context), additional_kwargs={"refused": True})],
                "steps": steps + 1}
    message = ctx.planner.plan(state, ctx.tool_context, list(REGISTRY.values()))
    update: dict = {"messages": [message], "steps": steps + 1}
    focus_change = message.additional_kwargs.pop("focus", None) if isinstance(message, AIMessage) else None
    if focus_change:  # the planner's own bookkeeping: the readings it offered, or that they are answered
        update["focus"] = {**(state.get("focus") or {}), **focus_change}
    return update


def run_tools(state: CopilotState, runtime: Runtime[Context]) -> dict:
    ctx = runtime.context.tool_context
    last = state["messages"][-1]
    focus = dict(state.get("focus") or {})
    out, shown = [], []
    for call in last.tool_calls:
        with timed(TOOL_SECONDS, tool=call["name"]):  # GET /metrics: repcopilot_tool_seconds
            result = run_tool(call["name"], call.get("args") or {}, ctx)
        focus.update(result.focus)
        shown.append(([e.to_json() for e in result.evidence], result.data))
        if not result.error or result.focus:
            # what a bare follow-up ("那本季度呢?") refers to — also after a refusal that leaves something to
            # refer to (a rep refused the team's figure: "那我自己的呢" is the rep's own)
            focus["topic"] = call["name"]
        artifact = {
            "evidence": [e.to_json() for e in result.evidence],
            "confidence": result.confidence,
            "error": result.error,
            "text": result.text,
            "images": list(result.images),
        }
        content = json.dumps({"text": result.text, "data": result.data, "error": result.error}, ensure_ascii=False, default=str)
        out.append(ToolMessage(content=content, tool_call_id=call["id"] or str(uuid.uuid4()), name=call["name"], artifact=artifact))
    items = items_from(shown)
    decided = any((c.get("args") or {}).get("action") in DECISIONS for c in last.tool_calls)
    if items and not (decided and _one_of(items, focus.get("items") or [])):  # what "the second one" / "这家" next points at
        focus["items"] = items
    return {"messages": out, "focus": focus}


#: a decision taken on one item of a list ("adopt the 1st one"): the list stays what "2nd one" and "第二条" point at
DECISIONS = ("adopt", "dismiss", "approve", "override", "reject")


def _one_of(items: list[dict], shown: list[dict]) -> bool:
    return len(items) == 1 and any(i.get("kind") == items[0].get("kind") and i.get("id") == items[0].get("id") for i in shown)


def start_turn(state: CopilotState) -> dict:
    """A new question resets the per-turn step counter."""
    return {"steps": 0}


def route_after_plan(state: CopilotState) -> Literal["run_tools", "__end__"]:
    last = state["messages"][-1]
    if not isinstance(last, AIMessage):
        raise ValueError(f"the planner must answer with an AIMessage, got {type(last).__name__}")
    return "run_tools" if last.tool_calls else END


def build_graph(checkpointer=None):
    graph = StateGraph(CopilotState, context_schema=Context)
    graph.add_node("start_turn", start_turn)
    graph.add_node("plan_step", plan_step)
    graph.add_node("run_tools", run_tools)
    graph.add_edge(START, "start_turn")
    graph.add_edge("start_turn", "plan_step")
    graph.add_conditional_edges("plan_step", route_after_plan, ["run_tools", END])
    graph.add_edge("run_tools", "plan_step")
    return graph.compile(checkpointer=checkpointer)


def turn_messages(messages: list) -> list:
    """The messages of the latest turn (after the last human message)."""
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return messages[i + 1:]
    return list(messages)
