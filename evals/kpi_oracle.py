"""An independent answer for every KPI: hand-written SQL fetching raw rows, arithmetic in Python.

It shares nothing with tools/kpi/compiler.py except the meaning of the metrics, so a
compiler bug cannot hide behind itself.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import text

RAW = {
    "leads": """
        SELECT l.created_at AS t, l.first_follow_up_at AS ffu, l.status, l.source AS lead_source, l.owner_id AS owner,
               r.code AS region, a.region_id, a.industry, a.segment, u.login AS rep, tm.name AS team
        FROM leads l JOIN accounts a ON a.id = l.account_id JOIN regions r ON r.id = a.region_id
        LEFT JOIN users u ON u.id = l.owner_id LEFT JOIN teams tm ON tm.id = u.team_id""",
    "opportunities": """
        SELECT o.created_at, o.close_date, o.won, o.amount_cny, o.stage, o.owner_id AS owner,
               r.code AS region, a.region_id, a.industry, a.segment, u.login AS rep, tm.name AS team
        FROM opportunities o JOIN accounts a ON a.id = o.account_id JOIN regions r ON r.id = a.region_id
        JOIN users u ON u.id = o.owner_id LEFT JOIN teams tm ON tm.id = u.team_id""",
    "renewals": """
        SELECT n.due_date AS t, n.high_value, n.renewed, n.owner_id AS owner, r.code AS region, a.region_id,
               a.industry, a.segment, u.login AS rep, tm.name AS team
        FROM renewals n JOIN accounts a ON a.id = n.account_id JOIN regions r ON r.id = a.region_id
        JOIN users u ON u.id = n.owner_id LEFT JOIN teams tm ON tm.id = u.team_id""",
    "ai_suggestions": """
        SELECT s.created_at AS t, s.status, s.user_id AS owner, u.login AS rep, tm.name AS team, r.code AS region
        FROM ai_suggestions s JOIN users u ON u.id = s.user_id LEFT JOIN teams tm ON tm.id = u.team_id
        LEFT JOIN regions r ON r.id = tm.region_id""",
    "alerts": """
        SELECT al.created_at AS t, al.status, al.escalated_at, al.rule AS signal_rule, al.owner_id AS owner,
               u.login AS rep, tm.name AS team, r.code AS region
        FROM alerts al JOIN users u ON u.id = al.owner_id LEFT JOIN teams tm ON tm.id = u.team_id
        LEFT JOIN regions r ON r.id = tm.region_id""",
    "calls": """
        SELECT c.started_at AS t, c.rep_id AS owner, u.login AS rep, tm.name AS team, r.code AS region, a.industry
        FROM calls c JOIN users u ON u.id = c.rep_id LEFT JOIN teams tm ON tm.id = u.team_id
        LEFT JOIN regions r ON r.id = tm.region_id LEFT JOIN accounts a ON a.id = c.account_id""",
    "accounts": """
        SELECT a.id, a.owner_id AS owner, r.code AS region, a.industry, a.segment, u.login AS rep
        FROM accounts a JOIN regions r ON r.id = a.region_id LEFT JOIN users u ON u.id = a.owner_id""",
    "touchpoints": "SELECT account_id, channel, occurred_at FROM touchpoints",
    "call_metrics": """
        SELECT c.started_at AS t, cm.name, cm.value, c.rep_id AS owner, u.login AS rep, tm.name AS team,
               r.code AS region, a.industry
        FROM call_metrics cm JOIN calls c ON c.id = cm.call_id JOIN users u ON u.id = c.rep_id
        LEFT JOIN teams tm ON tm.id = u.team_id LEFT JOIN regions r ON r.id = tm.region_id
        LEFT JOIN accounts a ON a.id = c.account_id""",
    "users": """
        SELECT u.id AS owner, u.login AS rep, u.hire_date AS t, u.role, tm.name AS team, r.code AS region
        FROM users u JOIN teams tm ON tm.id = u.team_id JOIN regions r ON r.id = tm.region_id""",
    "answer_feedback": """
        SELECT f.created_at AS t, f.rating, f.tool, f.language, f.user_id AS owner, u.login AS rep,
               tm.name AS team, r.code AS region
        FROM answer_feedback f JOIN users u ON u.id = f.user_id LEFT JOIN teams tm ON tm.id = u.team_id
        LEFT JOIN regions r ON r.id = tm.region_id""",
    "wins": "SELECT owner_id, close_date FROM opportunities WHERE won = :yes",
    "intent_scores": """
        SELECT s.as_of AS t, s.score, l.owner_id AS owner, l.source AS lead_source,
               r.code AS region, a.region_id, a.industry, a.segment, u.login AS rep, tm.name AS team
        FROM intent_scores s JOIN leads l ON l.id = s.lead_id JOIN accounts a ON a.id = l.account_id
        JOIN regions r ON r.id = a.region_id
        LEFT JOIN users u ON u.id = l.owner_id LEFT JOIN teams tm ON tm.id = u.team_id""",
}


CALL_METRICS = ("pain_point_pause_s", "why_question_share", "talk_ratio", "question_rate_per_10min")


def _as_dt(v):
    if isinstance(v, datetime):
        return v
    if isinstance(v, date):
        return datetime.combine(v, datetime.min.time())
    return datetime.fromisoformat(str(v)) if v is not None else None


def _bucket(grain: str, t: datetime) -> str:
    if grain == "month":
        return f"{t.year}-{t.month:02d}"
    if grain == "quarter":
        return f"{t.year}-Q{(t.month - 1) // 3 + 1}"
    if grain == "week":
        return (t - timedelta(days=t.weekday())).date().isoformat()
    raise NotImplementedError(grain)


def expected(session, *, metric: str, scope, spec) -> dict:
    """{'value': …, 'rows': {dims tuple: value}} for a spec, by hand."""
    fetch = lambda name, **kw: [dict(r._mapping) for r in session.execute(text(RAW[name]), kw)]  # noqa: E731
    lo = _as_dt(spec.period.start) if spec.period else None
    hi = _as_dt(spec.period.end) if spec.period else None

    def in_period(t) -> bool:
        return spec.period is None or (t is not None and lo <= _as_dt(t) < hi)

    def visible(row) -> bool:
        if scope.everything:
            return True
        if row["owner"] in scope.owner_ids:
            return True
        lead_based = metric.startswith("lead_") or metric == "avg_intent_score"  # unassigned leads: their region's
        return lead_based and row["owner"] is None and row.get("region_id") in _region_ids(session, scope)

    def keep(row) -> bool:
        return visible(row) and all(row.get(d) in vs for d, vs in spec.filters.items())

    groups: dict[tuple, list] = defaultdict(list)

    def add(row, item) -> None:
        key = tuple(_bucket(d, _as_dt(row["t"])) if d in ("month", "quarter", "week") else row[d] for d in spec.dimensions)
        groups[key].append(item)

    if metric in ("lead_followup_72h_rate", "lead_conversion_rate"):
        for r in fetch("leads"):
            if keep(r) and in_period(r["t"]):
                if metric == "lead_conversion_rate":
                    hit = r["status"] == "converted"
                else:
                    hit = r["ffu"] is not None and (_as_dt(r["ffu"]) - _as_dt(r["t"])) <= timedelta(hours=72)
                add(r, hit)
        return _finish(groups, lambda xs: sum(xs) / len(xs))
    if metric in ("win_rate", "avg_sales_cycle_days", "pipeline_value_cny"):
        for r in fetch("opportunities"):
            if metric == "pipeline_value_cny":
                r["t"] = r["created_at"]
                if keep(r) and in_period(r["t"]) and r["won"] is None:
                    add(r, r["amount_cny"])
                continue
            r["t"] = r["close_date"]
            if not (keep(r) and in_period(r["t"]) and r["won"] is not None):
                continue
            if metric == "win_rate":
                add(r, bool(r["won"]))
            elif r["won"]:
                add(r, (_as_dt(r["close_date"]).date() - _as_dt(r["created_at"]).date()).days)  # calendar days
        agg = sum if metric == "pipeline_value_cny" else (lambda xs: sum(xs) / len(xs))
        return _finish(groups, agg)
    if metric == "high_value_renewal_rate":
        for r in fetch("renewals"):
            if keep(r) and in_period(r["t"]) and r["high_value"] and r["renewed"] is not None:
                add(r, bool(r["renewed"]))
        return _finish(groups, lambda xs: sum(xs) / len(xs))
    if metric == "ai_suggestion_adoption_rate":
        for r in fetch("ai_suggestions"):
            if keep(r) and in_period(r["t"]) and r["status"] in ("adopted", "dismissed", "expired"):
                add(r, r["status"] == "adopted")
        return _finish(groups, lambda xs: sum(xs) / len(xs))
    if metric.startswith("alert_"):
        for r in fetch("alerts"):
            if not (keep(r) and in_period(r["t"])):
                continue
            decided = r["status"] in ("adopted", "dismissed", "expired")
            if metric == "alert_volume":
                add(r, 1)
            elif metric == "alert_escalation_rate":
                add(r, r["escalated_at"] is not None)
            elif decided:
                add(r, r["status"] == ("adopted" if metric == "alert_adoption_rate" else "expired"))
        if metric == "alert_volume":  # a count: no alerts is 0, not "no data"
            out = _finish(groups, sum)
            return out if out["value"] is not None or spec.dimensions else {"value": 0, "rows": {}}
        return _finish(groups, lambda xs: sum(xs) / len(xs))
    if metric == "calls_per_rep":
        for r in fetch("calls"):
            if keep(r) and in_period(r["t"]):
                add(r, r["owner"])
        return _finish(groups, lambda xs: len(xs) / len(set(xs)))
    if metric == "journey_data_coverage":
        channels: dict[int, set] = defaultdict(set)
        for tp in fetch("touchpoints"):
            if in_period(tp["occurred_at"]):
                channels[tp["account_id"]].add(tp["channel"])
        for r in fetch("accounts"):
            if keep(r) and r["id"] in channels:
                add(r, len(channels[r["id"]]) >= 3)
        return _finish(groups, lambda xs: sum(xs) / len(xs))
    if metric == "new_hire_first_deal_days":
        first: dict[int, datetime] = {}
        for w in fetch("wins", yes=True):
            d = _as_dt(w["close_date"])
            first[w["owner_id"]] = min(first.get(w["owner_id"], d), d)
        for r in fetch("users"):
            if r["role"] == "rep" and keep(r) and in_period(r["t"]) and r["owner"] in first:
                add(r, (first[r["owner"]] - _as_dt(r["t"])).total_seconds() / 86400)
        return _finish(groups, lambda xs: sum(xs) / len(xs))
    if metric in CALL_METRICS:  # conversation metrics: the average of the calls' stored values
        for r in fetch("call_metrics"):
            if r["name"] == metric and r["value"] is not None and keep(r) and in_period(r["t"]):
                add(r, r["value"])
        return _finish(groups, lambda xs: sum(xs) / len(xs))
    if metric == "avg_intent_score":
        for r in fetch("intent_scores"):
            if keep(r) and in_period(r["t"]):
                add(r, r["score"])
        return _finish(groups, lambda xs: sum(xs) / len(xs))
    if metric == "answer_helpfulness":  # the share of 👍 among the ratings given in the period
        for r in fetch("answer_feedback"):
            if keep(r) and in_period(r["t"]) and r["rating"] in (1, -1):
                add(r, r["rating"] == 1)
        return _finish(groups, lambda xs: sum(xs) / len(xs))
    raise NotImplementedError(metric)


def ranked(rows: dict, spec) -> list:
    """The oracle's top/bottom-N values: people and teams ranked, the unassigned (None) bucket never."""
    people = [i for i, d in enumerate(spec.dimensions) if d in ("rep", "team")]
    kept = [(k, v) for k, v in rows.items() if v is not None and all(k[i] is not None for i in people)]
    kept.sort(key=lambda kv: kv[1], reverse=spec.order == "desc")
    return [v for _, v in kept[: spec.top_n]]


def _region_ids(session, scope) -> set:
    return set(scope.region_ids)


def _finish(groups, agg) -> dict:
    rows = {k: agg(v) for k, v in groups.items() if v}
    everything = [x for v in groups.values() for x in v]
    return {"value": agg(everything) if everything else None, "rows": rows}


__all__ = ["expected", "ranked", "statistics"]
