"""Offline-planner latency per turn over the agent eval questions, warm, at scale 1 and 10."""

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
from evals.demo import NOON, build_eval_demo
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
            copilot = Copilot(planner=OfflinePlanner())
            with session_factory(engine)() as session:
                ctxs = {c["as"]: ToolContext(user=get_user(session, c["as"]), session=session, clock=lambda: NOON) for c in cases}
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
