"""affiliate conversion category and rate

Imported orders keep the product category the network reported and the commission rate used
when the file gave no commission, so changing the configured rates later never rewrites history.

Revision ID: 9c4b2e7a1d05
Revises: 5b1e0a7c9d31
Create Date: 2026-11-26 15:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '9c4b2e7a1d05'
down_revision = '5b1e0a7c9d31'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('affiliate_conversions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('commission_rate', sa.Numeric(precision=5, scale=2), nullable=True))


def downgrade():
    with op.batch_alter_table('affiliate_conversions', schema=None) as batch_op:
        batch_op.drop_column('commission_rate')
        batch_op.drop_column('category')
