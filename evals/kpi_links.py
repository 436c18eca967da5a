"""Which metric a question is answered with — the metric-only batches (``kpi_dev_b10.jsonl`` …
``kpi_dev_b13.jsonl``: ``{"id", "as", "lang", "question", "metric": id | null}``), each question
through ``tools.kpi.service.answer_question`` on the eval demo company.

    .venv/bin/python -m evals.kpi_links evals/kpi_dev_b1[0-3].jsonl

Per batch: defined metrics answered with their metric, asked back (never a number), refused, and the
misses that matter most — another metric's number (``wrong_metric``) and a number for an undefined
figure (``number_for_undefined``)."""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any


def outcome(case: dict[str, Any], answered: str | None, error: str | None) -> str:
    """One case's outcome: ok | asked | refused | wrong_metric | number_for_undefined."""
    if error == "PermissionDenied":
        return "refused"
    if case["metric"] is None:
        return "number_for_undefined" if answered else "ok"
    if answered is None:
        return "asked"
    return "ok" if answered == case["metric"] else "wrong_metric"


def run_batch(session, cases: list[dict[str, Any]]) -> dict[str, Any]:
    from core.errors import PermissionDenied
    from crm.access import get_user
    from evals.demo import NOON
    from tools.context import ToolContext
    from tools.kpi.service import KpiClarification, answer_question

    counts: Counter[str] = Counter()
    misses = []
    for case in cases:
        ctx = ToolContext(user=get_user(session, case["as"]), session=session, clock=lambda: NOON, knowledge=None)
        answered = error = None
        try:
            answered = answer_question(ctx=ctx, question=case["question"]).metric
        except PermissionDenied:
            error = "PermissionDenied"
        except KpiClarification:
            error = "KpiClarification"
        kind = outcome(case, answered, error)
        counts[("undefined " if case["metric"] is None else "defined ") + kind] += 1
        if kind in ("wrong_metric", "number_for_undefined"):
            misses.append({"id": case["id"], "question": case["question"], "expected": case["metric"], "answered": answered})
        session.rollback()
    return {"cases": len(cases), **dict(sorted(counts.items())), "misses": misses}


def main(paths: list[str]) -> dict[str, Any]:
    from crm.db import session_factory
    from evals.demo import build_eval_demo

    with tempfile.TemporaryDirectory(prefix="repcopilot-kpi-links-") as tmp:
        engine = build_eval_demo(Path(tmp))
        with session_factory(engine)() as session:
            report = {p: run_batch(session, [json.loads(line) for line in Path(p).read_text(encoding="utf-8").splitlines()
                                             if line.strip()]) for p in paths}
        engine.dispose()
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), ensure_ascii=False, indent=1))
