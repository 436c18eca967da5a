"""The demo company: volumes, determinism, idempotency, and the story it plants."""

from __future__ import annotations

import hashlib
import statistics
from datetime import date, datetime
from itertools import pairwise

import pytest
from sqlalchemy import delete, func, insert, select

from core.errors import UserInputError
from crm.db import make_engine, session_scope, upgrade_schema
from crm.demo import BASE_VOLUMES, demo_traits, entity_counts
from crm.models import Account, Call, CallTurn, Contact, IntentScoreSnapshot, Lead, Opportunity, Region, Team, User
from tools.demo_setup import build_demo

AS_OF = date(2026, 11, 20)


def _fingerprint(engine) -> str:
    h = hashlib.sha256()
    with session_scope(engine) as s:
        for row in s.execute(select(Lead.id, Lead.name, Lead.owner_id, Lead.value_cny, Lead.created_at).order_by(Lead.id)):
            h.update(repr(tuple(row)).encode())
        for row in s.execute(select(CallTurn.call_id, CallTurn.start_s, CallTurn.text).order_by(CallTurn.id)):
            h.update(repr(tuple(row)).encode())
    return h.hexdigest()


def _build(tmp_path, name: str, seed: int):
    eng = make_engine(f"sqlite:///{tmp_path / name}")
    upgrade_schema(eng)
    build_demo(eng, seed=seed, scale=1, as_of=AS_OF)
    return eng


def test_same_seed_builds_the_same_company_and_another_seed_a_different_one(tmp_path):
    a, b, c = _build(tmp_path, "a.db", 7), _build(tmp_path, "b.db", 7), _build(tmp_path, "c.db", 8)
    assert _fingerprint(a) == _fingerprint(b)
    assert _fingerprint(a) != _fingerprint(c)


def test_scale_1_meets_the_promised_volumes(demo_engine):
    with session_scope(demo_engine) as s:
        counts = entity_counts(s)
        reps = s.scalar(select(func.count()).select_from(User).where(User.role == "rep"))
        regions = s.scalar(select(func.count()).select_from(Region))
        managers = s.scalar(select(func.count()).select_from(User).where(User.role == "manager"))
        trainers = s.scalar(select(func.count()).select_from(User).where(User.role == "trainer"))
    assert reps >= 30 and regions == 4 and managers == 4 and trainers >= 1
    assert counts["accounts"] == BASE_VOLUMES["accounts"] == 300
    assert counts["leads"] == 2_000
    assert counts["touchpoints"] == 50_000
    assert counts["opportunities"] == 400
    assert counts["calls"] == 200
    assert counts["call_turns"] > counts["calls"] * 15
    assert counts["stage_changes"] > counts["opportunities"]


def test_building_the_demo_twice_changes_nothing(engine):
    first = build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    second = build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    assert first.built and not second.built
    assert first.counts == second.counts


def test_the_demo_scores_its_open_leads_on_every_month_start_and_on_its_as_of_date(demo_engine):
    """The average-intent-score KPI's data: snapshots on the 1st of each month of the demo's
    year (those with any lead created before them) and at the as-of date, of every open lead."""
    with session_scope(demo_engine) as s:
        dates = set(s.scalars(select(IntentScoreSnapshot.as_of).distinct()))
        first_lead = s.scalar(select(func.min(Lead.created_at)))
        at_as_of = s.scalar(select(func.count()).select_from(IntentScoreSnapshot).where(IntentScoreSnapshot.as_of == AS_OF))
        open_now = s.scalar(select(func.count()).select_from(Lead).where(
            Lead.status.in_(("new", "contacted", "qualified", "nurture")), Lead.created_at < datetime(2026, 11, 20)))
    month_starts = {date(2025, 12, 1)} | {date(2026, m, 1) for m in range(1, 12)}
    assert dates == {d for d in month_starts if first_lead.date() < d} | {AS_OF}
    assert len(dates) >= 12
    assert at_as_of == open_now > 1000


def test_a_demo_built_before_intent_snapshots_gets_them_on_the_next_build(engine):
    first = build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    with session_scope(engine) as s:
        s.execute(delete(IntentScoreSnapshot))
    again = build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    assert not again.built
    assert again.counts["intent_scores"] == first.counts["intent_scores"] > 0
    assert again.counts == first.counts


def test_a_different_seed_on_a_built_database_is_refused_with_advice(engine):
    build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    with pytest.raises(UserInputError, match="another --home"):
        build_demo(engine, seed=9, scale=1, as_of=AS_OF)


def test_new_rows_get_fresh_ids_after_the_bulk_insert(demo_engine):
    """Explicit ids were bulk-inserted; the next ordinary insert must not collide (PostgreSQL sequences)."""
    with session_scope(demo_engine) as s:
        team = s.scalars(select(Team)).first()
        before = s.scalar(select(func.max(User.id)))
        s.execute(insert(User).values(login="newhire_test", name="新人", name_en="New Hire", role="rep",
                                      team_id=team.id, language="zh", hire_date=AS_OF))
        new_id = s.scalar(select(User.id).where(User.login == "newhire_test"))
        s.rollback()
    assert new_id > before


def test_leads_are_followed_up_faster_in_east_than_in_west(demo_engine):
    """Regions differ in 72-hour follow-up — the KPI must have something to find."""
    def rate(session, code):
        rows = session.execute(
            select(Lead.created_at, Lead.first_follow_up_at)
            .join(Account, Account.id == Lead.account_id).join(Region, Region.id == Account.region_id)
            .where(Region.code == code, Lead.first_follow_up_at.is_not(None))
        ).all()
        return sum((f - c).total_seconds() <= 72 * 3600 for c, f in rows) / len(rows)

    with session_scope(demo_engine) as s:
        assert rate(s, "east") > rate(s, "west") + 0.1


def test_about_a_third_of_contacts_have_not_consented_to_tracking(demo_engine):
    with session_scope(demo_engine) as s:
        total = s.scalar(select(func.count()).select_from(Contact))
        consented = s.scalar(select(func.count()).select_from(Contact).where(Contact.consent_tracking.is_(True)))
    assert 0.6 < consented / total < 0.8


def _pain_pauses_by_rep(session) -> dict[int, float]:
    """Median gap between a customer turn and the next rep turn, per rep, from the stored turns."""
    from crm.demo_vocab import PAIN_POINTS_EN, PAIN_POINTS_ZH

    pains = set(PAIN_POINTS_EN) | {p for v in PAIN_POINTS_ZH.values() for p in v}
    gaps: dict[int, list[float]] = {}
    for call in session.scalars(select(Call)):
        turns = call.turns
        for prev, cur in pairwise(turns):
            if prev.speaker == "customer" and cur.speaker == "rep" and any(prev.text.startswith(p) for p in pains):
                gaps.setdefault(call.rep_id, []).append(cur.start_s - prev.end_s)
    return {rep: statistics.median(v) for rep, v in gaps.items() if len(v) >= 3}


def test_patient_reps_wait_longer_after_pain_points_and_curious_reps_win_more(demo_engine):
    with session_scope(demo_engine) as s:
        traits = demo_traits(s)
        ids = {u.login: u.id for u in s.scalars(select(User).where(User.role == "rep"))}
        pauses = _pain_pauses_by_rep(s)
        wins = {}
        for login, uid in ids.items():
            closed = s.execute(select(Opportunity.won).where(Opportunity.owner_id == uid, Opportunity.won.is_not(None))).scalars().all()
            if len(closed) >= 3:
                wins[login] = sum(closed) / len(closed)
    logins = [who for who in ids if ids[who] in pauses]
    assert len(logins) >= 20
    pause_corr = statistics.correlation([traits[who]["patience_s"] for who in logins], [pauses[ids[who]] for who in logins])
    assert pause_corr > 0.7
    skilled = sorted(wins, key=lambda who: traits[who]["patience_s"] / 3 + traits[who]["curiosity"] / 0.42)
    low, high = skilled[: len(skilled) // 3], skilled[-len(skilled) // 3:]
    assert statistics.mean(wins[who] for who in high) > statistics.mean(wins[who] for who in low)
