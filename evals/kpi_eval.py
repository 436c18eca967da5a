"""KPI question understanding, per suite and language: does each question parse into the
expected spec ("spec right"), does the number it answers equal the independent oracle's number
for the *expected* spec (evals/kpi_oracle.py — "value right"), and how often is a different
metric answered with a number ("wrong metric answered", must be 0).

Suites: the original cases, their held-out set, and the paraphrase set written by someone who
had not seen the parser (evals/kpi_paraphrases.jsonl), split once by sha1(id) parity into dev
(tuned on) and test (reported; its failures are not listed unless REPCOPILOT_EVAL_SHOW_TEST=1).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from core.errors import RepcopilotError
from tools.kpi.parser import parse_question

HERE = Path(__file__).parent
CASES_FILE = HERE / "kpi_cases.jsonl"
HELDOUT_FILE = HERE / "kpi_heldout.jsonl"  # written after the parser, never tuned against
PARAPHRASES_FILE = HERE / "kpi_paraphrases.jsonl"  # an independent set, split once into dev / test
DEV_FILE = HERE / "kpi_dev.jsonl"
TEST_FILE = HERE / "kpi_test.jsonl"
SUITES = {"old": CASES_FILE, "heldout": HELDOUT_FILE, "dev": DEV_FILE, "test": TEST_FILE}
TODAY = date(2026, 11, 20)  # the cases' "today"; the eval builds the demo company as of this date
NOON = datetime(2026, 11, 20, 12)


def split_half(case_id: str) -> str:
    """The fixed split of the paraphrase set: sha1(id) even → dev, odd → test."""
    return "dev" if int(hashlib.sha1(case_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


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


def _grain(start: date, end: date) -> str | None:
    """The calendar unit a period is (a whole one, or the current one up to today) — what
    "compared with the previous period" steps back by."""
    from tools.kpi.periods import _shift_months

    tomorrow = TODAY + timedelta(days=1)
    if start.weekday() == 0 and (end == start + timedelta(days=7) or (start <= TODAY < start + timedelta(days=7) and end == tomorrow)):
        return "week"
    if start.day != 1:
        return None
    for grain, months in (("month", 1), ("quarter", 3), ("year", 12)):
        if (start.month - 1) % months:
            continue
        unit_end = _shift_months(start, months)
        if end == unit_end or (start <= TODAY < unit_end and end == tomorrow):
            return grain
    return None


def expected_spec(exp: dict[str, Any]):
    from tools.kpi.compiler import Period, QuerySpec

    period = exp.get("period")
    start, end = (date.fromisoformat(period[0]), date.fromisoformat(period[1])) if period else (None, None)
    return QuerySpec(metric=exp["metric"], dimensions=list(exp.get("dimensions") or []),
                     filters={k: list(v) for k, v in (exp.get("filters") or {}).items()},
                     period=Period(start, end, _grain(start, end)) if period else None,
                     compare=exp.get("compare"), compare_filters=exp.get("compare_filters"),
                     top_n=exp.get("top_n"), order=exp.get("order") or "desc")


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(b)))


def _row_key(row: dict[str, Any], dims: list[str]) -> tuple:
    key = []
    for d in dims:
        raw = row.get(f"{d}_login", row.get(f"{d}_code", row.get(d)))
        key.append(None if raw in ("未分配", "unassigned") else raw)
    return tuple(key)


def _rows_right(answer, oracle: dict[str, Any], want) -> bool:
    if not want.dimensions:
        return True
    if answer.spec.dimensions != want.dimensions:
        return False
    got = {_row_key(r, want.dimensions): r["value"] for r in answer.rows}
    if want.top_n:
        from evals.kpi_oracle import ranked

        mine = sorted((v for v in got.values() if v is not None), reverse=want.order == "desc")
        theirs = ranked(oracle["rows"], want)
        return len(mine) == len(theirs) and all(_close(a, b) for a, b in zip(mine, theirs, strict=True))
    return set(got) == set(oracle["rows"]) and all(_close(got[k], oracle["rows"][k]) for k in got)


def _comparison_right(ctx, answer, want) -> bool:
    from evals.kpi_oracle import expected
    from tools.kpi.compiler import QuerySpec
    from tools.kpi.parser import previous
    from tools.kpi.service import _compare_scope

    if want.compare_filters:
        other = QuerySpec(metric=want.metric, filters={**want.filters, **want.compare_filters}, period=want.period)
        value = expected(ctx.session, metric=want.metric, scope=_compare_scope(ctx), spec=other)["value"]
    elif want.compare and want.period:
        other = QuerySpec(metric=want.metric, filters=want.filters, period=previous(want.period, want.compare))
        value = expected(ctx.session, metric=want.metric, scope=ctx.scope, spec=other)["value"]
    else:
        return True
    return bool(answer.comparison) and _close(answer.comparison.get("value"), value)


def value_right(session, case: dict[str, Any], parsed) -> bool:
    """The number the parsed question answers equals the oracle's number for the expected spec
    (a question with no defined metric is right when it gets no number)."""
    from crm.access import get_user
    from evals.kpi_oracle import expected
    from tools.context import ToolContext
    from tools.kpi.service import run_spec

    exp = case["expect"]
    if exp["metric"] is None or parsed.spec is None:
        return exp["metric"] is None and parsed.spec is None
    ctx = ToolContext(user=get_user(session, case["as"]), session=session, language=case["lang"], clock=lambda: NOON)
    try:
        answer = run_spec(ctx=ctx, spec=parsed.spec)
    except RepcopilotError:
        return False
    want = expected_spec(exp)
    oracle = expected(session, metric=want.metric, scope=ctx.scope, spec=want)
    oracle_value = oracle["value"]
    return _close(answer.value, oracle_value) and _rows_right(answer, oracle, want) and _comparison_right(ctx, answer, want)


def _rate(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 3) if flags else None


def _failure(case: dict[str, Any], parsed, value_ok: bool) -> dict[str, Any]:
    got = parsed.spec.to_json() if parsed.spec else {"notes": parsed.notes, "understood": parsed.understood, "closest": parsed.closest}
    return {"id": case["id"], "question": case["question"], "value_right": value_ok, "got": got, "want": case["expect"]}


def run_kpi_eval(session, cases_file: Path = CASES_FILE, *, values: bool = True, list_failures: bool = True) -> dict[str, Any]:
    cases = load(cases_file)
    spec_ok: dict[str, list[bool]] = defaultdict(list)
    value_ok: dict[str, list[bool]] = defaultdict(list)
    wrong_metric, asked_back = 0, 0
    failures, latencies = [], []
    for case in cases:
        t0 = time.perf_counter()
        parsed = parse_question(case["question"], session=session, today=TODAY)
        latencies.append((time.perf_counter() - t0) * 1000)
        ok = spec_matches(parsed.spec, case["expect"])
        spec_ok[case["lang"]].append(ok)
        v_ok = value_right(session, case, parsed) if values else ok
        value_ok[case["lang"]].append(v_ok)
        wrong_metric += parsed.spec is not None and parsed.spec.metric != case["expect"]["metric"]
        asked_back += parsed.unsure
        if not (ok and v_ok) and list_failures:
            failures.append(_failure(case, parsed, v_ok))
    latencies.sort()
    every_spec = [x for v in spec_ok.values() for x in v]
    every_value = [x for v in value_ok.values() for x in v]
    return {
        "cases": len(cases),
        "spec_right": _rate(every_spec), "value_right": _rate(every_value),
        "spec_right_by_language": {lang: _rate(v) for lang, v in sorted(spec_ok.items())},
        "value_right_by_language": {lang: _rate(v) for lang, v in sorted(value_ok.items())},
        "wrong_metric_answered_with_a_number": wrong_metric,
        "asked_which_metric": asked_back,
        "parse_p50_ms": round(latencies[len(latencies) // 2], 2) if latencies else None,
        "failures": failures,
    }


def run_kpi_suites(session, *, show_test_failures: bool | None = None) -> dict[str, Any]:
    """Every suite on the same demo company; the test half's failures stay hidden unless asked."""
    if show_test_failures is None:
        show_test_failures = os.environ.get("REPCOPILOT_EVAL_SHOW_TEST") == "1"
    report: dict[str, Any] = {}
    for name, path in SUITES.items():
        if path.is_file():
            report[name] = run_kpi_eval(session, path, list_failures=name != "test" or show_test_failures)
    return report


def seed_alerts(engine, *, at=None, first_window_days: int = 30) -> None:
    """Real alerts on the demo company, raised by the signal rules in two rounds (the second
    escalates and expires the first batch), then some adopted, dismissed and escalated — so the
    alert KPIs have values (the eval and tests/kpi/test_alert_kpis.py share it). ``at``: the
    second round's clock (default: the eval's noon)."""
    from sqlalchemy import select

    from crm.access import get_user
    from crm.db import session_factory
    from crm.models import Alert
    from tools.alerts import decide_alert, escalate_alert
    from tools.context import ToolContext
    from tools.signals import run_signals

    at = at or NOON
    with session_factory(engine)() as s:
        admin = ToolContext(user=get_user(s, "wangjianhua"), session=s, clock=lambda: at - timedelta(days=10))
        run_signals(ctx=admin, since=at - timedelta(days=10 + first_window_days), until=at - timedelta(days=10))
        s.commit()
        admin.clock = lambda: at
        run_signals(ctx=admin, since=at - timedelta(days=10), until=at)
        s.commit()
        ids = list(s.scalars(select(Alert.id).where(Alert.status == "shown").order_by(Alert.id)))
        for i, aid in enumerate(ids):
            if i % 3 == 0:
                decide_alert(ctx=admin, alert_id=aid, decision="adopted")
            elif i % 3 == 1:
                decide_alert(ctx=admin, alert_id=aid, decision="dismissed")
            elif i % 5 == 2:
                escalate_alert(ctx=admin, alert_id=aid)
        s.commit()
