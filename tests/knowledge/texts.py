"""Bilingual texts for the e5 encoder tests, and the calls of the access tests."""

from __future__ import annotations

import json
from pathlib import Path

from crm.demo import DEMO_PLAYBOOKS
from knowledge.chunking import chunk_document, read_document

CORPUS = Path(__file__).resolve().parents[2] / "evals" / "retrieval_corpus"


def bilingual_texts() -> list[str]:
    """Demo playbook chunks, the held-out corpus's passages and its dev questions: Chinese and
    English, short and long."""
    texts = []
    for f in sorted(Path(DEMO_PLAYBOOKS).rglob("*.md")):
        title, body = read_document(f)
        texts += [c.text for c in chunk_document(title, body)]
    texts += [p.read_text(encoding="utf-8") for p in sorted((CORPUS / "passages").iterdir())]
    texts += [json.loads(line)["question"] for line in (CORPUS / "dev.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return texts


def many_calls(n: int = 300) -> list[dict]:
    """``n`` English calls of six reps (rep 99 has one, call 223), every tenth an exemplar: the access tests' transcripts."""
    calls = []
    for i in range(n):
        turns = [{"speaker": "rep", "start_s": 0, "end_s": 3, "text": f"why is downtime on line {i % 7} so costly"},
                 {"speaker": "customer", "start_s": 4, "end_s": 9, "text": f"maintenance is reactive and audits are near {i}"}]
        calls.append({"call_id": 100 + i, "rep_id": 99 if i == 123 else i % 6, "team_id": 1, "account_id": i,
                      "language": "en", "is_exemplar": i % 10 == 0 and i != 123, "turns": turns})
    return calls
