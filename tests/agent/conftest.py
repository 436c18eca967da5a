from __future__ import annotations

import pytest
from pydantic import BaseModel

from agent import tools as agent_tools
from agent.tools import ToolOutput, ToolSpec
from core.errors import PermissionDenied
from crm.access import get_user
from evals.demo import NOON
from tools.context import ToolContext
from tools.evidence import Evidence


class EchoArgs(BaseModel):
    query: str
    lead_id: int | None = None


def _echo(*, ctx: ToolContext, query: str, lead_id: int | None) -> ToolOutput:
    if "forbidden" in query:
        raise PermissionDenied("not yours")
    chosen = lead_id or 42
    return ToolOutput(text=f"{ctx.user.login} asked about lead {chosen}", evidence=[Evidence("lead", str(chosen), None, "x")],
                      confidence=0.7, focus={"lead_id": chosen})


@pytest.fixture
def echo_tool(monkeypatch):
    """Replace the tool registry with one recording tool, so graph tests test the graph."""
    registry = {"lead_lookup": ToolSpec("lead_lookup", "Look up a lead by name or id.", EchoArgs, _echo)}
    monkeypatch.setattr(agent_tools, "REGISTRY", registry)
    import agent.graph as graph_module

    monkeypatch.setattr(graph_module, "REGISTRY", registry)
    return registry


def noon_ctx(session, login: str, language: str = "zh") -> ToolContext:
    """A ToolContext for ``login`` at the demo company's as-of noon (the eval's clock)."""
    return ToolContext(user=get_user(session, login), session=session, clock=lambda: NOON, language=language)


def ask_in_thread(session, login: str, *questions: str, language: str = "zh"):
    """The offline copilot's answers to ``questions`` asked by ``login`` in order, in one conversation."""
    from langgraph.checkpoint.memory import InMemorySaver

    from agent.planners import OfflinePlanner
    from agent.service import Copilot

    copilot = Copilot(planner=OfflinePlanner(), checkpointer=InMemorySaver())
    ctx = noon_ctx(session, login, language)
    return [copilot.ask(ctx, q, thread_id="t") for q in questions]


@pytest.fixture
def demo_session(demo_engine):
    """A session on the demo company; whatever a test writes is rolled back."""
    from crm.db import session_factory

    session = session_factory(demo_engine)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def planned_call(session, login: str, question: str, focus: dict | None = None, language: str = "zh"):
    """What the offline planner does with ``question`` as ``login`` (with the thread's ``focus``):
    ``(tool, args)``, or ``("answer", text)`` when it answers without a tool."""
    from langchain_core.messages import HumanMessage

    from agent.planners import OfflinePlanner
    from agent.tools import REGISTRY

    message = OfflinePlanner().plan({"messages": [HumanMessage(content=question)], "focus": focus or {}},
                                    noon_ctx(session, login, language), list(REGISTRY.values()))
    if message.tool_calls:
        return message.tool_calls[0]["name"], message.tool_calls[0]["args"]
    return "answer", message.content


@pytest.fixture
def intel_session(demo_engine):
    """The demo company after one `route` and one `signals run` by the admin at the demo's as-of time
    (routing decisions and alerts exist only then); whatever a test writes is rolled back."""
    from crm.db import session_factory
    from evals.agent_eval import SETUP_ADMIN, prepare_lead_intel

    session = session_factory(demo_engine)()
    try:
        prepare_lead_intel(ToolContext(user=get_user(session, SETUP_ADMIN), session=session, clock=lambda: NOON))
        yield session
    finally:
        session.rollback()
        session.close()


@pytest.fixture
def coaching_session(demo_engine):
    """The demo company with its call metrics computed (profiles and drills are made from them); rolled back."""
    from crm.db import session_factory
    from tools.calls import recompute_call_metrics

    session = session_factory(demo_engine)()
    recompute_call_metrics(session)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def pending_in_region_of(session, manager: str):
    """The first routing decision with a proposed rep waiting for review in ``manager``'s region, or None."""
    from sqlalchemy import select

    from crm.models import Account, Lead, RoutingDecision

    region = get_user(session, manager).team.region_id
    return session.scalars(select(RoutingDecision).join(Lead, Lead.id == RoutingDecision.lead_id)
                           .join(Account, Account.id == Lead.account_id)
                           .where(RoutingDecision.status == "pending_review", Account.region_id == region,
                                  RoutingDecision.rep_id.is_not(None))
                           .order_by(RoutingDecision.id)).first()
