"""The conversation-metric registry (``metrics.yaml``): the one written definition of each metric."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from core.lang import pick

REGISTRY_FILE = Path(__file__).with_name("metrics.yaml")


@dataclass(frozen=True)
class MetricDefinition:
    name: str
    label_zh: str
    label_en: str
    unit: str
    needs_speakers: bool
    formula: str
    description: str

    def label(self, language: str) -> str:
        return pick(language, self.label_zh, self.label_en)


@lru_cache(maxsize=1)
def load_registry() -> dict[str, MetricDefinition]:
    raw = yaml.safe_load(REGISTRY_FILE.read_text(encoding="utf-8"))["metrics"]
    return {name: MetricDefinition(name=name, **fields) for name, fields in raw.items()}


def markdown_table() -> str:
    lines = ["| metric | 指标 | unit | formula |", "|---|---|---|---|"]
    for d in load_registry().values():
        lines.append(f"| `{d.name}` — {d.label_en} | {d.label_zh} | {d.unit} | {d.formula} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
