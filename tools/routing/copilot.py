"""For the copilot: "who should take this lead?" / "why was it routed to me?"."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from core.errors import NotFoundError
from crm.models import (
    Account,
    RoutingDecision,
)
from tools.context import ToolContext
from tools.routing.batch import load_batch
from tools.routing.config import FACTORS, active_weights, load_routing_config
from tools.routing.engine import _confidence, _reasons, decide
from tools.routing.explain import Explanation, event_lines, explain_decision
from tools.routing.intent import batch_intent
from tools.routing.scoring import effective_weights, score_reps


@dataclass
class CandidateView:
    login: str
    name: str
    score: float
    parts: dict[str, float]  # factor → 0–100
    reasons: list[str]  # one line per factor, in the asker's language

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RoutingSuggestion:
    lead_id: int
    lead: str
    kind: str  # what the engine would do: auto / dual / nurture / review
    kind_label: str
    intent_score: int
    tier: str
    candidates: list[CandidateView]  # best first
    specialist: str | None
    review_reasons: list[str]
    events: list[dict[str, Any]]  # ≤ 5 (counts per kind in anonymized mode)
    confidence: float
    weights_version: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def who_should_take(*, ctx: ToolContext, lead_id: int, limit: int = 3) -> RoutingSuggestion:
    """Who the engine would route a lead to, right now, and why (read-only: nothing is stored).
    A manager or admin for any lead they may see; a rep for their own leads."""
    from tools.leads import get_visible_lead

    lead = get_visible_lead(ctx, lead_id)
    cfg = load_routing_config()
    now = ctx.now()
    version, base = active_weights(ctx.session)
    batch = load_batch(ctx.session, now)
    account = ctx.session.get(Account, lead.account_id)
    intent = batch_intent(ctx.session, [lead], now)[lead.id]
    weights = effective_weights(base, intent.tier, cfg)
    ranked = score_reps(batch, scenario=lead.scenario, account_id=account.id, segment=account.segment,
                        region_id=account.region_id, international=account.international, weights=weights, cfg=cfg)
    d = decide(lead, account, intent, ranked, batch, cfg, now)
    labels = cfg["labels"]
    lang = "zh" if ctx.language == "zh" else "en"
    cands = []
    for total, _load, rep, parts in ranked[:max(1, min(limit, 10))]:
        reasons = [f"{labels[k][lang]}: {parts[k]:.0f} × {weights[k]:.2f}" for k in FACTORS]
        cands.append(CandidateView(rep.login, rep.name if lang == "zh" else rep.name_en, round(total, 1),
                                   {k: round(v, 1) for k, v in parts.items()}, reasons))
    events = _reasons(intent, ranked, weights, d)["events"]
    return RoutingSuggestion(lead.id, lead.name, d.kind, cfg["kinds"][d.kind][lang], intent.score, intent.tier, cands,
                             d.specialist.rep.login if d.specialist else None, d.review, event_lines(ctx, events),
                             _confidence(intent, ranked) if ranked else 0.0, version)


def explain_lead_routing(*, ctx: ToolContext, lead_id: int) -> Explanation:
    """"Why was this lead routed to me?": the explanation of the lead's latest stored routing decision."""
    from core.errors import PermissionDenied
    from tools.leads import get_visible_lead

    d = ctx.session.scalar(select(RoutingDecision).where(RoutingDecision.lead_id == lead_id, RoutingDecision.status != "dry_run")
                           .order_by(RoutingDecision.id.desc()).limit(1))
    try:
        lead = get_visible_lead(ctx, lead_id)
    except PermissionDenied:
        if d is None or ctx.user.id not in (d.rep_id, d.specialist_id):
            raise  # a rep sees why a lead is proposed to them while it waits for review, not any other lead's routing
        lead = None
    if d is None:
        named = lead.name if lead is not None else ""  # "海口市第四人民医院 · 远程运维服务包"
        raise NotFoundError(ctx.t(f"线索 #{lead_id}{f'({named})' if named else ''} 还没有分配记录(它不是由分配引擎分配的)。",
                                  f"lead #{lead_id}{f' ({named})' if named else ''} has no routing decision "
                                  "(it was not assigned by the routing engine)."))
    return explain_decision(ctx=ctx, decision_id=d.id)
