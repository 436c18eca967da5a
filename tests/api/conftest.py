"""Shared set-up for the service tests."""

from __future__ import annotations

from pathlib import Path

from api.auth import create_token
from crm.access import get_user
from crm.db import make_engine, session_scope, upgrade_schema
from crm.demo import build_demo
from tests.conftest import AS_OF


def demo_home_with_tokens(home: Path, logins: tuple[str, ...]) -> dict[str, str]:
    """Build the demo company (SQLite) in ``home``; an API token for each login."""
    engine = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    upgrade_schema(engine)
    build_demo(engine, seed=7, scale=1, as_of=AS_OF)
    with session_scope(engine) as s:
        tokens = {login: create_token(s, get_user(s, login)) for login in logins}
    engine.dispose()
    return tokens
