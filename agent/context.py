"""Per-run options of the copilot graph (LangGraph ``context_schema``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tools.context import ToolContext


@dataclass(kw_only=True)
class Context:
    tool_context: ToolContext = field(metadata={"description": "who is asking, with DB session and stores"})
    planner: Any = field(metadata={"description": "the Planner deciding tool calls and answers"})
    max_steps: int = field(default=4, metadata={"description": "planner rounds allowed per question"})
