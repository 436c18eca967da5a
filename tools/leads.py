"""Leads: find one by name or id (bilingual, fuzzy), its intent score (CBI) with the events
behind it, and the next best actions from readable rules — access from the ToolContext only.

Privacy: touchpoints of contacts without recorded consent never enter an individual score or
its evidence; they are reported as a count. In anonymized aggregate mode no individual
events are shown at all.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from core.errors import NotFoundError, PermissionDenied
from crm.access import require_pipeline_access, visible_leads
from crm.models import Account, Contact, Lead, Opportunity, Touchpoint, User
from tools.context import ToolContext
from tools.evidence import Evidence

KIND_ZH = {"page_view": "浏览网页", "pdf_download": "下载PDF", "demo_booking": "预约演示", "expo_scan": "展会扫码",
           "wecom_message": "企业微信消息", "email_open": "打开邮件", "tender_notice": "招标公告", "bid_doc_sent": "发送投标方案",
           "bid_doc_open": "打开投标方案", "policy_article": "阅读政策文章", "call": "通话", "meeting": "会面"}


@lru_cache(maxsize=1)
def intent_config() -> dict[str, Any]:
    return yaml.safe_load(Path(__file__).with_name("intent.yaml").read_text(encoding="utf-8"))


@dataclass
class LeadMatch:
    lead_id: int
    name: str
    score: float


@dataclass
class IntentScore:
    score: int | None
    tier: str | None
    raw: float
    confidence: float
    top_events: list[Evidence] = field(default_factory=list)
    excluded_without_consent: int = 0
    anonymized: bool = False


@dataclass
class LeadSummary:
    lead_id: int
    facts: dict[str, Any]
    intent: IntentScore
    actions: list[dict[str, Any]]

    def render(self, language: str) -> str:
        zh = language == "zh"
        f, i = self.facts, self.intent
        lines = [f"**{f['name']}**"]
        lines.append((f"客户:{f['account']}({f['segment']},{f['region']})· 负责人:{f['owner'] or '未分配'} · 状态:{f['status']} · "
                      f"预估金额:¥{f['value_cny']:,}") if zh else
                     (f"Account: {f['account']} ({f['segment']}, {f['region']}) · owner: {f['owner'] or 'unassigned'} · "
                      f"status: {f['status']} · value: ¥{f['value_cny']:,}"))
        follow = f["followed_up_within_72h"]
        lines.append(("72小时内已跟进" if follow else ("尚未在72小时内跟进" if follow is False else "尚未跟进")) if zh else
                     ("followed up within 72 h" if follow else ("not followed up within 72 h" if follow is False else "not followed up yet")))
        if i.score is None:
            lines.append("意向指数:证据不足" if zh else "Intent score: not enough evidence")
        else:
            lines.append(f"意向指数(CBI):**{i.score}**,等级 {i.tier},置信度 {i.confidence:.2f}" if zh else
                         f"Intent score (CBI): **{i.score}**, tier {i.tier}, confidence {i.confidence:.2f}")
        if i.anonymized:
            lines.append("(匿名汇总模式:不展示个人行为明细)" if zh else "(anonymized aggregate mode: no individual events shown)")
        elif i.top_events:
            lines.append("主要依据:" if zh else "Why:")
            lines.extend(f"- {e.time} {e.text} (+{e.weight:.1f})" for e in i.top_events)
        if i.excluded_without_consent:
            lines.append(f"({i.excluded_without_consent} 条未授权联系人的行为未计入)" if zh else
                         f"({i.excluded_without_consent} events of contacts without consent were left out)")
        if self.actions:
            lines.append("建议下一步:" if zh else "Next best action:")
            lines.extend(f"- {a['text']}" for a in self.actions)
        return "  \n".join(lines)  # markdown line breaks


def _norm(text: str) -> str:
    return re.sub(r"[\s·,.,。?？!!'\"“”]", "", text.lower())


def find_leads(*, ctx: ToolContext, query: str, limit: int = 5) -> list[LeadMatch]:
    """Leads the user may see, matched by id ("lead 123", "#123", "线索123") or by a name /
    account / contact fragment contained in the query. Best matches first."""
    require_pipeline_access(ctx.user)
    m = re.search(r"(?:lead|线索|#)\s*#?\s*(\d{1,7})", query, re.I)
    if m:
        lead = ctx.session.get(Lead, int(m.group(1)))
        if lead is None:
            return []
        if ctx.session.scalar(visible_leads(ctx.session, ctx.user).where(Lead.id == lead.id)) is None:
            raise PermissionDenied(ctx.t("这条线索不在你的权限范围内;你可以查看自己名下的线索(经理:本团队的线索)。",
                                         "That lead is not one you may see; you can ask about your own leads (managers: their team's)."))
        return [LeadMatch(lead.id, lead.name, 1.0)]
    q = _norm(query)
    rows = ctx.session.execute(
        visible_leads(ctx.session, ctx.user).with_only_columns(Lead.id, Lead.name, Account.name, Account.name_en, Lead.created_at)
        .join(Account, Account.id == Lead.account_id)).all()
    scored: list[LeadMatch] = []
    for lead_id, name, account, account_en, created in rows:
        best = 0.0
        for candidate in (account, account_en, name.split(" · ")[-1]):
            if not candidate:
                continue
            c = _norm(candidate)
            if c and c in q:
                best = max(best, 1.0 + len(c) / 100)
            else:
                match = difflib.SequenceMatcher(None, q, c).find_longest_match(0, len(q), 0, len(c))
                if match.size >= (4 if re.search(r"[\u4e00-\u9fff]", c) else 5):
                    best = max(best, match.size / max(len(c), 1))
        if best >= 0.4:
            scored.append(LeadMatch(lead_id, name, best + created.timestamp() / 1e12))
    scored.sort(key=lambda m: -m.score)
    return scored[:limit]


def _lead_for(ctx: ToolContext, lead_id: int) -> Lead:
    require_pipeline_access(ctx.user)
    lead = ctx.session.get(Lead, lead_id)
    if lead is None:
        raise NotFoundError(ctx.t(f"没有编号为 {lead_id} 的线索", f"there is no lead {lead_id}"))
    if ctx.session.scalar(visible_leads(ctx.session, ctx.user).where(Lead.id == lead_id)) is None:
        raise PermissionDenied(ctx.t("这条线索不在你的权限范围内;你可以查看自己名下的线索(经理:本团队的线索)。",
                                     "That lead is not one you may see; you can ask about your own leads (managers: their team's)."))
    return lead


def intent_score(*, ctx: ToolContext, lead_id: int, as_of: datetime | None = None) -> IntentScore:
    """CBI 0–100 from the lead's consented touchpoints (see tools/intent.yaml for the formula)."""
    cfg = intent_config()
    lead = _lead_for(ctx, lead_id)
    now = as_of or ctx.now()
    since = now - timedelta(days=cfg["window_days"])
    rows = ctx.session.execute(
        select(Touchpoint, Contact.consent_tracking, Contact.title)
        .outerjoin(Contact, Contact.id == Touchpoint.contact_id)
        .where(Touchpoint.lead_id == lead.id, Touchpoint.occurred_at >= since, Touchpoint.occurred_at <= now)).all()
    contributions: list[tuple[float, Touchpoint, str | None]] = []
    excluded = 0
    for tp, consent, title in rows:
        if tp.contact_id is not None and not consent:
            excluded += 1
            continue
        weight = cfg["weights"].get(tp.kind, 0.0)
        if tp.kind == "page_view" and (tp.dwell_s or 0) >= cfg["dwell_bonus"]["seconds"]:
            weight += cfg["dwell_bonus"]["weight"]
        age_days = (now - tp.occurred_at).total_seconds() / 86400
        contributions.append((weight * 0.5 ** (age_days / cfg["half_life_days"]), tp, title))
    raw = sum(c for c, _, _ in contributions)
    if not contributions:
        return IntentScore(None, None, 0.0, 0.0, excluded_without_consent=excluded, anonymized=ctx.anonymized)
    score = round(100 * (1 - math.exp(-raw / cfg["scale"])))
    tier = next(t for t, lo in cfg["tiers"].items() if score >= lo)
    confidence = round(min(0.95, 0.35 + 0.06 * len(contributions)), 2)
    top = sorted(contributions, key=lambda c: -c[0])[:5]
    events = [] if ctx.anonymized else [
        Evidence("touchpoint", str(tp.id), tp.occurred_at.isoformat(sep=" ", timespec="minutes"),
                 (f"{KIND_ZH.get(tp.kind, tp.kind)} {tp.asset or ''}".strip() if ctx.language == "zh" else f"{tp.kind.replace('_', ' ')} {tp.asset or ''}".strip())
                 + (f"({title})" if title and ctx.language == "zh" else (f" ({title})" if title else "")), round(c, 2))
        for c, tp, title in top]
    return IntentScore(score, tier, round(raw, 3), confidence, events, excluded, ctx.anonymized)


def next_best_actions(*, ctx: ToolContext, lead: Lead, now: datetime) -> list[dict[str, Any]]:
    """Readable rules over the lead's consented touchpoints."""
    rows = ctx.session.execute(
        select(Touchpoint.kind, Touchpoint.asset, Touchpoint.occurred_at, Contact.consent_tracking)
        .outerjoin(Contact, Contact.id == Touchpoint.contact_id)
        .where(Touchpoint.lead_id == lead.id, Touchpoint.occurred_at <= now)
        .order_by(Touchpoint.occurred_at)).all()
    tps = [(k, a or "", t) for k, a, t, consent in rows if consent is not False]
    recent = [x for x in tps if x[2] >= now - timedelta(days=14)]
    actions = []
    product_views = [x for x in recent if x[0] == "page_view" and ("产品页" in x[1] or "Product page" in x[1])]
    if len(product_views) >= 3 and any(x[0] == "pdf_download" for x in recent):
        actions.append({"rule": "high_intent_dual_follow_up",
                        "text": ctx.t("高意向(14天内3次以上产品页浏览并下载PDF):安排专家顾问+区域经理双人跟进",
                                      "High intent (3+ product-page views and a PDF download in 14 days): dual follow-up by a specialist and the regional manager")})
    sent = [x for x in tps if x[0] == "bid_doc_sent"]
    if sent and not any(x[0] == "bid_doc_open" and x[2] > sent[-1][2] for x in tps) \
            and any(x[0] == "policy_article" and x[2] >= sent[-1][2] + timedelta(days=7) for x in tps):
        actions.append({"rule": "policy_sensitive",
                        "text": ctx.t("政策敏感型:投标方案7天未打开且阅读了政策文章,推送政策话术包和本地案例,并通知区域经理",
                                      "Policy-sensitive: bid document unopened for 7 days, then a policy article — send the policy talk track and a local case, alert the regional manager")})
    tech_days = sorted({x[2].date() for x in tps if x[0] == "page_view" and ("技术文档" in x[1] or "Tech doc" in x[1])})
    streak = any(tech_days[i + 2] - tech_days[i] == timedelta(days=2) for i in range(len(tech_days) - 2))
    if streak and any(x[0] == "expo_scan" for x in tps):
        actions.append({"rule": "engineer_deep_dive",
                        "text": ctx.t("工程师连续3天看技术文档并展会扫码:发送技术白皮书,邀请参加技术交流会",
                                      "An engineer read technical documents 3 days running and scanned at the expo: send the white paper, invite to a technical session")})
    if lead.first_follow_up_at is None and now - lead.created_at > timedelta(hours=72):
        actions.append({"rule": "overdue_follow_up", "text": ctx.t("新线索已超过72小时未跟进:今天就联系", "New lead not followed up for over 72 hours: call today")})
    if not recent and lead.status not in ("converted", "invalid", "lost"):
        actions.append({"rule": "nurture", "text": ctx.t("14天内无互动:转入培育池", "No activity for 14 days: move to the nurture pool")})
    return actions


def lead_summary(*, ctx: ToolContext, lead_id: int) -> LeadSummary:
    lead = _lead_for(ctx, lead_id)
    now = ctx.now()
    account = ctx.session.get(Account, lead.account_id)
    owner = ctx.session.get(User, lead.owner_id) if lead.owner_id else None
    contact = ctx.session.get(Contact, lead.contact_id) if lead.contact_id else None
    opp = ctx.session.scalar(select(Opportunity).where(Opportunity.lead_id == lead.id))
    followed = None if lead.first_follow_up_at is None else (lead.first_follow_up_at - lead.created_at) <= timedelta(hours=72)
    facts = {
        "name": lead.name, "account": account.name, "segment": account.segment,
        "region": account.region.name_zh if ctx.language == "zh" else account.region.name_en,
        "owner": owner.name if owner else None, "status": lead.status, "value_cny": lead.value_cny,
        "created_at": lead.created_at.isoformat(sep=" "), "followed_up_within_72h": followed,
        "contact": f"{contact.name} · {contact.title}" if contact else None,  # no phone / e-mail
        "opportunity": {"id": opp.id, "stage": opp.stage, "amount_cny": opp.amount_cny} if opp else None,
    }
    return LeadSummary(lead.id, facts, intent_score(ctx=ctx, lead_id=lead.id), next_best_actions(ctx=ctx, lead=lead, now=now))
