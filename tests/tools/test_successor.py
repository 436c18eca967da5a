"""Successor matching: who may plan a handover, how candidates are ranked (scenario fit, load,
language, team/region — with the reasons), and what the handover guide holds (history, open
commitments, contacts with consent respected, sensitive points from calls with call id + time)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.errors import NotFoundError, PermissionDenied, UserInputError
from crm.models import Account, AISuggestion, Call, CallMetric, CallTurn, Opportunity, Renewal, User
from tests.tools.conftest import NOW, make_ctx
from tools.successor import account_scenario, rank_candidates, successor_plan


def _calls(tiny, rep: str, *, pause: float, why: float, n: int = 3) -> None:
    for day in range(1, n + 1):
        cid = tiny.add(lambda ids, day=day: Call(rep_id=ids[rep], account_id=ids["south_acct"] if rep == "rep3" else ids["other_acct"],
                                                 started_at=NOW - timedelta(days=day), duration_s=600.0, language="zh"))
        with tiny.session() as s:
            s.add_all([CallMetric(call_id=cid, name="pain_point_pause_s", value=pause), CallMetric(call_id=cid, name="why_question_share", value=why),
                       CallMetric(call_id=cid, name="patience_s", value=pause), CallMetric(call_id=cid, name="interruptions", value=1.0 / (why + 0.1)),
                       CallMetric(call_id=cid, name="talk_ratio", value=0.6 - why), CallMetric(call_id=cid, name="longest_monologue_s", value=20 - 10 * why)])
            s.commit()


@pytest.fixture
def handover(tiny):
    """rep1 is leaving: three accounts (a hospital with an open opportunity, a renewal due and a
    call full of objections; Helios, international; 宁波宏达). rep2 (east) and rep3 (south) have
    profiles: rep2 the better discoverer; rep1 has calls too."""
    _calls(tiny, "rep1", pause=1.0, why=0.1)
    _calls(tiny, "rep2", pause=2.5, why=0.4)
    _calls(tiny, "rep3", pause=0.8, why=0.05)
    tiny.add(lambda ids: Opportunity(name="杭州市第六人民医院 · 超声影像系统", account_id=ids["acct"], lead_id=ids["lead"], owner_id=ids["rep1"],
                                     scenario="hospital_procurement", stage="proposal", amount_cny=900_000, won=None,
                                     created_at=NOW - timedelta(days=15)))
    tiny.add(lambda ids: Renewal(account_id=ids["acct"], owner_id=ids["rep1"], due_date=(NOW + timedelta(days=20)).date(),
                                 amount_cny=150_000, high_value=True, renewed=None))
    tiny.add(lambda ids: AISuggestion(user_id=ids["rep1"], kind="next_best_action", lead_id=ids["lead"], account_id=ids["acct"],
                                      text="预约产品演示", evidence=[], confidence=0.8, status="shown", created_at=NOW - timedelta(days=1)))
    call = tiny.add(lambda ids: Call(rep_id=ids["rep1"], account_id=ids["acct"], started_at=NOW - timedelta(days=5), duration_s=120.0, language="zh"))
    with tiny.session() as s:
        s.add_all([CallTurn(call_id=call, idx=0, speaker="rep", start_s=0.0, end_s=3.0, text="您好 想了解一下设备管理情况"),
                   CallTurn(call_id=call, idx=1, speaker="customer", start_s=3.5, end_s=8.0, text="你们的价格比另外两家高了不少"),
                   CallTurn(call_id=call, idx=2, speaker="rep", start_s=9.0, end_s=11.0, text="您是按什么标准比较的?"),
                   CallTurn(call_id=call, idx=3, speaker="customer", start_s=65.0, end_s=70.0, text="这个还要等集采结果出来再说"),
                   CallTurn(call_id=call, idx=4, speaker="customer", start_s=71.0, end_s=73.0, text="好的")])
        s.commit()
    tiny.touch("page_view", NOW - timedelta(days=2), contact="yes", asset="产品页")
    tiny.touch("pdf_download", NOW - timedelta(days=1), contact="no", asset="报价单.pdf")
    tiny.ids["objection_call"] = call
    return tiny


def test_candidates_rank_by_fit_then_capacity_language_and_context_with_each_factor_shown():
    rows = [
        {"login": "a", "fit": 80.0, "load": 10, "language_ok": True, "same_team": True, "same_region": True},
        {"login": "b", "fit": 60.0, "load": 0, "language_ok": True, "same_team": True, "same_region": True},
        {"login": "c", "fit": 90.0, "load": 10, "language_ok": False, "same_team": False, "same_region": False},
        {"login": "d", "fit": None, "load": 0, "language_ok": True, "same_team": True, "same_region": True},
    ]
    ranked = rank_candidates(rows)
    assert [r["login"] for r in ranked] == ["b", "a", "c", "d"]  # b 78, a 69, c 49.5, d 45
    b = ranked[0]
    assert b["parts"] == {"fit": 60.0, "capacity": 100.0, "language": 100.0, "context": 100.0}
    assert b["score"] == pytest.approx(0.55 * 60 + 0.20 * 100 + 0.15 * 100 + 0.10 * 100)
    assert ranked[2]["parts"]["capacity"] == 0.0 and ranked[2]["parts"]["language"] == 0.0 and ranked[3]["parts"]["fit"] == 0.0
    assert rank_candidates([]) == []


def test_the_accounts_scenario_comes_from_its_newest_deal_then_its_segment_then_its_industry():
    acct = Account(id=1, name="x", industry="manufacturing", segment="民营口腔连锁", region_id=1, tier="A")
    assert account_scenario(acct, "government_tender", "saas_renewal") == ("government_tender", "opportunity")
    assert account_scenario(acct, None, "saas_renewal") == ("saas_renewal", "lead")
    assert account_scenario(acct, None, None) == ("dental_chain", "segment")
    acct.segment = "新细分"
    assert account_scenario(acct, None, None) == ("manufacturing_mes", "industry")
    acct.industry = "mining"
    with pytest.raises(UserInputError, match="industry_scenarios"):
        account_scenario(acct, None, None)


def test_only_the_leaving_reps_manager_or_an_admin_may_plan_the_handover(handover):
    with handover.session() as s:
        for login, match in (("rep1", "leaving rep's manager"), ("rep2", "leaving rep's manager"), ("trainer", "leaving rep's manager"),
                             ("mgr2", "not on your team")):
            with pytest.raises(PermissionDenied, match=match):
                successor_plan(ctx=make_ctx(s, login, language="en"), rep_login="rep1")
        assert successor_plan(ctx=make_ctx(s, "mgr1"), rep_login="rep1").rep == "rep1"
        assert successor_plan(ctx=make_ctx(s, "admin"), rep_login="rep1").rep == "rep1"
        with pytest.raises(NotFoundError, match="nobody"):
            successor_plan(ctx=make_ctx(s, "admin", language="en"), rep_login="nobody")
        with pytest.raises(UserInputError):
            successor_plan(ctx=make_ctx(s, "admin"), rep_login="mgr1")


def test_every_account_of_the_leaving_rep_gets_ranked_successors_with_reasons(handover):
    with handover.session() as s:
        s.get(User, handover["rep3"]).language = "en"
        s.get(User, handover["rep1"]).left_at = date(2026, 11, 30)
        s.flush()
        plan = successor_plan(ctx=make_ctx(s, "admin", language="en"), rep_login="rep1")
        mine = successor_plan(ctx=make_ctx(s, "mgr1", language="en"), rep_login="rep1")
        s.rollback()
    assert {a.account_id for a in plan.accounts} == {handover["acct"], handover["helios"], handover["ningbo"]}
    assert plan.accounts[0].account_id == handover["acct"] and plan.accounts[0].open_value_cny == 900_000  # biggest pipeline first
    assert plan.left_at == "2026-11-30" and not any("no leaving date" in n for n in plan.notes)
    by_id = {a.account_id: a for a in plan.accounts}
    hospital = by_id[handover["acct"]]
    assert hospital.scenario == "hospital_procurement" and hospital.scenario_source == "opportunity"
    assert hospital.candidates[0].login == "rep2"  # better fit, same team and region, Chinese-speaking account
    assert any("hospital procurement fit" in r for r in hospital.candidates[0].reasons)
    helios = by_id[handover["helios"]]
    assert helios.international and any("speaks English" in r for c in helios.candidates for r in c.reasons if c.login == "rep3")
    assert all(c.login != "rep1" for a in plan.accounts for c in a.candidates)
    # a manager's candidates are their own team's reps
    assert {c.login for a in mine.accounts for c in a.candidates} == {"rep2"}
    assert any("your team" in n for n in mine.notes)
    # the suggested handovers count as load for the next accounts
    assert any(c.suggested_here > 0 for a in plan.accounts[1:] for c in a.candidates)


def test_the_handover_guide_lists_commitments_contacts_with_consent_and_sensitive_points(handover):
    with handover.session() as s:
        plan = successor_plan(ctx=make_ctx(s, "mgr1"), rep_login="rep1", account_id=handover["acct"])
        anon = successor_plan(ctx=make_ctx(s, "mgr1", anonymized=True), rep_login="rep1", account_id=handover["acct"])
        with pytest.raises(NotFoundError, match="--account"):
            successor_plan(ctx=make_ctx(s, "mgr1"), rep_login="rep1", account_id=handover["south_acct"])
    (a,) = plan.accounts
    g = a.guide
    assert [o["stage"] for o in g.open_opportunities] == ["proposal"] and g.open_opportunities[0]["amount_cny"] == 900_000
    assert [r["amount_cny"] for r in g.renewals_due] == [150_000] and g.renewals_due[0]["high_value"] is True
    assert any(step["kind"] == "suggestion" and "预约产品演示" in step["text"] for step in g.pending_next_steps)
    contacts = {c["name"]: c for c in g.contacts}
    assert contacts["王芳"]["consent"] and contacts["王芳"]["activities"] == 1
    assert not contacts["赵工"]["consent"] and "last_activity" not in contacts["赵工"] and "activities" not in contacts["赵工"]
    assert all("phone" not in c and "email" not in c for c in g.contacts)
    assert all("activities" not in c for c in anon.accounts[0].guide.contacts)
    points = {p.text: p for p in g.sensitive_points}
    price = points["你们的价格比另外两家高了不少"]
    assert (price.call_id, price.time) == (handover["objection_call"], "00:03–00:08") and {"objection", "price"} <= set(price.kinds)
    assert "policy" in points["这个还要等集采结果出来再说"].kinds and points["这个还要等集采结果出来再说"].time == "01:05–01:10"
    assert "好的" not in points
    assert g.history["current_stage"] == "lead"  # no stage change recorded: the journey's own reading
    assert ("call", handover["objection_call"]) in {(e["kind"], e["id"]) for e in g.history["latest"]}
    assert g.history["excluded_without_consent"] == 1  # 赵工's download: counted, not listed
