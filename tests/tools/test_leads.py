"""Lead intelligence: CBI weights, decay and map as configured; consent and anonymized mode;
access; fuzzy bilingual lookup; the next-best-action rules and their logging."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from core.errors import ConfigError, PermissionDenied
from crm.models import TOUCHPOINT_KINDS, Account, AISuggestion, Contact, Lead, Opportunity, Touchpoint, User
from tools.leads import (
    INTENT_CONFIG_PATH,
    evaluate_rules,
    find_leads,
    intent_score,
    lead_summary,
    load_intent_config,
    load_touches,
    next_best_action,
)

PRODUCT = "产品页: 超声影像系统"
TECH = "技术文档: 设备联网安全说明"


# -- configuration ---------------------------------------------------------------------------

def test_every_touchpoint_kind_has_a_weight_and_the_seed_examples_hold():
    cfg = load_intent_config()
    assert set(cfg["weights"]) == set(TOUCHPOINT_KINDS)
    assert cfg["weights"]["page_view"] == 1.3
    assert cfg["weights"]["pdf_download"] + cfg["weights"]["demo_booking"] == pytest.approx(7.2)


def test_a_config_missing_a_weight_is_refused_with_the_kind_named(tmp_path: Path):
    cfg = yaml.safe_load(INTENT_CONFIG_PATH.read_text(encoding="utf-8"))
    del cfg["weights"]["expo_scan"]
    path = tmp_path / "intent.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="expo_scan"):
        load_intent_config(path)


# -- the CBI on hand-made data -----------------------------------------------------------------

def test_downloading_the_manual_and_booking_a_demo_weigh_7_2_raw(tiny, now, ctx_for):
    pdf = tiny.touch("pdf_download", now, asset="产品手册.pdf")
    demo = tiny.touch("demo_booking", now)
    with tiny.session() as s:
        score = intent_score(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"])
    assert score.raw == pytest.approx(7.2)
    assert score.score == round(100 * (1 - math.exp(-7.2 / 16))) == 36
    assert score.tier == "C"
    assert [(e.id, e.weight) for e in score.top_events] == [(str(demo), 4.2), (str(pdf), 3.0)]
    assert score.confidence == round(1 - math.exp(-2 / 4), 2) == 0.39
    assert score.counts_by_kind == {"demo_booking": 1, "pdf_download": 1}


def test_an_event_counts_half_after_one_half_life_and_a_quarter_after_two(tiny, now, ctx_for):
    tiny.touch("page_view", now - timedelta(days=14))
    with tiny.session() as s:
        assert intent_score(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"]).raw == pytest.approx(1.3 / 2)
    tiny.touch("page_view", now - timedelta(days=28))
    with tiny.session() as s:
        assert intent_score(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"]).raw == pytest.approx(1.3 / 2 + 1.3 / 4)


def test_long_page_visits_earn_the_configured_dwell_bonus(tiny, now, ctx_for):
    tiny.touch("page_view", now, dwell_s=30)  # under 60 s: no bonus
    tiny.touch("page_view", now, dwell_s=120)  # 1 min over: +0.2
    tiny.touch("page_view", now, dwell_s=3600)  # capped at +1.0
    with tiny.session() as s:
        score = intent_score(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"])
    assert score.raw == pytest.approx(1.3 + 1.5 + 2.3)
    assert sorted(e.weight for e in score.top_events) == [1.3, 1.5, 2.3]


def test_account_level_touches_count_at_the_account_factor_within_their_window(tiny, now, ctx_for):
    tiny.touch("tender_notice", now, contact=None, lead=None)  # 2.0 × 0.5
    tiny.touch("tender_notice", now - timedelta(days=40), contact=None, lead=None)  # older than 30 days: out
    tiny.touch("demo_booking", now, lead="ningbo_a", account="ningbo", contact="ningbo_c")  # another lead: out
    with tiny.session() as s:
        assert intent_score(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"]).raw == pytest.approx(1.0)


def test_events_after_the_as_of_time_are_not_scored(tiny, now, ctx_for):
    tiny.touch("page_view", now - timedelta(days=10))
    tiny.touch("demo_booking", now - timedelta(days=1))
    with tiny.session() as s:
        score = intent_score(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"], as_of=now - timedelta(days=3))
    assert score.raw == pytest.approx(1.3 * 0.5 ** (7 / 14))
    assert score.events_used == 1


def test_no_behaviour_scores_zero_with_zero_confidence(tiny, ctx_for):
    with tiny.session() as s:
        score = intent_score(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"])
    assert (score.score, score.tier, score.confidence, score.top_events) == (0, "C", 0.0, [])


# -- privacy -------------------------------------------------------------------------------------

def test_behaviour_of_contacts_without_consent_is_neither_scored_nor_shown(tiny, now, ctx_for):
    secret = tiny.touch("demo_booking", now, contact="no")
    secret_pdf = tiny.touch("pdf_download", now, contact="no", asset="机密参数表.pdf")
    seen = tiny.touch("page_view", now, contact="yes")
    with tiny.session() as s:
        ctx = ctx_for(s, "rep1")
        score = intent_score(ctx=ctx, lead_id=tiny["lead"])
        summary = lead_summary(ctx=ctx, lead_id=tiny["lead"])
        rendered = summary.render("zh") + str(summary.to_json())
    assert score.raw == pytest.approx(1.3) and score.excluded_without_consent == 2
    assert [e.id for e in score.top_events] == [str(seen)]
    assert [e.id for e in summary.last_touches] == [str(seen)]
    assert "机密参数表" not in rendered and "预约演示" not in rendered
    assert f"'id': '{secret}'" not in rendered and f"'id': '{secret_pdf}'" not in rendered
    assert "2 条未授权联系人的行为" in rendered


def test_anonymized_mode_shows_counts_but_no_individual_events(tiny, now, ctx_for):
    for k in range(3):
        tiny.touch("page_view", now - timedelta(days=k + 1), asset=PRODUCT)
    tiny.touch("pdf_download", now, asset="产品手册.pdf")
    with tiny.session() as s:
        normal = intent_score(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"])
        ctx = ctx_for(s, "rep1", anonymized=True)
        score = intent_score(ctx=ctx, lead_id=tiny["lead"])
        summary = lead_summary(ctx=ctx, lead_id=tiny["lead"])
        rendered = summary.render("zh")
    assert score.score == normal.score and score.anonymized
    assert score.top_events == [] and summary.last_touches == []
    assert score.counts_by_kind == {"page_view": 3, "pdf_download": 1}
    assert "匿名汇总模式" in score.note and "匿名汇总模式" in rendered
    assert summary.suggestions, "the rules still run"
    assert all(e.kind == "aggregate" for s_ in summary.suggestions for e in s_.evidence)
    assert "产品手册" not in rendered and PRODUCT not in rendered


def test_the_summary_names_the_contact_but_never_their_phone_or_email(tiny, ctx_for):
    with tiny.session() as s:
        summary = lead_summary(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"])
    text = str(summary.to_json()) + summary.render("zh") + summary.render("en")
    assert summary.lead.contact == "王芳" and summary.lead.contact_title == "设备科科长"
    assert "13800001111" not in text and "customer.example" not in text
    assert summary.lead.followed_up_within_72h is True and summary.lead.hours_to_first_follow_up == 24.0


# -- access ----------------------------------------------------------------------------------------

def test_a_rep_asking_about_another_reps_lead_is_refused_without_its_facts(tiny, ctx_for):
    with tiny.session() as s:
        for call in (lead_summary, intent_score, next_best_action):
            with pytest.raises(PermissionDenied) as err:
                call(ctx=ctx_for(s, "rep2"), lead_id=tiny["lead"])
            message = str(err.value)
            for fact in ("杭州市第六人民医院", "超声影像", "张伟", "王芳", "500", "50万"):
                assert fact not in message
            assert "自己名下的线索" in message and "陈静" in message  # what they can do instead
        with pytest.raises(PermissionDenied, match="your own leads"):
            lead_summary(ctx=ctx_for(s, "rep2", language="en"), lead_id=tiny["lead"])


def test_a_manager_sees_the_team_leads_but_not_another_teams(tiny, ctx_for):
    with tiny.session() as s:
        mgr = ctx_for(s, "mgr1")
        assert lead_summary(ctx=mgr, lead_id=tiny["lead"]).lead.owner == "张伟"
        assert lead_summary(ctx=mgr, lead_id=tiny["other_lead"]).lead.owner == "李娜"
        with pytest.raises(PermissionDenied):
            lead_summary(ctx=mgr, lead_id=tiny["south_lead"])
        assert lead_summary(ctx=ctx_for(s, "admin"), lead_id=tiny["south_lead"]).lead.owner == "胡明"


def test_a_trainer_is_refused_the_pipeline(tiny, ctx_for):
    with tiny.session() as s:
        ctx = ctx_for(s, "trainer")
        with pytest.raises(PermissionDenied, match="培训师"):
            find_leads(ctx=ctx, query="Helios")
        with pytest.raises(PermissionDenied):
            intent_score(ctx=ctx, lead_id=tiny["lead"])


# -- fuzzy lookup --------------------------------------------------------------------------------------

def test_a_lead_is_found_by_a_chinese_fragment_of_its_account_name(tiny, ctx_for):
    with tiny.session() as s:
        assert [m.lead_id for m in find_leads(ctx=ctx_for(s, "rep1"), query="第六人民医院这条线索怎么样?")] == [tiny["lead"]]


def test_a_lead_is_found_by_its_english_name_and_a_misspelled_prefix(tiny, ctx_for):
    with tiny.session() as s:
        ctx = ctx_for(s, "rep1", language="en")
        assert [m.lead_id for m in find_leads(ctx=ctx, query="How is the Helios lead?")] == [tiny["helios_lead"]]
        assert [m.lead_id for m in find_leads(ctx=ctx, query="helio wind")] == [tiny["helios_lead"]]


def test_a_contact_name_plus_a_fragment_finds_the_lead(tiny, ctx_for):
    with tiny.session() as s:
        matches = find_leads(ctx=ctx_for(s, "rep1"), query="王芳医院那条线索")
    assert matches[0].lead_id == tiny["lead"]


def test_an_ambiguous_fragment_returns_every_close_match_with_equal_scores(tiny, ctx_for):
    with tiny.session() as s:
        matches = find_leads(ctx=ctx_for(s, "rep1"), query="宁波宏达风电这条线索怎么样")
    assert {m.lead_id for m in matches} == {tiny["ningbo_a"], tiny["ningbo_b"]}
    assert matches[0].score == matches[1].score


def test_the_product_in_the_question_disambiguates(tiny, ctx_for):
    with tiny.session() as s:
        matches = find_leads(ctx=ctx_for(s, "rep1"), query="宁波宏达风电 储能电站运维")
    assert matches[0].lead_id == tiny["ningbo_b"]
    assert all(m.score < matches[0].score - 0.05 for m in matches[1:])


def test_lookup_only_finds_leads_the_user_may_see(tiny, ctx_for):
    with tiny.session() as s:
        assert find_leads(ctx=ctx_for(s, "rep1"), query="杭州市第一人民医院") == []  # not 杭州市第六人民医院
        assert [m.lead_id for m in find_leads(ctx=ctx_for(s, "rep2"), query="杭州市第一人民医院")] == [tiny["other_lead"]]


def test_an_exact_id_is_found_refused_or_absent(tiny, ctx_for):
    with tiny.session() as s:
        ctx = ctx_for(s, "rep1")
        for q in (f"线索{tiny['lead']}怎么样", f"lead #{tiny['lead']}", f"#{tiny['lead']}"):
            [match] = find_leads(ctx=ctx, query=q)
            assert (match.lead_id, match.score, match.matched_on) == (tiny["lead"], 1.0, "id")
        with pytest.raises(PermissionDenied) as err:
            find_leads(ctx=ctx, query=f"线索{tiny['other_lead']}")
        assert "杭州市第一人民医院" not in str(err.value)
        assert find_leads(ctx=ctx, query="lead 99999") == []


def test_a_question_naming_no_lead_matches_nothing(tiny, ctx_for):
    with tiny.session() as s:
        ctx = ctx_for(s, "rep1")
        assert find_leads(ctx=ctx, query="how is my pipeline this week?") == []
        assert find_leads(ctx=ctx, query="有限公司") == []


# -- rules on hand-made journeys ------------------------------------------------------------------------

def _rules(tiny, ctx_for, lead="lead", login="rep1", now=None):
    with tiny.session() as s:
        ctx = ctx_for(s, login) if now is None else ctx_for(s, login, now=now)
        return {x.rule: x for x in next_best_action(ctx=ctx, lead_id=tiny[lead])}


def test_three_product_views_and_a_download_in_14_days_ask_for_dual_follow_up(tiny, now, ctx_for):
    views = [tiny.touch("page_view", now - timedelta(days=d), asset=PRODUCT) for d in (3, 2)]
    assert "high_intent_dual_follow_up" not in _rules(tiny, ctx_for)
    views.append(tiny.touch("page_view", now - timedelta(days=1), asset=PRODUCT))
    tiny.touch("pdf_download", now - timedelta(days=20), asset="产品手册.pdf")  # too old to count
    assert "high_intent_dual_follow_up" not in _rules(tiny, ctx_for)
    pdf = tiny.touch("pdf_download", now - timedelta(hours=2), asset="产品手册.pdf")
    hit = _rules(tiny, ctx_for)["high_intent_dual_follow_up"]
    assert [e.id for e in hit.evidence] == [str(i) for i in views + [pdf]]
    assert hit.confidence == 0.75 and "3次" in hit.text and "双人跟进" in hit.text


def test_an_unopened_bid_then_a_policy_article_is_policy_sensitive(tiny, now, ctx_for):
    sent = tiny.touch("bid_doc_sent", now - timedelta(days=10), asset="投标方案.pdf")
    tiny.touch("policy_article", now - timedelta(days=8), asset="集采新规")  # 2 days after sending: too early
    assert "policy_sensitive" not in _rules(tiny, ctx_for)
    policy = tiny.touch("policy_article", now - timedelta(days=2), asset="国产替代政策解读")
    hit = _rules(tiny, ctx_for)["policy_sensitive"]
    assert [e.id for e in hit.evidence] == [str(sent), str(policy)]
    assert "10天未打开" in hit.text and "国产替代政策解读" in hit.text and hit.confidence == 0.8


def test_an_opened_bid_is_not_policy_sensitive(tiny, now, ctx_for):
    tiny.touch("bid_doc_sent", now - timedelta(days=10))
    tiny.touch("bid_doc_open", now - timedelta(days=9))
    tiny.touch("policy_article", now - timedelta(days=1))
    assert "policy_sensitive" not in _rules(tiny, ctx_for)


def test_three_days_of_technical_documents_and_an_expo_scan_ask_for_an_engineer_deep_dive(tiny, now, ctx_for):
    docs = [tiny.touch("page_view", now - timedelta(days=d), asset=TECH) for d in (5, 4)]
    scan = tiny.touch("expo_scan", now - timedelta(days=1))
    assert "engineer_deep_dive" not in _rules(tiny, ctx_for)  # two days only
    docs.append(tiny.touch("page_view", now - timedelta(days=3), asset=TECH))
    hit = _rules(tiny, ctx_for)["engineer_deep_dive"]
    assert [e.id for e in hit.evidence] == [str(i) for i in docs + [scan]]
    assert "设备科科长连续3天" in hit.text and "技术白皮书" in hit.text


def test_a_streak_by_a_contact_without_consent_triggers_nothing(tiny, now, ctx_for):
    for d in (5, 4, 3):
        tiny.touch("page_view", now - timedelta(days=d), asset=TECH, contact="no")
    tiny.touch("expo_scan", now - timedelta(days=1), contact="no")
    assert _rules(tiny, ctx_for) == {}


def _new_lead(tiny, hours_old: float, **kw) -> int:
    def make(ids):
        return Lead(name="杭州市第六人民医院 · 远程运维服务包", account_id=ids["acct"], contact_id=ids["yes"], source="website",
                    status=kw.get("status", "new"), scenario="hospital_procurement", value_cny=300_000, owner_id=ids["rep1"],
                    created_at=kw["now"] - timedelta(hours=hours_old), first_follow_up_at=kw.get("followed"))
    tiny.ids["fresh"] = tiny.add(make)
    return tiny.ids["fresh"]


def test_a_lead_not_followed_up_within_72_hours_says_call_today(tiny, now, ctx_for):
    _new_lead(tiny, 80, now=now)
    hit = _rules(tiny, ctx_for, lead="fresh")["call_today"]
    assert "80小时仍未跟进" in hit.text and "已超过72小时" in hit.text
    assert [e.kind for e in hit.evidence] == ["lead"] and hit.confidence == 0.9


def test_a_lead_nearing_the_72_hour_deadline_says_how_long_is_left(tiny, now, ctx_for):
    _new_lead(tiny, 50, now=now)
    assert "还剩22小时" in _rules(tiny, ctx_for, lead="fresh")["call_today"].text


def test_a_fresh_or_followed_up_lead_needs_no_call_reminder(tiny, now, ctx_for):
    _new_lead(tiny, 10, now=now)
    assert "call_today" not in _rules(tiny, ctx_for, lead="fresh")
    assert "call_today" not in _rules(tiny, ctx_for)


def test_a_quiet_lead_goes_to_the_nurture_pool_unless_anyone_was_active(tiny, now, ctx_for):
    _new_lead(tiny, 60 * 24, now=now, status="contacted", followed=now - timedelta(days=59))
    last = tiny.touch("email_open", now - timedelta(days=40), lead="fresh")
    hit = _rules(tiny, ctx_for, lead="fresh")["move_to_nurture"]
    assert [e.id for e in hit.evidence] == [str(last)] and "30天" in hit.text
    tiny.touch("page_view", now - timedelta(days=5), lead="fresh", contact="no")  # counted, never shown
    assert "move_to_nurture" not in _rules(tiny, ctx_for, lead="fresh")


def test_a_lead_with_an_open_opportunity_is_not_sent_to_nurture(tiny, now, ctx_for):
    fresh = _new_lead(tiny, 60 * 24, now=now, status="qualified", followed=now - timedelta(days=59))
    tiny.add(lambda ids: Opportunity(name="x", account_id=ids["acct"], lead_id=fresh, owner_id=ids["rep1"],
                                     scenario="hospital_procurement", stage="proposal", amount_cny=1, created_at=now - timedelta(days=50)))
    assert "move_to_nurture" not in _rules(tiny, ctx_for, lead="fresh")


# -- logging -----------------------------------------------------------------------------------------

def _logged(tiny, kind="nba:high_intent_dual_follow_up"):
    with tiny.session() as s:
        return list(s.scalars(select(AISuggestion).where(AISuggestion.lead_id == tiny["lead"], AISuggestion.kind == kind)
                              .order_by(AISuggestion.id)))


def test_each_suggestion_shown_is_logged_once_per_lead_rule_and_day(tiny, now, ctx_for):
    for d in (3, 2, 1):
        tiny.touch("page_view", now - timedelta(days=d), asset=PRODUCT)
    tiny.touch("pdf_download", now - timedelta(hours=1))
    with tiny.session() as s:
        first = next_best_action(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"])
        again = next_best_action(ctx=ctx_for(s, "mgr1", now=now + timedelta(hours=6)), lead_id=tiny["lead"])  # 23:00 in UTC+8
        s.commit()
    [row] = _logged(tiny)
    assert [x.suggestion_id for x in first] == [x.suggestion_id for x in again] == [row.id]
    assert (row.user_id, row.status, row.confidence) == (tiny["rep1"], "shown", first[0].confidence)
    assert row.evidence == [e.to_json() for e in first[0].evidence] and row.account_id == tiny["acct"]
    with tiny.session() as s:
        next_best_action(ctx=ctx_for(s, "rep1", now=now + timedelta(days=1)), lead_id=tiny["lead"])
        s.commit()
    assert len(_logged(tiny)) == 2


def test_the_summary_logs_its_suggestions_and_renders_their_evidence(tiny, now, ctx_for):
    sent = tiny.touch("bid_doc_sent", now - timedelta(days=9), asset="投标方案.pdf")
    tiny.touch("policy_article", now - timedelta(days=1), asset="国产替代政策解读")
    with tiny.session() as s:
        summary = lead_summary(ctx=ctx_for(s, "rep1", language="en"), lead_id=tiny["lead"])
        text = summary.render("en")
        s.commit()
    assert [a["rule"] for a in summary.actions] == ["policy_sensitive"]
    assert "Intent score (CBI)" in text and "Policy-sensitive" in text and "bid document sent" in text
    [row] = _logged(tiny, "nba:policy_sensitive")
    assert row.evidence[0]["id"] == str(sent)


# -- the demo company (SQLite and PostgreSQL) ---------------------------------------------------------

def _admin(demo_session, ctx_for, **kw):
    return ctx_for(demo_session, "wangjianhua", **kw)


def test_the_planted_policy_sensitive_journeys_trigger_their_rule(demo_session, ctx_for):
    ctx = _admin(demo_session, ctx_for)
    leads = set(demo_session.scalars(select(Touchpoint.lead_id).where(Touchpoint.kind == "bid_doc_sent")))
    assert len(leads) == 5
    for lead_id in leads:
        assert "policy_sensitive" in {x.rule for x in next_best_action(ctx=ctx, lead_id=lead_id)}, lead_id


def test_the_planted_engineer_journeys_trigger_the_deep_dive(demo_session, ctx_for):
    ctx = _admin(demo_session, ctx_for)
    leads = set(demo_session.scalars(select(Touchpoint.lead_id).where(Touchpoint.asset == "新能源装备展 展位扫码")))
    assert len(leads) == 4
    for lead_id in leads:
        hit = {x.rule: x for x in next_best_action(ctx=ctx, lead_id=lead_id)}["engineer_deep_dive"]
        assert [e.text[:4] for e in hit.evidence] == ["浏览网页"] * 3 + ["展会扫码"]
        assert len({e.time[:10] for e in hit.evidence[:3]}) == 3


def test_the_high_intent_rule_fires_exactly_where_the_data_says_so(demo_session, ctx_for, now):
    """Oracle: ≥3 product-page views and ≥1 PDF download in the last 14 days, by consented or unknown contacts."""
    ctx = _admin(demo_session, ctx_for)
    since = now - timedelta(days=14)
    usable = (Touchpoint.contact_id.is_(None)) | (Contact.consent_tracking.is_(True))
    base = select(Touchpoint.lead_id).outerjoin(Contact, Contact.id == Touchpoint.contact_id).where(
        usable, Touchpoint.occurred_at >= since, Touchpoint.occurred_at <= now)
    views = base.where(Touchpoint.kind == "page_view", Touchpoint.asset.like("产品页%") | Touchpoint.asset.like("Product page%")) \
        .group_by(Touchpoint.lead_id).having(func.count() >= 3)
    expected = set(demo_session.scalars(views)) & set(demo_session.scalars(base.where(Touchpoint.kind == "pdf_download")))
    recent = set(demo_session.scalars(select(Touchpoint.lead_id).where(Touchpoint.occurred_at >= since)))
    fired = set()
    for lead in demo_session.scalars(select(Lead).where(Lead.id.in_(recent))):
        if any(r["id"] == "high_intent_dual_follow_up" for r, _ in evaluate_rules(ctx, lead, load_touches(ctx, lead, until=now), now)):
            fired.add(lead.id)
    assert len(expected) >= 20 and fired == expected


def test_no_demo_evidence_comes_from_a_contact_without_consent(demo_session, ctx_for, now):
    ctx = _admin(demo_session, ctx_for)
    refused = set(demo_session.scalars(select(Touchpoint.id).join(Contact, Contact.id == Touchpoint.contact_id)
                                       .where(Contact.consent_tracking.is_(False))))
    leads = list(demo_session.scalars(
        select(Touchpoint.lead_id).join(Contact, Contact.id == Touchpoint.contact_id)
        .where(Contact.consent_tracking.is_(False), Touchpoint.occurred_at >= now - timedelta(days=30))
        .group_by(Touchpoint.lead_id).order_by(Touchpoint.lead_id).limit(25)))
    assert len(leads) == 25
    excluded_total = 0
    for lead_id in leads:
        summary = lead_summary(ctx=ctx, lead_id=lead_id)
        ids = {e.id for e in summary.intent.top_events + summary.last_touches if e.kind == "touchpoint"}
        ids |= {e.id for x in summary.suggestions for e in x.evidence if e.kind == "touchpoint"}
        assert not ids & {str(i) for i in refused}
        excluded_total += summary.intent.excluded_without_consent
    assert excluded_total > 0


def test_demo_rep_gets_the_policy_track_for_lead_638_in_both_languages(demo_session, ctx_for):
    """The eval cases ag-lead-zh-01 / ag-lead-en-01."""
    zh = lead_summary(ctx=ctx_for(demo_session, "lina"), lead_id=638).render("zh")
    en = lead_summary(ctx=ctx_for(demo_session, "lina", language="en"), lead_id=638).render("en")
    assert "意向指数" in zh and "政策敏感型" in zh
    assert "Intent score" in en and "Policy-sensitive" in en


def test_demo_manager_sees_a_team_lead_and_another_team_is_refused(demo_session, ctx_for):
    assert lead_summary(ctx=ctx_for(demo_session, "chenjing"), lead_id=638).lead.owner == "李娜"
    with pytest.raises(PermissionDenied) as err:
        lead_summary(ctx=ctx_for(demo_session, "huanglei"), lead_id=638)
    assert "上海市第一人民医院" not in str(err.value)


def test_demo_rep_is_refused_a_colleagues_lead_by_id(demo_session, ctx_for):
    with pytest.raises(PermissionDenied) as err:
        find_leads(ctx=ctx_for(demo_session, "zhangwei"), query="线索638怎么样?")
    assert "上海市第一人民医院" not in str(err.value) and "李娜" not in str(err.value)


def test_demo_lookup_by_fragment_returns_all_of_the_reps_matching_leads(demo_session, ctx_for):
    zhangwei = demo_session.scalar(select(User.id).where(User.login == "zhangwei"))
    expected = set(demo_session.scalars(select(Lead.id).join(Account, Account.id == Lead.account_id).where(
        Lead.owner_id == zhangwei, Account.name.like("宁波宏达风电%"))))
    matches = find_leads(ctx=ctx_for(demo_session, "zhangwei", language="en"), query="How is the 宁波宏达风电 lead?")
    assert len(expected) > 1 and {m.lead_id for m in matches} == expected
    assert len({m.score for m in matches}) == 1


def test_demo_lookup_of_a_word_every_hospital_shares_matches_nothing(demo_session, ctx_for):
    assert find_leads(ctx=ctx_for(demo_session, "wangjianhua"), query="医院的线索") == []


def test_demo_lookup_by_english_name_finds_only_that_account(demo_session, ctx_for):
    matches = find_leads(ctx=ctx_for(demo_session, "wangjianhua", language="en"), query="Helios Wind", limit=20)
    assert matches and all(m.account.startswith("Helios Wind Systems AG") for m in matches)
