"""a failed attempt points to its retry; a script version remembers who saved it

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 18:30:00.000000

``executions.next_attempt_id``: set when a retry is queued, so a superseded attempt can link to the
next one and the dashboard can leave it out of failures. ``script_versions.created_by_id``: the
author shown in the history. Plain ids without foreign keys, like ``created_by_id`` elsewhere, and
added without rebuilding the tables (SQLite keeps ``executions``' AUTOINCREMENT as it is).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('executions', sa.Column('next_attempt_id', sa.Integer(), nullable=True))
    op.add_column('script_versions', sa.Column('created_by_id', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('script_versions', schema=None) as batch_op:
        batch_op.drop_column('created_by_id')
    with op.batch_alter_table('executions', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('next_attempt_id')
