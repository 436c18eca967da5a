"""The copilot graph's state: the conversation plus what the current turn gathered."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class CopilotState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    language: str  # zh / en: the language of the latest question
    focus: dict[str, Any]  # what the conversation is about (lead_id, account_id, call_id) — for follow-ups
    steps: int  # planner rounds in this turn
