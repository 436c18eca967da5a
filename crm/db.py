"""Engine, sessions and schema upgrades for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, select, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConfigError
from crm.models import Meta

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SCHEMA_LOCK_ID = 0x7265_7063  # "repc": the PostgreSQL advisory lock every process takes while it creates schema


def ensure_home(home: Path) -> Path:
    """Create the data folder if needed and prove it is writable."""
    home = home.expanduser().resolve()
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = home / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"cannot write to the data folder {home} ({exc.strerror or exc}); "
            "pass --home or set REPCOPILOT_HOME to a folder you can write"
        ) from None
    return home


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _describe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _pool_args(url: str, pool_size: int | None) -> dict:
    """Pool sizing: ``pool_size`` connections kept (a server passes one per thread that may hold
    one, so no request waits for the pool), a few more allowed briefly; 5 + 10 otherwise."""
    if ":memory:" in url or url.rstrip("/").endswith("sqlite:"):
        return {}
    if pool_size is None:
        return {"pool_size": 5, "max_overflow": 10} if url.startswith("sqlite") else {"pool_size": 10, "max_overflow": 20}
    return {"pool_size": pool_size, "max_overflow": max(4, pool_size // 4), "pool_timeout": 10}


def make_engine(url: str, *, check: bool = True, pool_size: int | None = None) -> Engine:
    """Create an engine; with ``check`` connect once so a bad URL fails here, in one line."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30}, **_pool_args(url, pool_size))
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True, **_pool_args(url, pool_size))
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"REPCOPILOT_DATABASE_URL {_describe(url)!r} is not a usable SQLAlchemy URL ({exc}); "
            "use sqlite:///path/to/file.db or postgresql+psycopg://user@host:5432/dbname"
        ) from None
    if check:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise ConfigError(
                f"cannot connect to the database {_describe(url)}: {reason}; "
                "check REPCOPILOT_DATABASE_URL and that the server is running"
            ) from None
    return engine


@lru_cache(maxsize=8)
def engine_for(url: str, pool_size: int | None = None) -> Engine:
    """One engine per URL (and pool size) per process."""
    return make_engine(url, pool_size=pool_size)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    cfg.attributes["engine"] = engine
    return cfg


@contextmanager
def schema_lock(engine: Engine, poll_s: float = 0.05) -> Iterator[None]:
    """On PostgreSQL, one process at a time creates or upgrades schema (an advisory lock held on a
    connection of its own for the block): two nodes starting together against a fresh database would
    otherwise both create the same tables and one fail. SQLite: nothing to do (one file, its own lock).

    The lock is polled (``pg_try_advisory_lock``, autocommit) rather than waited for: a session
    blocked in ``pg_advisory_lock`` holds a snapshot, and the holder's ``CREATE INDEX CONCURRENTLY``
    (LangGraph's checkpointer set-up) waits for every older snapshot — a deadlock PostgreSQL cannot see."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        while not conn.scalar(text("SELECT pg_try_advisory_lock(:id)"), {"id": SCHEMA_LOCK_ID}):
            time.sleep(poll_s)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": SCHEMA_LOCK_ID})


def upgrade_schema(engine: Engine) -> str:
    """Create or upgrade the schema to the newest migration; safe to re-run, and to run from several
    processes at once (on PostgreSQL they take turns: ``schema_lock``)."""
    os.environ.setdefault("ALEMBIC_SKIP_LOGGING", "1")
    cfg = alembic_config(engine)
    with schema_lock(engine):
        command.upgrade(cfg, "head")
    with engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def schema_ready(engine: Engine) -> bool:
    return inspect(engine).has_table("meta")


def get_meta(session: Session, key: str) -> str | None:
    row = session.get(Meta, key)
    return row.value if row else None


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value


def all_meta(session: Session) -> dict[str, str]:
    return {m.key: m.value for m in session.scalars(select(Meta))}
