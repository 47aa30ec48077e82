"""notification channels, delivery retry state and grouped alert details

Revision ID: 5b1e0a7c9d31
Revises: 7d3e1f0a9b21
Create Date: 2026-11-26 14:50:00.000000

"""
from alembic import op
import sqlalchemy as sa

import models.base


# revision identifiers, used by Alembic.
revision = '5b1e0a7c9d31'
down_revision = '7d3e1f0a9b21'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notification_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=500), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.Column('paused_reason', sa.String(length=16), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_sent_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_channels_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_channels')),
    sa.UniqueConstraint('user_id', 'kind', 'target', name=op.f('uq_notification_channels_user_id_kind_target'))
    )
    with op.batch_alter_table('notification_channels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_channels_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))

    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_deliveries_channel_id'), ['channel_id'], unique=False)
        batch_op.create_index('ix_deliveries_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_deliveries_channel_id_notification_channels'),
                                    'notification_channels', ['channel_id'], ['id'], ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_deliveries_channel_id_notification_channels'), type_='foreignkey')
        batch_op.drop_index('ix_deliveries_status_next_attempt_at')
        batch_op.drop_index(batch_op.f('ix_deliveries_channel_id'))
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('channel_id')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('details')

    with op.batch_alter_table('notification_channels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_channels_user_id'))

    op.drop_table('notification_channels')
