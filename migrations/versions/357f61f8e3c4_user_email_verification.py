"""user e-mail verification

Accounts made through public signup wait for their address to be confirmed before they can
log in; every account that exists already (made by an admin or the command line) is confirmed.

Revision ID: 357f61f8e3c4
Revises: 9c4b2e7a1d05
Create Date: 2026-11-26 16:40:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '357f61f8e3c4'
down_revision = '9c4b2e7a1d05'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('awaiting_verification', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('awaiting_verification')
