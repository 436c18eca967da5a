"""A one-screen summary of a lead: facts, intent, last touches, opportunity and next best actions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from crm.models import Account, Contact, Lead, Opportunity, User
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.leads.access import get_visible_lead
from tools.leads.actions import Suggestion, _suggestions
from tools.leads.config import OPEN_STAGES, load_intent_config
from tools.leads.score import IntentScore, _intent
from tools.leads.touches import load_touches
from tools.text import (
    KIND_LABELS,
    STAGE_LABELS,
    STATUS_LABELS,
    TIER_LABELS,
    fmt_cny,
    label,
    pick,
)

# -- summary ----------------------------------------------------------------------------------

@dataclass
class LeadFacts:
    lead_id: int
    name: str
    account_id: int
    account: str
    account_en: str | None
    industry: str
    segment: str
    region_zh: str
    region_en: str
    owner: str | None  # the owner's name (zh), None when unassigned
    owner_en: str | None
    status: str
    source: str
    value_cny: int
    created_at: str
    first_follow_up_at: str | None
    hours_to_first_follow_up: float | None
    followed_up_within_72h: bool | None  # None: not followed up yet and still inside the 72 h
    contact: str | None  # name only — no phone, no e-mail
    contact_title: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class OpportunityBrief:
    id: int
    name: str
    stage: str
    amount_cny: int
    created_at: str
    is_open: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LeadSummary:
    lead: LeadFacts
    intent: IntentScore
    last_touches: list[Evidence]  # the 5 latest usable touches (none in anonymized mode)
    opportunity: OpportunityBrief | None
    suggestions: list[Suggestion]

    @property
    def lead_id(self) -> int:
        return self.lead.lead_id

    @property
    def facts(self) -> dict[str, Any]:
        return self.lead.to_json()

    @property
    def actions(self) -> list[dict[str, Any]]:
        """The suggestions as JSON (``rule``, ``text``, ``evidence``, ``confidence`` …)."""
        return [s.to_json() for s in self.suggestions]

    def to_json(self) -> dict[str, Any]:
        return {"lead": self.facts, "intent": self.intent.to_json(), "last_touches": [e.to_json() for e in self.last_touches],
                "opportunity": self.opportunity.to_json() if self.opportunity else None, "suggestions": self.actions}

    def render(self, language: str) -> str:
        """A short markdown answer: facts, intent with its evidence, last touches, next actions."""
        f = self.lead
        lines = [f"**{f.name}** (#{f.lead_id})", _account_line(f, language)]
        if f.contact:
            lines.append(pick(language, f"联系人:{f.contact}({f.contact_title})", f"Contact: {f.contact} ({f.contact_title})"))
        lines.append(_follow_up_line(f, language))
        if self.opportunity:
            lines.append(_opportunity_line(self.opportunity, language))
        lines.extend(_intent_lines(self.intent, language))
        lines.extend(_last_touch_lines(self.last_touches, language))
        lines.extend(_suggestion_lines(self.suggestions, language))
        return "  \n".join(lines)  # markdown line breaks


def _account_line(f: LeadFacts, language: str) -> str:
    """Account, segment, region, owner, status and value."""
    owner = (f.owner if language == "zh" else f.owner_en) or pick(language, "未分配", "unassigned")
    region = f.region_zh if language == "zh" else f.region_en
    return pick(language,
                f"客户:{f.account}({f.segment},{region})· 负责人:{owner} · 状态:{label(STATUS_LABELS, f.status, 'zh')} · "
                f"预估金额:{fmt_cny(f.value_cny, 'zh')}",
                f"Account: {f.account_en or f.account} ({f.segment}, {region}) · owner: {owner} · status: {f.status} · "
                f"value: {fmt_cny(f.value_cny, 'en')}")


def _follow_up_line(f: LeadFacts, language: str) -> str:
    """When the lead was created and whether (and how fast) it was followed up."""
    def t(a, b):
        return pick(language, a, b)
    created = f.created_at[:16]
    if not f.first_follow_up_at:
        state = t("已超过72小时仍未跟进", "not followed up, past 72 h") if f.followed_up_within_72h is False else \
            t("尚未跟进", "not followed up yet")
        return t(f"创建:{created} · {state}", f"Created {created} · {state}")
    within = t("72小时内已跟进", "followed up within 72 h") if f.followed_up_within_72h else \
        t("未在72小时内跟进", "not followed up within 72 h")
    return t(f"创建:{created} · 首次跟进:{f.first_follow_up_at[:16]}({f.hours_to_first_follow_up:.0f}小时,{within})",
             f"Created {created} · first follow-up {f.first_follow_up_at[:16]} "
             f"({f.hours_to_first_follow_up:.0f} h, {within})")


def _opportunity_line(o: OpportunityBrief, language: str) -> str:
    stage = label(STAGE_LABELS, o.stage, language)
    return pick(language,
                f"商机 #{o.id}:{stage} · {fmt_cny(o.amount_cny, 'zh')}" + ("" if o.is_open else "(已关闭)"),
                f"Opportunity #{o.id}: {stage} · {fmt_cny(o.amount_cny, 'en')}" + ("" if o.is_open else " (closed)"))


def _intent_lines(i: IntentScore, language: str) -> list[str]:
    """The CBI with its tier and confidence, then why (counts only in anonymized mode), then the consent note."""
    def t(a, b):
        return pick(language, a, b)
    lines = [t(f"意向指数(CBI):**{i.score}**/100,等级 {i.tier}({label(TIER_LABELS, i.tier, 'zh')}),置信度 {i.confidence:.2f}",
               f"Intent score (CBI): **{i.score}**/100, tier {i.tier} ({label(TIER_LABELS, i.tier, 'en')}), "
               f"confidence {i.confidence:.2f}")]
    if i.anonymized:
        lines.extend(_anonymized_count_lines(i, language))
    elif i.top_events:
        lines.append(t("评分依据:", "Why this score:"))
        lines.extend(f"- {e.time} {e.text} (+{e.weight:.1f})" for e in i.top_events)
    if i.excluded_without_consent:
        lines.append(t(f"({i.excluded_without_consent} 条未授权联系人的行为未计入、不展示)",
                       f"({i.excluded_without_consent} events of contacts without consent were left out)"))
    return lines


def _anonymized_count_lines(i: IntentScore, language: str) -> list[str]:
    """Anonymized aggregate mode: the notice and the scored events' counts per kind."""
    counts = ", ".join(f"{label(KIND_LABELS, k, language)} × {n}" for k, n in i.counts_by_kind.items())
    lines = [pick(language, "(匿名汇总模式:不展示个人行为明细)", "(anonymized aggregate mode: no individual events shown)")]
    if counts:
        lines.append(pick(language, f"计分行为汇总:{counts}", f"Events scored: {counts}"))
    return lines


def _last_touch_lines(touches: list[Evidence], language: str) -> list[str]:
    if not touches:
        return []
    return [pick(language, "最近互动:", "Last touches:"), *(f"- {e.time} {e.text}" for e in touches)]


def _suggestion_lines(suggestions: list[Suggestion], language: str) -> list[str]:
    """Each next best action with its confidence, and its evidence indented below it."""
    if not suggestions:
        return []
    lines = [pick(language, "建议下一步:", "Next best action:")]
    for s in suggestions:
        lines.append(f"- {s.text}" + pick(language, f"(置信度 {s.confidence:.2f})", f" (confidence {s.confidence:.2f})"))
        lines.extend(f"  - {e.time + ' ' if e.time else ''}{e.text}" for e in s.evidence)
    return lines


def lead_summary(*, ctx: ToolContext, lead_id: int) -> LeadSummary:
    """Facts, intent score, last 5 touches, open opportunity and next best actions of one lead."""
    lead = get_visible_lead(ctx, lead_id)
    now = ctx.now()
    facts = _lead_facts(ctx, lead, now)
    brief = _opportunity_brief(ctx, lead)
    touches = load_touches(ctx, lead, until=now)
    last = [] if ctx.anonymized else [t.evidence(ctx.language) for t in reversed(touches.usable[-5:])]
    return LeadSummary(facts, _intent(ctx, lead, touches, now), last, brief, _suggestions(ctx, lead, touches, now))


def _follow_up_timing(lead: Lead, now: datetime, follow_up_hours: int) -> tuple[float | None, bool | None]:
    """(hours to the first follow-up, followed up within the deadline). Not followed up yet:
    (None, False) once past the deadline, (None, None) while still inside it."""
    deadline = timedelta(hours=follow_up_hours)
    if lead.first_follow_up_at is not None:
        hours = (lead.first_follow_up_at - lead.created_at).total_seconds() / 3600
        return hours, lead.first_follow_up_at - lead.created_at <= deadline
    return None, (False if now - lead.created_at > deadline else None)


def _lead_facts(ctx: ToolContext, lead: Lead, now: datetime) -> LeadFacts:
    """The lead's record, account, owner and contact — the contact neither named nor titled in anonymized mode."""
    account = ctx.session.get(Account, lead.account_id)
    owner = ctx.session.get(User, lead.owner_id) if lead.owner_id else None
    contact = ctx.session.get(Contact, lead.contact_id) if lead.contact_id else None
    hours, within = _follow_up_timing(lead, now, load_intent_config()["follow_up_hours"])
    shown_contact = None if ctx.anonymized else contact  # anonymized aggregate mode: no individual
    return LeadFacts(
        lead_id=lead.id, name=lead.name, account_id=account.id, account=account.name, account_en=account.name_en,
        industry=account.industry, segment=account.segment, region_zh=account.region.name_zh, region_en=account.region.name_en,
        owner=owner.name if owner else None, owner_en=owner.name_en if owner else None, status=lead.status, source=lead.source,
        value_cny=lead.value_cny, created_at=lead.created_at.isoformat(sep=" "),
        first_follow_up_at=lead.first_follow_up_at.isoformat(sep=" ") if lead.first_follow_up_at else None,
        hours_to_first_follow_up=round(hours, 1) if hours is not None else None, followed_up_within_72h=within,
        contact=shown_contact.name if shown_contact else None,
        contact_title=shown_contact.title if shown_contact else None)


def _opportunity_brief(ctx: ToolContext, lead: Lead) -> OpportunityBrief | None:
    """The lead's newest open opportunity, else its newest closed one, else None."""
    opps = list(ctx.session.scalars(select(Opportunity).where(Opportunity.lead_id == lead.id)
                                    .order_by(Opportunity.created_at.desc(), Opportunity.id.desc())))
    opp = next((o for o in opps if o.stage in OPEN_STAGES), opps[0] if opps else None)
    if opp is None:
        return None
    return OpportunityBrief(opp.id, opp.name, opp.stage, opp.amount_cny, opp.created_at.isoformat(sep=" "), opp.stage in OPEN_STAGES)
