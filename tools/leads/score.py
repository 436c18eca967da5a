"""The Customer Behaviour Intensity index (CBI, 0–100) of a lead."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crm.models import Lead
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.leads.access import get_visible_lead
from tools.leads.config import load_intent_config
from tools.leads.touches import LeadTouches, Touch, load_touches

# -- the CBI ----------------------------------------------------------------------------------

def touch_value(kind: str, dwell_s: int | None, cfg: dict[str, Any] | None = None) -> float:
    """Behaviour value of one event before decay: the kind's weight, plus the dwell bonus of a page view."""
    cfg = cfg or load_intent_config()
    value = float(cfg["weights"][kind])
    if kind == "page_view" and dwell_s:
        bonus = cfg["score"]["dwell_bonus"]
        value += min(bonus["max"], bonus["per_minute"] * max(0, dwell_s - bonus["from_s"]) / 60)
    return value


def decay(age_days: float, half_life_days: float) -> float:
    return 0.5 ** (max(0.0, age_days) / half_life_days)


def cbi_from_raw(raw: float, scale: float) -> int:
    return round(100 * (1 - math.exp(-raw / scale)))


def tier_of(score: int, tiers: dict[str, int]) -> str:
    return next(name for name, low in tiers.items() if score >= low)


@dataclass
class IntentScore:
    lead_id: int
    as_of: str
    score: int  # CBI 0–100
    tier: str  # S / A / B / C
    raw: float  # Σ weight × decay (× account factor), before the saturating map
    confidence: float  # 0–1, from the amount and recency of the events behind the score
    events_used: int
    counts_by_kind: dict[str, int]  # events used, per kind (group-level; shown in every mode)
    top_events: list[Evidence] = field(default_factory=list)  # up to 5, biggest contribution first
    excluded_without_consent: int = 0  # events of contacts without recorded consent: not scored, not shown
    anonymized: bool = False  # anonymized aggregate mode: no individual events
    note: str = ""  # privacy / evidence remarks in the asker's language

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["top_events"] = [e.to_json() for e in self.top_events]
        return data


def compute_intent(touches: list[Touch], now: datetime, cfg: dict[str, Any]) -> tuple[float, float, list[tuple[float, Touch]]]:
    """Pure: (raw, n_eff, [(contribution, touch)]) over the touches inside the score window."""
    sc = cfg["score"]
    since = now - timedelta(days=sc["window_days"])
    raw = n_eff = 0.0
    parts: list[tuple[float, Touch]] = []
    for t in touches:
        if t.occurred_at > now or t.occurred_at < since:
            continue
        d = decay((now - t.occurred_at).total_seconds() / 86400, sc["half_life_days"]) * t.factor
        contribution = touch_value(t.kind, t.dwell_s, cfg) * d
        raw += contribution
        n_eff += d
        parts.append((contribution, t))
    return raw, n_eff, parts


def confidence_from_n_eff(n_eff: float, cfg: dict[str, Any]) -> float:
    """Pure: the score's confidence (0–1) from the recency-weighted number of events behind it."""
    conf = cfg["score"]["confidence"]
    return round(min(conf["max"], 1 - math.exp(-n_eff / conf["events_for_63pct"])), 2)


def _intent(ctx: ToolContext, lead: Lead, touches: LeadTouches, now: datetime) -> IntentScore:
    cfg = load_intent_config()
    sc = cfg["score"]
    raw, n_eff, parts = compute_intent(touches.usable, now, cfg)
    score = cbi_from_raw(raw, sc["scale"])
    confidence = confidence_from_n_eff(n_eff, cfg)
    since = now - timedelta(days=sc["window_days"])
    excluded = sum(1 for t in touches.excluded_times if since <= t <= now)
    counts = dict(sorted(Counter(t.kind for _, t in parts).items()))
    top = sorted(parts, key=lambda p: (-p[0], -p[1].occurred_at.timestamp()))[: sc["top_events"]]
    notes = []
    if ctx.anonymized:
        notes.append(ctx.t("匿名汇总模式:只给出分组统计,不展示个人行为明细。",
                           "Anonymized aggregate mode: group-level counts only, no individual events."))
    if excluded:
        notes.append(ctx.t(f"另有 {excluded} 条行为来自未授权跟踪的联系人,未计入评分、不予展示。",
                           f"{excluded} more events come from contacts who have not consented to tracking; "
                           "they are not scored or shown."))
    if not parts:
        notes.append(ctx.t("近期没有可用的客户行为,评分仅供参考。", "No usable recent customer behaviour; the score means little."))
    return IntentScore(
        lead_id=lead.id, as_of=now.isoformat(sep=" ", timespec="minutes"), score=score, tier=tier_of(score, sc["tiers"]),
        raw=round(raw, 6), confidence=confidence, events_used=len(parts), counts_by_kind=counts,
        top_events=[] if ctx.anonymized else [t.evidence(ctx.language, c) for c, t in top],
        excluded_without_consent=excluded, anonymized=ctx.anonymized, note=" ".join(notes))


def intent_score(*, ctx: ToolContext, lead_id: int, as_of: datetime | None = None) -> IntentScore:
    """The lead's CBI (0–100) as of ``as_of`` (default: now), its tier, the top contributing
    events and a confidence. Formula and weights: tools/intent.yaml."""
    lead = get_visible_lead(ctx, lead_id)
    now = as_of or ctx.now()
    since = now - timedelta(days=load_intent_config()["score"]["window_days"])
    return _intent(ctx, lead, load_touches(ctx, lead, until=now, since=since), now)
