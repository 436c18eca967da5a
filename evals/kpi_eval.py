"""KPI question understanding: does each question parse into the expected spec?

The values themselves are checked against an independent hand-written computation in
tests/kpi; this reports how well the offline parser understands questions, per language.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from tools.kpi.parser import parse_question

CASES_FILE = Path(__file__).with_name("kpi_cases.jsonl")
HELDOUT_FILE = Path(__file__).with_name("kpi_heldout.jsonl")  # written after the parser, never tuned against
TODAY = date(2026, 11, 20)  # the cases' "today"; the eval builds the demo company as of this date


def spec_matches(spec, exp: dict[str, Any]) -> bool:
    if exp["metric"] is None:
        return spec is None
    if spec is None:
        return False
    period = [spec.period.start.isoformat(), spec.period.end.isoformat()] if spec.period else None
    return (spec.metric == exp["metric"] and spec.dimensions == exp["dimensions"] and spec.filters == exp["filters"]
            and period == exp["period"] and spec.compare == exp.get("compare")
            and spec.compare_filters == exp.get("compare_filters") and spec.top_n == exp.get("top_n")
            and (not exp.get("top_n") or spec.order == exp["order"]))


def run_kpi_eval(session, cases_file: Path = CASES_FILE) -> dict[str, Any]:
    cases = [json.loads(line) for line in cases_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_lang: dict[str, list[bool]] = defaultdict(list)
    failures, latencies = [], []
    for case in cases:
        t0 = time.perf_counter()
        parsed = parse_question(case["question"], session=session, today=TODAY)
        latencies.append((time.perf_counter() - t0) * 1000)
        ok = spec_matches(parsed.spec, case["expect"])
        by_lang[case["lang"]].append(ok)
        if not ok:
            failures.append({"id": case["id"], "question": case["question"], "got": parsed.spec.to_json() if parsed.spec else None})
    latencies.sort()
    return {
        "cases": len(cases),
        "spec_accuracy": {lang: round(sum(v) / len(v), 3) for lang, v in sorted(by_lang.items())},
        "overall": round(sum(sum(v) for v in by_lang.values()) / len(cases), 3),
        "parse_p50_ms": round(latencies[len(latencies) // 2], 2),
        "failures": failures,
    }
