"""who: a schedule remembers who made it, so the runs it fires record their owner

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 16:30:00.000000

``executions.created_by_id`` exists since 0001 (it was never set); schedules gain the same. Plain
ids without a foreign key, like the audit log: deleting a user keeps the history readable.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('created_by_id', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.drop_column('created_by_id')
