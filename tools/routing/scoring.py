"""Scoring: each eligible rep's five parts and weighted total for one lead."""

from __future__ import annotations

from typing import Any, NamedTuple

from tools.routing.batch import Batch, RepInfo
from tools.routing.config import FACTORS


class ScoredRep(NamedTuple):
    """One rep's score for one lead: the weighted total, their current load and the five parts (0–100)."""
    total: float
    load_raw: float
    rep: RepInfo
    parts: dict[str, float]  # factor → 0–100


def effective_weights(weights: dict[str, float], tier: str, cfg: dict[str, Any]) -> dict[str, float]:
    """Pure: the weights for a lead of this tier (high intent boosts fit), renormalised to sum 1."""
    w = dict(weights)
    if tier in cfg["dual"]["tiers"]:
        w["fit"] = w["fit"] * float(cfg["high_intent_fit_boost"])
    total = sum(w.values()) or 1.0
    return {k: v / total for k, v in w.items()}


def _language_fit(language: str, international: bool) -> float:
    """An international account wants an English speaker; a domestic one a Chinese speaker (others half)."""
    if international:
        return 100.0 if language == "en" else 0.0
    return 100.0 if language == "zh" else 50.0


def score_reps(batch: Batch, *, scenario: str, account_id: int, segment: str, region_id: int, international: bool,
               weights: dict[str, float], cfg: dict[str, Any]) -> list[ScoredRep]:
    """(total, load_raw, rep, parts) for every eligible rep, best first (ties: lower load, then login)."""
    reps = batch.reps
    loads = batch.loads
    if not reps:
        return []
    lo, hi = min(loads), max(loads)
    span = hi - lo
    fits = batch.fits.get(scenario) or [0.0] * len(reps)
    hc = cfg["history"]
    acc_w, sat = float(hc["account_won"]), float(hc["saturate"])
    wf, wc, wr, wh, wl = (weights[k] for k in FACTORS)
    out = []
    for i, r in enumerate(reps):
        capacity = 100.0 if span == 0 else 100.0 * (hi - loads[i]) / span
        region = 100.0 if r.region_id == region_id else 0.0
        wins = acc_w * batch.wins_account.get((r.id, account_id), 0) + batch.wins_segment.get((r.id, segment), 0)
        history = 100.0 * min(1.0, wins / sat)
        language = _language_fit(r.language, international)
        fit = fits[i]
        total = wf * fit + wc * capacity + wr * region + wh * history + wl * language
        out.append(ScoredRep(total, loads[i], r, {"fit": fit, "capacity": capacity, "region": region, "history": history,
                                         "language": language}))
    out.sort(key=lambda x: (-x.total, x.load_raw, x.rep.login))
    return out
