"""The readable next-best-action rules: their inputs, hits and checks."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from crm.models import Lead
from tools.leads.config import CLOSED_LEAD_STATUSES
from tools.leads.touches import Touch

# -- next best actions ------------------------------------------------------------------------

@dataclass
class RuleInput:
    lead: Lead
    touches: list[Touch]  # usable, time order
    all_times: list[datetime]  # every touchpoint time incl. non-consented ones (for counts only)
    now: datetime
    has_open_opportunity: bool
    follow_up_hours: int
    day_offset: timedelta


@dataclass
class RuleHit:
    touches: list[Touch]  # the evidence events, up to 5
    fill: dict[str, Any]  # placeholders for the rule's texts
    extra_events: int = 0  # events beyond the minimum the rule needs (raises confidence)
    lead_evidence: bool = False  # the lead record itself is evidence (follow-up rules)


def _with_prefix(t: Touch, prefixes: list[str]) -> bool:
    return bool(t.asset) and any(t.asset.startswith(p) for p in prefixes)


def check_page_views_and_download(inp: RuleInput, p: dict[str, Any]) -> RuleHit | None:
    """≥ min_views product-page views and ≥ 1 PDF download within within_days."""
    since = inp.now - timedelta(days=p["within_days"])
    recent = [t for t in inp.touches if t.occurred_at >= since]
    views = [t for t in recent if t.kind == "page_view" and _with_prefix(t, p["page_prefixes"])]
    downloads = [t for t in recent if t.kind == "pdf_download"]
    if len(views) < p["min_views"] or not downloads:
        return None
    evidence = sorted(downloads[-1:] + views[-4:], key=lambda t: t.occurred_at)
    return RuleHit(evidence, {"days": p["within_days"], "views": len(views), "downloads": len(downloads)},
                   extra_events=len(views) - p["min_views"] + len(downloads) - 1)


def check_bid_unopened_then_policy(inp: RuleInput, p: dict[str, Any]) -> RuleHit | None:
    """A bid document sent within lookback_days, still unopened, and a policy article read at
    least unopened_days after it was sent."""
    since = inp.now - timedelta(days=p["lookback_days"])
    for sent in reversed([t for t in inp.touches if t.kind == "bid_doc_sent" and t.occurred_at >= since]):
        hit = _unopened_bid_then_policy(inp, p, sent, since)
        if hit is not None:
            return hit
    return None


def _unopened_bid_then_policy(inp: RuleInput, p: dict[str, Any], sent: Touch, since: datetime) -> RuleHit | None:
    """The hit for one sent bid document: never opened since, and policy articles read unopened_days later."""
    if any(t.kind == "bid_doc_open" and t.occurred_at >= sent.occurred_at for t in inp.touches):
        return None
    policy = [t for t in inp.touches if t.kind == "policy_article"
              and t.occurred_at >= sent.occurred_at + timedelta(days=p["unopened_days"])]
    if not policy:
        return None
    tender = [t for t in inp.touches if t.kind == "tender_notice" and since <= t.occurred_at <= sent.occurred_at]
    evidence = tender[-1:] + [sent] + policy[-3:]
    return RuleHit(evidence, {"unopened": (inp.now - sent.occurred_at).days, "article": policy[-1].asset or "—"},
                   extra_events=len(policy) - 1)


def check_tech_doc_streak_and_expo(inp: RuleInput, p: dict[str, Any]) -> RuleHit | None:
    """One contact reads technical documents streak_days calendar days in a row (within
    lookback_days) and an expo badge scan falls within expo_within_days of that streak."""
    since = inp.now - timedelta(days=p["lookback_days"])
    scans = [t for t in inp.touches if t.kind == "expo_scan" and t.occurred_at >= since]
    best: RuleHit | None = None
    for contact_id, by_day in _tech_doc_reads_by_contact(inp, p, since).items():
        for run in _consecutive_day_runs(sorted(by_day)):
            if len(run) < p["streak_days"]:
                continue
            hit = _streak_near_expo(run, by_day, contact_id, scans, p)
            if hit is not None and (best is None or hit.fill["streak"] > best.fill["streak"]):
                best = hit
    if best is not None:
        best.touches.sort(key=lambda t: t.occurred_at)
    return best


def _tech_doc_reads_by_contact(inp: RuleInput, p: dict[str, Any], since: datetime) -> dict[int, dict[date, Touch]]:
    """Per contact, the last technical-document view of each local calendar day since ``since``."""
    docs: dict[int, dict[date, Touch]] = {}
    for t in inp.touches:
        if t.kind == "page_view" and t.contact_id is not None and t.occurred_at >= since and _with_prefix(t, p["page_prefixes"]):
            docs.setdefault(t.contact_id, {})[(t.occurred_at + inp.day_offset).date()] = t
    return docs


def _consecutive_day_runs(days: list[date]) -> list[list[date]]:
    """Sorted days grouped into runs of consecutive calendar days."""
    runs: list[list[date]] = []
    for d in days:
        if runs and (d - runs[-1][-1]).days == 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


def _streak_near_expo(run: list[date], by_day: dict[date, Touch], contact_id: int, scans: list[Touch],
                      p: dict[str, Any]) -> RuleHit | None:
    """The hit for one reading streak when an expo scan falls within expo_within_days of it:
    the streak's last 4 reads and the scan — the reader's own first, then the one closest to the streak's end."""
    first, last = by_day[run[0]].occurred_at, by_day[run[-1]].occurred_at
    window = timedelta(days=p["expo_within_days"])
    near = [s for s in scans if first - window <= s.occurred_at <= last + window]
    if not near:
        return None
    near.sort(key=lambda s: (s.contact_id != contact_id, abs((s.occurred_at - last).total_seconds())))
    reader = by_day[run[-1]]
    return RuleHit([by_day[d] for d in run[-4:]] + [near[0]],
                   {"streak": len(run), "title": reader.title or "—"}, extra_events=len(run) - p["streak_days"])


def check_not_followed_up(inp: RuleInput, p: dict[str, Any]) -> RuleHit | None:
    """Not followed up yet and within warn_before_hours of (or past) the follow-up deadline."""
    lead = inp.lead
    if lead.first_follow_up_at is not None or lead.status in CLOSED_LEAD_STATUSES:
        return None
    age_h = (inp.now - lead.created_at).total_seconds() / 3600
    deadline = inp.follow_up_hours
    if age_h < deadline - p["warn_before_hours"]:
        return None
    if age_h >= deadline:
        fill = {"deadline_zh": f",已超过{deadline}小时跟进时限", "deadline_en": f", past the {deadline} h deadline"}
    else:
        left = math.ceil(deadline - age_h)
        fill = {"deadline_zh": f",距{deadline}小时时限还剩{left}小时", "deadline_en": f", {left} h left of the {deadline} h window"}
    return RuleHit([], {"age_h": int(age_h), **fill}, lead_evidence=True)


def check_low_activity(inp: RuleInput, p: dict[str, Any]) -> RuleHit | None:
    """An open lead (status in statuses, no open opportunity) at least quiet_days old without
    any customer touchpoint — consented or not, counted only — in the last quiet_days."""
    lead = inp.lead
    if lead.status not in p["statuses"] or inp.has_open_opportunity:
        return None
    since = inp.now - timedelta(days=p["quiet_days"])
    if lead.created_at > since or any(since < t <= inp.now for t in inp.all_times):
        return None
    last = [t for t in inp.touches if t.occurred_at <= inp.now][-1:]
    fill = {"quiet": p["quiet_days"], "last_zh": "", "last_en": ""}
    if last:
        day = last[0].occurred_at.strftime("%Y-%m-%d")
        fill.update(last_zh=f"(最近一次在{day})", last_en=f" (last on {day})")
    return RuleHit(last, fill, lead_evidence=not last)


RULE_CHECKS: dict[str, Callable[[RuleInput, dict[str, Any]], RuleHit | None]] = {
    "page_views_and_download": check_page_views_and_download,
    "bid_unopened_then_policy": check_bid_unopened_then_policy,
    "tech_doc_streak_and_expo": check_tech_doc_streak_and_expo,
    "not_followed_up": check_not_followed_up,
    "low_activity": check_low_activity,
}
