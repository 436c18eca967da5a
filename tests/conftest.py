"""Shared fixtures: real databases (SQLite always, PostgreSQL when reachable) and the demo company."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, create_engine, text

from crm.db import make_engine, upgrade_schema
from tools.demo_setup import build_demo

AS_OF = date(2026, 11, 20)
PG_ADMIN_URL = os.environ.get("REPCOPILOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 — any failure means "skip PostgreSQL, and say why"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}"


_PG_SKIP = _pg_available()


def pytest_report_header(config):  # noqa: ARG001
    return f"postgresql: {'SKIPPED — ' + _PG_SKIP if _PG_SKIP else 'available at ' + PG_ADMIN_URL}"


def _fresh_pg_database() -> tuple[str, callable]:
    name = f"repcopilot_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    """An empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    if _PG_SKIP:
        pytest.skip(_PG_SKIP)
    url, drop = _fresh_pg_database()
    try:
        yield url
    finally:
        from crm.db import engine_for

        engine_for.cache_clear()
        drop()


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    eng = make_engine(db_url)
    upgrade_schema(eng)
    yield eng
    eng.dispose()


def backend_engine(backend: str, tmp_path_factory, name: str) -> Iterator[Engine]:
    """An upgraded, empty database on ``backend`` ("sqlite" or "postgresql", which gets a fresh
    database of its own or skips when unreachable); dropped afterwards. For session fixtures."""
    drop = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp(name) / f'{name}.db'}"
    else:
        if _PG_SKIP:
            pytest.skip(_PG_SKIP)
        url, drop = _fresh_pg_database()
    eng = make_engine(url)
    upgrade_schema(eng)
    yield eng
    eng.dispose()
    if drop:
        drop()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def demo_engine(request, tmp_path_factory) -> Iterator[Engine]:
    """The demo company (seed 7, scale 1, as of 2026-11-20), built once per backend."""
    for eng in backend_engine(request.param, tmp_path_factory, "demo"):
        build_demo(eng, seed=7, scale=1, as_of=AS_OF)
        yield eng


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> str:
    """A data home (SQLite) holding the demo company, for CLI tests."""
    home = tmp_path_factory.mktemp("home")
    eng = make_engine(f"sqlite:///{home / 'repcopilot.db'}")
    upgrade_schema(eng)
    build_demo(eng, seed=7, scale=1, as_of=AS_OF)
    eng.dispose()
    return str(home)
