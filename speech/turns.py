"""Speaker turns: the unit every conversation metric is computed over."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Speaker = Literal["rep", "customer", "unknown"]


@dataclass(frozen=True)
class Turn:
    speaker: Speaker
    start_s: float
    end_s: float
    text: str

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)

    def to_json(self) -> dict:
        return {"speaker": self.speaker, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "text": self.text}
