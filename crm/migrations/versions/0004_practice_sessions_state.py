"""practice sessions: language, persona, dialogue state, the drill assignment they count for

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('practice_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('persona', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('state', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('drill_assignment_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_practice_sessions_drill_assignment_id', 'drill_assignments',
                                    ['drill_assignment_id'], ['id'])
        batch_op.create_index(batch_op.f('ix_practice_sessions_drill_assignment_id'), ['drill_assignment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_practice_sessions_scenario_code'), ['scenario_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('practice_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_practice_sessions_scenario_code'))
        batch_op.drop_index(batch_op.f('ix_practice_sessions_drill_assignment_id'))
        batch_op.drop_constraint('fk_practice_sessions_drill_assignment_id', type_='foreignkey')
        batch_op.drop_column('drill_assignment_id')
        batch_op.drop_column('state')
        batch_op.drop_column('persona')
        batch_op.drop_column('language')
