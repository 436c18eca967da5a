"""Ask the copilot: one function the CLI, the API and the channels share."""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage

from agent.context import Context
from agent.graph import build_graph, turn_messages
from agent.planners import LLMPlanner, OfflinePlanner, detect_language
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
        """("token", text) pieces of the final answer as the planner produces them (an LLM's
        tokens as they arrive; the offline planner's answer in one piece), then ("done", Answer)."""
        t0 = time.perf_counter()
        language = detect_language(question)
        ctx.language = language  # reply in the language of the question
        config = {"configurable": {"thread_id": thread_id or f"adhoc-{ctx.user.login}-{time.time_ns()}"}}
        state: dict[str, Any] = {}
        streamed = False
        for mode, chunk in self.graph.stream(
            {"messages": [HumanMessage(content=question)], "language": language},
            config=config,
            context=Context(tool_context=ctx, planner=self.planner),
            stream_mode=["messages", "values"] if tokens else ["values"],
        ):
            if mode == "values":
                state = chunk
                continue
            message, meta = chunk
            if meta.get("langgraph_node") != "plan_step" or not isinstance(message, (AIMessage, AIMessageChunk)):
                continue
            if getattr(message, "tool_calls", None) or getattr(message, "tool_call_chunks", None):
                continue
            text = message.content if isinstance(message.content, str) else ""
            if text:
                streamed = True
                yield "token", text
        messages = turn_messages(state.get("messages", []))
        tools, evidence, confidences, images, refused = [], [], [], [], False
        for m in messages:
            for call in getattr(m, "tool_calls", None) or []:
                tools.append({"name": call["name"], "args": call.get("args") or {}})
            if isinstance(m, ToolMessage) and isinstance(m.artifact, dict):
                evidence.extend(m.artifact.get("evidence") or [])
                if m.artifact.get("confidence") is not None:
                    confidences.append(m.artifact["confidence"])
                refused = refused or m.artifact.get("error") == "permission"
                images.extend(m.artifact.get("images") or [])
        final = str(messages[-1].content).strip() if messages else ""
        if tokens and not streamed and final:
            yield "token", final
        yield "done", Answer(
            answer=final, language=language, tools=tools, evidence=evidence,
            confidence=min(confidences) if confidences else None, thread_id=config["configurable"]["thread_id"],
            latency_ms=(time.perf_counter() - t0) * 1000, refused=refused, images=images,
            choices=list(messages[-1].additional_kwargs.get("choices") or []) if messages else [],
        )
