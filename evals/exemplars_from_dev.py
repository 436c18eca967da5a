"""The questions users asked in the eval's old suite and dev half, as exemplars: each standalone
question (or a thread of one) goes to the intent the classifier likes best among its expected tool's intents (an
out-of-scope case to ``out_of_scope``), in ``agent/exemplars/<intent>.asked.yaml``. Never a
test-half question (``tests/agent/test_understanding.py`` checks).

Run from the repository root: ``python -m evals.exemplars_from_dev`` (delete the ``*.asked.yaml``
files first to rebuild them from scratch).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import yaml

EVALS = Path(__file__).resolve().parent
EXEMPLARS = EVALS.parent / "agent" / "exemplars"
SOURCES = ("agent_cases.jsonl", "agent_dev.jsonl", "agent_dev_b3.jsonl", "agent_dev_b4.jsonl", "agent_dev_b5.jsonl",
           "agent_dev_b6.jsonl", "agent_dev_b7.jsonl", "agent_dev_b8.jsonl", "agent_dev_b9.jsonl", "agent_dev_b10.jsonl")


def _questions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_half_questions() -> set[str]:
    return {c["question"].strip().lower() for path in sorted(EVALS.glob("agent_test*.jsonl")) for c in _questions(path)}


def intent_of(case: dict, classifier) -> str | None:
    """The intent a case's question is an exemplar of, or None (threads, several tools, a role-play turn)."""
    tools = case.get("expect_tools") or []
    if case.get("thread") and not case.get("alone"):
        return None
    if not tools:
        return "out_of_scope" if "<out_of_scope>" in case.get("expect_facts", []) else None
    if len(tools) != 1 or tools[0] == "practice_turn":
        return None
    reading = next((r for r in classifier.classify(case["question"].strip()) if r.tool == tools[0]), None)
    return reading.intent if reading else None


def language_of(case: dict) -> str:
    if case.get("lang") in ("zh", "en"):
        return case["lang"]
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in case["question"]) else "en"


def asked_exemplars() -> dict[str, dict[str, list[str]]]:
    from agent.understanding.intents import load_bank, shared_classifier

    known = {t.lower() for t in load_bank().texts} | test_half_questions()
    classifier = shared_classifier()
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"zh": [], "en": []})
    for source in SOURCES:
        cases = _questions(EVALS / source)
        sizes = Counter(c.get("thread") for c in cases)
        for case in cases:
            case["alone"] = sizes[case.get("thread")] == 1  # a one-question "thread" is a standalone question
            question = case["question"].strip()
            intent = None if question.lower() in known else intent_of(case, classifier)
            if intent is not None:
                out[intent][language_of(case)].append(question)
                known.add(question.lower())
    return out


def write(asked: dict[str, dict[str, list[str]]]) -> int:
    from agent.understanding.intents import load_bank

    intents = load_bank().intents
    for name, langs in sorted(asked.items()):
        meta = intents[name]
        doc = {"intent": name, "tool": meta.tool or "none",
               "description": f"{meta.description} — questions as users asked them "
                              "(the eval's old suite and dev half; never the test half)",
               "zh": langs["zh"], "en": langs["en"]}
        (EXEMPLARS / f"{name}.asked.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=200),
                                                      encoding="utf-8")
    return sum(len(v["zh"]) + len(v["en"]) for v in asked.values())


if __name__ == "__main__":
    print(f"{write(asked_exemplars())} exemplars written")
