"""The "answer helpfulness" KPI: the share of 👍 among rated web chat answers, by tool, language
and week — from ratings stored through the feedback service, on SQLite and PostgreSQL, checked
against a hand count of the same ratings."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

import pytest
from sqlalchemy import select, update

from agent.service import Answer
from api.conversations import record_turn
from api.feedback import rate_answer
from crm.db import session_factory
from crm.models import AnswerFeedback, Region, Team, User
from tools.context import ToolContext
from tools.kpi import answer_question, run_spec
from tools.kpi.compiler import Period, QuerySpec

MONDAY_A, MONDAY_B = datetime(2026, 11, 9, 10), datetime(2026, 11, 16, 15)
#: (asker, question, language, tools, rating, when)
RATED = [
    ("rep1", "win rate this year", "en", ["kpi_query"], "up", MONDAY_A),
    ("rep1", "今年赢单率", "zh", ["kpi_query"], "down", MONDAY_A),
    ("rep1", "线索 12 怎么样", "zh", ["lead_lookup", "journey_timeline"], "up", MONDAY_B),
    ("rep2", "how do I answer a price objection?", "en", ["knowledge_search"], "up", MONDAY_B),
    ("rep2", "hello", "en", [], "down", MONDAY_B),
    ("rep2", "本月各团队线索转化率", "zh", ["kpi_query"], "down", MONDAY_B),
]


def _people(session) -> dict[str, User]:
    region = Region(code="east", name_zh="华东", name_en="East")
    session.add(region)
    session.flush()
    team = Team(name="华东一组", name_en="East 1", region_id=region.id)
    session.add(team)
    session.flush()
    people = {login: User(login=login, name=login, name_en=login, role=role, team_id=team.id, hire_date=date(2024, 1, 1))
              for login, role in (("rep1", "rep"), ("rep2", "rep"), ("boss", "manager"))}
    session.add_all(people.values())
    session.flush()
    return people


def _rate_all(session, people) -> None:
    for i, (login, question, language, tools, rating, when) in enumerate(RATED):
        answer = Answer(answer=f"answer {i}", language=language, tools=[{"name": n, "args": {}} for n in tools],
                        evidence=[{"kind": "metric", "id": "x", "time": None, "text": "why"}])
        message_id = record_turn(session, user_id=people[login].id, thread_id=f"t{i}", question=question,
                                 answer=answer, images=[])
        first = "down" if rating == "up" else "up"  # rated once the other way, then changed: one verdict counts
        assert rate_answer(session, user_id=people[login].id, message_id=message_id, rating=first, reason="")
        assert rate_answer(session, user_id=people[login].id, message_id=message_id, rating=rating, reason="because")
        session.execute(update(AnswerFeedback).where(AnswerFeedback.message_id == message_id).values(created_at=when))
    session.flush()


def _by_hand(key) -> dict:
    groups: dict = defaultdict(lambda: [0, 0])
    for row in RATED:
        groups[key(row)][0] += row[4] == "up"
        groups[key(row)][1] += 1
    return {k: up / n for k, (up, n) in groups.items()}


def test_helpfulness_by_tool_language_and_week_equals_a_hand_count(engine):
    with session_factory(engine)() as s:
        people = _people(s)
        _rate_all(s, people)
        assert s.scalar(select(AnswerFeedback.id).where(AnswerFeedback.rating.not_in((1, -1)))) is None
        ctx = ToolContext(user=people["boss"], session=s, language="en", clock=lambda: datetime(2026, 11, 20, 12))
        period = Period(date(2026, 11, 1), date(2026, 12, 1), "month")
        total = run_spec(ctx=ctx, spec=QuerySpec(metric="answer_helpfulness", period=period))
        assert (total.numerator, total.denominator) == (3, 6)  # each answer's latest verdict, once
        by_tool = run_spec(ctx=ctx, spec=QuerySpec(metric="answer_helpfulness", dimensions=["tool"], period=period))
        tools = {"kpi_query", "lead_lookup", "knowledge_search"}
        assert {r["tool"]: r["value"] for r in by_tool.rows} == pytest.approx(
            _by_hand(lambda r: r[3][0] if r[3] else "none"))
        assert tools <= {r["tool"] for r in by_tool.rows}
        by_language = run_spec(ctx=ctx, spec=QuerySpec(metric="answer_helpfulness", dimensions=["language"], period=period))
        assert {r["language"]: r["value"] for r in by_language.rows} == pytest.approx(_by_hand(lambda r: r[2]))
        by_week = run_spec(ctx=ctx, spec=QuerySpec(metric="answer_helpfulness", dimensions=["week"], period=period))
        assert {r["week"]: r["value"] for r in by_week.rows} == pytest.approx(
            _by_hand(lambda r: "2026-11-09" if r[5] == MONDAY_A else "2026-11-16"))
        # a rep sees their own ratings only
        mine = run_spec(ctx=ToolContext(user=people["rep1"], session=s, language="en"),
                        spec=QuerySpec(metric="answer_helpfulness", period=period))
        assert (mine.numerator, mine.denominator) == (2, 3)


def test_a_manager_asks_for_helpfulness_by_tool_in_chinese_and_english(engine):
    with session_factory(engine)() as s:
        people = _people(s)
        _rate_all(s, people)
        clock = lambda: datetime(2026, 11, 20, 12)  # noqa: E731
        zh = answer_question(ctx=ToolContext(user=people["boss"], session=s, language="zh", clock=clock),
                             question="本月回答有用率按工具")
        assert zh.metric == "answer_helpfulness" and zh.spec.dimensions == ["tool"]
        assert "回答有用率" in zh.render(chart_path=False)
        en = answer_question(ctx=ToolContext(user=people["boss"], session=s, language="en", clock=clock),
                             question="answer helpfulness by language this month")
        assert en.metric == "answer_helpfulness" and en.spec.dimensions == ["language"]
        assert (en.numerator, en.denominator) == (3, 6)
