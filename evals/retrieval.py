"""Retrieval quality: recall@3 and MRR per direction (en->en, zh->zh, en->zh, zh->en).

Two case sets:
- ``retrieval.jsonl``: questions about the demo playbooks (a hand glossary was once written for
  their vocabulary; the offline translation is now the CC-CEDICT dictionary); cross-lingual cases
  search the target language only.
- ``retrieval_corpus/``: passages on topics outside the demo playbooks (service contracts,
  data-security reviews, logistics, channel partners, medical-device regulation …) and
  questions written independently of the code, split once by a fixed hash of the question id
  into ``dev.jsonl`` (for choosing fusion weights) and ``test.jsonl`` (reported, never tuned
  on). These search both languages, as a rep's question does.
- ``retrieval_corpus_b2/``, ``retrieval_corpus_b3/``, ``retrieval_corpus_b4/``: further corpora written the same way by
  other writers (40 passages each; 96, 128 and 140 questions, b3 and b4 weighted to the cross-lingual directions,
  b4 to en->zh); all of them is dev (``corpus_b2_dev`` …): tuned on, never reported as held out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

CASES_FILE = Path(__file__).with_name("retrieval.jsonl")
CORPUS_DIR = Path(__file__).with_name("retrieval_corpus")
CORPUS_B2_DIR = Path(__file__).with_name("retrieval_corpus_b2")
CORPUS_B3_DIR = Path(__file__).with_name("retrieval_corpus_b3")
CORPUS_B4_DIR = Path(__file__).with_name("retrieval_corpus_b4")
CORPUS_B5_DIR = Path(__file__).with_name("retrieval_corpus_b5")
#: the corpora that are dev as a whole, by their report name
DEV_CORPORA = {"corpus_b2_dev": CORPUS_B2_DIR, "corpus_b3_dev": CORPUS_B3_DIR, "corpus_b4_dev": CORPUS_B4_DIR,
               "corpus_b5_dev": CORPUS_B5_DIR}


def no_translation(query: str, language: str) -> str:
    """A translator that leaves the question as asked: no dictionary, no LLM."""
    return query


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def split_of(question_id: str) -> str:
    """dev or test, fixed by the id alone (sha256), so the split never depends on results."""
    return "test" if hashlib.sha256(question_id.encode()).digest()[0] % 2 else "dev"


def _rank(hits, relevant: list[str]) -> tuple[int | None, list[str]]:
    sources: list[str] = []
    for h in hits:  # rank documents, not chunks
        if h.source not in sources:
            sources.append(h.source)
    return next((i + 1 for i, s in enumerate(sources) if s in relevant), None), sources


def _summary(recall: dict[str, list[float]], rr: dict[str, list[float]]) -> dict[str, Any]:
    return {"recall_at_3": {d: round(sum(v) / len(v), 3) for d, v in sorted(recall.items())},
            "mrr": {d: round(sum(v) / len(v), 3) for d, v in sorted(rr.items())},
            "cases_per_direction": {d: len(v) for d, v in sorted(recall.items())}}


def run_retrieval_eval(store, cases_file: Path = CASES_FILE, k: int = 3, translate=None) -> dict[str, Any]:
    """The demo-playbook cases. ``translate``: passed to every search (``no_translation``
    leaves queries untranslated)."""
    cases = load_jsonl(cases_file)
    recall: dict[str, list[float]] = defaultdict(list)
    rr: dict[str, list[float]] = defaultdict(list)
    failures = []
    for c in cases:
        target = c["direction"].split("->")[1]
        hits = store.search(c["query"], k=10, kinds=("playbook",), languages=(target,), translate=translate)
        rank, sources = _rank(hits, c["relevant"])
        recall[c["direction"]].append(1.0 if rank and rank <= k else 0.0)
        rr[c["direction"]].append(1.0 / rank if rank else 0.0)
        if not rank or rank > k:
            failures.append({"id": c["id"], "query": c["query"], "want": c["relevant"], "got": sources[:3]})
    return {"cases": len(cases), **_summary(recall, rr), "failures": failures}


def run_corpus_eval(store, questions: list[dict[str, Any]], k: int = 3, translate=None,
                    with_failures: bool = False) -> dict[str, Any]:
    """Corpus questions over both languages' playbooks (a rep's search); recall@k per direction,
    plus ``within_language`` and ``cross_language`` overall."""
    recall: dict[str, list[float]] = defaultdict(list)
    rr: dict[str, list[float]] = defaultdict(list)
    failures = []
    for q in questions:
        hits = store.search(q["question"], k=10, kinds=("playbook",), translate=translate)
        rank, sources = _rank(hits, q["relevant"])
        ok = 1.0 if rank and rank <= k else 0.0
        for key in (q["direction"], "within_language" if q["direction"] in ("zh->zh", "en->en") else "cross_language"):
            recall[key].append(ok)
            rr[key].append(1.0 / rank if rank else 0.0)
        if not ok:
            failures.append({"id": q["id"], "question": q["question"], "want": q["relevant"], "got": sources[:3]})
    report = {"questions": len(questions), **_summary(recall, rr)}
    if with_failures:
        report["failures"] = failures
    return report


def corpus_retrieval_report(store, corpus: Path = CORPUS_DIR, *, splits: tuple[str, ...] = ("dev", "test"),
                            dev_corpora: dict[str, Path] | None = None) -> dict[str, Any]:
    """The held-out corpus indexed into ``store``; its ``splits`` (dev and test), with the offline translation
    (offline default) and with no translation at all (the embedder and BM25 alone); then each corpus that
    is dev as a whole (``DEV_CORPORA`` by default: ``corpus_b2_dev``, ``corpus_b3_dev``), each indexed into
    a store beside ``store`` with the same embedder, companion and translator. Failures are listed for dev only."""
    index_corpus(store, corpus)
    out: dict[str, Any] = {}
    for split in splits:
        out.update(_corpus_figures(store, corpus_split(corpus, split), f"corpus_{split}", with_failures=split == "dev"))
    for name, folder in (DEV_CORPORA if dev_corpora is None else dev_corpora).items():
        if (Path(folder) / "questions.jsonl").exists():
            beside = dev_corpus_store(store, name)
            index_corpus(beside, folder)
            out.update(_corpus_figures(beside, load_jsonl(Path(folder) / "questions.jsonl"), name, with_failures=True))
    return out


def _corpus_figures(store, questions: list[dict[str, Any]], name: str, with_failures: bool) -> dict[str, Any]:
    """``name``: recall@3 and MRR with the offline translation (and its failures when asked); ``name_untranslated``: without."""
    plain = run_corpus_eval(store, questions, translate=no_translation)
    return {name: run_corpus_eval(store, questions, with_failures=with_failures),
            f"{name}_untranslated": {"recall_at_3": plain["recall_at_3"], "mrr": plain["mrr"]}}


def dev_corpus_store(store, name: str):
    """A store beside ``store`` (same embedder, companion and translator) for the dev corpus ``name``."""
    from knowledge import KnowledgeStore

    suffix = "_" + name.removeprefix("corpus_").removesuffix("_dev")
    return KnowledgeStore(store.home.with_name(store.home.name + suffix), embedder=store.embedder, companion=store.companion,
                          translate=store.translate)


def index_corpus(store, corpus: Path = CORPUS_DIR):
    return store.index_files([Path(corpus) / "passages"])


def corpus_split(corpus: Path = CORPUS_DIR, name: str = "dev") -> list[dict[str, Any]]:
    return load_jsonl(Path(corpus) / f"{name}.jsonl")


#: the grid searched on dev (``tune_fusion`` with ``more=(("corpus_b2_dev", …),)``: corpus dev and the
#: whole of corpus_b2, with the offline translation and without); the chosen point is written into
#: knowledge.store.Fusion
FUSION_GRID = {
    "dense": (1.0,),
    "keyword": (1.0,),
    "keyword_cross": (0.5,),
    "translated": (0.15, 0.3),
    "other_language": (1.05,),
    "other_language_trailing": (0.95,),
    "language_margin": (0.0,),
    "rrf_k": (10,),
    "hub_penalty": (1.0,),
    "crosslingual": (0.5, 0.75, 1.0, 1.25, 1.5, 2.0),
    "companion_hub_penalty": (0.0, 0.5, 1.0),
    "placement": ("dense", "companion", "both"),
    "companion_margin": (-0.1, -0.05, -0.03, -0.02, -0.01, 0.0, 0.02, 0.05, 0.1),
}
#: earlier grids: dense (1, 2), keyword (0.5, 1), translated (0, 0.3), other_language (0.9, 0.95,
#: 1, 1.05), rrf_k (10, 30, 60), hub_penalty (0, 0.5, 1) with one other-language weight for
#: every question; then the other language's weight following which language's best
#: hub-corrected cosine leads (other_language_trailing 0.95, 1.05; language_margin -0.05 … 0.1:
#: -0.05 … 0.02 tie on dev recall@3, 0.0 kept). The fourth (this one) adds the companion
#: encoder's list and placement; not every combination was run (README "Retrieval quality").


def tune_fusion(store, dev: list[dict[str, Any]], grid: dict[str, tuple] = FUSION_GRID, *,
                more: tuple[tuple[str, Any, list[dict[str, Any]]], ...] = (), translate=None) -> list[dict[str, Any]]:
    """Every grid point's dev recall@3 (the lowest direction first, then the mean), best first.
    ``more``: further (name, store, questions) sets, e.g. ("corpus_b2_dev", b2 store, every b2
    question); the lowest direction and the mean then run over every set's directions. Reads only
    the questions it is given: call it with dev questions."""
    from knowledge import store as store_module

    saved = store_module.FUSION
    sets = (("corpus_dev", store, dev), *more)
    rows = []
    try:
        for values in itertools.product(*grid.values()):
            point = dict(zip(grid, values, strict=True))
            store_module.FUSION = dataclasses.replace(saved, **point)
            per_set = {name: run_corpus_eval(s, qs, translate=translate)["recall_at_3"] for name, s, qs in sets}
            directions = [v for rep in per_set.values() for key, v in rep.items() if "->" in key]
            rows.append({"fusion": point, "min": min(directions), "mean": round(sum(directions) / len(directions), 3),
                         "recall_at_3": per_set["corpus_dev"], **({"sets": per_set} if more else {})})
    finally:
        store_module.FUSION = saved
    return sorted(rows, key=lambda r: (-r["min"], -r["mean"]))
