"""users.role keeps to the Role enum's values: a CHECK constraint (ck_users_role)

Revision ID: 0009_role_check
Revises: 0008_shared
Create Date: 2026-12-06
"""
from __future__ import annotations

from alembic import op

revision = '0009_role_check'
down_revision = '0008_shared'
branch_labels = None
depends_on = None

# the values as of this revision (a later role gets a migration of its own that widens the CHECK)
ROLE_CHECK = "role IN ('rep', 'manager', 'trainer', 'admin')"


def _sqlite_foreign_keys(enforced: bool) -> None:
    """SQLite adds a CHECK by copying the table (batch mode), and dropping the old ``users`` fails
    while rows reference it (they point at the copy once it is renamed back). Enforcement can only
    be switched between transactions, so the work so far is committed first; the copy is checked
    with ``foreign_key_check`` before enforcement comes back on."""
    if op.get_bind().dialect.name != "sqlite":
        return
    dbapi = op.get_bind().connection.dbapi_connection
    if dbapi.in_transaction:
        dbapi.commit()
    if enforced:
        broken = dbapi.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"rows reference missing records after copying users: {broken[:5]}")
    dbapi.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")


def upgrade() -> None:
    _sqlite_foreign_keys(enforced=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_check_constraint('ck_users_role', ROLE_CHECK)
    _sqlite_foreign_keys(enforced=True)


def downgrade() -> None:
    _sqlite_foreign_keys(enforced=False)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint('ck_users_role', type_='check')
    _sqlite_foreign_keys(enforced=True)
