"""index of bookings held for a deposit

The hold sweep (``core.expire_holds``, every minute) looks for bookings still
``awaiting_deposit`` past their time: a partial index holds only those, so the sweep
stays cheap however many bookings the table has.

Revision ID: c0015
Revises: c0014
Create Date: 2026-12-07 21:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'c0015'
down_revision = 'c0014'
branch_labels = None
depends_on = None

HELD = sa.text("status = 'awaiting_deposit'")


def upgrade() -> None:
    op.create_index("ix_bookings_held_since", "bookings", ["created_at"],
                    sqlite_where=HELD, postgresql_where=HELD)


def downgrade() -> None:
    op.drop_index("ix_bookings_held_since", table_name="bookings")
