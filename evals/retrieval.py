"""Retrieval quality over the demo playbooks: recall@3 and MRR per direction
(en→en, zh→zh, en→zh, zh→en). Cross-lingual cases search the target language only."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

CASES_FILE = Path(__file__).with_name("retrieval.jsonl")


def run_retrieval_eval(store, cases_file: Path = CASES_FILE, k: int = 3, translate=None) -> dict[str, Any]:
    """``translate``: passed to every search (e.g. ``lambda q, lang: q`` leaves queries untranslated)."""
    cases = [json.loads(line) for line in cases_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    recall: dict[str, list[float]] = defaultdict(list)
    rr: dict[str, list[float]] = defaultdict(list)
    failures = []
    for c in cases:
        target = c["direction"].split("->")[1]
        hits = store.search(c["query"], k=10, kinds=("playbook",), languages=(target,), translate=translate)
        sources = []
        for h in hits:  # rank documents, not chunks
            if h.source not in sources:
                sources.append(h.source)
        rank = next((i + 1 for i, s in enumerate(sources) if s in c["relevant"]), None)
        recall[c["direction"]].append(1.0 if rank and rank <= k else 0.0)
        rr[c["direction"]].append(1.0 / rank if rank else 0.0)
        if not rank or rank > k:
            failures.append({"id": c["id"], "query": c["query"], "want": c["relevant"], "got": sources[:3]})
    return {
        "cases": len(cases),
        "recall_at_3": {d: round(sum(v) / len(v), 3) for d, v in sorted(recall.items())},
        "mrr": {d: round(sum(v) / len(v), 3) for d, v in sorted(rr.items())},
        "failures": failures,
    }
