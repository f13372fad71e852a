"""one booking write path (placeholder)

Revision ID: c0015
Revises: c0014
Create Date: 2026-12-02 19:10:00
"""

from alembic import op  # noqa: F401

revision = 'c0015'
down_revision = 'c0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
