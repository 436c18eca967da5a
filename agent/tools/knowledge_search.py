"""knowledge_search: cited passages from the playbooks and top reps' calls."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from agent.tools.base import ToolOutput, ToolSpec
from tools.context import ToolContext
from tools.evidence import Evidence
from tools.knowledge import search_knowledge


class KnowledgeArgs(BaseModel):
    query: str = Field(description="what to look for, in the user's words (Chinese or English)")
    k: int = Field(4, ge=1, le=10, description="how many passages")


#: the question asks for what reps said on calls, not for the playbook
ABOUT_CALLS = re.compile(r"通话|录音|电话里|怎么说的|原话|案例|"
                         r"(?<![a-z])(calls?|transcripts?|recordings?|examples?|top reps?)(?![a-z])", re.I)
EXAMPLES = 1  # call excerpts shown after the playbook passages of a how-to answer


def _knowledge(*, ctx: ToolContext, query: str, k: int) -> ToolOutput:
    hits = playbooks_first(search_knowledge(ctx=ctx, query=query, k=2 * k), k) if not ABOUT_CALLS.search(query) else \
        search_knowledge(ctx=ctx, query=query, k=k)
    if not hits:
        return ToolOutput(text=ctx.t("知识库里没有找到相关内容。", "Nothing relevant in the knowledge base."), confidence=0.0)
    lines = [ctx.t("知识库中的相关内容:", "From the knowledge base:")]
    evidence = []
    for i, h in enumerate(hits, 1):
        snippet = h.text if len(h.text) <= 300 else h.text[:300] + " …"
        lines.append(f"{i}. {snippet}\n   — {h.citation}")
        evidence.append(Evidence("playbook" if h.kind == "playbook" else "call", h.id, None, h.citation))
    top = hits[0].score
    return ToolOutput(text="\n".join(lines), data={"hits": [{"citation": h.citation, "text": h.text} for h in hits]},
                      evidence=evidence, confidence=round(min(1.0, 0.5 + 10 * top), 2) if top else 0.5,
                      focus={"knowledge_query": query})  # "那要是医院呢" narrows this search


def playbooks_first(hits: list, k: int) -> list:
    """A how-to answer: the company's guidance first (playbook passages, in their order), then an
    example from a call; up to ``k`` in all."""
    playbooks = [h for h in hits if h.kind == "playbook"]
    calls = [h for h in hits if h.kind != "playbook"]
    return (playbooks[:k - EXAMPLES] + calls[:EXAMPLES] + playbooks[k - EXAMPLES:] + calls[EXAMPLES:])[:k]


SPEC = ToolSpec(
    "knowledge_search",
    "Search the company's playbooks and top reps' call transcripts (bilingual). Returns cited passages. "
    "Use for how-to questions: objection handling, procurement, tenders, pricing policy, discovery.",
    KnowledgeArgs, _knowledge)
