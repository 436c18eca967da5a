"""Intent-score snapshots: every open lead's intent score (CBI 0–100) as of given dates,
stored in ``intent_scores`` for the ``avg_intent_score`` KPI.

The CBI is computed in Python, not in SQL, so the KPI layer averages stored snapshots. The
numbers are exactly those of ``tools.leads.intent_score(as_of=D 00:00)``: the same
touchpoints (the lead's own ones of the score window, plus its account's lead-less ones of
``account_touches.window_days`` at ``account_touches.factor``, never any after the as-of
time), the same consent rule (touchpoints of a contact without ``consent_tracking`` are left
out), in the same order, through the same pure functions (``compute_intent``,
``cbi_from_raw``, ``tier_of``, ``confidence_from_n_eff``) and configuration
(``tools/intent.yaml``). Only the loading differs: one query for the leads and one for the
touchpoints of all dates, instead of one per lead and date.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

from crm.db import session_scope
from crm.models import Contact, IntentScoreSnapshot, Lead, Opportunity, Touchpoint
from tools.leads import (
    CLOSED_LEAD_STATUSES,
    Touch,
    cbi_from_raw,
    compute_intent,
    confidence_from_n_eff,
    load_intent_config,
    tier_of,
)

INSERT_CHUNK = 5000


def snapshot_intent_scores(session_or_engine: Session | Engine, *, as_of_dates: list[date]) -> int:
    """Score every lead open at each date D, as of D 00:00 (naive UTC, like every stored time),
    and store the rows; returns the number of rows written.

    Which leads are open at D: created before D, and not closed before D. The Lead model keeps
    the current ``status`` but no closing date, so the closing time is taken from what the data
    does record:
    - ``converted``: closed when its first opportunity was created (``Opportunity.lead_id``) —
      the conversion itself; a converted lead without an opportunity closes at its first
      follow-up;
    - ``invalid`` / ``lost``: closed at the first follow-up (the earliest moment a lead can be
      qualified out; before it every lead is new), or at creation if never followed up;
    - ``new`` / ``contacted`` / ``qualified`` / ``nurture``: open.
    A lead open at D gets a row even with no usable touchpoint (score 0): the KPI averages over
    the open leads, not only the active ones.

    Idempotent: the rows of the given dates are replaced (deleted and written again), so a
    re-run never duplicates and a lead that is no longer open at D loses its row. With an
    Engine the work is committed in its own transaction; with a Session it joins the session's
    transaction and the caller commits.
    """
    dates = sorted({date(d.year, d.month, d.day) for d in as_of_dates})
    if not dates:
        return 0
    if isinstance(session_or_engine, Engine):
        with session_scope(session_or_engine) as session:
            return _snapshot(session, dates)
    return _snapshot(session_or_engine, dates)


def _midnight(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time())


def _snapshot(session: Session, dates: list[date]) -> int:
    cfg = load_intent_config()
    sc = cfg["score"]
    window = timedelta(days=sc["window_days"])
    account_window = timedelta(days=sc["account_touches"]["window_days"])
    first_at, last_at = _midnight(dates[0]), _midnight(dates[-1])
    spans = _lead_spans(session, last_at)
    index = _load_touches(session, first_at - window, last_at, account_factor=float(sc["account_touches"]["factor"]))
    out = []
    for d in dates:
        now = _midnight(d)
        for lead_id, account_id, created_at, closed_at in spans:
            if not _open_at(created_at, closed_at, now):
                continue
            touches = index.touches_as_of(lead_id, account_id, now, since=now - window,
                                          account_since=max(now - account_window, now - window))
            out.append(_snapshot_row(lead_id, d, touches, now, cfg))
    _replace_rows(session, dates, out)
    return len(out)


def _lead_spans(session: Session, last_at: datetime) -> list[tuple[int, int, datetime, datetime | None]]:
    """(lead id, account id, created, closed) of the leads created before ``last_at``."""
    first_opp = (select(Opportunity.lead_id.label("lead_id"), func.min(Opportunity.created_at).label("first_opp_at"))
                 .where(Opportunity.lead_id.is_not(None)).group_by(Opportunity.lead_id).subquery("first_opps"))
    leads = session.execute(
        select(Lead.id, Lead.account_id, Lead.status, Lead.created_at, Lead.first_follow_up_at, first_opp.c.first_opp_at)
        .outerjoin(first_opp, first_opp.c.lead_id == Lead.id)
        .where(Lead.created_at < last_at).order_by(Lead.id)).all()
    return [(lead_id, account_id, created_at, _closed_at(status, created_at, followed_at, first_opp_at))
            for lead_id, account_id, status, created_at, followed_at, first_opp_at in leads]


def _open_at(created_at: datetime, closed_at: datetime | None, now: datetime) -> bool:
    """Open at ``now``: created before it and not closed before it."""
    return created_at < now and (closed_at is None or closed_at >= now)


class _TouchIndex:
    """Scorable touchpoints by lead (own ones) and by account (lead-less ones), each in time order."""

    def __init__(self) -> None:
        self.own: dict[int, list[Touch]] = defaultdict(list)
        self.account_level: dict[int, list[Touch]] = defaultdict(list)
        self._own_times: dict[int, list[datetime]] = {}
        self._account_times: dict[int, list[datetime]] = {}

    def seal(self) -> None:
        """Index the times once every touch is added."""
        self._own_times = {k: [t.occurred_at for t in v] for k, v in self.own.items()}
        self._account_times = {k: [t.occurred_at for t in v] for k, v in self.account_level.items()}

    def touches_as_of(self, lead_id: int, account_id: int, now: datetime, *, since: datetime, account_since: datetime) -> list[Touch]:
        """As load_touches: own ones from ``since``, account-level ones from ``account_since``, up to ``now``."""
        touches = _between(self.own.get(lead_id, []), self._own_times.get(lead_id, []), since, now)
        acct = _between(self.account_level.get(account_id, []), self._account_times.get(account_id, []), account_since, now)
        if acct:  # the same order as load_touches (time, then id), so the same floating-point sum
            touches = sorted(touches + acct, key=lambda t: (t.occurred_at, t.id))
        return touches


def _between(touches: list[Touch], times: list[datetime], lo: datetime, hi: datetime) -> list[Touch]:
    return touches[bisect_left(times, lo):bisect_right(times, hi)]


def _load_touches(session: Session, since: datetime, until: datetime, *, account_factor: float) -> _TouchIndex:
    """Every touchpoint any of the dates can use, in one query (consent applied, as in load_touches);
    account-level ones reach back at most as far as the lead's own (load_touches clamps them to `since`)."""
    index = _TouchIndex()
    rows = session.execute(
        select(Touchpoint.id, Touchpoint.account_id, Touchpoint.lead_id, Touchpoint.contact_id, Touchpoint.kind,
               Touchpoint.occurred_at, Touchpoint.asset, Touchpoint.dwell_s, Contact.consent_tracking, Contact.title)
        .outerjoin(Contact, Contact.id == Touchpoint.contact_id)
        .where(Touchpoint.occurred_at >= since, Touchpoint.occurred_at <= until)
        .order_by(Touchpoint.occurred_at, Touchpoint.id))
    for tp_id, account_id, lead_id, contact_id, kind, occurred_at, asset, dwell_s, consent, title in rows:
        if contact_id is not None and not consent:
            continue  # a contact without consent to tracking: never scored
        if lead_id is not None:
            index.own[lead_id].append(Touch(tp_id, kind, occurred_at, asset, dwell_s, contact_id, title, lead_id, 1.0))
        else:
            index.account_level[account_id].append(Touch(tp_id, kind, occurred_at, asset, dwell_s, contact_id, title, None, account_factor))
    index.seal()
    return index


def _snapshot_row(lead_id: int, as_of: date, touches: list[Touch], now: datetime, cfg: dict) -> dict:
    """One ``intent_scores`` row: the CBI, tier, confidence and events used as of ``now``."""
    sc = cfg["score"]
    raw, n_eff, parts = compute_intent(touches, now, cfg)
    score = cbi_from_raw(raw, sc["scale"])
    return {"lead_id": lead_id, "as_of": as_of, "score": score, "tier": tier_of(score, sc["tiers"]),
            "confidence": confidence_from_n_eff(n_eff, cfg), "events_used": len(parts)}


def _replace_rows(session: Session, dates: list[date], rows: list[dict]) -> None:
    """Delete the rows of ``dates`` and write ``rows`` in chunks."""
    table = IntentScoreSnapshot.__table__
    session.execute(delete(table).where(table.c.as_of.in_(dates)))
    for i in range(0, len(rows), INSERT_CHUNK):  # a Core table, not the ORM's bulk path: a plain executemany
        session.execute(insert(table), rows[i:i + INSERT_CHUNK])
    session.flush()


def _closed_at(status: str, created_at: datetime, followed_at: datetime | None, first_opp_at: datetime | None) -> datetime | None:
    """When the lead stopped being open (None: it is open now). See snapshot_intent_scores."""
    if status not in CLOSED_LEAD_STATUSES:
        return None
    if status == "converted" and first_opp_at is not None:
        return first_opp_at
    return followed_at or created_at


def month_starts(start: date, end: date) -> list[date]:
    """The first day of every month in [start, end], plus ``end`` itself — the demo's snapshot dates."""
    out = []
    d = date(start.year, start.month, 1)
    if d < start:
        d = date(d.year + (d.month == 12), 1 if d.month == 12 else d.month + 1, 1)
    while d <= end:
        out.append(d)
        d = date(d.year + (d.month == 12), 1 if d.month == 12 else d.month + 1, 1)
    if not out or out[-1] != end:
        out.append(end)
    return out


__all__ = ["month_starts", "snapshot_intent_scores"]
