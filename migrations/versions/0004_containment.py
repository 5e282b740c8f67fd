"""containment: execution ids never reused (AUTOINCREMENT); a per-script run-as user

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 16:00:00.000000

A new run's workspace, log and control folder are named after its id and created exclusively,
so an id must never come back after a delete: SQLite's AUTOINCREMENT keeps the highest id ever
used in ``sqlite_sequence``. The executions table is rebuilt for it (batch mode; env.py turns
foreign keys off for the copy). PostgreSQL sequences never reuse ids already.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('scripts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('run_as_user', sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table(
            'executions', schema=None, recreate='always', table_kwargs={'sqlite_autoincrement': True}
        ):
            pass


def downgrade():
    with op.batch_alter_table('scripts', schema=None) as batch_op:
        batch_op.drop_column('run_as_user')
