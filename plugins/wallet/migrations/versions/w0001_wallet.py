"""wallet plugin: top-up plans and top-ups (balances live in the core ledger)

Revision ID: w0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "w0001"
down_revision = None
branch_labels = ("wallet",)
depends_on = "c0007"


def upgrade():
    op.create_table(
        "wallet_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("pay_amount", sa.BigInteger(), nullable=False),
        sa.Column("bonus_amount", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("pay_amount > 0 AND bonus_amount >= 0",
                           name=op.f("ck_wallet_plans_amounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_plans")),
    )
    op.create_table(
        "wallet_top_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("paid", sa.BigInteger(), nullable=False),
        sa.Column("bonus", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("idempotency_key", sa.String(length=160), nullable=True),
        sa.Column("ledger_txn_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_wallet_top_ups_customer_id_customers")),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"],
                                name=op.f("fk_wallet_top_ups_store_id_stores")),
        sa.ForeignKeyConstraint(["plan_id"], ["wallet_plans.id"],
                                name=op.f("fk_wallet_top_ups_plan_id_wallet_plans")),
        sa.ForeignKeyConstraint(["ledger_txn_id"], ["ledger_transactions.id"],
                                name=op.f("fk_wallet_top_ups_ledger_txn_id_ledger_transactions")),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_wallet_top_ups_created_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_top_ups")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_wallet_top_ups_idempotency_key")),
    )
    with op.batch_alter_table("wallet_top_ups") as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_top_ups_customer_id"), ["customer_id"])
        batch_op.create_index(batch_op.f("ix_wallet_top_ups_store_id"), ["store_id"])


def downgrade():
    op.drop_table("wallet_top_ups")
    op.drop_table("wallet_plans")
