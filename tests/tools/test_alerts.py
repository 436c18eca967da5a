"""Alerts: who sees them, adopt / dismiss / escalate (idempotent, never flipped, mirrored on the
AISuggestion the adoption KPI counts), and "why this alert?" — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.errors import NotFoundError, PermissionDenied, UserInputError
from crm.models import AISuggestion, Alert
from tools import alerts, signals


@pytest.fixture
def alert_id(tiny, ctx_for, now) -> int:
    start = now - timedelta(days=4)
    for d in range(3):
        tiny.touch("page_view", start + timedelta(days=d), contact="ningbo_c", lead="ningbo_a", account="ningbo",
                   asset="技术文档: 变流器故障诊断白皮书", dwell_s=300)
    tiny.touch("expo_scan", start + timedelta(days=3, hours=2), contact="ningbo_c", lead="ningbo_a", account="ningbo",
               asset="新能源装备展 展位扫码")
    with tiny.session() as s:
        signals.run_signals(ctx=ctx_for(s, "admin"), since=now - timedelta(days=7), until=now)
        s.commit()
        return s.scalar(select(Alert.id).where(Alert.rule == "engineer_deep_dive"))


def test_a_rep_sees_their_own_alerts_a_manager_the_teams_and_another_team_none(tiny, ctx_for, alert_id):
    with tiny.session() as s:
        assert [a.id for a in alerts.list_alerts(ctx=ctx_for(s, "rep1"))] == [alert_id]
        assert alerts.list_alerts(ctx=ctx_for(s, "rep2")) == []
        assert [a.id for a in alerts.list_alerts(ctx=ctx_for(s, "mgr1"))] == [alert_id]
        assert alerts.list_alerts(ctx=ctx_for(s, "mgr2")) == []
        with pytest.raises(PermissionDenied):
            alerts.get_alert(ctx_for(s, "rep2"), alert_id)
        with pytest.raises(NotFoundError, match="alerts list"):
            alerts.get_alert(ctx_for(s, "rep1", language="en"), alert_id + 1000)


def test_adopting_is_idempotent_mirrored_on_the_suggestion_and_cannot_be_flipped(tiny, ctx_for, alert_id):
    with tiny.session() as s:
        v = alerts.decide_alert(ctx=ctx_for(s, "rep1"), alert_id=alert_id, decision="adopted")
        s.commit()
        assert v.status == "adopted"
        a = s.get(Alert, alert_id)
        assert s.get(AISuggestion, a.suggestion_id).status == "adopted"
        assert alerts.decide_alert(ctx=ctx_for(s, "rep1"), alert_id=alert_id, decision="adopted").status == "adopted"
        with pytest.raises(UserInputError):
            alerts.decide_alert(ctx=ctx_for(s, "rep1"), alert_id=alert_id, decision="dismissed")
        with pytest.raises(PermissionDenied):
            alerts.decide_alert(ctx=ctx_for(s, "rep2"), alert_id=alert_id, decision="dismissed")


def test_escalating_hands_the_alert_to_the_manager_who_can_then_decide_it(tiny, ctx_for, alert_id):
    with tiny.session() as s:
        v = alerts.escalate_alert(ctx=ctx_for(s, "rep1"), alert_id=alert_id)
        s.commit()
        assert v.status == "escalated" and v.escalated_to == "mgr1"
        assert alerts.escalate_alert(ctx=ctx_for(s, "rep1"), alert_id=alert_id).status == "escalated"
        assert alerts.decide_alert(ctx=ctx_for(s, "mgr1"), alert_id=alert_id, decision="dismissed").status == "dismissed"


def test_why_this_alert_gives_the_rule_the_events_and_the_confidence_and_only_counts_when_anonymized(tiny, ctx_for, alert_id):
    with tiny.session() as s:
        exp = alerts.explain_alert(ctx=ctx_for(s, "rep1"), alert_id=alert_id)
        assert exp.subject == f"alert:{alert_id}" and len(exp.events) == 4 and exp.confidence >= 0.8
        assert "tech_doc_streak_and_expo" in exp.summary and "白皮书" in exp.render("zh")
        anon = alerts.explain_alert(ctx=ctx_for(s, "rep1", anonymized=True), alert_id=alert_id)
        text = anon.render("zh")
        assert "变流器故障诊断" not in text and "设备处工程师" not in text and all(e["time"] is None for e in anon.events)
        assert sorted(e["text"] for e in anon.events) == sorted(["展会扫码 × 1", "浏览网页 × 3"])
        listed = alerts.list_alerts(ctx=ctx_for(s, "rep1", anonymized=True))[0]
        assert all(e["kind"] == "aggregate" for e in listed.evidence) and listed.title == "工程师深度评估"


def test_an_unknown_status_filter_names_the_statuses(tiny, ctx_for):
    with tiny.session() as s, pytest.raises(UserInputError, match="escalated"):
        alerts.list_alerts(ctx=ctx_for(s, "rep1", language="en"), status="open")
