"""The touchpoints the score and the rules may use, consent applied."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from crm.models import Contact, Lead, Touchpoint
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.leads.config import load_intent_config
from tools.text import describe_touch, fmt_time

# -- touchpoints the score and the rules may use ---------------------------------------------

@dataclass
class Touch:
    """A touchpoint usable for an individual answer (its contact consented, or it has none)."""

    id: int
    kind: str
    occurred_at: datetime
    asset: str | None
    dwell_s: int | None
    contact_id: int | None
    title: str | None  # the contact's job title — never a name, phone or e-mail
    lead_id: int | None
    factor: float  # 1 for the lead's own touchpoints, account_touches.factor for account-level ones

    def text(self, language: str) -> str:
        return describe_touch(self.kind, self.asset, self.title, self.dwell_s, language)

    def evidence(self, language: str, weight: float | None = None) -> Evidence:
        return Evidence("touchpoint", str(self.id), fmt_time(self.occurred_at), self.text(language),
                        None if weight is None else round(weight, 2))


@dataclass
class LeadTouches:
    usable: list[Touch]  # time order
    excluded_times: list[datetime]  # touchpoints of contacts without consent: counted, never shown


def load_touches(ctx: ToolContext, lead: Lead, *, until: datetime, since: datetime | None = None) -> LeadTouches:
    """The lead's touchpoints up to ``until`` (from ``since``), plus its account's lead-less
    touchpoints of the last ``account_touches.window_days``; consent applied."""
    cfg = load_intent_config()["score"]["account_touches"]
    account_since = until - timedelta(days=cfg["window_days"])
    if since is not None:
        account_since = max(account_since, since)
    own = Touchpoint.lead_id == lead.id
    if since is not None:
        own = and_(own, Touchpoint.occurred_at >= since)
    account_level = and_(Touchpoint.account_id == lead.account_id, Touchpoint.lead_id.is_(None),
                         Touchpoint.occurred_at >= account_since)
    rows = ctx.session.execute(
        select(Touchpoint, Contact.consent_tracking, Contact.title)
        .outerjoin(Contact, Contact.id == Touchpoint.contact_id)
        .where(or_(own, account_level), Touchpoint.occurred_at <= until)
        .order_by(Touchpoint.occurred_at, Touchpoint.id)).all()
    usable, excluded = [], []
    for tp, consent, title in rows:
        if tp.contact_id is not None and not consent:
            excluded.append(tp.occurred_at)
            continue
        usable.append(Touch(tp.id, tp.kind, tp.occurred_at, tp.asset, tp.dwell_s, tp.contact_id, title, tp.lead_id,
                            1.0 if tp.lead_id == lead.id else float(cfg["factor"])))
    return LeadTouches(usable, excluded)
