"""The Alembic migrations and the models describe the same schema, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from crm.db import upgrade_schema
from crm.models import Base


def test_migrations_create_exactly_the_schema_the_models_describe(engine):
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diffs == []


def test_upgrading_an_upgraded_database_is_a_no_op(engine):
    assert upgrade_schema(engine) == upgrade_schema(engine)
