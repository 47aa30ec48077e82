"""traffic hours, health hours and dashboard indexes

Hourly rollups of HTTP traffic and of health-check runs for the admin charts and uptime figures
(24 h / 7 d / 30 d read at most 720 rows per series), and the time indexes the dashboard's counts of polls, events and deliveries range over.

Revision ID: 85ab26546008
Revises: 607bd726e9c5
Create Date: 2026-11-26 16:45:00.000000

"""
import sqlalchemy as sa
from alembic import op

import models.base

# revision identifiers, used by Alembic.
revision = '85ab26546008'
down_revision = '607bd726e9c5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'traffic_hours',
        sa.Column('hour', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('requests', sa.Integer(), nullable=False),
        sa.Column('errors', sa.Integer(), nullable=False),
        sa.Column('min_ms', sa.Double(), nullable=True),
        sa.Column('max_ms', sa.Double(), nullable=True),
        sa.Column('histogram', sa.JSON(), nullable=True),
        sa.Column('updated_at', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('hour', name=op.f('pk_traffic_hours')),
    )
    op.create_table(
        'health_hours',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('hour', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('runs', sa.Integer(), nullable=False),
        sa.Column('passed', sa.Integer(), nullable=False),
        sa.Column('counted_until', models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name', 'hour', name=op.f('pk_health_hours')),
    )
    with op.batch_alter_table('poll_runs', schema=None) as batch_op:
        batch_op.create_index('ix_poll_runs_started_at', ['started_at'], unique=False)
    with op.batch_alter_table('product_events', schema=None) as batch_op:
        batch_op.create_index('ix_product_events_created_at', ['created_at'], unique=False)
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_deliveries_sent_at', ['sent_at'], unique=False)


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_sent_at')
        batch_op.drop_index('ix_deliveries_created_at')
    with op.batch_alter_table('product_events', schema=None) as batch_op:
        batch_op.drop_index('ix_product_events_created_at')
    with op.batch_alter_table('poll_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_poll_runs_started_at')
    op.drop_table('health_hours')
    op.drop_table('traffic_hours')
