"""per-card poll state

A link keeps the fingerprint of the card its state was planned from (a card showing the same
needs no diff) and whether the monitor's last successful poll saw it; the monitor keeps the time
of that poll, so an ordinary poll no longer rewrites a "last seen" time on every link.

Revision ID: 607bd726e9c5
Revises: 357f61f8e3c4
Create Date: 2026-11-26 16:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

import models.base

# revision identifiers, used by Alembic.
revision = '607bd726e9c5'
down_revision = '357f61f8e3c4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_success_at', models.base.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('monitor_products', schema=None) as batch_op:
        batch_op.add_column(sa.Column('present', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('card_hash', sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table('monitor_products', schema=None) as batch_op:
        batch_op.drop_column('card_hash')
        batch_op.drop_column('present')
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.drop_column('last_success_at')
