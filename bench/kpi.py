"""KPI latency: every registry metric through the whole layer (compile/execute/render)
against the same SQL run bare through the DB-API cursor, in the same run.

A question asked again (a dashboard refresh, the same question from many managers) reuses
its compiled statement; ``first_ask`` figures clear that cache before every run."""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from crm.access import get_user
from crm.db import make_engine, session_factory, upgrade_schema
from tools.context import ToolContext
from tools.demo_setup import build_demo
from tools.kpi.compiler import Period, QuerySpec, compile_spec, render_sql
from tools.kpi.registry import load_registry
from tools.kpi.service import clear_compiled_cache, run_spec


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def bench_kpi(*, scale: int = 10, repeats: int = 15, url: str | None = None) -> dict[str, Any]:
    as_of = date(2026, 11, 20)
    with tempfile.TemporaryDirectory(prefix="repcopilot-kpi-") as tmp:
        engine = make_engine(url or f"sqlite:///{Path(tmp) / 'kpi.db'}")
        upgrade_schema(engine)
        t0 = time.perf_counter()
        build_demo(engine, seed=7, scale=scale, as_of=as_of)
        build_s = time.perf_counter() - t0
        period = Period(date(2025, 11, 21), date(2026, 11, 21))
        per_metric: dict[str, Any] = {}
        all_ours, all_bare, all_first = [], [], []
        with session_factory(engine)() as session:
            ctx = ToolContext(user=get_user(session, "wangjianhua"), session=session, language="en",
                              clock=lambda: datetime(2026, 11, 20, 12))
            raw = session.connection().connection  # the DB-API connection under the same session
            for name, metric in load_registry().metrics.items():
                spec = QuerySpec(metric=name, dimensions=[metric.dimensions[0]], period=period)
                sql = render_sql(compile_spec(spec, scope=ctx.scope, dialect=engine.dialect.name), engine.dialect)
                ours, bare, first = [], [], []
                run_spec(ctx=ctx, spec=spec)  # warm
                for _ in range(repeats):
                    clear_compiled_cache()
                    t = time.perf_counter()
                    run_spec(ctx=ctx, spec=spec)
                    first.append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    run_spec(ctx=ctx, spec=spec)
                    ours.append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    cur = raw.cursor()
                    cur.execute(sql)
                    cur.fetchall()
                    cur.close()
                    bare.append((time.perf_counter() - t) * 1000)
                per_metric[name] = {"p50_ms": round(_p(ours, 0.5), 1), "p95_ms": round(_p(ours, 0.95), 1),
                                    "bare_sql_p95_ms": round(_p(bare, 0.95), 1),
                                    "overhead_p50_ms": round(_p(ours, 0.5) - _p(bare, 0.5), 1),
                                    "first_ask_p50_ms": round(_p(first, 0.5), 1),
                                    "ratio_p95": round(_p(ours, 0.95) / max(_p(bare, 0.95), 1e-6), 2)}
                all_ours += ours
                all_bare += bare
                all_first += first
        engine.dispose()
    worst = max(per_metric.items(), key=lambda kv: kv[1]["p95_ms"])
    return {
        "scale": scale, "backend": "sqlite" if url is None else url.split(":")[0], "demo_build_s": round(build_s, 1),
        "metrics": len(per_metric), "p50_ms": round(_p(all_ours, 0.5), 1), "p95_ms": round(_p(all_ours, 0.95), 1),
        "bare_sql_p95_ms": round(_p(all_bare, 0.95), 1),
        "ratio_p95": round(_p(all_ours, 0.95) / max(_p(all_bare, 0.95), 1e-6), 2),
        "first_ask_p95_ms": round(_p(all_first, 0.95), 1),
        "first_ask_ratio_p95": round(_p(all_first, 0.95) / max(_p(all_bare, 0.95), 1e-6), 2),
        "overhead_p50_ms_max_over_metrics": max(v["overhead_p50_ms"] for v in per_metric.values()),
        "ratio_p95_median_over_metrics": round(statistics.median(v["ratio_p95"] for v in per_metric.values()), 2),
        "slowest_metric": worst[0], "slowest_metric_p95_ms": worst[1]["p95_ms"], "per_metric": per_metric,
    }
