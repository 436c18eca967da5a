"""The journey timeline: stages in order, events in their stage, silences flagged, period
filter, access by ownership, consent and anonymized mode."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import or_, select

from core.errors import PermissionDenied, UserInputError
from crm.models import Account, Call, Contact, Lead, Opportunity, StageChange, Touchpoint, User
from tools.journey import journey_timeline
from tools.text import STAGE_LABELS


@pytest.fixture
def story(tiny, now):
    """Lead created 20 days ago, an opportunity 15 days ago (discovery), solution 10 days ago,
    won 5 days ago; touchpoints in each stage, one by a contact without consent; a call by
    the owner and one by a colleague."""
    ids = {"p1": tiny.touch("page_view", now - timedelta(days=60), asset="产品页: 超声影像系统"),
           "p2": tiny.touch("pdf_download", now - timedelta(days=18), asset="产品手册.pdf"),
           "hidden": tiny.touch("demo_booking", now - timedelta(days=17), contact="no"),
           "p3": tiny.touch("meeting", now - timedelta(days=8)),
           "p4": tiny.touch("wecom_message", now - timedelta(days=2))}
    opp = tiny.add(lambda i: Opportunity(name="杭州市第六人民医院 · 超声影像系统", account_id=i["acct"], lead_id=i["lead"],
                                         owner_id=i["rep1"], scenario="hospital_procurement", stage="closed_won",
                                         amount_cny=520_000, won=True, created_at=now - timedelta(days=15)))
    for days, frm, to in ((15, None, "discovery"), (10, "discovery", "solution"), (5, "solution", "closed_won")):
        tiny.add(lambda i, d=days, f=frm, t=to: StageChange(opportunity_id=opp, from_stage=f, to_stage=t,
                                                             changed_at=now - timedelta(days=d)))
    ids["own_call"] = tiny.add(lambda i: Call(rep_id=i["rep1"], account_id=i["acct"], opportunity_id=opp, language="zh",
                                              started_at=now - timedelta(days=12), duration_s=600.0))
    ids["other_call"] = tiny.add(lambda i: Call(rep_id=i["rep2"], account_id=i["acct"], opportunity_id=None, language="zh",
                                                started_at=now - timedelta(days=9), duration_s=300.0))
    ids["opp"] = opp
    return ids


def _refs(stage):
    return [(e.kind, e.subtype) for e in stage.events]


def test_events_are_grouped_by_the_stage_the_account_was_in(tiny, story, ctx_for):
    with tiny.session() as s:
        j = journey_timeline(ctx=ctx_for(s, "rep1"), account_id=tiny["acct"])
    assert [st.stage for st in j.stages] == ["pre_lead", "lead", "discovery", "solution", "post_sale"]
    assert [_refs(st) for st in j.stages] == [
        [("touchpoint", "page_view")],
        [("lead", "created"), ("lead", "first_follow_up"), ("touchpoint", "pdf_download")],
        [("opportunity", "created"), ("call", "call")],
        [("stage_change", "solution"), ("touchpoint", "meeting")],
        [("stage_change", "closed_won"), ("touchpoint", "wecom_message")],
    ]
    assert j.current_stage == "post_sale" and [st.current for st in j.stages] == [False] * 4 + [True]
    assert [st.end for st in j.stages[:-1]] == [st.start for st in j.stages[1:]] and j.stages[-1].end is None


def test_contacts_without_consent_appear_only_as_a_count(tiny, story, ctx_for):
    with tiny.session() as s:
        j = journey_timeline(ctx=ctx_for(s, "rep1"), account_id=tiny["acct"])
    listed = {e.id for st in j.stages for e in st.events if e.kind == "touchpoint"}
    assert listed == {story["p1"], story["p2"], story["p3"], story["p4"]}
    assert [st.hidden_without_consent for st in j.stages] == [0, 1, 0, 0, 0] and j.excluded_without_consent == 1
    assert "预约演示" not in j.render("zh") and "1 条未授权联系人的行为" in j.render("zh")


def test_anonymized_mode_lists_no_behaviour_only_counts_per_stage(tiny, story, ctx_for):
    with tiny.session() as s:
        j = journey_timeline(ctx=ctx_for(s, "rep1", anonymized=True), account_id=tiny["acct"])
    assert not [e for st in j.stages for e in st.events if e.kind == "touchpoint"]
    assert [st.touchpoints_by_kind for st in j.stages] == [
        {"page_view": 1}, {"pdf_download": 1}, {}, {"meeting": 1}, {"wecom_message": 1}]
    assert "产品手册" not in j.render("zh") and "匿名汇总模式" in j.render("zh")


def test_silences_longer_than_the_configured_days_are_flagged(tiny, story, ctx_for, now):
    with tiny.session() as s:
        j = journey_timeline(ctx=ctx_for(s, "rep1"), account_id=tiny["acct"])
    [gap] = j.gaps
    assert (gap.days, gap.open, gap.stage, gap.start) == (40, False, "pre_lead", (now - timedelta(days=60)).strftime("%Y-%m-%d"))
    assert "40 天没有互动" in j.render("zh")
    tiny.touch("page_view", now - timedelta(days=30), lead=None, contact=None)  # splits the 40-day silence into 30 + 10 days
    with tiny.session() as s:
        j = journey_timeline(ctx=ctx_for(s, "rep1"), account_id=tiny["acct"])
    assert [g.days for g in j.gaps] == [30]


def test_a_journey_gone_quiet_shows_an_open_gap_up_to_now(tiny, ctx_for, now):
    tiny.ids["old"] = tiny.add(lambda i: Lead(
        name="杭州市第六人民医院 · 设备全生命周期管理平台", account_id=i["acct"], contact_id=i["yes"], source="website",
        status="contacted", scenario="hospital_procurement", value_cny=1, owner_id=i["rep1"],
        created_at=now - timedelta(days=60), first_follow_up_at=now - timedelta(days=59)))
    tiny.touch("email_open", now - timedelta(days=40), lead="old")
    with tiny.session() as s:
        j = journey_timeline(ctx=ctx_for(s, "rep1"), lead_id=tiny["old"])
    assert [(g.days, g.open, g.stage) for g in j.gaps] == [(40, True, "lead")]
    assert "no activity for 40 days" in j.render("en")


def test_the_period_filter_keeps_events_inside_it_and_the_stage_at_its_end(tiny, story, ctx_for, now):
    with tiny.session() as s:
        j = journey_timeline(ctx=ctx_for(s, "mgr1"), account_id=tiny["acct"], start=(now - timedelta(days=16)),
                             end=now - timedelta(days=6))
    assert [st.stage for st in j.stages] == ["lead", "discovery", "solution"]
    assert [_refs(st) for st in j.stages] == [[], [("opportunity", "created"), ("call", "call")],
                                              [("stage_change", "solution"), ("call", "call"), ("touchpoint", "meeting")]]
    assert j.current_stage == "solution" and [st.current for st in j.stages] == [False, False, True]
    with tiny.session() as s, pytest.raises(UserInputError):
        journey_timeline(ctx=ctx_for(s, "mgr1"), account_id=tiny["acct"], start=now, end=now - timedelta(days=1))


def test_calls_of_colleagues_outside_the_scope_are_counted_not_listed(tiny, story, ctx_for):
    with tiny.session() as s:
        rep = journey_timeline(ctx=ctx_for(s, "rep1"), account_id=tiny["acct"])
        mgr = journey_timeline(ctx=ctx_for(s, "mgr1"), account_id=tiny["acct"])
    rep_calls = [e.id for st in rep.stages for e in st.events if e.kind == "call"]
    mgr_calls = [e.id for st in mgr.stages for e in st.events if e.kind == "call"]
    assert (rep_calls, rep.other_calls) == ([story["own_call"]], 1)
    assert (sorted(mgr_calls), mgr.other_calls) == (sorted([story["own_call"], story["other_call"]]), 0)


def test_a_rep_sees_only_accounts_where_they_own_the_account_a_lead_or_an_opportunity(tiny, story, ctx_for, now):
    with tiny.session() as s:
        with pytest.raises(PermissionDenied) as err:
            journey_timeline(ctx=ctx_for(s, "rep2"), account_id=tiny["acct"])
        assert "杭州市第六人民医院" not in str(err.value) and "自己名下" in str(err.value)
        with pytest.raises(PermissionDenied):
            journey_timeline(ctx=ctx_for(s, "rep2"), lead_id=tiny["lead"])
        with pytest.raises(PermissionDenied):
            journey_timeline(ctx=ctx_for(s, "mgr2"), account_id=tiny["acct"])
        with pytest.raises(PermissionDenied):
            journey_timeline(ctx=ctx_for(s, "trainer"), account_id=tiny["acct"])
        assert journey_timeline(ctx=ctx_for(s, "admin"), account_id=tiny["acct"]).current_stage == "post_sale"
    tiny.add(lambda i: Opportunity(name="续约", account_id=i["acct"], lead_id=None, owner_id=i["rep2"], scenario="saas_renewal",
                                   stage="discovery", amount_cny=1, created_at=now - timedelta(days=1)))
    with tiny.session() as s:
        assert journey_timeline(ctx=ctx_for(s, "rep2"), account_id=tiny["acct"]).account == "杭州市第六人民医院"


def test_a_lead_journey_leaves_out_the_accounts_other_leads(tiny, ctx_for, now):
    tiny.add(lambda i: Lead(name="杭州市第六人民医院 · 远程运维服务包", account_id=i["acct"], contact_id=i["yes"], source="expo",
                            status="contacted", scenario="hospital_procurement", value_cny=1, owner_id=i["rep1"],
                            created_at=now - timedelta(days=3), first_follow_up_at=now - timedelta(days=2)))
    with tiny.session() as s:
        other = s.scalar(select(Lead.id).where(Lead.name.like("%远程运维%")))
    tiny.ids["other"] = other
    theirs = tiny.touch("pdf_download", now - timedelta(days=1), lead="other")
    mine = tiny.touch("page_view", now - timedelta(days=1))
    account_level = tiny.touch("tender_notice", now - timedelta(days=4), lead=None, contact=None)
    with tiny.session() as s:
        lead_view = journey_timeline(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"])
        account_view = journey_timeline(ctx=ctx_for(s, "rep1"), account_id=tiny["acct"])
    touches = lambda j: {e.id for st in j.stages for e in st.events if e.kind == "touchpoint"}  # noqa: E731
    assert touches(lead_view) == {mine, account_level} and touches(account_view) == {mine, account_level, theirs}
    assert lead_view.lead_id == tiny["lead"] and lead_view.current_stage == "lead"


def test_the_render_marks_the_current_stage_in_both_languages(tiny, story, ctx_for):
    with tiny.session() as s:
        j = journey_timeline(ctx=ctx_for(s, "rep1"), account_id=tiny["acct"])
    zh, en = j.render("zh"), j.render("en")
    assert "当前阶段:**售后**" in zh and "**售后** ◀ 当前" in zh
    assert "Current stage: **post-sale**" in en and "◀ current" in en and "opportunity #" in en
    assert set(j.to_json()) >= {"stages", "gaps", "current_stage", "excluded_without_consent"}


# -- the demo company ----------------------------------------------------------------------------

def test_demo_lead_journey_is_in_time_order_and_accounts_for_every_touchpoint(demo_session, ctx_for):
    j = journey_timeline(ctx=ctx_for(demo_session, "lina"), lead_id=638)
    events = [e for st in j.stages for e in st.events]
    assert [e.time for e in events] == sorted(e.time for e in events)
    assert all(st.stage in STAGE_LABELS for st in j.stages) and j.current_stage == "lead"
    assert sum(st.current for st in j.stages) == 1
    listed = [e.id for e in events if e.kind == "touchpoint"]
    consent = dict(demo_session.execute(
        select(Touchpoint.id, Contact.consent_tracking).outerjoin(Contact, Contact.id == Touchpoint.contact_id)
        .where(Touchpoint.id.in_(listed))).all())
    assert all(consent[i] is not False for i in listed)
    total = len(list(demo_session.scalars(select(Touchpoint.id).where(
        Touchpoint.account_id == j.account_id, or_(Touchpoint.lead_id == 638, Touchpoint.lead_id.is_(None))))))
    assert len(listed) + j.excluded_without_consent == total


def test_demo_rep_is_refused_an_account_they_have_nothing_to_do_with(demo_session, ctx_for):
    me = demo_session.scalar(select(User.id).where(User.login == "zhangwei"))
    mine = select(Lead.account_id).where(Lead.owner_id == me).union(
        select(Opportunity.account_id).where(Opportunity.owner_id == me), select(Account.id).where(Account.owner_id == me))
    other = demo_session.scalar(select(Account.id).where(Account.id.not_in(mine)).order_by(Account.id).limit(1))
    own = demo_session.scalar(select(Account.id).where(Account.owner_id == me).order_by(Account.id).limit(1))
    with pytest.raises(PermissionDenied):
        journey_timeline(ctx=ctx_for(demo_session, "zhangwei"), account_id=other)
    assert journey_timeline(ctx=ctx_for(demo_session, "zhangwei"), account_id=own).account_id == own
