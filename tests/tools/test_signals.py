"""Signal rules → alerts: the four seed rules fire on their sequences (and only with consent), each
firing is logged once, unanswered alerts escalate to the manager and then expire — on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.errors import PermissionDenied, UserInputError
from crm.models import AISuggestion, Alert, Opportunity
from tools import signals


def _streak(tiny, now, contact: str) -> None:
    """The seed's engineer: technical docs three days running, then the expo badge scan."""
    start = now - timedelta(days=4)
    for d in range(3):
        tiny.touch("page_view", start + timedelta(days=d), contact=contact, lead="ningbo_a", account="ningbo",
                   asset="技术文档: 变流器故障诊断白皮书", dwell_s=300)
    tiny.touch("expo_scan", start + timedelta(days=3, hours=2), contact=contact, lead="ningbo_a", account="ningbo",
               asset="新能源装备展 展位扫码")


def _run(s, ctx_for, who="admin", *, at, days=7, **kw):
    return signals.run_signals(ctx=ctx_for(s, who, now=at), since=at - timedelta(days=days), until=at, **kw)


def test_the_engineer_deep_dive_fires_once_for_the_owner_with_its_evidence_and_action(tiny, ctx_for, now):
    _streak(tiny, now, "ningbo_c")
    with tiny.session() as s:
        run = _run(s, ctx_for, at=now)
        s.commit()
        assert run.fired.get("engineer_deep_dive") == 1 and run.new_alerts >= 1
        a = s.scalar(select(Alert).where(Alert.rule == "engineer_deep_dive"))
        assert a.owner_id == tiny["rep1"] and a.lead_id == tiny["ningbo_a"] and a.status == "shown"
        assert len(a.evidence) == 4 and "设备处工程师" in a.evidence[0]["text"] and "技术白皮书" in a.action
        assert s.get(AISuggestion, a.suggestion_id).kind == "alert:engineer_deep_dive"
        again = _run(s, ctx_for, at=now + timedelta(hours=1))
        s.commit()
        assert again.new_alerts == 0, "a re-run logs the same firing once"
        assert s.scalar(select(func.count()).select_from(Alert).where(Alert.rule == "engineer_deep_dive")) == 1


def test_a_contact_without_consent_never_fires_an_individual_alert_and_is_only_counted(tiny, ctx_for, now):
    # the same streak by a non-consenting contact of the Ningbo account
    from crm.models import Contact

    tiny.ids["ningbo_no"] = tiny.add(lambda i: Contact(account_id=i["ningbo"], name="钱工", title="设备处工程师",
                                                       role_in_deal="engineer", consent_tracking=False))
    _streak(tiny, now, "ningbo_no")
    with tiny.session() as s:
        run = _run(s, ctx_for, at=now)
        assert run.fired == {} and run.new_alerts == 0
        assert run.excluded_without_consent == 4


def test_bid_unopened_seven_days_then_a_policy_article_fires_policy_sensitive(tiny, ctx_for, now):
    sent = now - timedelta(days=9)
    tiny.touch("bid_doc_sent", sent, asset="投标方案.pdf")
    tiny.touch("policy_article", sent + timedelta(days=7, hours=3), asset="国产替代政策解读")
    with tiny.session() as s:
        run = _run(s, ctx_for, at=now)
        assert run.fired.get("policy_sensitive") == 1
        hit = next(a for a in run.alerts if a["rule"] == "policy_sensitive")
        assert "国产替代政策解读" in hit["title"] and hit["lead_id"] == tiny["lead"]


def test_an_opened_bid_document_does_not_fire_policy_sensitive(tiny, ctx_for, now):
    sent = now - timedelta(days=9)
    tiny.touch("bid_doc_sent", sent, asset="投标方案.pdf")
    tiny.touch("bid_doc_open", sent + timedelta(days=2), asset="投标方案.pdf")
    tiny.touch("policy_article", sent + timedelta(days=7, hours=3), asset="国产替代政策解读")
    with tiny.session() as s:
        assert "policy_sensitive" not in _run(s, ctx_for, at=now, dry_run=True).fired


def test_a_tender_notice_for_an_owner_without_tender_wins_asks_for_the_most_experienced_colleague(tiny, ctx_for, now):
    tiny.add(lambda i: Opportunity(name="中标", account_id=i["other_acct"], lead_id=None, owner_id=i["rep2"],
                                   scenario="hospital_procurement", stage="closed_won", amount_cny=900_000, won=True,
                                   created_at=now - timedelta(days=200), close_date=date(2026, 6, 1)))
    tiny.touch("tender_notice", now - timedelta(days=2), contact=None, lead=None, asset="公开招标公告")
    with tiny.session() as s:
        run = _run(s, ctx_for, at=now)
        s.commit()
        tender = [a for a in run.alerts if a["rule"] == "tender_expert_support"]
        assert {a["lead_id"] for a in tender} == {tiny["lead"]}
        assert "李娜" in tender[0]["action"] and "张伟" in tender[0]["title"]


def test_an_owner_with_tender_wins_gets_no_expert_support_alert(tiny, ctx_for, now):
    tiny.add(lambda i: Opportunity(name="中标", account_id=i["acct"], lead_id=None, owner_id=i["rep1"],
                                   scenario="government_tender", stage="closed_won", amount_cny=900_000, won=True,
                                   created_at=now - timedelta(days=200), close_date=date(2026, 6, 1)))
    tiny.touch("tender_notice", now - timedelta(days=2), contact=None, lead=None, asset="公开招标公告")
    with tiny.session() as s:
        assert "tender_expert_support" not in _run(s, ctx_for, at=now, dry_run=True).fired


def test_a_cbi_jump_past_the_threshold_fires_and_a_steady_high_score_does_not(tiny, ctx_for, now):
    for k in range(6):
        tiny.touch("demo_booking" if k % 2 else "pdf_download", now - timedelta(hours=2 + 3 * k), asset="产品手册.pdf")
    with tiny.session() as s:
        run = _run(s, ctx_for, at=now, days=1)
        s.commit()
        jump = [a for a in run.alerts if a["rule"] == "cbi_jump"]
        assert [a["lead_id"] for a in jump] == [tiny["lead"]]
        assert "→" in jump[0]["title"] and len(jump[0]["evidence"]) == 5
        later = _run(s, ctx_for, at=now + timedelta(days=1), days=1, dry_run=True)
        assert "cbi_jump" not in later.fired, "the next day the score is already high: no new jump"


def test_an_unanswered_alert_escalates_to_the_manager_and_later_expires_with_its_suggestion(tiny, ctx_for, now):
    _streak(tiny, now, "ningbo_c")
    with tiny.session() as s:
        _run(s, ctx_for, at=now)
        s.commit()
        run = _run(s, ctx_for, at=now + timedelta(hours=25))
        s.commit()
        a = s.scalar(select(Alert).where(Alert.rule == "engineer_deep_dive"))
        assert run.escalated >= 1 and a.status == "escalated" and a.escalated_to_id == tiny["mgr1"]
        run = _run(s, ctx_for, at=now + timedelta(days=8))
        s.commit()
        s.refresh(a)
        assert a.status == "expired" and s.get(AISuggestion, a.suggestion_id).status == "expired"


def test_only_managers_and_admins_run_signals_and_a_backwards_window_is_refused(tiny, ctx_for, now):
    with tiny.session() as s:
        with pytest.raises(PermissionDenied, match="alerts list"):
            _run(s, ctx_for, "rep1", at=now)
        with pytest.raises(UserInputError, match="--since"):
            signals.run_signals(ctx=ctx_for(s, "admin", language="en"), since=now, until=now - timedelta(days=1))


def test_a_manager_only_gets_alerts_for_the_leads_they_may_see(tiny, ctx_for, now):
    _streak(tiny, now, "ningbo_c")
    with tiny.session() as s:
        assert _run(s, ctx_for, "mgr2", at=now, dry_run=True).fired == {}
        assert _run(s, ctx_for, "mgr1", at=now, dry_run=True).fired.get("engineer_deep_dive") == 1


def test_the_signal_rules_file_is_validated():
    cfg = signals.load_signal_config()
    assert {r["id"] for r in cfg["rules"]} == {"cbi_jump", "engineer_deep_dive", "policy_sensitive", "tender_expert_support"}
    assert all(r["title_zh"] and r["title_en"] and r["action_zh"] and r["action_en"] for r in cfg["rules"])


def test_the_planted_demo_journeys_fire_their_rules(demo_session, ctx_for):
    at = datetime(2026, 11, 20, 12)
    run = signals.run_signals(ctx=ctx_for(demo_session, "wangjianhua", now=at), since=at - timedelta(days=14), until=at, dry_run=True)
    assert run.fired.get("engineer_deep_dive", 0) >= 1 and run.fired.get("policy_sensitive", 0) >= 1
    assert run.excluded_without_consent > 0
