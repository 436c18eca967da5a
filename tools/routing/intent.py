"""Intent (CBI) for many leads at once, from a few queries per batch."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from crm.models import (
    Contact,
    Lead,
    Touchpoint,
)
from tools.leads import (
    Touch,
    cbi_from_raw,
    compute_intent,
    confidence_from_n_eff,
    load_intent_config,
    tier_of,
)
from tools.routing.config import CHUNK, MAX_EVENTS


@dataclass
class LeadIntent:
    score: int
    tier: str
    confidence: float
    events_used: int
    last_event_at: datetime | None
    top: list[tuple[float, Touch]]  # up to 5 biggest contributions


def batch_intent(session, leads: list[Lead], now: datetime) -> dict[int, LeadIntent]:
    """Each lead's CBI as ``tools.leads.intent_score`` computes it (same formula, consent applied),
    from a few queries per batch instead of two per lead: the accounts' lead-less touchpoints once
    for the whole batch, the leads' own touchpoints per chunk of leads."""
    cfg = load_intent_config()
    sc = cfg["score"]
    out: dict[int, LeadIntent] = {}
    own_since = now - timedelta(days=sc["window_days"])
    acct_since = now - timedelta(days=min(sc["account_touches"]["window_days"], sc["window_days"]))
    factor = float(sc["account_touches"]["factor"])
    cols = (Touchpoint.id, Touchpoint.kind, Touchpoint.occurred_at, Touchpoint.asset, Touchpoint.dwell_s,
            Touchpoint.contact_id, Touchpoint.lead_id, Touchpoint.account_id, Contact.consent_tracking, Contact.title)
    # separate indexed queries (one OR-ed query makes SQLite scan the table: 15 s → ~1 s at scale 10)
    acct: dict[int, list[Touch]] = defaultdict(list)
    account_ids = sorted({lead.account_id for lead in leads})
    for i in range(0, len(account_ids), 900):
        for tid, kind, at, asset, dwell, cid, _lid, aid, consent, title in session.execute(
                select(*cols).outerjoin(Contact, Contact.id == Touchpoint.contact_id).where(
                    Touchpoint.account_id.in_(account_ids[i:i + 900]), Touchpoint.occurred_at >= acct_since,
                    Touchpoint.occurred_at <= now, Touchpoint.lead_id.is_(None))):
            if cid is None or consent:  # no consent: never in an individual score
                acct[aid].append(Touch(tid, kind, at, asset, dwell, cid, title, None, factor))
    for i in range(0, len(leads), CHUNK):
        chunk = leads[i:i + CHUNK]
        own: dict[int, list[Touch]] = defaultdict(list)
        for tid, kind, at, asset, dwell, cid, lid, _aid, consent, title in session.execute(
                select(*cols).outerjoin(Contact, Contact.id == Touchpoint.contact_id).where(
                    Touchpoint.lead_id.in_([lead.id for lead in chunk]))):
            # the time window is applied here: in SQL, SQLite would range-scan the time index instead of
            # looking the leads up (0.65 s a chunk at scale 10)
            if (cid is None or consent) and own_since <= at <= now:
                own[lid].append(Touch(tid, kind, at, asset, dwell, cid, title, lid, 1.0))
        for lead in chunk:
            touches = sorted(own.get(lead.id, []) + acct.get(lead.account_id, []), key=lambda t: (t.occurred_at, t.id))
            raw, n_eff, parts = compute_intent(touches, now, cfg)
            score = cbi_from_raw(raw, sc["scale"])
            top = sorted(parts, key=lambda p: (-p[0], -p[1].occurred_at.timestamp()))[:MAX_EVENTS]
            last = max((t.occurred_at for _, t in parts), default=None)
            out[lead.id] = LeadIntent(score, tier_of(score, sc["tiers"]), confidence_from_n_eff(n_eff, cfg),
                                      len(parts), last, top)
    return out
