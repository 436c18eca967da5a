"""Practice eval: for every demo scenario a strong (curious, patient, asks why) and a weak
(pitches early, no discovery) scripted rep session in ``evals/practice/CODE.{strong,weak}.txt``,
run through the real practice graph with the scripted customer. Reports per scenario the
discovery, rubric and overall scores of both, whether strong beats weak on discovery and on the
rubric, and whether every rubric verdict cites a turn or says why it failed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from crm.access import get_user
from tools.context import ToolContext
from tools.practice.scenario import BUILTIN_DIR, catalogue

SCRIPTS_DIR = Path(__file__).with_name("practice")
REP = "zhangwei"
NOON = datetime(2026, 11, 20, 12, 0)


def verdict_is_explained(v: dict[str, Any]) -> bool:
    """A passed verdict cites the turn that satisfies it; a failed one says why (and cites a turn where one shows it)."""
    return (v["turn"] is not None and bool(v["quote"])) if v["passed"] else bool(v["reason"])


def run_practice_eval(session: Session, *, home: Path | None = None, login: str = REP) -> dict[str, Any]:
    from agent.practice import run_script

    codes = sorted(c for c, src in catalogue(None).sources.items() if src == "builtin")
    rows, failures = [], []
    for code in codes:
        result: dict[str, Any] = {"scenario": code}
        for kind in ("strong", "weak"):
            script = SCRIPTS_DIR / f"{code}.{kind}.txt"
            if not script.is_file():
                failures.append(f"{code}: missing {script.name}")
                continue
            user = get_user(session, login)
            ctx = ToolContext(user=user, session=session, language=user.language, home=home, clock=lambda: NOON)
            out = run_script(ctx, code, script.read_text(encoding="utf-8").splitlines())
            sc = out["scores"]
            unexplained = [v["id"] for v in out["rubric"] if not verdict_is_explained(v)]
            result[kind] = {"discovery": sc["discovery"], "rubric": sc["rubric"], "overall": sc["overall"],
                            "pain_points": f"{sc['pain_points_found']}/{sc['pain_points_hidden']}",
                            "why_questions": sc["metrics"].get("why_question_count"),
                            "pain_point_pause_s": sc["metrics"].get("pain_point_pause_s"), "unexplained_verdicts": unexplained}
            failures += [f"{code} {kind}: rubric verdict {i} neither cites a turn nor says why" for i in unexplained]
        if "strong" in result and "weak" in result:
            result["strong_beats_weak_discovery"] = result["strong"]["discovery"] > result["weak"]["discovery"]
            result["strong_beats_weak_rubric"] = result["strong"]["rubric"] > result["weak"]["rubric"]
            for what in ("discovery", "rubric"):
                if not result[f"strong_beats_weak_{what}"]:
                    failures.append(f"{code}: strong {result['strong'][what]} does not beat weak {result['weak'][what]} on {what}")
        rows.append(result)
    both = [r for r in rows if "strong" in r and "weak" in r]
    return {
        "scenarios": len(rows), "scenarios_zh": sum(catalogue(None).scenarios[r["scenario"]].language == "zh" for r in rows),
        "strong_beats_weak_discovery": sum(r["strong_beats_weak_discovery"] for r in both),
        "strong_beats_weak_rubric": sum(r["strong_beats_weak_rubric"] for r in both),
        "mean_strong_overall": round(sum(r["strong"]["overall"] for r in both) / len(both), 1) if both else None,
        "mean_weak_overall": round(sum(r["weak"]["overall"] for r in both) / len(both), 1) if both else None,
        "per_scenario": rows, "scripts": str(SCRIPTS_DIR), "scenario_files": str(BUILTIN_DIR), "failures": failures,
    }
