"""alert rules per member and monitor, daily digest hour, inbox filters and the live poll index

Revision ID: e83f5a2c7b64
Revises: 85ab26546008
Create Date: 2026-11-26 16:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e83f5a2c7b64'
down_revision = '85ab26546008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notification_preferences', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alert_kinds', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('digest_hour', sa.Integer(), nullable=False, server_default='8'))

    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('alert_kinds', sa.JSON(), nullable=True))

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('monitor_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('event_kinds', sa.String(length=200), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_notifications_monitor_id_monitors'), 'monitors',
                                    ['monitor_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_notifications_user_id_id', ['user_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_user_id_id')
        batch_op.drop_constraint(batch_op.f('fk_notifications_monitor_id_monitors'), type_='foreignkey')
        batch_op.drop_column('event_kinds')
        batch_op.drop_column('monitor_id')

    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.drop_column('alert_kinds')

    with op.batch_alter_table('notification_preferences', schema=None) as batch_op:
        batch_op.drop_column('digest_hour')
        batch_op.drop_column('alert_kinds')
