"""open to the world: trigger URLs, notification channels and deliveries, shared variables, chains

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 18:40:00.000000

New tables for issue 15, and the per-script / per-schedule settings that use them. New columns are
added in place (no table rebuild), with server defaults so existing rows read as "none configured".
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

EMPTY_LIST = sa.text("'[]'")


def upgrade():
    op.create_table(
        'script_hooks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('script_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('rotated_at', sa.DateTime(), nullable=True),
        sa.Column('last_used_at', sa.DateTime(), nullable=True),
        sa.Column('last_used_ip', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['script_id'], ['scripts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_script_hooks_script_id', 'script_hooks', ['script_id'])
    op.create_table(
        'notification_channels',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('type', sa.String(length=20), nullable=False),
        sa.Column('config', sa.JSON(), nullable=False),
        sa.Column('secret_config', sa.JSON(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_table(
        'notification_deliveries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel_id', sa.Integer(), nullable=False),
        sa.Column('execution_id', sa.Integer(), nullable=True),
        sa.Column('event', sa.String(length=20), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('response_status', sa.Integer(), nullable=True),
        sa.Column('message', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['channel_id'], ['notification_channels.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_notification_deliveries_execution_id', 'notification_deliveries', ['execution_id'])
    op.create_index('ix_notification_deliveries_channel', 'notification_deliveries', ['channel_id', 'id'])
    op.create_index('ix_notification_deliveries_due', 'notification_deliveries', ['status', 'next_attempt_at'])
    op.create_table(
        'variables',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('description', sa.String(length=500), nullable=False),
        sa.Column('secret', sa.Boolean(), nullable=False),
        sa.Column('value', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    for column in ('notifications', 'on_success', 'on_failure', 'variables'):
        op.add_column('scripts', sa.Column(column, sa.JSON(), nullable=False, server_default=EMPTY_LIST))
    op.add_column('schedules', sa.Column('notifications', sa.JSON(), nullable=False, server_default=EMPTY_LIST))
    op.add_column('schedules', sa.Column('version', sa.Integer(), nullable=True))
    op.add_column('executions', sa.Column('upstream_execution_id', sa.Integer(), nullable=True))
    op.add_column('executions', sa.Column('variables', sa.JSON(), nullable=False, server_default=EMPTY_LIST))
    op.create_index('ix_executions_upstream_execution_id', 'executions', ['upstream_execution_id'])


def downgrade():
    op.drop_index('ix_executions_upstream_execution_id', table_name='executions')
    with op.batch_alter_table('executions', schema=None, table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.drop_column('variables')
        batch_op.drop_column('upstream_execution_id')
    with op.batch_alter_table('schedules', schema=None) as batch_op:
        batch_op.drop_column('version')
        batch_op.drop_column('notifications')
    with op.batch_alter_table('scripts', schema=None) as batch_op:
        for column in ('variables', 'on_failure', 'on_success', 'notifications'):
            batch_op.drop_column(column)
    op.drop_table('variables')
    op.drop_table('notification_deliveries')
    op.drop_table('notification_channels')
    op.drop_index('ix_script_hooks_script_id', table_name='script_hooks')
    op.drop_table('script_hooks')
