"""What every command needs: the settings (with ``--home`` applied) and the database."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import Engine

from core.errors import ConfigError
from core.settings import Settings
from crm.db import engine_for, ensure_home, schema_ready

console = Console()
err_console = Console(stderr=True)


@dataclass
class AppState:
    home_override: Path | None = None
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                kwargs: dict[str, Any] = {"home": self.home_override} if self.home_override else {}
                self._settings = Settings(**kwargs)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ())) or "settings"
                raise ConfigError(f"invalid setting {where}: {first.get('msg')}; fix the REPCOPILOT_* variable") from None
        return self._settings

    @property
    def home(self) -> Path:
        return ensure_home(self.settings.resolved_home)

    def engine(self, *, require_schema: bool = True) -> Engine:
        if self.settings.database_url is None:
            self.home  # noqa: B018 — creates the folder and proves it is writable
        engine = engine_for(self.settings.resolved_database_url)
        if require_schema and not schema_ready(engine):
            raise ConfigError(
                "the database has no repcopilot schema yet; run `repcopilot init --demo` "
                "(or `repcopilot init` for an empty company) first"
            )
        return engine


STATE = AppState()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
