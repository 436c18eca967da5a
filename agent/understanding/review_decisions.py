"""A proposal in the review queue rejected in words: "鼎盛那条驳回 让市场先培育着", "reject the Xiamen one".

The decision is found deterministically — said by id ("驳回分配 12"), by its customer among the decisions
waiting ("石家庄那条"), or pointed at in the list just shown ("第二个", "这家"); never from a bare number,
which in such a sentence is usually a score ("意向分才8"). A rep named with the rejection is who should
have it instead ("驳回 给高超" → an override to 高超); without one the lead goes back to marketing's nurture.
"""

from __future__ import annotations

import re
from typing import Any

from crm.roles import Role

REJECT_CUE = re.compile(r"驳回|打回|否决|不批|别批|不同意(这个|这条)?(分配|推荐)?|"
                        r"(?<![a-z])(reject|decline|turn (it )?down)(?![a-z])", re.I)


def review_rejection(turn) -> tuple[str, dict[str, Any]] | None:
    """The review-queue call for a rejection the question says, or None when it says none or names no decision."""
    if (not REJECT_CUE.search(turn.question) or "review_queue" not in turn.tools
            or turn.ctx.user.role not in (Role.MANAGER, Role.ADMIN)):
        return None
    decision = _decision_meant(turn)
    if decision is None:
        return None
    others = [u for u in turn.slots.reps if u.id != turn.ctx.user.id]
    if others:
        return "review_queue", {"action": "override", "decision_id": decision, "rep": others[-1].login,
                                "note": turn.question}
    return "review_queue", {"action": "reject", "decision_id": decision, "note": turn.question}


def _decision_meant(turn) -> int | None:
    from agent.understanding.open_items import named_records

    if "decision" in turn.slots.ids:
        return turn.slots.ids["decision"]
    named = named_records(turn.ctx, turn.question, "decision")
    if len(named) == 1:
        return named[0].id
    item = turn.item("decision")
    return item["id"] if item else None
