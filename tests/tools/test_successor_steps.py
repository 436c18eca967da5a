"""The named steps behind successor plans, the handover printout and intent snapshots: each
step on its own, small inputs, one behaviour per test."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from cli import coaching
from cli.state import console
from core.errors import NotFoundError
from crm.models import User
from tests.tools.conftest import make_ctx
from tools.intent_snapshots import _open_at, _TouchIndex
from tools.leads import Touch
from tools.successor import (
    _accounts_to_hand_over,
    _candidate_pool,
    _CandidatePool,
    _contact_notes,
    _context_reason,
    _fit_reason,
    _guide_history,
    _language_reason,
    _load_reason,
    candidate_rows,
)


def _ctx(language: str = "en", anonymized: bool = False) -> SimpleNamespace:
    return SimpleNamespace(language=language, anonymized=anonymized, t=lambda zh, en: zh if language == "zh" else en)


# -- successor: the candidates' reasons ---------------------------------------------------------------
def test_fit_reason_names_the_weights_or_says_the_fit_is_unknown():
    sc = SimpleNamespace(label_zh="医院采购", label_en="Hospital procurement", weights={"needs_discovery": 1.0})
    assert _fit_reason(_ctx(), 72.5, sc).startswith("Hospital procurement fit 72.5 (weighted ")
    assert _fit_reason(_ctx(), 72.5, sc).endswith(" 100%)")
    assert _fit_reason(_ctx("zh"), 72.5, sc).startswith("医院采购场景匹配度 72.5(按 ")
    assert _fit_reason(_ctx(), None, sc) == "too few calls for a profile: scenario fit unknown (counted as 0)"
    assert _fit_reason(_ctx("zh"), None, sc).startswith("能力画像通话不足")


def test_load_reason_adds_the_handovers_this_plan_already_suggested_only_when_there_are_some():
    assert _load_reason(_ctx(), 3, 2, 0) == "current load: 3 accounts, 2 open opportunities"
    assert _load_reason(_ctx(), 3, 2, 1) == "current load: 3 accounts, 2 open opportunities, plus 1 account(s) this plan already suggested"


def test_language_reason_depends_on_whether_the_account_is_international():
    assert _language_reason(_ctx(), True, True) == "international account, speaks English"
    assert _language_reason(_ctx(), True, False) == "international account needs English: language mismatch"
    assert _language_reason(_ctx(), False, True) == "Chinese-speaking account, language matches"
    assert _language_reason(_ctx("zh"), False, False) == "中文客户,候选人以英文为工作语言"


def test_context_reason_names_team_and_region():
    region = SimpleNamespace(name_zh="华东", name_en="East China")
    assert _context_reason(_ctx(), region, True, True) == "same team, covers East China"
    assert _context_reason(_ctx(), region, False, False) == "another team, outside the account's region (East China)"
    assert _context_reason(_ctx("zh"), region, True, False) == "同团队,不在客户所在的华东"


# -- successor: the pool and its rows -----------------------------------------------------------------
def test_pool_load_counts_accounts_open_opportunities_and_suggestions():
    pool = _CandidatePool(users=[], profiles={}, owned=Counter({1: 2}), open_opps=Counter({1: 3, 2: 1}), team_region={})
    pool.suggested[1] += 1
    assert pool.load(1) == 6
    assert pool.load(2) == 1
    assert pool.load(9) == 0


def test_candidate_rows_carry_fit_load_language_and_context():
    en_rep = SimpleNamespace(id=1, login="a", language="en", team_id=10)
    zh_rep = SimpleNamespace(id=2, login="b", language="zh", team_id=20)
    profile = SimpleNamespace(dimensions={"pain_point_pause_s": {"score": 80.0}})
    pool = _CandidatePool(users=[en_rep, zh_rep], profiles={1: profile}, owned=Counter({2: 4}), open_opps=Counter(),
                          team_region={10: 100, 20: 200})
    sc = SimpleNamespace(weights={"pain_point_pause_s": 1.0})
    acct = SimpleNamespace(international=True, region_id=200)
    rows = candidate_rows(pool, sc, acct, SimpleNamespace(team_id=10))
    assert [(r["login"], r["load"], r["language_ok"], r["same_team"], r["same_region"]) for r in rows] == \
        [("a", 0, True, True, False), ("b", 4, False, False, True)]
    assert rows[0]["fit"] == pytest.approx(80.0)
    assert rows[1]["fit"] is None


def test_accounts_to_hand_over_is_all_of_the_reps_or_the_one_asked_for(tiny):
    with tiny.session() as s:
        ctx = make_ctx(s, "admin", language="en")
        rep = s.get(User, tiny.ids["rep1"])
        everything = _accounts_to_hand_over(ctx, rep, None)
        assert tiny.ids["acct"] in everything
        assert _accounts_to_hand_over(ctx, rep, tiny.ids["acct"]) == [tiny.ids["acct"]]
        with pytest.raises(NotFoundError, match="drop --account"):
            _accounts_to_hand_over(ctx, rep, -7)


def test_a_managers_candidate_pool_is_their_team_and_says_so(tiny):
    with tiny.session() as s:
        rep1 = s.get(User, tiny.ids["rep1"])
        notes: list[str] = []
        pool = _candidate_pool(make_ctx(s, "mgr1", language="en"), rep1, notes)
        assert [u.login for u in pool.users] == ["rep2"]
        assert notes == ["Candidates are your team's reps; an admin sees candidates across teams."]
        notes = []
        assert [u.login for u in _candidate_pool(make_ctx(s, "admin"), rep1, notes).users] == ["rep2", "rep3"]
        assert notes == []


# -- successor: the guide -----------------------------------------------------------------------------
def test_guide_history_summarises_the_journey():
    def event(time, kind):
        return SimpleNamespace(time=time, kind=kind, id=time, text=lambda lang, time=time: f"{lang}:{time}")
    journey = SimpleNamespace(current_stage="proposal", stages=[SimpleNamespace(events=[event("t1", "call")]),
                                                                SimpleNamespace(events=[event("t2", "touch"), event("t3", "call")])],
                              gaps=[SimpleNamespace(open=False, days=9), SimpleNamespace(open=True, days=12)],
                              excluded_without_consent=1, other_calls=2)
    h = _guide_history(_ctx(), journey)
    assert (h["first_activity"], h["last_activity"], h["events"], h["silent_days"]) == ("t1", "t3", 3, 12)
    assert h["events_by_kind"] == {"call": 2, "touch": 1}
    assert [e["text"] for e in h["latest"]] == ["en:t1", "en:t2", "en:t3"]
    empty = _guide_history(_ctx(), SimpleNamespace(current_stage=None, stages=[], gaps=[], excluded_without_consent=0, other_calls=0))
    assert (empty["first_activity"], empty["events"], empty["silent_days"]) == (None, 0, 0)


def test_contact_notes_explain_anonymized_mode_first_then_missing_consent():
    assert _contact_notes(_ctx(anonymized=True), [{"consent": True}]) == ["Anonymized aggregate mode: no contact's individual behaviour is shown."]
    assert _contact_notes(_ctx(), [{"consent": True}, {"consent": False}])[0].startswith("Contacts without consent")
    assert _contact_notes(_ctx(), [{"consent": True}]) == []


# -- coaching CLI: the printed handover ---------------------------------------------------------------
def _t(zh, en):
    return en


def test_commitments_print_none_when_there_are_none_and_flag_overdue_renewals():
    with console.capture() as cap:
        coaching._print_commitments({"open_opportunities": [], "pending_next_steps": [], "renewals_due": []}, _t)
    assert "(none)" in cap.get()
    line = coaching._renewal_line({"id": 4, "due_date": "2026-11-01", "overdue": True, "high_value": True, "amount": "¥1"}, _t)
    assert line == "  · renewal #4 due 2026-11-01 (overdue) · ¥1, high value"


def test_sensitive_points_print_nothing_when_there_are_none_and_a_table_otherwise():
    with console.capture() as cap:
        coaching._print_sensitive_points([], _t)
    assert cap.get() == ""
    with console.capture() as cap:
        coaching._print_sensitive_points([{"call_id": 7, "date": "2026-11-01", "time": "00:03–00:08", "kinds": ["objection", "price"],
                                           "text": "too expensive"}], _t)
    assert "objection/price" in cap.get()
    assert "#7 2026-11-01" in cap.get()


def test_contacts_without_behaviour_are_marked_as_not_consented():
    with console.capture() as cap:
        coaching._print_contacts([{"name": "Ann", "title": "CFO", "role_in_deal": "buyer"},
                                  {"name": "Bo", "title": "CTO", "role_in_deal": "user", "last_activity": None, "activities": 0}], _t)
    out = cap.get()
    assert "no consent" in out
    assert "— (0)" in out


# -- intent snapshots ---------------------------------------------------------------------------------
def test_a_lead_is_open_from_creation_until_it_closes():
    now = datetime(2026, 6, 1)
    assert _open_at(now - timedelta(days=1), None, now)
    assert not _open_at(now, None, now)  # created at midnight: not yet open
    assert _open_at(now - timedelta(days=5), now, now)  # closes at D itself: still open at D
    assert not _open_at(now - timedelta(days=5), now - timedelta(seconds=1), now)


def _touch(tp_id: int, when: datetime, lead_id: int | None, weight: float = 1.0) -> Touch:
    return Touch(tp_id, "page_view", when, None, None, None, None, lead_id, weight)


def test_touch_index_takes_own_and_account_touches_from_their_windows_in_time_then_id_order():
    now = datetime(2026, 6, 1)
    index = _TouchIndex()
    index.own[1] += [_touch(1, now - timedelta(days=40), 1), _touch(3, now - timedelta(days=2), 1), _touch(5, now + timedelta(hours=1), 1)]
    index.account_level[9] += [_touch(2, now - timedelta(days=20), None, 0.5), _touch(4, now - timedelta(days=2), None, 0.5)]
    index.seal()
    got = index.touches_as_of(1, 9, now, since=now - timedelta(days=60), account_since=now - timedelta(days=10))
    assert [t.id for t in got] == [1, 3, 4]
    assert [t.id for t in index.touches_as_of(2, 8, now, since=now - timedelta(days=60), account_since=now)] == []
    assert [t.id for t in index.touches_as_of(1, 8, now, since=now - timedelta(days=30), account_since=now)] == [3]
