"""upload dedupe per uploader: jobs.dedupe_key unique per user; calls unique per (rep, content hash)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# SQLite reflects the unnamed UNIQUE(content_hash) of 0001 without a name: name it by convention to drop it
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _content_hash_unique_name() -> str:
    if op.get_bind().dialect.name == "postgresql":
        return "calls_content_hash_key"
    return "uq_calls_content_hash"


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=100), nullable=True))
        batch_op.create_unique_constraint('uq_jobs_user_dedupe_key', ['user_id', 'dedupe_key'])
    with op.batch_alter_table('calls', schema=None, naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(_content_hash_unique_name(), type_='unique')
        batch_op.create_unique_constraint('uq_calls_rep_content_hash', ['rep_id', 'content_hash'])


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint('uq_calls_rep_content_hash', type_='unique')
        batch_op.create_unique_constraint(_content_hash_unique_name(), ['content_hash'])
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_constraint('uq_jobs_user_dedupe_key', type_='unique')
        batch_op.drop_column('dedupe_key')
