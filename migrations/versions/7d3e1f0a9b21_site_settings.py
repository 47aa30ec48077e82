"""site settings: switches admins flip at run time (the public status page)

Revision ID: 7d3e1f0a9b21
Revises: 3217fc060b1d
Create Date: 2026-11-26 14:55:00.000000

"""
from alembic import op
import sqlalchemy as sa

import models.base


# revision identifiers, used by Alembic.
revision = '7d3e1f0a9b21'
down_revision = '3217fc060b1d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('site_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_site_settings'))
    )


def downgrade():
    op.drop_table('site_settings')
