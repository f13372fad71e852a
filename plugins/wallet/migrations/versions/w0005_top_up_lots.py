"""wallet plugin: what is left of each top-up (which store holds the money)

Existing cards: the principal balance is spread over the customer's top-ups newest first
(spending takes the oldest first, so what is left is the newest).

Revision ID: w0005
Revises: w0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "w0005"
down_revision = "w0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("wallet_top_ups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("principal_left", sa.BigInteger(), nullable=False,
                                      server_default="0"))
    conn = op.get_bind()
    balances = dict(conn.execute(sa.text(  # stored in the account's normal direction
        "SELECT code, balance FROM ledger_accounts WHERE code LIKE :pattern"),
        {"pattern": "customer:%:principal"}).all())
    rows = conn.execute(sa.text(
        "SELECT id, customer_id, paid FROM wallet_top_ups ORDER BY id DESC")).all()
    left = {}
    for top_up_id, customer_id, paid in rows:
        code = f"customer:{customer_id}:principal"
        remaining = left.setdefault(code, max(0, int(balances.get(code) or 0)))
        share = min(int(paid), remaining)
        if share:
            conn.execute(sa.text("UPDATE wallet_top_ups SET principal_left = :share "
                                 "WHERE id = :id"), {"share": share, "id": top_up_id})
        left[code] = remaining - share
    with op.batch_alter_table("wallet_top_ups", schema=None) as batch_op:
        batch_op.create_check_constraint(
            "principal_left", "principal_left >= 0 AND principal_left <= paid")


def downgrade():
    with op.batch_alter_table("wallet_top_ups", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_wallet_top_ups_principal_left"),
                                 type_="check")
        batch_op.drop_column("principal_left")
