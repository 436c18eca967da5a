"""Lead intelligence: the CBI weights and decay as configured, consent, access, planted journeys."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from core.errors import PermissionDenied
from crm.access import get_user
from crm.db import session_factory
from crm.models import Account, Contact, Lead, Region, Team, Touchpoint, User
from tools.context import ToolContext
from tools.leads import find_leads, intent_score, lead_summary

NOW = datetime(2026, 11, 20, 12)


@pytest.fixture
def tiny(engine):
    """One rep, one account, one lead, two contacts (one without consent)."""
    with session_factory(engine)() as s:
        region = Region(code="east", name_zh="华东", name_en="East China")
        s.add(region)
        s.flush()
        team = Team(name="华东一组", name_en="East", region_id=region.id)
        s.add(team)
        s.flush()
        rep = User(login="rep1", name="张伟", name_en="Wei Zhang", role="rep", team_id=team.id, language="zh", hire_date=date(2020, 1, 1))
        other = User(login="rep2", name="李娜", name_en="Na Li", role="rep", team_id=team.id, language="zh", hire_date=date(2020, 1, 1))
        s.add_all([rep, other])
        s.flush()
        acct = Account(name="杭州市第一人民医院", industry="healthcare", segment="三级综合医院", region_id=region.id, tier="A",
                       international=False, owner_id=rep.id, created_at=NOW - timedelta(days=400))
        s.add(acct)
        s.flush()
        yes = Contact(account_id=acct.id, name="王主任", title="设备科科长", role_in_deal="procurement", consent_tracking=True)
        no = Contact(account_id=acct.id, name="赵工", title="工程师", role_in_deal="engineer", consent_tracking=False)
        s.add_all([yes, no])
        s.flush()
        lead = Lead(name="杭州市第一人民医院 · 超声影像系统", account_id=acct.id, contact_id=yes.id, source="website", status="contacted",
                    scenario="hospital_procurement", value_cny=800_000, owner_id=rep.id, created_at=NOW - timedelta(days=20),
                    first_follow_up_at=NOW - timedelta(days=19))
        s.add(lead)
        s.commit()
        return {"lead": lead.id, "account": acct.id, "yes": yes.id, "no": no.id}


def _tp(engine, ids, kind, when, contact="yes", asset=None):
    with session_factory(engine)() as s:
        s.add(Touchpoint(account_id=ids["account"], contact_id=ids[contact], lead_id=ids["lead"], kind=kind, channel="website",
                         occurred_at=when, asset=asset))
        s.commit()


def _ctx(s, login, **kw):
    return ToolContext(user=get_user(s, login), session=s, clock=lambda: NOW, **kw)


def test_downloading_the_manual_and_booking_a_demo_weigh_7_2_as_the_seed_says(engine, tiny):
    _tp(engine, tiny, "pdf_download", NOW, asset="产品手册.pdf")
    _tp(engine, tiny, "demo_booking", NOW)
    with session_factory(engine)() as s:
        score = intent_score(ctx=_ctx(s, "rep1"), lead_id=tiny["lead"])
    assert score.raw == pytest.approx(7.2)
    assert [e.weight for e in score.top_events] == [4.2, 3.0]


def test_an_event_counts_half_after_one_half_life(engine, tiny):
    _tp(engine, tiny, "page_view", NOW - timedelta(days=14))
    with session_factory(engine)() as s:
        assert intent_score(ctx=_ctx(s, "rep1"), lead_id=tiny["lead"]).raw == pytest.approx(1.3 / 2)


def test_behaviour_of_contacts_without_consent_is_neither_scored_nor_shown(engine, tiny):
    _tp(engine, tiny, "demo_booking", NOW, contact="no")
    _tp(engine, tiny, "page_view", NOW, contact="yes")
    with session_factory(engine)() as s:
        score = intent_score(ctx=_ctx(s, "rep1"), lead_id=tiny["lead"])
    assert score.raw == pytest.approx(1.3) and score.excluded_without_consent == 1
    assert all("预约演示" not in e.text for e in score.top_events)


def test_anonymized_mode_shows_no_individual_events(engine, tiny):
    _tp(engine, tiny, "page_view", NOW)
    with session_factory(engine)() as s:
        score = intent_score(ctx=_ctx(s, "rep1", anonymized=True), lead_id=tiny["lead"])
    assert score.score is not None and score.top_events == [] and score.anonymized


def test_a_rep_asking_about_another_reps_lead_is_refused_without_its_facts(engine, tiny):
    with session_factory(engine)() as s:
        with pytest.raises(PermissionDenied) as err:
            lead_summary(ctx=_ctx(s, "rep2"), lead_id=tiny["lead"])
    assert "杭州" not in str(err.value) and "800" not in str(err.value)


def test_a_lead_is_found_by_a_fragment_of_its_account_name(engine, tiny):
    with session_factory(engine)() as s:
        matches = find_leads(ctx=_ctx(s, "rep1"), query="第一人民医院这条线索怎么样")
        assert [m.lead_id for m in matches] == [tiny["lead"]]
        assert find_leads(ctx=_ctx(s, "rep2"), query="第一人民医院这条线索怎么样") == []


def test_the_planted_journeys_trigger_their_rules(demo_engine):
    with session_factory(demo_engine)() as s:
        admin = ToolContext(user=get_user(s, "wangjianhua"), session=s, clock=lambda: NOW)
        bid_lead = s.scalar(select(Touchpoint.lead_id).where(Touchpoint.kind == "bid_doc_sent").limit(1))
        expo_lead = s.scalar(select(Touchpoint.lead_id).where(Touchpoint.kind == "expo_scan", Touchpoint.asset == "新能源装备展 展位扫码").limit(1))
        policy = {a["rule"] for a in lead_summary(ctx=admin, lead_id=bid_lead).actions}
        engineer = {a["rule"] for a in lead_summary(ctx=admin, lead_id=expo_lead).actions}
    assert "policy_sensitive" in policy
    assert "engineer_deep_dive" in engineer
