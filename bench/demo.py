"""Benchmark of the demo build and of the bulk insert, against plain sqlite3 in the same run."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from crm.db import make_engine, upgrade_schema
from crm.demo import _Generator
from tools.demo_setup import build_demo


def bench_demo(*, scale: int = 1, seed: int = 7) -> dict[str, Any]:
    """Build the demo company into a fresh SQLite file, then insert the same rows with bare
    ``sqlite3.executemany`` into another fresh file; report both and their ratio."""
    as_of = date(2026, 1, 15)
    with tempfile.TemporaryDirectory(prefix="repcopilot-bench-") as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'demo.db'}")
        upgrade_schema(engine)
        report = build_demo(engine, seed=seed, scale=scale, as_of=as_of)
        engine.dispose()

        gen = _Generator(seed=seed, scale=scale, as_of=as_of)
        gen.generate(lambda _m: None)
        base_engine = make_engine(f"sqlite:///{Path(tmp) / 'bare.db'}")
        upgrade_schema(base_engine)
        base_engine.dispose()
        conn = sqlite3.connect(Path(tmp) / "bare.db")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        t0 = time.perf_counter()
        rows = 0
        for model, table_rows in gen.rows.items():
            if not table_rows:
                continue
            cols = list(table_rows[0])
            sql = f"INSERT INTO {model.__tablename__} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            conn.executemany(sql, [tuple(_plain(r[c]) for c in cols) for r in table_rows])
            rows += len(table_rows)
        conn.commit()
        bare_s = time.perf_counter() - t0
        conn.close()
    return {
        "scale": scale,
        "demo_build_s": round(report.seconds, 3),
        "generate_s": round(report.timings["generate_s"], 3),
        "bulk_insert_s": round(report.insert_seconds, 3),
        "rows": report.rows_inserted,
        "bulk_insert_rows_per_s": round(report.rows_per_s),
        "bare_sqlite3_insert_s": round(bare_s, 3),
        "bare_sqlite3_rows_per_s": round(rows / bare_s),
        "insert_ratio_vs_bare": round(report.insert_seconds / bare_s, 2),
    }


def _plain(value: Any) -> Any:
    import json
    from datetime import datetime

    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value
