""""Why this suggestion?": factors × weights, the events behind the intent, the confidence."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from crm.models import Lead, User
from tools.context import ToolContext
from tools.routing.config import FACTORS, MAX_EVENTS, load_routing_config
from tools.routing.review import get_decision
from tools.text import KIND_LABELS, label, person_label


@dataclass
class Explanation:
    subject: str  # routing_decision:ID / alert:ID
    summary: str
    factors: list[dict[str, Any]]  # {factor, label, value, weight, contribution}
    events: list[dict[str, Any]]  # up to 5: {id, time, text, weight} (counts only in anonymized mode)
    confidence: float
    method: str
    anonymized: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def render(self, language: str) -> str:
        zh = language == "zh"
        lines = [f"# {self.subject}", self.summary, ""]
        if self.factors:
            lines.append("## 因素与权重" if zh else "## Factors and weights")
            lines += [f"- {f['label']}: {f['value']} × {f['weight']} = {f['contribution']}" for f in self.factors]
        lines.append("## 依据事件" if zh else "## Events behind it")
        lines += [f"- {e.get('time') or ''} {e['text']}" + (f" (+{e['weight']})" if e.get("weight") is not None else "")
                  for e in self.events] or (["- (无)"] if zh else ["- (none)"])
        lines += ["", (f"置信度:{self.confidence:.2f}" if zh else f"Confidence: {self.confidence:.2f}"), "", self.method]
        return "\n".join(lines)


def event_lines(ctx: ToolContext, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored evidence events → what the asker may see (anonymized mode: counts per kind only)."""
    from tools.text import describe_touch

    if ctx.anonymized:
        counts = Counter(e["kind"] for e in events)
        return [{"id": None, "time": None, "text": f"{label(KIND_LABELS, k, ctx.language)} × {n}", "weight": None}
                for k, n in sorted(counts.items())]
    return [{"id": e["id"], "time": e["time"], "weight": e.get("weight"),
             "text": describe_touch(e["kind"], e.get("asset"), e.get("title"), None, ctx.language)} for e in events[:MAX_EVENTS]]


def _person(ctx: ToolContext, user_id: int | None) -> str | None:
    user = ctx.session.get(User, user_id) if user_id else None
    return person_label(user, ctx.language) if user is not None else None


def explain_decision(*, ctx: ToolContext, decision_id: int) -> Explanation:
    """Why a lead went where it went: each factor's value × weight for the chosen rep, the (up to 5)
    events behind the intent score, the confidence, and how it was computed."""
    d = get_decision(ctx, decision_id)
    cfg = load_routing_config()
    r = d.reasons or {}
    labels = cfg["labels"]
    factors = [{"factor": k, "label": labels[k]["zh" if ctx.language == "zh" else "en"], "value": r.get("parts", {}).get(k),
                "weight": round(r.get("weights", {}).get(k, 0.0), 3),
                "contribution": round((r.get("parts", {}).get(k) or 0) * r.get("weights", {}).get(k, 0.0), 1)}
               for k in FACTORS if r.get("parts")]
    lead = ctx.session.get(Lead, d.lead_id)
    kind = cfg["kinds"][d.kind]["zh" if ctx.language == "zh" else "en"]
    rep = _person(ctx, d.rep_id) or "—"
    specialist = _person(ctx, d.specialist_id)
    reasons = ", ".join(r.get("review") or [])
    summary = ctx.t(
        f"线索 #{lead.id}({lead.name}):{kind},负责人 {rep}" + (f",专家 {specialist}" if specialist else "")
        + f",得分 {d.score},意向指数 {d.intent_score}(等级 {d.tier})"
        + (f";审核原因:{reasons}" if reasons else "") + f";权重版本 v{d.weights_version}。",
        f"Lead #{lead.id} ({lead.name}): {kind}, rep {rep}" + (f", specialist {specialist}" if specialist else "")
        + f", score {d.score}, intent {d.intent_score} (tier {d.tier})"
        + (f"; review because: {reasons}" if reasons else "") + f"; weights version v{d.weights_version}.")
    method = ctx.t("方法:每个因素 0–100 分 × 权重(tools/routing.yaml 及已批准的权重版本)求和;意向指数按 tools/intent.yaml,"
                   "只使用已授权联系人的行为;置信度由意向置信度与第一、二名的分差得出。",
                   "Method: each factor scores 0–100 and is multiplied by its weight (tools/routing.yaml and the approved "
                   "weights versions); the intent score follows tools/intent.yaml over consented behaviour only; the "
                   "confidence combines the intent confidence and the margin between the top two reps.")
    return Explanation(f"routing_decision:{d.id}", summary, factors, event_lines(ctx, r.get("events") or []),
                       d.confidence, method, ctx.anonymized)
