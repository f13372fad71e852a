"""deposit hold: bookings may wait for their deposit

A booking whose deposit is unpaid holds its time for a short while (status
``awaiting_deposit``), so the PostgreSQL overlap guard must count it as active too.

Revision ID: c0008
Revises: c0007
Create Date: 2026-11-25 09:10:00
"""

from alembic import op

revision = 'c0008'
down_revision = 'c0007'
branch_labels = None
depends_on = None

NEW = ("status in ('awaiting_deposit','pending','confirmed','completed','cancelled',"
       "'declined','no_show')")
OLD = "status in ('pending','confirmed','completed','cancelled','declined','no_show')"


def _guard(statuses: str) -> None:
    op.execute('ALTER TABLE bookings DROP CONSTRAINT IF EXISTS bookings_no_overlap')
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap EXCLUDE USING gist "
        "(staff_id WITH =, tstzrange(block_start, block_end, '[)') WITH &&) "
        f"WHERE (status IN ({statuses}))"
    )


def _check(rule: str) -> None:
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_bookings_status'), type_='check')
        batch_op.create_check_constraint('status', rule)


def upgrade():
    _check(NEW)
    if op.get_bind().dialect.name == 'postgresql':
        _guard("'awaiting_deposit', 'pending', 'confirmed'")


def downgrade():
    op.execute("UPDATE bookings SET status = 'cancelled' WHERE status = 'awaiting_deposit'")
    if op.get_bind().dialect.name == 'postgresql':
        _guard("'pending', 'confirmed'")
    _check(OLD)
