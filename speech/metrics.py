"""Conversation metrics: pure functions over speaker turns (definitions: metrics.yaml).

A metric that cannot be computed (no speakers, no questions, no pain point followed by a
question …) is ``None`` — never a guessed number.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from itertools import pairwise

from core.lang import cjk_count
from speech.text import is_open_question, is_pain_point, is_question, is_why_question
from speech.turns import Turn

INTERRUPTION_WINDOW_S = 0.2


def _separated(turns: Sequence[Turn]) -> bool:
    speakers = {t.speaker for t in turns}
    return "rep" in speakers and "customer" in speakers


def _minutes(turns: Sequence[Turn]) -> float:
    if not turns:
        return 0.0
    return max(0.0, max(t.end_s for t in turns) - min(t.start_s for t in turns)) / 60.0


def _rep(turns: Sequence[Turn]) -> list[Turn]:
    return [t for t in turns if t.speaker == "rep"]


def talk_ratio(turns: Sequence[Turn]) -> float | None:
    if not _separated(turns):
        return None
    rep = sum(t.duration_s for t in turns if t.speaker == "rep")
    cust = sum(t.duration_s for t in turns if t.speaker == "customer")
    return rep / (rep + cust) if rep + cust > 0 else None


def longest_monologue_s(turns: Sequence[Turn]) -> float | None:
    if not _separated(turns):
        return None
    return max(t.duration_s for t in _rep(turns))


def longest_customer_story_s(turns: Sequence[Turn]) -> float | None:
    if not _separated(turns):
        return None
    return max(t.duration_s for t in turns if t.speaker == "customer")


def interactivity_per_min(turns: Sequence[Turn]) -> float | None:
    if not _separated(turns) or _minutes(turns) == 0:
        return None
    ordered = sorted(turns, key=lambda t: t.start_s)
    switches = sum(1 for a, b in pairwise(ordered) if a.speaker != b.speaker)
    return switches / _minutes(turns)


def _transitions(turns: Sequence[Turn]) -> list[tuple[Turn, Turn]]:
    """(customer turn, the rep turn that follows it) pairs, in time order."""
    ordered = sorted(turns, key=lambda t: t.start_s)
    return [(a, b) for a, b in pairwise(ordered) if a.speaker == "customer" and b.speaker == "rep"]


def patience_s(turns: Sequence[Turn]) -> float | None:
    if not _separated(turns):
        return None
    gaps = [max(0.0, rep.start_s - cust.end_s) for cust, rep in _transitions(turns)]
    return statistics.median(gaps) if gaps else None


def pain_point_pause_s(turns: Sequence[Turn], language: str | None = None) -> float | None:
    if not _separated(turns):
        return None
    gaps = [max(0.0, rep.start_s - cust.end_s) for cust, rep in _transitions(turns)
            if is_pain_point(cust.text, language) and is_question(rep.text, language)]
    return statistics.median(gaps) if gaps else None


def _questions(turns: Sequence[Turn], language: str | None) -> list[Turn]:
    return [t for t in _rep(turns) if is_question(t.text, language)]


def question_rate_per_10min(turns: Sequence[Turn], language: str | None = None) -> float | None:
    if not _separated(turns) or _minutes(turns) == 0:
        return None
    return len(_questions(turns, language)) / _minutes(turns) * 10


def open_question_share(turns: Sequence[Turn], language: str | None = None) -> float | None:
    qs = _questions(turns, language) if _separated(turns) else []
    return sum(is_open_question(t.text, language) for t in qs) / len(qs) if qs else None


def why_question_count(turns: Sequence[Turn], language: str | None = None) -> int | None:
    if not _separated(turns):
        return None
    return sum(is_why_question(t.text, language) for t in _rep(turns))


def why_question_share(turns: Sequence[Turn], language: str | None = None) -> float | None:
    qs = _questions(turns, language) if _separated(turns) else []
    return sum(is_why_question(t.text, language) for t in qs) / len(qs) if qs else None


def interruptions(turns: Sequence[Turn]) -> int | None:
    if not _separated(turns):
        return None
    ordered = sorted(turns, key=lambda t: t.start_s)
    return sum(1 for prev, t in pairwise(ordered)
               if prev.speaker == "customer" and t.speaker == "rep" and t.start_s < prev.end_s + INTERRUPTION_WINDOW_S)


def _units(text: str, language: str | None) -> int:
    cjk = cjk_count(text)
    words = len(re.findall(r"[A-Za-z0-9']+", text))
    return cjk + words if (language == "zh" or cjk > words) else words


def speaking_rate_wpm(turns: Sequence[Turn], language: str | None = None) -> float | None:
    speech = _rep(turns) if _separated(turns) else list(turns)
    seconds = sum(t.duration_s for t in speech)
    if seconds <= 0:
        return None
    return sum(_units(t.text, language) for t in speech) / (seconds / 60.0)


def compute_metrics(turns: Sequence[Turn], language: str | None = None) -> dict[str, float | int | None]:
    """Every registry metric for one call; ``None`` where it cannot be computed."""
    return {
        "talk_ratio": talk_ratio(turns),
        "longest_monologue_s": longest_monologue_s(turns),
        "longest_customer_story_s": longest_customer_story_s(turns),
        "interactivity_per_min": interactivity_per_min(turns),
        "patience_s": patience_s(turns),
        "pain_point_pause_s": pain_point_pause_s(turns, language),
        "question_rate_per_10min": question_rate_per_10min(turns, language),
        "open_question_share": open_question_share(turns, language),
        "why_question_count": why_question_count(turns, language),
        "why_question_share": why_question_share(turns, language),
        "interruptions": interruptions(turns),
        "speaking_rate_wpm": speaking_rate_wpm(turns, language),
    }
