"""Next best actions: the rules evaluated for a lead, with evidence and confidence, each logged once a day."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from crm.models import AISuggestion, Lead, Opportunity
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.leads.access import get_visible_lead
from tools.leads.config import OPEN_STAGES, SUGGESTION_KIND_PREFIX, load_intent_config
from tools.leads.rules import RULE_CHECKS, RuleHit, RuleInput
from tools.leads.touches import LeadTouches, Touch, load_touches
from tools.text import KIND_LABELS, STATUS_LABELS, fmt_time, label, pick


@dataclass
class Suggestion:
    rule: str  # the rule id in tools/intent.yaml
    text: str  # in the asker's language
    evidence: list[Evidence]  # up to 5 events (counts only in anonymized mode)
    confidence: float
    suggestion_id: int | None = None  # the AISuggestion row that logs it
    status: str = "shown"  # shown / adopted / dismissed / expired (when already decided today)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "text": self.text, "evidence": [e.to_json() for e in self.evidence],
                "confidence": self.confidence, "suggestion_id": self.suggestion_id, "status": self.status}


def local_day_start(now: datetime, offset_hours: float) -> datetime:
    """Start of the calendar day (in the configured local time) containing ``now``, as naive UTC."""
    offset = timedelta(hours=offset_hours)
    local = now + offset
    return local.replace(hour=0, minute=0, second=0, microsecond=0) - offset


def evaluate_rules(ctx: ToolContext, lead: Lead, touches: LeadTouches, now: datetime) -> list[tuple[dict[str, Any], RuleHit]]:
    """(rule config, hit) for every rule that fires, in the configured order. No logging."""
    cfg = load_intent_config()
    has_open = ctx.session.scalar(select(Opportunity.id).where(
        Opportunity.lead_id == lead.id, Opportunity.stage.in_(OPEN_STAGES)).limit(1)) is not None
    inp = RuleInput(lead, [t for t in touches.usable if t.occurred_at <= now],
                    sorted([t.occurred_at for t in touches.usable] + touches.excluded_times), now, has_open,
                    cfg["follow_up_hours"], timedelta(hours=cfg["day_offset_hours"]))
    hits = []
    for rule in cfg["rules"]:
        hit = RULE_CHECKS[rule["check"]](inp, rule.get("params", {}))
        if hit is not None:
            hits.append((rule, hit))
    return hits


def _lead_evidence(lead: Lead, language: str) -> Evidence:
    if lead.first_follow_up_at is None:
        text = pick(language, f"线索创建于 {fmt_time(lead.created_at)},来源 {lead.source},尚未跟进",
                    f"lead created {fmt_time(lead.created_at)} from {lead.source}, not followed up yet")
    else:
        text = pick(language, f"线索状态:{label(STATUS_LABELS, lead.status, language)}",
                    f"lead status: {label(STATUS_LABELS, lead.status, language)}")
    return Evidence("lead", str(lead.id), fmt_time(lead.created_at), text)


def _aggregate_evidence(rule_id: str, touches: list[Touch], language: str) -> Evidence:
    counts = Counter(t.kind for t in touches)
    parts = [f"{label(KIND_LABELS, k, language)} × {n}" for k, n in sorted(counts.items())]
    return Evidence("aggregate", rule_id, None, pick(language, "依据(汇总):", "based on (counts): ") + ", ".join(parts))


def _suggestions(ctx: ToolContext, lead: Lead, touches: LeadTouches, now: datetime) -> list[Suggestion]:
    cfg = load_intent_config()
    day_start = local_day_start(now, cfg["day_offset_hours"])
    out = []
    for rule, hit in evaluate_rules(ctx, lead, touches, now):
        fill = hit.fill
        text = (rule["text_zh"] if ctx.language == "zh" else rule["text_en"]).format(**fill)
        full = [t.evidence(ctx.language) for t in hit.touches[:5]]
        if hit.lead_evidence:
            full = [_lead_evidence(lead, ctx.language), *full][:5]
        shown = full
        if ctx.anonymized:
            shown = ([_aggregate_evidence(rule["id"], hit.touches, ctx.language)] if hit.touches else []) + \
                    ([_lead_evidence(lead, ctx.language)] if hit.lead_evidence else [])
        confidence = round(min(0.95, rule["confidence"] + rule.get("confidence_step", 0.0) * max(0, hit.extra_events)), 2)
        kind = SUGGESTION_KIND_PREFIX + rule["id"]
        row = ctx.session.scalar(select(AISuggestion).where(
            AISuggestion.lead_id == lead.id, AISuggestion.kind == kind,
            AISuggestion.created_at >= day_start, AISuggestion.created_at < day_start + timedelta(days=1))
            .order_by(AISuggestion.id).limit(1))
        if row is None:  # log each suggestion shown, with its evidence — once per lead, rule and day
            row = AISuggestion(user_id=lead.owner_id or ctx.user.id, kind=kind, lead_id=lead.id, account_id=lead.account_id,
                               text=text, evidence=[e.to_json() for e in full], confidence=confidence, status="shown",
                               created_at=now)
            ctx.session.add(row)
            ctx.session.flush()
        out.append(Suggestion(rule["id"], text, shown, confidence, row.id, row.status))
    return out


def next_best_action(*, ctx: ToolContext, lead_id: int) -> list[Suggestion]:
    """The next best actions for a lead from the rules in tools/intent.yaml, each with its
    evidence and confidence. Each one shown is logged as an AISuggestion (status 'shown'),
    once per lead, rule and day; the caller commits."""
    lead = get_visible_lead(ctx, lead_id)
    now = ctx.now()
    return _suggestions(ctx, lead, load_touches(ctx, lead, until=now), now)
