"""Conversation references: the previous answer's items (leads, suggestions, alerts, routing
decisions, calls), kept in the thread state in the order they were shown, so "the second
one", "第一个就批了", "the ultrasound one" or "这家" resolve to an item."""

from __future__ import annotations

import re
from typing import Any

# evidence kinds a user can point at, by the name the planner uses for them
REFERABLE = {"lead": "lead", "suggestion": "suggestion", "alert": "alert", "routing_decision": "decision", "call": "call"}
DEICTIC = re.compile(r"这家|这个|这条|那家|那个|那条|它|该客户|这位|那位|\b(this|that|it|this one|that one|the one)\b", re.I)
STOP = {"the", "one", "lead", "alert", "call", "this", "that", "and", "what", "about", "with", "from", "for", "approve", "adopt",
        "dismiss", "hospital", "company", "group", "center", "centre", "please", "pls", "suggestion"}


def items_from(outputs: list[tuple[list[dict[str, Any]], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Items in answer order from this turn's tool results ((evidence, data) pairs): the
    referable evidence, and the lead choices of an ambiguous lookup."""
    items: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for evidence, data in outputs:
        for choice in (data or {}).get("choices") or []:
            key = ("lead", str(choice.get("lead_id")))
            if key not in seen and choice.get("lead_id") is not None:
                seen.add(key)
                items.append({"kind": "lead", "id": int(choice["lead_id"]),
                              "label": f"{choice.get('name', '')} {choice.get('account', '')}".strip()})
        for e in evidence:
            kind = REFERABLE.get(e.get("kind", ""))
            key = (kind or "", str(e.get("id")))
            if kind and key not in seen and str(e.get("id", "")).isdigit():
                seen.add(key)
                items.append({"kind": kind, "id": int(e["id"]), "label": str(e.get("text") or "")})
    return items


def resolve(question: str, items: list[dict[str, Any]], ordinal: int | None, *, kinds: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """The item the question points at: by ordinal, by a distinctive word of its label, or —
    with a single item — by "this / 这家"."""
    pool = [i for i in items if not kinds or i["kind"] in kinds]
    if not pool:
        return None
    if ordinal is not None:
        if ordinal == -1:
            return pool[-1]
        return pool[ordinal - 1] if 1 <= ordinal <= len(pool) else None
    named = [i for i in pool if _label_mentioned(question, i["label"])]
    if len(named) == 1:
        return named[0]
    if len(pool) == 1 and DEICTIC.search(question):
        return pool[0]
    return by_short_name(question, pool) if not named else None


def _label_mentioned(question: str, label: str) -> bool:
    q = question.lower()
    words = [w for w in re.findall(r"[a-z]{4,}", label.lower()) if w not in STOP]
    if any(re.search(rf"\b{re.escape(w)}", q) for w in words):
        return True
    # a 3-character piece of a Chinese name ("超声科", "宏达风") is distinctive; 2 characters often are not
    return any(run[i:i + 3] in question
               for run in re.findall(r"[\u4e00-\u9fff]{2,}", label) for i in range(len(run) - 2))


#: two characters that many names share, so they point at nothing in particular
COMMON_PAIRS = {"医院", "公司", "中心", "有限", "科技", "集团", "人民", "医科", "大学", "附属", "口腔", "连锁", "汽车", "部件", "零部",
                "设备", "能源", "储能", "制造", "电子", "股份", "精密", "卫生", "健康", "委员", "员会", "平台", "系统", "服务", "方案",
                "项目", "管理", "运维", "线索", "客户", "这个", "那个", "这家", "那家", "提醒", "建议", "分配", "改派", "批准"}


def by_short_name(question: str, pool: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The one item whose label holds a two-character piece the question says ("鼎盛那个" → the
    鼎盛汽车部件 row), skipping pieces that many names share; None unless exactly one matches."""
    pairs = {run[i:i + 2] for run in re.findall(r"[\u4e00-\u9fff]{2,}", question) for i in range(len(run) - 1)} - COMMON_PAIRS
    named = [i for i in pool if any(p in i["label"] for p in pairs)]
    return named[0] if len(named) == 1 else None
