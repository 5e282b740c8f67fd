"""schedule fires: the history of every due fire, unique per (schedule, tick)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('schedule_fires',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('scheduled_for', sa.DateTime(), nullable=False),
    sa.Column('fired_at', sa.DateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('execution_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.String(length=1000), nullable=True),
    sa.ForeignKeyConstraint(['execution_id'], ['executions.id'], name=op.f('fk_schedule_fires_execution_id_executions'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedules.id'], name=op.f('fk_schedule_fires_schedule_id_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_fires'))
    )
    with op.batch_alter_table('schedule_fires', schema=None) as batch_op:
        # The double-fire backstop: a second insert for the same tick fails.
        batch_op.create_index('uq_schedule_fires_schedule_id_scheduled_for', ['schedule_id', 'scheduled_for'], unique=True)
        batch_op.create_index('ix_schedule_fires_outcome', ['outcome'], unique=False)
        batch_op.create_index(batch_op.f('ix_schedule_fires_execution_id'), ['execution_id'], unique=False)


def downgrade():
    with op.batch_alter_table('schedule_fires', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schedule_fires_execution_id'))
        batch_op.drop_index('ix_schedule_fires_outcome')
        batch_op.drop_index('uq_schedule_fires_schedule_id_scheduled_for')

    op.drop_table('schedule_fires')
