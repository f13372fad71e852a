"""availability versions: per store and UTC date, bumped by the writes that change
availability, so that app processes can cache it (core.scheduling.cache)

Revision ID: c0016
Revises: c0015
Create Date: 2026-12-02 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'c0016'
down_revision = 'c0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'availability_versions',
        sa.Column('store_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['store_id'], ['stores.id'],
                                name=op.f('fk_availability_versions_store_id_stores'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('store_id', 'day', name=op.f('pk_availability_versions')),
    )


def downgrade() -> None:
    op.drop_table('availability_versions')
