"""ledger integrity at the database level (placeholder)

Revision ID: c0014
Revises: c0013
Create Date: 2026-12-02 19:10:00
"""

from alembic import op  # noqa: F401

revision = 'c0014'
down_revision = 'c0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
