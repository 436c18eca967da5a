"""Agent evaluation: question → expected tools and facts, reported per role and language.

A case is one JSON line::

    {"id": "lead-zh-01", "as": "zhangwei", "question": "…", "lang": "zh",
     "expect_tools": ["lead_lookup"], "expect_facts": ["…"], "thread": "optional"}

``expect_facts`` are strings that must all appear in the answer; the marker
``"<refusal>"`` means the copilot must refuse (a permission refusal, or for out-of-scope
questions the "I can help with" answer). Cases sharing a ``thread`` run in file order in
one conversation, so follow-up questions are tested as follow-ups.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REFUSAL = "<refusal>"
OUT_OF_SCOPE = "<out_of_scope>"
CASES_DIR = Path(__file__).parent


@dataclass
class CaseResult:
    id: str
    role: str
    lang: str
    routed: bool
    facts: bool
    refusal_ok: bool
    latency_ms: float
    tools: list[str]
    answer: str
    missing: list[str] = field(default_factory=list)
    out_of_scope: bool = False  # the case is not a sales question: no tool may run


def load_cases(path: Path) -> list[dict[str, Any]]:
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                cases.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not a JSON object ({exc.msg})") from None
    return cases


LEAD_INTEL_TOOLS = {"lead_routing", "alerts", "review_queue"}
SETUP_ADMIN = "wangjianhua"  # the demo company's admin


def prepare_lead_intel(ctx) -> dict[str, int]:
    """Routing decisions and alerts exist only after `repcopilot route` and `signals run`: run both once,
    as the admin at the context's clock (the demo's as-of time), over the week before it. Deterministic;
    nothing is committed (the caller's rollback undoes it)."""
    from datetime import timedelta

    from tools.capability import ensure_profiles
    from tools.routing import route_leads
    from tools.signals import run_signals

    now = ctx.now()
    ensure_profiles(ctx.session, now=now)
    routed = route_leads(ctx=ctx).routed
    run = run_signals(ctx=ctx, since=now - timedelta(days=7), until=now)
    return {"routed": routed, "alerts": run.new_alerts}


def run_agent_eval(copilot, make_ctx, cases: list[dict[str, Any]], *, thread_prefix: str = "eval",
                   setup: bool | None = None) -> dict[str, Any]:
    """The cases' figures (see ``run_agent_cases``)."""
    return summarize(run_agent_cases(copilot, make_ctx, cases, thread_prefix=thread_prefix, setup=setup))


def run_agent_cases(copilot, make_ctx, cases: list[dict[str, Any]], *, thread_prefix: str = "eval",
                    setup: bool | None = None) -> list[CaseResult]:
    """``make_ctx(login)`` returns a ToolContext for that user. ``setup`` (by default: when a case
    expects a routing or alerts tool) routes the demo's new leads and runs the signal rules once,
    just before the first such case: the cases before it see the demo as built (alerts also open
    AI suggestions, which "no open suggestions" cases must not see)."""
    results: list[CaseResult] = []
    ctx_cache: dict[str, Any] = {}
    pending_setup = setup is not False
    for case in cases:
        if pending_setup and (setup or LEAD_INTEL_TOOLS & set(case.get("expect_tools", []))):
            pending_setup = False
            prepare_lead_intel(ctx_cache.get(SETUP_ADMIN) or ctx_cache.setdefault(SETUP_ADMIN, make_ctx(SETUP_ADMIN)))
        login = case["as"]
        ctx = ctx_cache.get(login) or ctx_cache.setdefault(login, make_ctx(login))
        thread = f"{thread_prefix}:{case['thread']}" if case.get("thread") else None
        try:
            answer = copilot.ask(ctx, case["question"], thread_id=thread)
        except Exception as exc:  # noqa: BLE001 — a crash is a failed case, not the end of the run
            results.append(CaseResult(case["id"], ctx.user.role, case.get("lang", "?"), False, False, False, 0.0, [],
                                      f"CRASH {type(exc).__name__}: {exc}", list(case.get("expect_facts", []))))
            continue
        tools = [t["name"] for t in answer.tools]
        expect_tools = case.get("expect_tools", [])
        routed = set(tools) == set(expect_tools)
        facts = [f for f in case.get("expect_facts", []) if f not in (REFUSAL, OUT_OF_SCOPE)]
        missing = [f for f in facts if f.lower() not in answer.answer.lower()]
        expects_refusal = REFUSAL in case.get("expect_facts", [])
        expects_oos = OUT_OF_SCOPE in case.get("expect_facts", [])
        if expects_refusal:
            refusal_ok = answer.refused
        elif expects_oos:
            refusal_ok = not tools
        else:
            refusal_ok = not answer.refused
        results.append(CaseResult(case["id"], ctx.user.role, case.get("lang", answer.language), routed,
                                  not missing and refusal_ok, refusal_ok, answer.latency_ms, tools, answer.answer, missing,
                                  expects_oos))
    return results


def summarize(results: list[CaseResult]) -> dict[str, Any]:
    def block(rs: list[CaseResult]) -> dict[str, Any]:
        lat = sorted(r.latency_ms for r in rs)
        return {
            "cases": len(rs),
            "routing": round(sum(r.routed for r in rs) / len(rs), 3),
            "facts": round(sum(r.facts for r in rs) / len(rs), 3),
            "refusals": round(sum(r.refusal_ok for r in rs) / len(rs), 3),
            "latency_p50_ms": round(statistics.median(lat), 1),
            "latency_p95_ms": round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1),
        }

    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for r in results:
        groups[f"role={r.role}"].append(r)
        groups[f"lang={r.lang}"].append(r)
    oos_to_tool = [r.id for r in results if r.out_of_scope and r.tools]
    return {
        "overall": block(results) if results else {},
        "out_of_scope_to_a_tool": len(oos_to_tool),
        "groups": {k: block(v) for k, v in sorted(groups.items())},
        "failures": [r.__dict__ for r in results if not (r.routed and r.facts and r.refusal_ok)],
    }
