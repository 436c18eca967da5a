"""AI suggestions: who sees and who decides them; deciding is idempotent, a decision cannot
be flipped, and every decision is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.errors import NotFoundError, PermissionDenied, UserInputError
from crm.models import AISuggestion, AuditLog, User
from tools.leads import next_best_action
from tools.suggestions import decide_suggestion, list_suggestions


@pytest.fixture
def shown(tiny, now):
    """Suggestions of rep1 (two shown — the newer one first in lists — and one expired), rep2 and rep3."""
    def make(user: str, lead: str, minutes_ago: int, status: str = "shown", text: str = "安排专家顾问+区域经理双人跟进"):
        return tiny.add(lambda i: AISuggestion(
            user_id=i[user], kind="nba:high_intent_dual_follow_up", lead_id=i[lead], account_id=None, text=text,
            evidence=[{"kind": "touchpoint", "id": "1", "time": None, "text": "x"}], confidence=0.8, status=status,
            created_at=now - timedelta(minutes=minutes_ago)))
    return {"rep1_old": make("rep1", "lead", 50), "rep1": make("rep1", "helios_lead", 10),
            "expired": make("rep1", "lead", 60 * 24 * 20, status="expired"),
            "rep2": make("rep2", "other_lead", 30, text="发送政策解读话术包"), "rep3": make("rep3", "south_lead", 20)}


def _audits(tiny) -> list[AuditLog]:
    with tiny.session() as s:
        return list(s.scalars(select(AuditLog).order_by(AuditLog.id)))


# -- listing ----------------------------------------------------------------------------------

def test_a_rep_lists_only_their_own_suggestions_newest_first(tiny, shown, ctx_for):
    with tiny.session() as s:
        mine = list_suggestions(ctx=ctx_for(s, "rep1"))
    assert [x.id for x in mine] == [shown["rep1"], shown["rep1_old"], shown["expired"]]
    assert mine[0].rule == "high_intent_dual_follow_up" and mine[0].owner_login == "rep1"


def test_a_manager_lists_the_team_and_an_admin_everyone(tiny, shown, ctx_for):
    with tiny.session() as s:
        team = {x.id for x in list_suggestions(ctx=ctx_for(s, "mgr1"))}
        everyone = {x.id for x in list_suggestions(ctx=ctx_for(s, "admin"))}
    assert team == {shown["rep1"], shown["rep1_old"], shown["expired"], shown["rep2"]}
    assert everyone == set(shown.values())


def test_listing_filters_by_status_and_refuses_unknown_ones(tiny, shown, ctx_for):
    with tiny.session() as s:
        assert [x.id for x in list_suggestions(ctx=ctx_for(s, "rep1"), status="expired")] == [shown["expired"]]
        assert [x.id for x in list_suggestions(ctx=ctx_for(s, "rep1"), limit=1)] == [shown["rep1"]]
        with pytest.raises(UserInputError, match="adopted"):
            list_suggestions(ctx=ctx_for(s, "rep1"), status="accepted")
        with pytest.raises(PermissionDenied):
            list_suggestions(ctx=ctx_for(s, "trainer"))


# -- deciding -------------------------------------------------------------------------------------

def test_the_owner_adopts_a_suggestion_and_it_is_audited(tiny, shown, ctx_for, now):
    with tiny.session() as s:
        result = decide_suggestion(ctx=ctx_for(s, "rep1"), suggestion_id=shown["rep1"], decision="adopted")
        s.commit()
    assert result.changed and result.suggestion.status == "adopted"
    assert result.suggestion.decided_at == now.isoformat(sep=" ", timespec="seconds")
    [audit] = _audits(tiny)
    assert (audit.user_id, audit.action, audit.target, audit.at) == (tiny["rep1"], "suggestion.adopted", f"ai_suggestion:{shown['rep1']}", now)
    assert audit.detail["previous_status"] == "shown" and audit.detail["on_behalf_of_owner"] is False


def test_deciding_again_the_same_way_changes_nothing(tiny, shown, ctx_for, now):
    with tiny.session() as s:
        decide_suggestion(ctx=ctx_for(s, "rep1"), suggestion_id=shown["rep1"], decision="dismissed")
        s.commit()
    with tiny.session() as s:
        again = decide_suggestion(ctx=ctx_for(s, "rep1", now=now + timedelta(hours=2)), suggestion_id=shown["rep1"],
                                  decision="dismissed")
        s.commit()
    assert not again.changed and "无需重复" in again.message
    assert again.suggestion.decided_at == now.isoformat(sep=" ", timespec="seconds")
    assert len(_audits(tiny)) == 1


def test_a_decided_suggestion_cannot_be_flipped(tiny, shown, ctx_for):
    with tiny.session() as s:
        decide_suggestion(ctx=ctx_for(s, "rep1"), suggestion_id=shown["rep1"], decision="adopted")
        s.commit()
    with tiny.session() as s:
        with pytest.raises(UserInputError) as err:
            decide_suggestion(ctx=ctx_for(s, "rep1", language="en"), suggestion_id=shown["rep1"], decision="dismissed")
        assert "already adopted" in str(err.value) and "cannot be changed" in str(err.value)
        assert s.get(AISuggestion, shown["rep1"]).status == "adopted"
    assert len(_audits(tiny)) == 1


def test_only_the_owner_or_the_owners_manager_may_decide(tiny, shown, ctx_for):
    with tiny.session() as s:
        for login in ("rep2", "mgr2", "admin"):
            with pytest.raises(PermissionDenied) as err:
                decide_suggestion(ctx=ctx_for(s, login), suggestion_id=shown["rep1"], decision="adopted")
            assert "双人跟进" not in str(err.value)
        result = decide_suggestion(ctx=ctx_for(s, "mgr1"), suggestion_id=shown["rep2"], decision="dismissed")
        s.commit()
    assert result.changed
    [audit] = _audits(tiny)
    assert audit.user_id == tiny["mgr1"] and audit.detail["on_behalf_of_owner"] is True and audit.detail["owner_id"] == tiny["rep2"]


def test_expired_unknown_and_malformed_decisions_are_refused(tiny, shown, ctx_for):
    with tiny.session() as s:
        ctx = ctx_for(s, "rep1")
        with pytest.raises(UserInputError):
            decide_suggestion(ctx=ctx, suggestion_id=shown["expired"], decision="adopted")
        with pytest.raises(UserInputError):
            decide_suggestion(ctx=ctx, suggestion_id=shown["rep1"], decision="maybe")
        with pytest.raises(NotFoundError):
            decide_suggestion(ctx=ctx, suggestion_id=999_999, decision="adopted")
    assert _audits(tiny) == []


def test_a_shown_next_best_action_can_be_listed_and_adopted(tiny, ctx_for, now):
    for d in (3, 2, 1):
        tiny.touch("page_view", now - timedelta(days=d), asset="产品页: 超声影像系统")
    tiny.touch("pdf_download", now - timedelta(hours=3))
    with tiny.session() as s:
        [shown_action] = next_best_action(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"])
        s.commit()
    with tiny.session() as s:
        [listed] = list_suggestions(ctx=ctx_for(s, "rep1"), status="shown")
        assert (listed.id, listed.rule, listed.lead_id) == (shown_action.suggestion_id, "high_intent_dual_follow_up", tiny["lead"])
        decide_suggestion(ctx=ctx_for(s, "rep1"), suggestion_id=listed.id, decision="adopted")
        s.commit()
    with tiny.session() as s:
        assert next_best_action(ctx=ctx_for(s, "rep1"), lead_id=tiny["lead"])[0].status == "adopted"  # same day: same row


# -- the demo company ---------------------------------------------------------------------------------

def test_demo_rep_lists_exactly_their_own_suggestions(demo_session, ctx_for):
    me = demo_session.scalar(select(User.id).where(User.login == "zhangwei"))
    expected = demo_session.scalar(select(func.count()).select_from(AISuggestion).where(AISuggestion.user_id == me))
    listed = list_suggestions(ctx=ctx_for(demo_session, "zhangwei"), limit=500)
    assert 0 < len(listed) == min(expected, 500) and {x.user_id for x in listed} == {me}
    assert [x.created_at for x in listed] == sorted((x.created_at for x in listed), reverse=True)


def test_demo_manager_decides_for_a_team_member(demo_session, ctx_for):
    team = select(User.id).where(User.team_id == select(User.team_id).where(User.login == "chenjing").scalar_subquery())
    row = demo_session.scalar(select(AISuggestion).where(AISuggestion.status == "shown", AISuggestion.user_id.in_(team))
                              .order_by(AISuggestion.id).limit(1))
    result = decide_suggestion(ctx=ctx_for(demo_session, "chenjing"), suggestion_id=row.id, decision="adopted")
    assert result.changed and row.status == "adopted"
    with pytest.raises(PermissionDenied):
        decide_suggestion(ctx=ctx_for(demo_session, "huanglei"), suggestion_id=row.id, decision="adopted")
