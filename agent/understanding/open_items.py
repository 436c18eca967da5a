"""The open record a question names by its customer rather than its id: "成都天成那条预警 收到 采纳",
"Nordic那条建议 不要了", "approve the qingdao central hospital one".

The asker's open alerts, open suggestions or (a manager's) routing decisions waiting for review are
matched by their leads' names, as lead questions are; words of the record's own text ("约演示的建议")
pick among several records of one customer. One record → its id; several → the choices to offer;
none → nothing (the planner asks for the id).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import RepcopilotError
from tools.context import ToolContext
from tools.text import name_tokens


@dataclass(frozen=True)
class OpenRecord:
    kind: str  # suggestion / alert / decision
    id: int
    lead_id: int | None
    text: str
    customer: str | None = None


def _rule_names(rule_id: str) -> str:
    """A signal rule's short names in both languages ("政策敏感 Policy-sensitive"): an alert is asked about by
    its kind in either language, whatever the language its title was written in."""
    from tools.signals import load_signal_config

    rule = next((r for r in load_signal_config().get("rules") or [] if r.get("id") == rule_id), None)
    return f"{rule['name_zh']} {rule['name_en']}" if rule else ""


def open_records(ctx: ToolContext, kind: str) -> list[OpenRecord]:
    """The records of ``kind`` the asker may decide now, newest first (the review queue: oldest first)."""
    try:
        if kind == "suggestion":
            from tools.suggestions import list_suggestions

            return [OpenRecord(kind, r.id, r.lead_id, r.text, r.account) for r in list_suggestions(ctx=ctx, status="shown", limit=200)]
        if kind == "alert":
            from tools.alerts import list_alerts

            return [OpenRecord(kind, a.id, a.lead_id, f"{a.title} {a.action} {_rule_names(a.rule)}", a.account)
                    for a in list_alerts(ctx=ctx, limit=200) if a.status in ("shown", "escalated")]
        if kind == "decision":
            from tools.routing import review_queue

            return [OpenRecord(kind, d.id, d.lead_id, f"{d.lead} {d.account}", d.account) for d in review_queue(ctx=ctx)]
    except RepcopilotError:  # a trainer has no alerts, a rep no review queue
        return []
    return []


def named_records(ctx: ToolContext, question: str, kind: str) -> list[OpenRecord]:
    """The open records whose customer the question names, narrowed by the record's own words when
    that leaves some; empty when the question names no customer of an open record."""
    from tools.leads import find_among

    records = open_records(ctx, kind)
    leads = {m.lead_id for m in find_among(ctx=ctx, query=question, lead_ids={r.lead_id for r in records if r.lead_id},
                                           limit=len(records) or 1)}
    named = [r for r in records if r.lead_id in leads]
    if not named:
        return _described(question, records)
    if len(named) == 1:
        return named
    words = name_tokens(question)
    overlap = {r.id: len(words & name_tokens(r.text)) for r in named}
    best = max(overlap.values())
    return [r for r in named if overlap[r.id] == best] if best else named


def _described(question: str, records: list[OpenRecord]) -> list[OpenRecord]:
    """No customer named: the records whose own text the question quotes — four characters or more
    word for word ("那条预约演示的建议 采纳", "发政策解读话术包的那条") — the longest quote winning; several
    records with the same text are all returned (the planner offers them as choices)."""
    from difflib import SequenceMatcher

    def quoted(r: OpenRecord) -> int:
        m = SequenceMatcher(None, question, r.text, autojunk=False).find_longest_match(0, len(question), 0, len(r.text))
        return m.size if m.size >= 4 and not question[m.a:m.a + m.size].isascii() else 0

    lengths = {r.id: quoted(r) for r in records}
    best = max(lengths.values(), default=0)
    return [r for r in records if best and lengths[r.id] == best]
