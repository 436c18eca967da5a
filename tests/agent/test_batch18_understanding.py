"""What dev batch 18 (200 questions written blind, 55 % Chinese, 25 threads of an ordinary working day) found, as tests:
a rep asking for the region's unassigned leads or to be given a lead is refused (they got "none" and a choice list);
a raw table asked for in SQL is refused; a customer's follow-up record is its journey (refused to the trainer — it was
a call debrief); the team's practice in English and "大家练习情况" are the practice view, "马刚练过没" his results and
"给他布置…" right after them his assignment — never a session started for the trainer; "组里谁方案匹配最强" ranks the
team by that skill (it was a KPI); an admin's "north region pending approvals" is that region's queue; a customer named
in a thread beats the one in focus; after "adopt the 1st one" the "2nd one" is still the list's second; "close the
first alert" adopts it. Demo company (SQLite and PostgreSQL), rolled back."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm.models import Account, Lead, RoutingDecision
from tests.agent.conftest import ask_in_thread


@pytest.mark.parametrize("login, question, tool", [
    ("dengmin", "any unassigned leads in the region? wanna grab one", "lead_lookup"),
    ("zhangwei", "青岛中心医院新来那条线索 能直接派给我吗 本来就是我的客户", "lead_routing"),
])
def test_a_rep_asking_for_leads_nobody_gave_them_is_refused(intel_session, login, question, tool):
    (answer,) = ask_in_thread(intel_session, login, question, language="en" if question.isascii() else "zh")
    assert answer.refused and answer.tools[0]["name"] == tool


def test_a_raw_table_asked_for_in_sql_is_refused(demo_session):
    (answer,) = ask_in_thread(demo_session, "suntao", "select * from leads 把原始表直接dump给我")
    assert answer.refused and not answer.tools


def test_a_customers_follow_up_record_is_its_journey(demo_session):
    (answer,) = ask_in_thread(demo_session, "linfang", "顺便看下沈阳市妇幼保健院之前的跟进记录")
    assert answer.refused and answer.tools[0]["name"] == "journey_timeline"  # a trainer: not hers to see
    (own,) = ask_in_thread(demo_session, "zhangwei", "上海中医院那个 最近都有啥动静")
    assert own.tools[0]["name"] == "journey_timeline"


def test_the_teams_practice_then_one_reps_then_his_assignment(coaching_session):
    team, his, assigned, gaps = ask_in_thread(coaching_session, "linfang", "这周大家练习情况咋样", "马刚练过没", "给他布置个价格异议的练习",
                                              "他三个维度哪个最差")
    assert team.tools[0]["args"] == {"report_of": "team:week"}
    assert his.tools[0]["args"] == {"report_of": "magang"}
    assert assigned.tools[0]["name"] == "practice" and assigned.tools[0]["args"]["assign_to"] == "magang"
    assert gaps.tools[0]["name"] == "capability_gaps" and gaps.tools[0]["args"] == {"rep": "magang"}
    (nobody,) = ask_in_thread(coaching_session, "linfang", "给他布置个价格异议的练习")
    assert not nobody.tools and "布置给哪位" in nobody.answer  # asked whom — no session started for the trainer
    (english,) = ask_in_thread(coaching_session, "linfang", "practice results for the south team this month?", language="en")
    assert english.tools[0]["args"] == {"report_of": "team:month"}


def test_who_is_strongest_at_a_skill_ranks_the_team_by_it(coaching_session):
    (answer,) = ask_in_thread(coaching_session, "huanglei", "组里谁方案匹配最强")
    assert answer.tools[0]["name"] == "capability_gaps" and answer.tools[0]["args"].get("dimension") == "solution_matching"


def test_an_admins_queue_of_one_region_is_that_regions(intel_session):
    (answer,) = ask_in_thread(intel_session, "wangjianhua", "north region pending routing approvals?", language="en")
    assert answer.tools[0]["name"] == "review_queue" and answer.tools[0]["args"].get("region") == "north"
    regions = {intel_session.scalar(select(Account.region_id).join(Lead, Lead.account_id == Account.id)
                                    .where(Lead.id == d.lead_id)) for d in intel_session.scalars(
        select(RoutingDecision).where(RoutingDecision.status == "pending_review"))}
    assert len(regions) > 1 and "青岛市中心医院" not in answer.answer  # East's decision waits too, and is not listed


def test_a_customer_named_in_a_thread_beats_the_one_in_focus(intel_session):
    _list, adopted, named = ask_in_thread(intel_session, "xiejun", "我的建议", "采纳第一条", "沈阳明辉贸易 lead - intent now? why the big jump")
    assert adopted.tools[0]["args"]["action"] == "adopt"
    assert "沈阳明辉贸易有限公司" in named.answer and "大连恒立" not in named.answer.split("\n")[0]


def test_the_lists_second_after_deciding_its_first(intel_session):
    listed, first, second = ask_in_thread(intel_session, "xiejun", "list my ai suggestions pls", "adopt the 1st one",
                                          "2nd one is nonsense, dismiss", language="en")
    ids = [int(line.split("]")[0].split("[")[-1]) for line in listed.answer.splitlines() if line.startswith("- [")]
    assert first.tools[0]["args"] == {"action": "adopt", "suggestion_id": ids[0]}
    assert second.tools[0]["args"] == {"action": "dismiss", "suggestion_id": ids[1]}


def test_close_the_first_alert_adopts_it(intel_session):
    listed, closed = ask_in_thread(intel_session, "tangxiuying", "my alerts", "ok close the first alert", language="en")
    first = int(listed.answer.split("#")[1].split()[0])
    assert closed.tools[0]["args"] == {"action": "adopt", "alert_id": first}
