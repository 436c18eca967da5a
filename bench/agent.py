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


def bench_agent(scales: tuple[int, ...] = (1, 10)) -> dict[str, Any]:
    cases = load_cases(CASES_DIR / "agent_cases.jsonl")
    out: dict[str, Any] = {"questions": len(cases)}
    with tempfile.TemporaryDirectory(prefix="repcopilot-agent-") as tmp:
        for scale in scales:
            engine = build_eval_demo(Path(tmp), scale)
            store = build_eval_knowledge(Path(tmp) / f"kb{scale}", engine)  # playbooks and every call, as init --demo
            copilot = Copilot(planner=OfflinePlanner())
            with session_factory(engine)() as session:
                ctxs = {c["as"]: ToolContext(user=get_user(session, c["as"]), session=session, clock=lambda: NOON,
                                             knowledge=store) for c in cases}
                for c in cases:  # warm
                    copilot.ask(ctxs[c["as"]], c["question"])
                lat = []
                for _ in range(3):
                    for c in cases:
                        t0 = time.perf_counter()
                        copilot.ask(ctxs[c["as"]], c["question"])
                        lat.append((time.perf_counter() - t0) * 1000)
            engine.dispose()
            out[f"scale{scale}_p50_ms"] = round(_p(lat, 0.5), 1)
            out[f"scale{scale}_p95_ms"] = round(_p(lat, 0.95), 1)
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
