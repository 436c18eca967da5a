"""Offline-planner latency per turn over the agent eval questions, warm, at scale 1 and 10;
the LLM planner's overhead beyond the endpoint's own time, against the scripted server."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from agent.planners import OfflinePlanner
from agent.service import Copilot
from crm.access import get_user
from crm.db import session_factory
from evals.agent_eval import CASES_DIR, load_cases
from evals.demo import NOON, build_eval_demo, build_eval_knowledge
from tools.context import ToolContext


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _fresh_question() -> None:
    """Forget every question's vector and metric link, so the next turn pays for its encoding —
    as a new question from a user does."""
    from agent.understanding.calls import _link
    from knowledge.e5 import _query_bytes

    _query_bytes.cache_clear()
    _link.cache_clear()


def bench_agent(scales: tuple[int, ...] = (1, 10)) -> dict[str, Any]:
    """Per turn, warm (models loaded, the demo's data cached by the database), with each question
    encoded in its turn: whole turns (understanding + tools + answer) and understanding alone (the
    encoder, the intent classifier, the slots and the metric link; no tool). Scale 10 indexes the
    calls for keywords only, as ``init --demo`` does (their vectors come from ``kb sync``)."""
    from agent.tools import REGISTRY
    from agent.understanding.calls import Turn

    cases = load_cases(CASES_DIR / "agent_cases.jsonl") + load_cases(CASES_DIR / "agent_dev.jsonl")
    cases = [c for c in cases if not c.get("thread")]
    out: dict[str, Any] = {"questions": len(cases)}
    with tempfile.TemporaryDirectory(prefix="repcopilot-agent-") as tmp:
        for scale in scales:
            engine = build_eval_demo(Path(tmp), scale)
            store = build_eval_knowledge(Path(tmp) / f"kb{scale}", engine, dense_calls=scale == 1)
            copilot, planner = Copilot(planner=OfflinePlanner()), OfflinePlanner()
            with session_factory(engine)() as session:
                ctxs = {c["as"]: ToolContext(user=get_user(session, c["as"]), session=session, clock=lambda: NOON,
                                             knowledge=store) for c in cases}
                for c in cases:  # warm: models, the database's caches, the tools' own caches
                    copilot.ask(ctxs[c["as"]], c["question"])
                turns, understanding = [], []
                for c in cases:
                    _fresh_question()
                    t0 = time.perf_counter()
                    copilot.ask(ctxs[c["as"]], c["question"])
                    turns.append((time.perf_counter() - t0) * 1000)
                    _fresh_question()
                    t0 = time.perf_counter()
                    planner.readings(Turn(c["question"], ctxs[c["as"]], {}, set(REGISTRY)))
                    understanding.append((time.perf_counter() - t0) * 1000)
                session.rollback()
            engine.dispose()
            out[f"scale{scale}_turn_p50_ms"] = round(_p(turns, 0.5), 1)
            out[f"scale{scale}_turn_p95_ms"] = round(_p(turns, 0.95), 1)
            out[f"scale{scale}_understanding_p50_ms"] = round(_p(understanding, 0.5), 1)
            out[f"scale{scale}_understanding_p95_ms"] = round(_p(understanding, 0.95), 1)
    return out


def bench_llm_overhead(turns: int = 40, endpoint_delay_s: float = 0.05) -> dict[str, Any]:
    """The LLM planner's cost beyond the endpoint's own response time, against the scripted
    OpenAI-compatible server on 127.0.0.1 answering each request after ``endpoint_delay_s``:
    per turn, a tool call (the tool each eval case expects, on the real demo data) and the
    final answer — two endpoint round trips. Overhead = turn wall time − time the server spent
    answering; it includes the tool itself, so the same turns through the offline planner are
    reported beside it."""
    from agent.planners import LLMPlanner
    from evals.scripted_llm import ScriptedServer, text_reply, tool_call_reply

    cases = [c for c in load_cases(CASES_DIR / "agent_cases.jsonl")
             if len(c.get("expect_tools") or []) == 1 and c["expect_tools"][0] in ("kpi_query", "lead_lookup", "journey_timeline")
             and "<refusal>" not in c.get("expect_facts", []) and not c.get("thread")][:turns]
    out: dict[str, Any] = {"llm_turns": len(cases), "endpoint_delay_ms": endpoint_delay_s * 1000}
    with tempfile.TemporaryDirectory(prefix="repcopilot-llm-") as tmp:
        engine = build_eval_demo(Path(tmp), 1)
        with session_factory(engine)() as session:
            ctxs = {c["as"]: ToolContext(user=get_user(session, c["as"]), session=session, clock=lambda: NOON) for c in cases}
            offline = Copilot(planner=OfflinePlanner())
            for c in cases:  # warm the tools and the database
                offline.ask(ctxs[c["as"]], c["question"])
            base = []
            for c in cases:
                t0 = time.perf_counter()
                offline.ask(ctxs[c["as"]], c["question"])
                base.append((time.perf_counter() - t0) * 1000)
            script = []
            for c in cases:
                tool = c["expect_tools"][0]
                args = {"question": c["question"]} if tool == "kpi_query" else {"query": c["question"]}
                script += [tool_call_reply(tool, args), text_reply("Here is what the data says.")]
            with ScriptedServer(script * 2, delay_s=endpoint_delay_s) as server:
                copilot = Copilot(planner=LLMPlanner(base_url=server.base_url, api_key="bench", model="scripted"))
                for c in cases:  # warm the HTTP client
                    copilot.ask(ctxs[c["as"]], c["question"])
                overhead = []
                for c in cases:
                    busy0 = server.busy_s
                    t0 = time.perf_counter()
                    copilot.ask(ctxs[c["as"]], c["question"])
                    wall = time.perf_counter() - t0
                    overhead.append((wall - (server.busy_s - busy0)) * 1000)
        engine.dispose()
    out.update({
        "llm_overhead_p50_ms": round(_p(overhead, 0.5), 1), "llm_overhead_p95_ms": round(_p(overhead, 0.95), 1),
        "offline_same_turns_p50_ms": round(_p(base, 0.5), 1), "offline_same_turns_p95_ms": round(_p(base, 0.95), 1),
        "llm_overhead_beyond_offline_p50_ms": round(_p(overhead, 0.5) - _p(base, 0.5), 1),
    })
    return out
