"""The agent eval runner: routing, facts and refusals are scored per role and language."""

from __future__ import annotations

from datetime import datetime

from agent.planners import OfflinePlanner
from agent.service import Copilot
from crm.access import get_user
from crm.db import session_factory
from evals.agent_eval import run_agent_eval
from tools.context import ToolContext

CASES = [
    {"id": "a", "as": "chenjing", "lang": "zh", "question": "本季度华东区线索72小时跟进率", "expect_tools": ["kpi_query"], "expect_facts": ["口径"]},
    {"id": "b", "as": "linfang", "lang": "zh", "question": "上个月赢单率", "expect_tools": ["kpi_query"], "expect_facts": ["<refusal>"]},
    {"id": "c", "as": "zhangwei", "lang": "en", "question": "write me a poem", "expect_tools": [], "expect_facts": ["<out_of_scope>"]},
    {"id": "d", "as": "zhangwei", "lang": "en", "question": "write me a poem", "expect_tools": ["kpi_query"], "expect_facts": ["nonsense fact"]},
]


def test_the_runner_scores_routing_facts_and_refusals_and_lists_the_failures(demo_engine):
    with session_factory(demo_engine)() as session:
        report = run_agent_eval(Copilot(planner=OfflinePlanner()),
                                lambda login: ToolContext(user=get_user(session, login), session=session,
                                                          clock=lambda: datetime(2026, 11, 20, 12)), CASES)
    assert report["overall"]["cases"] == 4
    assert report["overall"]["routing"] == 0.75 and report["overall"]["facts"] == 0.75
    assert [f["id"] for f in report["failures"]] == ["d"] and report["failures"][0]["missing"] == ["nonsense fact"]
    assert report["groups"]["role=trainer"]["refusals"] == 1.0
    assert set(report["groups"]) >= {"lang=zh", "lang=en", "role=manager", "role=rep", "role=trainer"}
