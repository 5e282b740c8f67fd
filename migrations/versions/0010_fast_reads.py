"""fast reads: indexes for the dashboard's runs per day and the runs' text search

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 21:10:00.000000

Issue 16 (API throughput at 100,000 runs). Indexes only: no table is rebuilt, no row changes.
- ix_executions_queued_at_status: the dashboard counts runs per day over a range of queued_at; the
  index holds every column that count reads, so it no longer reads every row of the table.
- ix_executions_error (partial, error IS NOT NULL): the text search's count reads matching errors
  from this index (only failed runs have one) instead of the whole table.
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_executions_queued_at_status', 'executions', ['queued_at', 'status', 'next_attempt_id']
    )
    op.create_index(
        'ix_executions_error',
        'executions',
        ['error'],
        sqlite_where=sa.text('error IS NOT NULL'),
        postgresql_where=sa.text('error IS NOT NULL'),
    )


def downgrade():
    op.drop_index('ix_executions_error', table_name='executions')
    op.drop_index('ix_executions_queued_at_status', table_name='executions')
