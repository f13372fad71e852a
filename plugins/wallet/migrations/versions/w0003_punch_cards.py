"""wallet plugin: punch cards (products, cards, uses)

Revision ID: w0003
Revises: w0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "w0003"
down_revision = "w0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "wallet_punch_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("service_ids", sa.JSON(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.CheckConstraint("uses > 0 AND price >= 0 AND validity_days > 0",
                           name=op.f("ck_wallet_punch_products_bounds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_punch_products")),
    )
    op.create_table(
        "wallet_punch_cards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.Integer(), nullable=False),
        sa.Column("uses_total", sa.Integer(), nullable=False),
        sa.Column("uses_left", sa.Integer(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("uses_left >= 0 AND uses_left <= uses_total",
                           name=op.f("ck_wallet_punch_cards_uses")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_wallet_punch_cards_customer_id_customers")),
        sa.ForeignKeyConstraint(["product_id"], ["wallet_punch_products.id"],
                                name=op.f("fk_wallet_punch_cards_product_id_"
                                          "wallet_punch_products")),
        sa.ForeignKeyConstraint(["store_id"], ["stores.id"],
                                name=op.f("fk_wallet_punch_cards_store_id_stores")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_punch_cards")),
    )
    with op.batch_alter_table("wallet_punch_cards") as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_punch_cards_customer_id"), ["customer_id"])
    op.create_table(
        "wallet_punch_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card_id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["card_id"], ["wallet_punch_cards.id"],
                                name=op.f("fk_wallet_punch_uses_card_id_wallet_punch_cards")),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"],
                                name=op.f("fk_wallet_punch_uses_booking_id_bookings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_punch_uses")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_wallet_punch_uses_booking_id")),
    )
    with op.batch_alter_table("wallet_punch_uses") as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_punch_uses_card_id"), ["card_id"])


def downgrade():
    op.drop_table("wallet_punch_uses")
    op.drop_table("wallet_punch_cards")
    op.drop_table("wallet_punch_products")
