"""durable jobs: the database is the source of truth for work to do (placeholder)

Revision ID: c0012
Revises: c0011
Create Date: 2026-12-02 19:10:00
"""

from alembic import op  # noqa: F401

revision = 'c0012'
down_revision = 'c0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
