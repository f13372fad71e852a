"""idempotency keys claimed before the effect, replayed to concurrent retries (placeholder)

Revision ID: c0013
Revises: c0012
Create Date: 2026-12-02 19:10:00
"""

from alembic import op  # noqa: F401

revision = 'c0013'
down_revision = 'c0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
