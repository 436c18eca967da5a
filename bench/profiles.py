"""Capability-profile recompute time: every rep's profile from all calls' metrics and all
opportunities' stage histories, on the demo company at scale 1 and scale 10 (goals: under 5 s
and 30 s). The demo build and the call-metric computation are timed apart and not counted."""

from __future__ import annotations

import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from crm.db import make_engine, session_factory, upgrade_schema
from crm.models import Call, Opportunity
from tools.calls import recompute_call_metrics
from tools.capability import recompute_profiles
from tools.demo_setup import build_demo

GOALS_S = {1: 5.0, 10: 30.0}


def bench_profiles(*, scales: tuple[int, ...] = (1, 10), repeats: int = 3, url: str | None = None) -> dict[str, Any]:
    as_of = date(2026, 11, 20)
    out: dict[str, Any] = {}
    for scale in scales:
        with tempfile.TemporaryDirectory(prefix="repcopilot-profiles-") as tmp:
            engine = make_engine(url or f"sqlite:///{Path(tmp) / 'profiles.db'}")
            upgrade_schema(engine)
            t0 = time.perf_counter()
            build_demo(engine, seed=7, scale=scale, as_of=as_of)
            with session_factory(engine)() as session:
                recompute_call_metrics(session)
                session.commit()
            setup_s = time.perf_counter() - t0
            runs = []
            with session_factory(engine)() as session:
                calls = session.scalar(select(func.count()).select_from(Call))
                opps = session.scalar(select(func.count()).select_from(Opportunity))
                for _ in range(repeats):
                    t = time.perf_counter()
                    report = recompute_profiles(session, now=datetime(2026, 11, 20, 12))
                    session.commit()
                    runs.append(time.perf_counter() - t)
            engine.dispose()
        best, worst = min(runs), max(runs)
        out[f"scale{scale}_recompute_s"] = round(best, 3)
        out[f"scale{scale}_recompute_worst_s"] = round(worst, 3)
        out[f"scale{scale}_reps"] = report.reps
        out[f"scale{scale}_calls"] = calls
        out[f"scale{scale}_opportunities"] = opps
        out[f"scale{scale}_setup_s"] = round(setup_s, 1)
        if scale in GOALS_S:
            out[f"scale{scale}_goal_s"] = GOALS_S[scale]
            out[f"scale{scale}_within_goal"] = worst < GOALS_S[scale]
    return out
