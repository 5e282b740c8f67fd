"""drop columns nothing reads: executions.log_path and workspace_path (derived from the id), audit_events.note

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 17:00:00.000000

The executions table is rebuilt by the batch operation on SQLite: it must keep AUTOINCREMENT
(migration 0004), so the table option is given again.
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('executions', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('log_path')
        batch_op.drop_column('workspace_path')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('note')


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=False, server_default=''))
    with op.batch_alter_table('executions', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('workspace_path', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('log_path', sa.String(length=1000), nullable=True))
