"""Intent-score snapshots (tools/intent_snapshots.py): the stored scores are exactly those of
tools.leads.intent_score at the snapshot date, consent applied; only leads open at the date
are scored; re-running replaces rows instead of duplicating them; touchpoints are loaded in
a fixed number of queries, not per lead. On SQLite and PostgreSQL."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import event, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from crm.models import Contact, IntentScoreSnapshot, Lead, Opportunity, Touchpoint
from tools.intent_snapshots import month_starts, snapshot_intent_scores
from tools.leads import cbi_from_raw, intent_score, load_intent_config

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 15), date(2026, 11, 20)
AT = datetime(2026, 11, 20)  # D3 00:00 — the tiny company's leads were created 2026-10-31 09:00


def _midnight(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time())


def _assert_equals_intent_score(session, ctx, rows) -> None:
    for r in rows:
        want = intent_score(ctx=ctx, lead_id=r.lead_id, as_of=_midnight(r.as_of))
        got = (r.score, r.tier, r.confidence, r.events_used)
        assert got == (want.score, want.tier, want.confidence, want.events_used), (r.lead_id, r.as_of)


def test_snapshots_equal_intent_score_with_consent_and_account_touches_applied(tiny, ctx_for):
    tiny.touch("demo_booking", AT - timedelta(days=2))  # the lead's own, consenting contact
    tiny.touch("pdf_download", AT - timedelta(days=1), contact="no")  # a contact without consent: never scored
    tiny.touch("tender_notice", AT - timedelta(days=5), contact=None, lead=None)  # account-level, inside 30 days
    tiny.touch("tender_notice", AT - timedelta(days=45), contact=None, lead=None)  # account-level, too old
    tiny.touch("page_view", AT - timedelta(days=100))  # outside the 90-day window
    tiny.touch("meeting", AT + timedelta(hours=3))  # after the as-of time
    tiny.touch("page_view", AT - timedelta(days=3), lead="helios_lead", account="helios", contact="anna", dwell_s=400)
    tiny.touch("wecom_message", AT - timedelta(days=20), lead="south_lead", account="south_acct", contact="south_c")

    written = snapshot_intent_scores(tiny.engine, as_of_dates=[D3, D1, D2])

    with tiny.session() as s:
        rows = s.scalars(select(IntentScoreSnapshot).order_by(IntentScoreSnapshot.lead_id, IntentScoreSnapshot.as_of)).all()
        ctx = ctx_for(s, "admin")
        _assert_equals_intent_score(s, ctx, rows)
        excluded = intent_score(ctx=ctx, lead_id=tiny["lead"], as_of=AT).excluded_without_consent
    assert written == len(rows) == 6 * 3  # six open leads, three dates
    assert excluded == 1  # the non-consenting contact's download was there to be left out
    # by hand: the demo booking (4.2) two days old + the account's tender notice (2.0 × 0.5) five days old
    sc = load_intent_config()["score"]
    raw = 4.2 * 0.5 ** (2 / sc["half_life_days"]) + 2.0 * 0.5 * 0.5 ** (5 / sc["half_life_days"])
    lead_row = next(r for r in rows if r.lead_id == tiny["lead"] and r.as_of == D3)
    assert lead_row.score == cbi_from_raw(raw, sc["scale"]) == round(100 * (1 - math.exp(-raw / sc["scale"])))
    assert lead_row.events_used == 2


def test_snapshots_equal_intent_score_for_demo_leads_on_several_dates(demo_session, ctx_for):
    """The demo's own snapshots (written by build_demo): a lead whose window holds touches of a
    contact without consent, the highest-scored lead, and a spread of others."""
    s = demo_session
    no_consent = (select(Touchpoint.lead_id).join(Contact, Contact.id == Touchpoint.contact_id)
                  .where(Contact.consent_tracking.is_(False), Touchpoint.occurred_at >= AT - timedelta(days=30),
                         Touchpoint.occurred_at < AT))
    at_d3 = select(IntentScoreSnapshot).where(IntentScoreSnapshot.as_of == D3)
    withheld = s.scalars(at_d3.where(IntentScoreSnapshot.lead_id.in_(no_consent), IntentScoreSnapshot.events_used > 0)
                         .order_by(IntentScoreSnapshot.lead_id).limit(3)).all()
    top = s.scalars(at_d3.order_by(IntentScoreSnapshot.score.desc(), IntentScoreSnapshot.lead_id).limit(2)).all()
    lead_ids = {r.lead_id for r in withheld + top} | set(s.scalars(
        select(IntentScoreSnapshot.lead_id).where(IntentScoreSnapshot.as_of == date(2026, 6, 1))
        .order_by(IntentScoreSnapshot.lead_id).limit(40)).all()[::8])
    rows = s.scalars(select(IntentScoreSnapshot).where(
        IntentScoreSnapshot.lead_id.in_(lead_ids),
        IntentScoreSnapshot.as_of.in_([date(2026, 3, 1), date(2026, 6, 1), D1, D3]))).all()
    ctx = ctx_for(s, "wangjianhua")
    assert len(withheld) == 3 and all(intent_score(ctx=ctx, lead_id=r.lead_id, as_of=AT).excluded_without_consent
                                       for r in withheld)
    assert len(rows) >= 15 and any(r.score > 30 for r in rows)
    _assert_equals_intent_score(s, ctx, rows)


def test_only_leads_open_at_the_date_are_scored(tiny):
    def change(session, key: str, **values) -> None:
        session.execute(update(Lead).where(Lead.id == tiny[key]).values(**values))

    with tiny.session() as s:
        change(s, "helios_lead", status="converted")  # converted when its first opportunity was created, 11-10
        s.add(Opportunity(name="x", account_id=tiny["helios"], lead_id=tiny["helios_lead"], owner_id=tiny["rep1"],
                          scenario="hospital_procurement", stage="discovery", amount_cny=1, created_at=datetime(2026, 11, 10)))
        change(s, "ningbo_a", status="lost", first_follow_up_at=datetime(2026, 11, 5))  # lost from its first follow-up
        change(s, "ningbo_b", created_at=datetime(2026, 11, 16))  # not there yet on 11-01 and 11-15
        change(s, "other_lead", status="new", first_follow_up_at=None)  # open
        change(s, "south_lead", status="invalid", first_follow_up_at=None)  # never followed up: closed from creation
        s.commit()

    snapshot_intent_scores(tiny.engine, as_of_dates=[D1, D2, D3])

    with tiny.session() as s:
        got = {tuple(r) for r in s.execute(select(IntentScoreSnapshot.lead_id, IntentScoreSnapshot.as_of))}
    want = {(tiny["lead"], d) for d in (D1, D2, D3)} | {(tiny["other_lead"], d) for d in (D1, D2, D3)} | {
        (tiny["helios_lead"], D1), (tiny["ningbo_a"], D1), (tiny["ningbo_b"], D3)}
    assert got == want


def test_rerunning_replaces_the_dates_rows_and_never_duplicates(tiny):
    tiny.touch("demo_booking", AT - timedelta(days=2))
    assert snapshot_intent_scores(tiny.engine, as_of_dates=[D1, D3]) == 12
    assert snapshot_intent_scores(tiny.engine, as_of_dates=[D3, D3]) == 6
    with tiny.session() as s:
        before = s.scalar(select(IntentScoreSnapshot.score).where(
            IntentScoreSnapshot.lead_id == tiny["lead"], IntentScoreSnapshot.as_of == D3))
        s.execute(update(Lead).where(Lead.id == tiny["other_lead"]).values(status="lost"))
        s.commit()
    tiny.touch("meeting", AT - timedelta(days=1))
    assert snapshot_intent_scores(tiny.engine, as_of_dates=[D3]) == 5  # other_lead is no longer open
    with tiny.session() as s:
        per_date = {d: n for d, n in s.execute(select(IntentScoreSnapshot.as_of, func.count()).group_by(IntentScoreSnapshot.as_of))}
        after = s.scalar(select(IntentScoreSnapshot.score).where(
            IntentScoreSnapshot.lead_id == tiny["lead"], IntentScoreSnapshot.as_of == D3))
    assert per_date == {D1: 6, D3: 5}  # D1 untouched by runs that did not name it
    assert after > before  # the row was rewritten from the new touchpoint


def test_the_database_refuses_a_second_snapshot_of_a_lead_on_a_date(tiny):
    row = {"lead_id": tiny["lead"], "as_of": D3, "score": 10, "tier": "C", "confidence": 0.1, "events_used": 1}
    with tiny.session() as s:
        s.execute(insert(IntentScoreSnapshot), [row])
        s.commit()
        with pytest.raises(IntegrityError):
            s.execute(insert(IntentScoreSnapshot), [row | {"score": 20}])
            s.flush()
        s.rollback()
        with pytest.raises(IntegrityError):  # and a score outside 0–100
            s.execute(insert(IntentScoreSnapshot), [row | {"as_of": D1, "score": 101}])
            s.flush()


def test_touchpoints_are_loaded_in_a_fixed_number_of_queries_not_per_lead(demo_session):
    bind = demo_session.connection().engine
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement.lstrip().split()[0].upper())

    dates = month_starts(date(2025, 11, 20), date(2026, 11, 20))
    event.listen(bind, "before_cursor_execute", count)
    try:
        written = snapshot_intent_scores(demo_session, as_of_dates=dates)
    finally:
        event.remove(bind, "before_cursor_execute", count)
    assert len(dates) == 13 and written > 5_000
    assert statements.count("SELECT") <= 2  # the leads, the touchpoints: not one per lead or date
    assert statements.count("INSERT") <= written // 5000 + 1  # bulk inserts in chunks
