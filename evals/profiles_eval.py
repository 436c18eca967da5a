"""Profiles evaluation: on the demo company, do the reps the generator made patient and curious
come out on top in needs discovery?

The generator gives every rep hidden traits (kept in ``meta`` for evaluation only): patience —
seconds waited after a customer states a pain point — and curiosity — the share of questions
asking *why*. The profile never reads them; it measures calls. The eval compares the two:

- ``top4_planted`` — how many of the 4 best needs-discovery scores belong to *planted* reps
  (both traits above the median of the scored reps); the check wants all 4;
- ``planted_margin`` — mean score of planted reps minus the others' (wants ≥ 20 points);
- ``rank_correlation`` — Pearson correlation between the needs-discovery rank and the sum of
  the patience and curiosity ranks (Spearman-like; wants > 0.6);
- ``trait_correlation`` — the same per trait, for reading.
"""

from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.demo import demo_traits
from crm.models import CapabilityProfile, User
from tools.capability import recompute_profiles

TOP_N = 4
MIN_MARGIN = 20.0
MIN_CORRELATION = 0.6


def _ranks(values: dict[str, float]) -> dict[str, int]:
    return {k: i for i, k in enumerate(sorted(values, key=lambda k: (values[k], k)))}


def run_profiles_eval(session: Session, *, now: datetime) -> dict[str, Any]:
    """Recompute the profiles (call metrics must be computed) and score them against the traits."""
    traits = demo_traits(session)
    if not traits:
        raise ValueError("no demo traits in this database: build it with `repcopilot init --demo`")
    recompute_profiles(session, now=now)
    rows = session.execute(select(User.login, CapabilityProfile.dimensions)
                           .join(CapabilityProfile, CapabilityProfile.user_id == User.id)).all()
    scored = {login: dims["needs_discovery"]["score"] for login, dims in rows
              if dims["needs_discovery"]["score"] is not None and login in traits}
    if len(scored) < TOP_N + 2:
        raise ValueError(f"only {len(scored)} reps have a needs-discovery score; compute the call metrics first")
    patience_mid = statistics.median(traits[r]["patience_s"] for r in scored)
    curiosity_mid = statistics.median(traits[r]["curiosity"] for r in scored)
    planted = {r for r in scored if traits[r]["patience_s"] > patience_mid and traits[r]["curiosity"] > curiosity_mid}
    top = sorted(scored, key=lambda r: (-scored[r], r))[:TOP_N]
    others = [scored[r] for r in scored if r not in planted]
    margin = statistics.fmean(scored[r] for r in planted) - statistics.fmean(others) if planted and others else None
    by_score = _ranks(scored)
    by_patience = _ranks({r: traits[r]["patience_s"] for r in scored})
    by_curiosity = _ranks({r: traits[r]["curiosity"] for r in scored})
    reps = sorted(scored)
    combined = statistics.correlation([by_patience[r] + by_curiosity[r] for r in reps], [by_score[r] for r in reps])
    checks = {
        "top4_all_planted": all(r in planted for r in top),
        "planted_margin_ok": margin is not None and margin >= MIN_MARGIN,
        "rank_correlation_ok": combined > MIN_CORRELATION,
    }
    failures = [{"check": k, "top": [(r, scored[r], traits[r]) for r in top], "margin": margin, "correlation": combined}
                for k, ok in checks.items() if not ok]
    return {
        "reps_scored": len(scored),
        "planted": len(planted),
        "top4": top,
        "top4_planted": sum(r in planted for r in top),
        "planted_margin": round(margin, 1) if margin is not None else None,
        "rank_correlation": round(combined, 3),
        "trait_correlation": {
            "patience": round(statistics.correlation([by_patience[r] for r in reps], [by_score[r] for r in reps]), 3),
            "curiosity": round(statistics.correlation([by_curiosity[r] for r in reps], [by_score[r] for r in reps]), 3),
        },
        "passed": all(checks.values()),
        "failures": failures,
    }


def profiles_suite(tmp: str) -> dict[str, Any]:
    """The ``repcopilot eval profiles`` runner: a fresh demo company with call metrics computed."""
    from pathlib import Path

    from crm.db import session_factory
    from evals.demo import NOON, build_eval_demo

    folder = Path(tmp) / "profiles"
    folder.mkdir(exist_ok=True)
    engine = build_eval_demo(folder)
    with session_factory(engine)() as session:
        report = run_profiles_eval(session, now=NOON)
        session.rollback()
    engine.dispose()
    return report
