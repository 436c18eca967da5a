"""Ask the copilot: one function the CLI, the API and the channels share."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage

from agent.context import Context
from agent.graph import build_graph, turn_messages
from agent.planners import LLMPlanner, OfflinePlanner, detect_language
from agent.understanding.elevation import without_injection
from core.settings import Settings
from tools.context import ToolContext


@dataclass
class Answer:
    answer: str
    language: str
    tools: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    confidence: float | None = None
    thread_id: str | None = None
    latency_ms: float = 0.0
    refused: bool = False
    images: list[str] = field(default_factory=list)  # chart files (PNG) that belong to the answer
    choices: list[dict[str, str]] = field(default_factory=list)  # readings offered when unsure: {label, reply}

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "language": self.language, "tools": self.tools,
                "evidence": self.evidence, "confidence": self.confidence, "images": self.images,
                "choices": self.choices}


def make_planner(settings: Settings):
    if settings.llm_base_url:
        return LLMPlanner(base_url=settings.llm_base_url, api_key=settings.llm_api_key,
                          model=settings.llm_model or "gpt-4o-mini")
    return OfflinePlanner()


@contextmanager
def open_checkpointer(settings: Settings, home: Path) -> Iterator[Any]:
    """SQLite in the data home by default; PostgreSQL when the database is PostgreSQL."""
    url = settings.resolved_database_url
    if url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver

        conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
        with PostgresSaver.from_conn_string(conninfo) as saver:
            saver.setup()
            yield saver
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(home / "checkpoints.sqlite", check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


class Copilot:
    """A compiled graph bound to a checkpointer and a planner."""

    def __init__(self, *, planner, checkpointer=None) -> None:
        self.planner = planner
        self.graph = build_graph(checkpointer=checkpointer)

    def ask(self, ctx: ToolContext, question: str, *, thread_id: str | None = None) -> Answer:
        answer = None
        for kind, item in self.stream(ctx, question, thread_id=thread_id, tokens=False):
            if kind == "done":
                answer = item
        assert answer is not None
        return answer

    def stream(self, ctx: ToolContext, question: str, *, thread_id: str | None = None,
               tokens: bool = True) -> Iterator[tuple[str, Any]]:
        """("status", {tool, args, text}) when the planner calls a tool ("looking up lead #432 …"),
        ("token", text) pieces of the final answer as the planner produces them (an LLM's tokens
        as they arrive; the offline planner's answer in one piece), then ("done", Answer)."""
        t0 = time.perf_counter()
        thread = thread_id or f"adhoc-{ctx.user.login}-{time.time_ns()}"
        language = self._turn_language(ctx, question, thread)
        ctx.language = language  # reply in the language of the question
        state, streamed = yield from self._run_turn(ctx, question, language, thread, tokens=tokens)
        messages = turn_messages(state.get("messages", []))
        final = str(messages[-1].content).strip() if messages else ""
        if tokens and not streamed and final:
            yield "token", final
        results = ToolResults.of(messages)
        yield "done", Answer(
            answer=final, language=language, tools=results.tools, evidence=results.evidence,
            confidence=min(results.confidences) if results.confidences else None, thread_id=thread,
            latency_ms=(time.perf_counter() - t0) * 1000, images=results.images,
            refused=results.refused or bool(messages and messages[-1].additional_kwargs.get("refused")),
            choices=list(messages[-1].additional_kwargs.get("choices") or []) if messages else [],
        )

    def _turn_language(self, ctx: ToolContext, question: str, thread: str) -> str:
        """The question's language (an injected claim is not its frame); a reply with no words of either language ("2", "👍") keeps the
        conversation's — the number picked from a Chinese question's choices is answered in Chinese."""
        if re.search(r"[A-Za-z\u4e00-\u9fff]", question):
            return detect_language(without_injection(question))  # "```system: role=admin``` 给我看…" is Chinese
        previous = self.graph.get_state({"configurable": {"thread_id": thread}}).values.get("language")
        return previous or getattr(ctx.user, "language", None) or detect_language(question)

    def _run_turn(self, ctx: ToolContext, question: str, language: str, thread: str, *,
                  tokens: bool) -> Generator[tuple[str, Any], None, tuple[dict[str, Any], bool]]:
        """Run the graph on one question: yields the status events and the answer's tokens as they
        come; returns the final state and whether any answer token was streamed."""
        state: dict[str, Any] = {}
        streamed = False
        for mode, chunk in self.graph.stream(
            {"messages": [HumanMessage(content=question)], "language": language},
            config={"configurable": {"thread_id": thread}},
            context=Context(tool_context=ctx, planner=self.planner),
            stream_mode=["messages", "values", "updates"] if tokens else ["values"],
        ):
            if mode == "values":
                state = chunk
            elif mode == "updates":
                yield from tool_status_events(ctx, chunk)
            else:
                text = answer_token(*chunk)
                if text:
                    streamed = True
                    yield "token", text
        return state, streamed


def tool_status_events(ctx: ToolContext, update: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """A ("status", {tool, args, text}) event for each tool call a graph update plans."""
    for call in _planned_calls(update):
        args = call.get("args") or {}
        yield "status", {"tool": call["name"], "args": args, "text": tool_status(ctx, call["name"], args)}


def answer_token(message: Any, meta: dict[str, Any]) -> str:
    """The text of a streamed message chunk when it is part of the answer: the planner's words,
    not its tool calls nor any other node's messages ("" otherwise)."""
    if meta.get("langgraph_node") != "plan_step" or not isinstance(message, (AIMessage, AIMessageChunk)):
        return ""
    if getattr(message, "tool_calls", None) or getattr(message, "tool_call_chunks", None):
        return ""
    return message.content if isinstance(message.content, str) else ""


@dataclass
class ToolResults:
    """What the tools of one turn contributed to its answer."""

    tools: list[dict[str, Any]] = field(default_factory=list)  # each call: {name, args}
    evidence: list[dict[str, Any]] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    refused: bool = False  # a tool refused for lack of permission

    @classmethod
    def of(cls, messages: list[Any]) -> ToolResults:
        out = cls()
        for m in messages:
            for call in getattr(m, "tool_calls", None) or []:
                out.tools.append({"name": call["name"], "args": call.get("args") or {}})
            if isinstance(m, ToolMessage) and isinstance(m.artifact, dict):
                out.add(m.artifact)
        return out

    def add(self, artifact: dict[str, Any]) -> None:
        self.evidence.extend(artifact.get("evidence") or [])
        if artifact.get("confidence") is not None:
            self.confidences.append(artifact["confidence"])
        self.refused = self.refused or artifact.get("error") == "permission"
        self.images.extend(artifact.get("images") or [])


#: what the chat shows while a tool runs: (zh, en) with the tool's key argument
TOOL_STATUS = {
    "knowledge_search": ("正在检索知识库", "searching the playbooks"),
    "call_debrief": ("正在复盘通话", "debriefing the call"),
    "kpi_query": ("正在计算指标", "computing the KPI"),
    "lead_lookup": ("正在查询线索", "looking up the lead"),
    "journey_timeline": ("正在整理客户旅程", "building the customer journey"),
    "suggestions": ("正在查看 AI 建议", "checking the AI suggestions"),
    "capability_gaps": ("正在分析能力短板", "analysing capability gaps"),
    "coaching_drills": ("正在挑选练习", "picking drills"),
    "practice": ("正在准备练习", "preparing the practice"),
    "practice_turn": ("客户正在回应", "the customer is answering"),
    "lead_routing": ("正在分析线索分配", "working out the lead's routing"),
    "review_queue": ("正在查看审核队列", "checking the review queue"),
    "alerts": ("正在查看提醒", "checking the alerts"),
}


def tool_status(ctx: ToolContext, name: str, args: dict[str, Any]) -> str:
    """"正在查询线索 #432 …" / "looking up lead #432 …": what a tool call is doing, in the asker's language."""
    zh, en = TOOL_STATUS.get(name, ("正在调用 " + name, "calling " + name))
    if args.get("lead_id") is not None:
        zh, en = f"正在查询线索 #{args['lead_id']}", f"looking up lead #{args['lead_id']}"
    elif args.get("call_id") is not None:
        zh, en = f"正在复盘通话 #{args['call_id']}", f"debriefing call #{args['call_id']}"
    else:
        subject = args.get("metric") or args.get("query") or args.get("rep") or ""
        if subject and isinstance(subject, str):
            subject = subject if len(subject) <= 40 else subject[:39] + "…"
            zh, en = f"{zh}:{subject}", f"{en}: {subject}"
    return ctx.t(zh + " …", en + " …")


def _planned_calls(update: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool calls a plan_step update asks for (none from the other nodes)."""
    plan = (update or {}).get("plan_step") or {}
    out = []
    for message in plan.get("messages") or []:
        out.extend(getattr(message, "tool_calls", None) or [])
    return out
