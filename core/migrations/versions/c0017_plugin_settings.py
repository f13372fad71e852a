"""plugin settings: one row per plugin holding the values its fulian_settings_schema
validated (core.plugins.plugin_settings reads them with the schema's defaults)

Revision ID: c0017
Revises: c0016
Create Date: 2026-12-07 21:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'c0017'
down_revision = 'c0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'plugin_settings',
        sa.Column('plugin', sa.String(length=64), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('plugin', name=op.f('pk_plugin_settings')),
    )


def downgrade() -> None:
    op.drop_table('plugin_settings')
