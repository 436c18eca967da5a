"""Intent: which capability a question asks for, from the multilingual encoder over the
exemplar bank (``agent/exemplars/<intent>.yaml``: how people ask for it, in Chinese and
English), with a calibrated confidence.

The classifier is a multinomial logistic regression (scikit-learn) on the normalized e5
vectors: it is trained in about a second when first needed, gives probabilities that can
be thresholded (a nearest-centroid score cannot), and weighs every exemplar instead of the
few nearest ones, which matters for the short, noisy questions people type.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from agent.understanding.encoder import cache_dir, encode_cached, encode_question

EXEMPLARS = Path(__file__).resolve().parent.parent / "exemplars"
LANGUAGES = ("zh", "en")


@dataclass(frozen=True)
class Intent:
    name: str
    tool: str | None  # None: answered by the planner itself (help, out of scope)
    description: str


@dataclass(frozen=True)
class Reading:
    """One possible reading of a question: an intent and how likely it is."""

    intent: str
    tool: str | None
    confidence: float


@dataclass(frozen=True)
class ExemplarBank:
    intents: dict[str, Intent]
    texts: list[str]
    labels: list[str]


def load_bank(folder: Path = EXEMPLARS) -> ExemplarBank:
    """Every ``<intent>.yaml`` in the folder: ``intent``, ``tool``, ``description`` and the
    ``zh`` / ``en`` exemplar lists. A file that breaks these rules is named in the error."""
    intents: dict[str, Intent] = {}
    texts: list[str] = []
    labels: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        name = doc.get("intent") or path.stem
        if not all(isinstance(doc.get(lang), list) for lang in LANGUAGES):
            raise ValueError(f"{path}: needs a 'zh' and an 'en' list of exemplars")
        tool = doc.get("tool")
        intents[name] = Intent(name, None if tool in (None, "none", "") else str(tool), str(doc.get("description", "")))
        for lang in LANGUAGES:
            for text in doc[lang]:
                if str(text).strip():
                    texts.append(str(text).strip())
                    labels.append(name)
    if not intents:
        raise ValueError(f"no exemplar files in {folder}")
    return ExemplarBank(intents, texts, labels)


class IntentClassifier:
    """Logistic regression on the exemplar vectors, blended with the nearest exemplars' vote. Fitting takes seconds (tens on a busy
    2-core machine), so the fitted weights are cached beside the exemplar vectors, keyed by
    the bank's content and the regularization; predicting is one matrix product."""

    def __init__(self, bank: ExemplarBank, *, c: float = 30.0) -> None:
        self.bank = bank
        # one cache file per intent: editing one exemplar file re-encodes that intent only
        by_intent: dict[str, list[str]] = {}
        for text, label in zip(bank.texts, bank.labels, strict=True):
            by_intent.setdefault(label, []).append(text)
        key = hashlib.sha256(json.dumps([c, sorted(by_intent.items())], ensure_ascii=False).encode()).hexdigest()[:20]
        path = cache_dir() / f"intent-model-{key}.npz"
        self.vectors = np.vstack([encode_cached(texts, kind=f"exemplars-{name}") for name, texts in by_intent.items()])
        labels = [name for name, texts in by_intent.items() for _ in texts]
        try:
            cached = np.load(path)
            self.coef, self.intercept, self.classes = cached["coef"], cached["intercept"], [str(x) for x in cached["classes"]]
        except (OSError, ValueError, KeyError):
            self._fit(self.vectors, labels, c)
            self._save(path)
        index = {name: i for i, name in enumerate(self.classes)}
        self.exemplar_class = np.array([index[name] for name in labels])

    def _save(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, coef=self.coef, intercept=self.intercept, classes=np.array(self.classes))
            tmp.replace(path)
        except OSError:
            pass

    def _fit(self, vectors: np.ndarray, labels: list[str], c: float) -> None:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=c, max_iter=3000)
        model.fit(vectors, labels)
        self.coef, self.intercept, self.classes = model.coef_, model.intercept_, [str(x) for x in model.classes_]

    #: the nearest exemplars' vote, blended half and half with the regression (chosen on the dev
    #: split: the regression generalises over wordings, the neighbours catch a question that is
    #: close to one exemplar — "比特币明年会涨吗" next to "比特币会涨吗")
    NEIGHBOURS, TEMPERATURE, NEIGHBOUR_WEIGHT = 10, 0.03, 0.5

    def probabilities(self, vector: np.ndarray) -> np.ndarray:
        logits = self.coef @ vector + self.intercept
        e = np.exp(logits - logits.max())
        return (1 - self.NEIGHBOUR_WEIGHT) * e / e.sum() + self.NEIGHBOUR_WEIGHT * self.neighbour_vote(vector)

    def neighbour_vote(self, vector: np.ndarray) -> np.ndarray:
        """Each of the nearest exemplars votes for its intent, weighted by how close it is
        relative to the nearest one."""
        sims = self.vectors @ vector
        nearest = np.argpartition(-sims, self.NEIGHBOURS)[:self.NEIGHBOURS]
        weights = np.exp((sims[nearest] - sims[nearest].max()) / self.TEMPERATURE)
        vote = np.bincount(self.exemplar_class[nearest], weights=weights, minlength=len(self.classes))
        return vote / vote.sum()

    def readings(self, vector: np.ndarray, *, allowed: set[str] | None = None) -> list[Reading]:
        """Every intent with its probability, likeliest first; intents whose tool the
        caller does not offer are dropped and the rest renormalized."""
        probs = self.probabilities(vector)
        out = []
        for name, p in zip(self.classes, probs, strict=True):
            intent = self.bank.intents[name]
            if allowed is not None and intent.tool is not None and intent.tool not in allowed:
                continue
            out.append((name, intent.tool, float(p)))
        total = sum(p for _, _, p in out) or 1.0
        return sorted((Reading(n, t, p / total) for n, t, p in out), key=lambda r: -r.confidence)

    def classify(self, question: str, *, allowed: set[str] | None = None) -> list[Reading]:
        return self.readings(encode_question(question), allowed=allowed)


def reweigh(readings: list[Reading], factors: dict[str, float]) -> list[Reading]:
    """The readings with some intents' probabilities multiplied (what the slots say: a metric is
    named, nobody asks "who"), renormalized and re-sorted."""
    if not factors:
        return readings
    scaled = [(r, r.confidence * factors.get(r.intent, 1.0)) for r in readings]
    total = sum(p for _, p in scaled) or 1.0
    return sorted((Reading(r.intent, r.tool, p / total) for r, p in scaled), key=lambda r: -r.confidence)


_lock = threading.Lock()
_shared: IntentClassifier | None = None


def shared_classifier() -> IntentClassifier:
    """The process's classifier, built once on first use (server threads share it)."""
    global _shared
    if _shared is None:
        with _lock:
            if _shared is None:
                _shared = IntentClassifier(load_bank())
    return _shared
