"""ToolContext: who is asking, and the handles every tool needs.

Every tool enforces access from this context — never from arguments the model chose.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.orm import Session

from crm.access import Scope, scope_for
from crm.models import User

Language = Literal["zh", "en"]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class ToolContext:
    user: User
    session: Session
    language: Language = "zh"
    home: Path | None = None
    clock: Callable[[], datetime] = utc_now
    knowledge: Any | None = None  # knowledge.KnowledgeStore, when one is open
    anonymized: bool = False  # anonymized aggregate mode: no individual-level behaviour answers
    _scope: Scope | None = field(default=None, repr=False)

    @property
    def scope(self) -> Scope:
        if self._scope is None:
            self._scope = scope_for(self.session, self.user)
        return self._scope

    @property
    def role(self) -> str:
        return self.user.role

    def now(self) -> datetime:
        return self.clock()

    def t(self, zh: str, en: str) -> str:
        """Pick the user's language."""
        return zh if self.language == "zh" else en
