"""A bilingual set of texts for the e5 encoder tests."""

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
