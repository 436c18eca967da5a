"""The KPI registry: metric and dimension definitions read from ``metrics.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REGISTRY_FILE = Path(__file__).with_name("metrics.yaml")
UNITS = ("percent", "days", "cny", "count", "seconds", "score")  # formatted by tools/kpi/service.py fmt_value


@dataclass(frozen=True)
class Dimension:
    name: str
    label_zh: str
    label_en: str
    synonyms_zh: tuple[str, ...]
    synonyms_en: tuple[str, ...]

    def label(self, language: str) -> str:
        return self.label_zh if language == "zh" else self.label_en


@dataclass(frozen=True)
class Metric:
    name: str
    label_zh: str
    label_en: str
    synonyms_zh: tuple[str, ...]
    synonyms_en: tuple[str, ...]
    unit: str  # one of UNITS
    base: str
    time_field: str
    measure: dict[str, Any]
    dimensions: tuple[str, ...]
    higher_is_better: bool
    definition_zh: str
    definition_en: str
    default_period: str = "last_30_days"
    call_metric: str | None = None
    per_lead: bool = False  # the name also means one lead's own value: "线索638的意向分" is not this average

    def label(self, language: str) -> str:
        return self.label_zh if language == "zh" else self.label_en

    def definition(self, language: str) -> str:
        return self.definition_zh if language == "zh" else self.definition_en


@dataclass(frozen=True)
class Registry:
    metrics: dict[str, Metric]
    dimensions: dict[str, Dimension]


@lru_cache(maxsize=2)
def load_registry(path: Path = REGISTRY_FILE) -> Registry:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    dims = {
        name: Dimension(name, d["label_zh"], d["label_en"], tuple(d.get("synonyms_zh", ())), tuple(d.get("synonyms_en", ())))
        for name, d in raw["dimensions"].items()
    }
    metrics = {}
    for name, m in raw["metrics"].items():
        unknown = [d for d in m["dimensions"] if d not in dims]
        if unknown:
            raise ValueError(f"{path}: metric {name} names unknown dimensions {unknown}")
        if m["unit"] not in UNITS:
            raise ValueError(f"{path}: metric {name} has unit {m['unit']!r}; the units are {', '.join(UNITS)}")
        metrics[name] = Metric(
            name=name, label_zh=m["label_zh"], label_en=m["label_en"],
            synonyms_zh=tuple(m.get("synonyms_zh", ())), synonyms_en=tuple(m.get("synonyms_en", ())),
            unit=m["unit"], base=m["base"], time_field=m["time_field"], measure=m["measure"],
            dimensions=tuple(m["dimensions"]), higher_is_better=m.get("higher_is_better", True),
            definition_zh=m["definition_zh"].strip(), definition_en=m["definition_en"].strip(),
            default_period=m.get("default_period", "last_30_days"), call_metric=m.get("call_metric"),
            per_lead=bool(m.get("per_lead", False)),
        )
    return Registry(metrics, dims)


def markdown_table(registry: Registry | None = None) -> str:
    """The metric table for the README, generated from the registry (a test keeps them equal)."""
    registry = registry or load_registry()
    lines = ["| metric | 指标 | unit | dimensions | definition |", "|---|---|---|---|---|"]
    for m in registry.metrics.values():
        lines.append(f"| `{m.name}` — {m.label_en} | {m.label_zh} | {m.unit} | {', '.join(m.dimensions)} | {m.definition_en} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
