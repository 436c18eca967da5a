"""Question / why-question / open-question / pain-point detection: precision and recall per
language on a labelled set of sales-call utterances (``utterances.jsonl``, written by
meaning before the rules were last tuned; many Chinese lines carry no punctuation, as
Whisper writes them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from speech.text import is_open_question, is_pain_point, is_question, is_why_question

UTTERANCES = Path(__file__).with_name("utterances.jsonl")
DETECTORS = {
    "is_question": is_question,
    "is_why": is_why_question,
    "is_open": is_open_question,
    "is_pain_point": is_pain_point,
}


def evaluate_detectors(path: Path = UTTERANCES) -> dict[str, Any]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    report: dict[str, Any] = {"utterances": len(rows), "by_language": {}, "errors": []}
    for lang in sorted({r["lang"] for r in rows}):
        subset = [r for r in rows if r["lang"] == lang]
        per: dict[str, Any] = {}
        for label, fn in DETECTORS.items():
            tp = fp = fn_ = 0
            for r in subset:
                got, want = bool(fn(r["text"], lang)), bool(r[label])
                tp += got and want
                fp += got and not want
                fn_ += want and not got
                if got != want:
                    report["errors"].append({"label": label, "lang": lang, "text": r["text"], "expected": want})
            precision = tp / (tp + fp) if tp + fp else 1.0
            recall = tp / (tp + fn_) if tp + fn_ else 1.0
            per[label] = {"precision": round(precision, 3), "recall": round(recall, 3), "positives": tp + fn_}
        report["by_language"][lang] = {"utterances": len(subset), **per}
    return report
