"""A message that corrects the previous one: "不是这个 是杭州那家", "搞错了 我要问的是合肥优诺那条", "哦不对 我要的是赢单率",
"no, I meant the Shanghai one".

The correction words are taken out before anything reads the question, so "这个" in "不是这个" never points
back at the lead just shown: what is left is the question. When the previous answer was a choice among
several leads (its question kept in the focus as ``lead_query``) and what is left names no lead by itself,
it only narrows that question: "是杭州那家" after "卓越那家最近啥情况" is the Hangzhou 卓越."""

from __future__ import annotations

import re
from typing import Any

CORRECTION = re.compile(
    r"^\s*(哦|啊|呃|额|嗯)?\s*(不是(这个|这家|这条|那个|那家|那条|它|这)|不对|搞错了|弄错了|说错了|错了)[,，。.!！\s]*"
    r"((我)?(要|问|说|想问|想要|想看|指|找)的是|是)?\s*|"
    r"^\s*(no,?\s+)?(not (that|this) one|wrong one|i meant)[,.!\s]*", re.I)
LEAD_TOPICS = ("lead_lookup", "journey_timeline")


#: what the previous answer pointed at, which a correction says was not meant
POINTED_AT = ("lead_id", "account_id", "items")


def corrected_question(question: str, focus: dict[str, Any], names_a_lead) -> tuple[str, dict[str, Any]]:
    """The question without its correction words — narrowed by the previous choice's question when it
    names no lead by itself (``names_a_lead``: question → bool) — and the focus without what the
    previous answer pointed at; both unchanged when the message corrects nothing."""
    m = CORRECTION.match(question)
    rest = question[m.end():].strip() if m else ""
    if not rest:
        return question, focus
    previous = focus.get("lead_query")
    if previous and not focus.get("lead_id") and focus.get("topic") in LEAD_TOPICS and not names_a_lead(rest):
        rest = f"{rest} {previous}"
    return rest, {k: v for k, v in focus.items() if k not in POINTED_AT}
