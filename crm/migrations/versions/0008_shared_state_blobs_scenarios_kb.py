"""shared state for several nodes: blobs in chunks, trainer scenarios, the knowledge catalog (GIN tsvector on PostgreSQL)

Revision ID: 0008_shared
Revises: 0006
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008_shared'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('blobs',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('key', sa.String(length=200), nullable=False),
                    sa.Column('size', sa.BigInteger(), nullable=False),
                    sa.Column('chunks', sa.Integer(), nullable=False),
                    sa.Column('complete', sa.Boolean(), nullable=False),
                    sa.Column('created_at', sa.DateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('key'))
    op.create_table('blob_chunks',
                    sa.Column('blob_id', sa.Integer(), nullable=False),
                    sa.Column('seq', sa.Integer(), nullable=False),
                    sa.Column('data', sa.LargeBinary(), nullable=False),
                    sa.ForeignKeyConstraint(['blob_id'], ['blobs.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('blob_id', 'seq'))
    op.create_table('practice_scenarios',
                    sa.Column('code', sa.String(length=64), nullable=False),
                    sa.Column('yaml_text', sa.Text(), nullable=False),
                    sa.Column('created_by_id', sa.Integer(), nullable=True),
                    sa.Column('updated_at', sa.DateTime(), nullable=False),
                    sa.ForeignKeyConstraint(['created_by_id'], ['users.id']),
                    sa.PrimaryKeyConstraint('code'))
    op.create_index(op.f('ix_practice_scenarios_updated_at'), 'practice_scenarios', ['updated_at'], unique=False)
    op.create_table('kb_chunks',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('chunk_id', sa.String(length=200), nullable=False),
                    sa.Column('partition', sa.String(length=100), nullable=False),
                    sa.Column('rep_id', sa.Integer(), nullable=True),
                    sa.Column('exemplar', sa.Boolean(), nullable=False),
                    sa.Column('document', sa.Text(), nullable=False),
                    sa.Column('meta', sa.JSON(), nullable=False),
                    sa.Column('body', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('chunk_id'))
    op.create_index(op.f('ix_kb_chunks_partition'), 'kb_chunks', ['partition'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':  # keyword search: the pre-tokenised body as a tsvector, GIN-indexed
        op.execute("CREATE INDEX ix_kb_chunks_body_tsv ON kb_chunks USING gin (to_tsvector('simple', body))")
    op.create_table('kb_sources',
                    sa.Column('source_key', sa.String(length=500), nullable=False),
                    sa.Column('digest', sa.String(length=200), nullable=True),
                    sa.Column('chunk_ids', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('source_key'))
    op.create_table('kb_partitions',
                    sa.Column('name', sa.String(length=100), nullable=False),
                    sa.Column('chunks', sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint('name'))
    op.create_table('kb_meta',  # which embedder made the vectors, the hub-probe digest
                    sa.Column('key', sa.String(length=100), nullable=False),
                    sa.Column('value', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('key'))
    op.create_table('kb_pending',  # chunks indexed for keywords whose vectors `kb sync` still has to add
                    sa.Column('chunk_id', sa.String(length=200), nullable=False),
                    sa.PrimaryKeyConstraint('chunk_id'))


def downgrade() -> None:
    op.drop_table('kb_pending')
    op.drop_table('kb_meta')
    op.drop_table('kb_partitions')
    op.drop_table('kb_sources')
    op.execute("DROP INDEX IF EXISTS ix_kb_chunks_body_tsv")
    op.drop_index(op.f('ix_kb_chunks_partition'), table_name='kb_chunks')
    op.drop_table('kb_chunks')
    op.drop_index(op.f('ix_practice_scenarios_updated_at'), table_name='practice_scenarios')
    op.drop_table('practice_scenarios')
    op.drop_table('blob_chunks')
    op.drop_table('blobs')
