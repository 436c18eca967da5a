"""`repcopilot eval export-feedback`: the 👎 web chat answers become eval cases (JSON lines)."""

from __future__ import annotations

import json
from datetime import date

from agent.service import Answer
from api.conversations import record_turn
from api.feedback import rate_answer
from crm.db import make_engine, session_factory, upgrade_schema
from crm.models import Region, Team, User
from evals.agent_eval import load_cases
from tests.cli.test_cli import run


def _rated_home(home):
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    upgrade_schema(engine)
    with session_factory(engine)() as s:
        s.add(Region(id=1, code="east", name_zh="华东", name_en="East"))
        s.add(Team(id=1, name="华东一组", name_en="East 1", region_id=1))
        s.add(User(id=1, login="zhangwei", name="张伟", name_en="Wei Zhang", role="rep", team_id=1, hire_date=date(2024, 1, 1)))
        s.flush()
        turns = [("本季度华东区线索72小时跟进率", "kpi_query", "up", ""),
                 ("那上个月呢?", "kpi_query", "down", "想看上个月的,给的是本月"),
                 ("how do I answer a price objection?", "knowledge_search", "down", "")]
        for question, tool, rating, reason in turns:
            answer = Answer(answer=f"answer to {question}", language="en" if question.isascii() else "zh",
                            tools=[{"name": tool, "args": {"question": question}}],
                            evidence=[{"kind": "metric", "id": "lead_followup_72h_rate", "time": None, "text": "口径"}])
            thread = "t-en" if question.isascii() else "t-zh"
            message_id = record_turn(s, user_id=1, thread_id=thread, question=question, answer=answer, images=[])
            rate_answer(s, user_id=1, message_id=message_id, rating=rating, reason=reason)
        s.commit()
    engine.dispose()


def test_thumbs_down_answers_are_exported_as_agent_eval_cases_with_their_context(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    _rated_home(home)
    out = tmp_path / "feedback.jsonl"
    proc = run("--home", str(home), "eval", "export-feedback", "--out", str(out))
    assert "2 👎 answer(s)" in proc.stdout
    cases = load_cases(out)  # what `repcopilot eval FILE` reads
    assert [c["question"] for c in cases] == ["那上个月呢?", "how do I answer a price objection?"]
    follow_up, objection = cases
    assert follow_up["as"] == "zhangwei" and follow_up["lang"] == "zh" and follow_up["expect_tools"] == ["kpi_query"]
    assert follow_up["needs_review"] is True and follow_up["expect_facts"] == []
    assert follow_up["feedback"]["reason"] == "想看上个月的,给的是本月"
    assert follow_up["feedback"]["earlier_questions"] == ["本季度华东区线索72小时跟进率"]
    assert follow_up["feedback"]["evidence"][0]["id"] == "lead_followup_72h_rate"
    assert objection["expect_tools"] == ["knowledge_search"] and objection["feedback"]["earlier_questions"] == []
    # to stdout, and only the ratings from a day on
    printed = run("--home", str(home), "eval", "export-feedback").stdout
    assert [json.loads(line)["id"] for line in printed.splitlines()] == [c["id"] for c in cases]
    assert run("--home", str(home), "eval", "export-feedback", "--since", "2999-01-01").stdout == ""


def test_a_bad_since_date_says_how_to_write_it(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    _rated_home(home)
    proc = run("--home", str(home), "eval", "export-feedback", "--since", "last week", check=False)
    assert proc.returncode != 0 and "YYYY-MM-DD" in proc.stderr + proc.stdout
