"""Lead-intelligence benchmark: routing 10,000 new leads, and the signal rules over one day of
touchpoints, on the demo company (default scale 10). Goals: ≥ 1,000 leads/s routed (decisions and
owners written, committed), a day's signals in under 10 s (alerts logged, committed).

Not timed: the demo build, call metrics and capability profiles, inserting the new leads and their
touchpoints (setup)."""

from __future__ import annotations

import random
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from crm.access import get_user
from crm.db import make_engine, session_factory, upgrade_schema
from crm.models import Account, Contact, Lead, RoutingDecision, Touchpoint
from tools.context import ToolContext
from tools.demo_setup import build_demo

GOAL_LEADS_PER_S = 1000.0
GOAL_SIGNALS_S = 10.0
AS_OF = date(2026, 11, 20)


def add_new_leads(session, *, n: int, now: datetime, seed: int = 11) -> list[int]:
    """``n`` new, unassigned leads on random accounts, each with 0–6 touchpoints in the last 10 days."""
    from tools.successor import scenario_maps

    r = random.Random(seed)
    segments, industries = scenario_maps()
    accounts = list(session.execute(select(Account.id, Account.segment, Account.industry)))
    contacts: dict[int, list[int]] = {}
    for cid, aid in session.execute(select(Contact.id, Contact.account_id)):
        contacts.setdefault(aid, []).append(cid)
    first = (session.scalar(select(func.max(Lead.id))) or 0) + 1
    leads, touches = [], []
    kinds = ["page_view", "pdf_download", "demo_booking", "expo_scan", "wecom_message", "email_open", "meeting"]
    for i in range(n):
        aid, segment, industry = r.choice(accounts)
        scenario = segments.get(segment) or industries.get(industry) or "hospital_procurement"
        created = now - timedelta(hours=r.uniform(0.5, 48))
        value = int(round(r.lognormvariate(12.2, 0.9), -3))
        lid = first + i
        leads.append({"id": lid, "name": f"bench lead {i}", "account_id": aid, "contact_id": None, "source": "website",
                      "status": "new", "scenario": scenario, "value_cny": value, "owner_id": None, "created_at": created,
                      "first_follow_up_at": None})
        for _ in range(r.randint(0, 6)):
            cid = r.choice(contacts.get(aid) or [None])
            kind = r.choices(kinds, weights=[50, 12, 6, 6, 10, 12, 4])[0]
            touches.append({"account_id": aid, "contact_id": cid, "lead_id": lid, "kind": kind, "channel": "website",
                            "occurred_at": now - timedelta(hours=r.uniform(0, 240)),
                            "asset": "产品页: 平台" if kind == "page_view" else None,
                            "dwell_s": 60 if kind == "page_view" else None})
    for i in range(0, len(leads), 2000):
        session.execute(insert(Lead), leads[i:i + 2000])
    for i in range(0, len(touches), 5000):
        session.execute(insert(Touchpoint), touches[i:i + 5000])
    session.commit()
    return [x["id"] for x in leads]


def bench_leads(*, scale: int = 10, n_leads: int = 10_000, url: str | None = None) -> dict[str, Any]:
    from tools.calls import recompute_call_metrics
    from tools.capability import ensure_profiles
    from tools.routing import route_leads
    from tools.signals import run_signals

    now = datetime(AS_OF.year, AS_OF.month, AS_OF.day, 12)
    out: dict[str, Any] = {"scale": scale, "n_leads": n_leads}
    with tempfile.TemporaryDirectory(prefix="repcopilot-leads-") as tmp:
        engine = make_engine(url or f"sqlite:///{Path(tmp) / 'leads.db'}")
        upgrade_schema(engine)
        t0 = time.perf_counter()
        build_demo(engine, seed=7, scale=scale, as_of=AS_OF)
        with session_factory(engine)() as s:
            recompute_call_metrics(s)
            s.commit()
            ensure_profiles(s, now=now)
            s.commit()
        with session_factory(engine)() as s:
            # the demo's own unassigned new leads are routed first (not timed) so the timed run is exactly n_leads
            ctx = ToolContext(user=get_user(s, "wangjianhua"), session=s, language="en", clock=lambda: now)
            route_leads(ctx=ctx)
            s.commit()
            add_new_leads(s, n=n_leads, now=now)
        out["setup_s"] = round(time.perf_counter() - t0, 1)
        with session_factory(engine)() as s:
            ctx = ToolContext(user=get_user(s, "wangjianhua"), session=s, language="en", clock=lambda: now)
            t = time.perf_counter()
            report = route_leads(ctx=ctx)
            s.commit()
            route_s = time.perf_counter() - t
            out["routed"] = report.routed
            out["by_kind"] = report.by_kind
            out["route_s"] = round(route_s, 3)
            out["leads_per_s"] = round(report.routed / route_s, 1)
            out["decisions_stored"] = s.scalar(select(func.count()).select_from(RoutingDecision))
        with session_factory(engine)() as s:
            ctx = ToolContext(user=get_user(s, "wangjianhua"), session=s, language="en", clock=lambda: now)
            day_touches = s.scalar(select(func.count()).select_from(Touchpoint).where(
                Touchpoint.occurred_at >= now - timedelta(days=1), Touchpoint.occurred_at <= now))
            t = time.perf_counter()
            run = run_signals(ctx=ctx, since=now - timedelta(days=1), until=now)
            s.commit()
            out["signals_day_s"] = round(time.perf_counter() - t, 3)
            out["signals_touchpoints_in_day"] = day_touches
            out["signals_leads_checked"] = run.leads_checked
            out["signals_fired"] = run.fired
            out["signals_new_alerts"] = run.new_alerts
        engine.dispose()
    out["goal_leads_per_s"] = GOAL_LEADS_PER_S
    out["goal_signals_s"] = GOAL_SIGNALS_S
    out["within_goals"] = out["leads_per_s"] >= GOAL_LEADS_PER_S and out["signals_day_s"] < GOAL_SIGNALS_S
    return out
