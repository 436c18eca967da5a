"""The copilot's tools: one module per capability (its typed arguments — what the model or the
offline planner chooses —, its body calling the service functions in ``tools/`` with the injected
ToolContext, and how it renders the answer), and here the registry and ``run_tool``. Expected
failures come back as error results, not crashes."""

from __future__ import annotations

from typing import Any

from agent.tools import (
    alerts,
    call_debrief,
    capability_gaps,
    coaching_drills,
    journey_timeline,
    knowledge_search,
    kpi_query,
    lead_lookup,
    lead_routing,
    practice,
    review_queue,
    successor,
    suggestions,
)
from agent.tools.base import CoachingArgs, ToolOutput, ToolSpec
from agent.tools.practice import (
    PracticeArgs,
    PracticeTurnArgs,
    practice_follow_up,
    practice_howto,
    practice_report_text,
)
from core.errors import RepcopilotError
from tools.context import ToolContext

__all__ = ["REGISTRY", "CoachingArgs", "PracticeArgs", "PracticeTurnArgs", "ToolOutput", "ToolSpec", "practice_follow_up",
           "practice_howto", "practice_report_text", "register", "run_tool"]

REGISTRY: dict[str, ToolSpec] = {}


def register(spec: ToolSpec) -> ToolSpec:
    REGISTRY[spec.name] = spec
    return spec


# in the order the model has always seen them
for _spec in (knowledge_search.SPEC, call_debrief.SPEC, kpi_query.SPEC, lead_lookup.SPEC, journey_timeline.SPEC,
              suggestions.SPEC, capability_gaps.SPEC, coaching_drills.SPEC, practice.TURN_SPEC, practice.SPEC,
              successor.SPEC, lead_routing.SPEC, review_queue.SPEC, alerts.SPEC):
    register(_spec)


def run_tool(name: str, args: dict[str, Any], ctx: ToolContext) -> ToolOutput:
    spec = REGISTRY.get(name)
    if spec is None:
        return ToolOutput(text=ctx.t(f"没有名为 {name} 的工具", f"there is no tool named {name}"), error="input")
    try:
        parsed = spec.args.model_validate(args or {})
    except ValueError as exc:
        return ToolOutput(text=ctx.t(f"工具 {name} 的参数无效: {exc}", f"invalid arguments for {name}: {exc}"), error="input")
    try:
        return spec.run(ctx=ctx, **parsed.model_dump())
    except RepcopilotError as exc:
        kind = type(exc).__name__
        error = {"PermissionDenied": "permission", "NotFoundError": "not_found"}.get(kind, "input")
        return ToolOutput(text=str(exc), error=error)
