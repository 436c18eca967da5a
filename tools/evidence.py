"""Evidence: the records an answer or a suggestion rests on."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Evidence:
    kind: str  # touchpoint / call / stage_change / opportunity / metric / playbook / lead …
    id: str
    time: str | None  # ISO 8601, or a "mm:ss–mm:ss" range inside a call
    text: str
    weight: float | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        if data["weight"] is None:
            del data["weight"]
        return data
