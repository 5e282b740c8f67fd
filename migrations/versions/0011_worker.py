"""worker: the Celery worker that holds a run

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 00:30:00.000000

Issue 17 (Celery executor). ``executions.worker`` names the worker that claimed the run (NULL for
the local executor): a worker that comes back re-attaches its own runs, and a worker whose
heartbeat stops has its running runs ended as interrupted by the reaper.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('executions', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('worker', sa.String(length=200), nullable=True))


def downgrade():
    with op.batch_alter_table('executions', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('worker')
