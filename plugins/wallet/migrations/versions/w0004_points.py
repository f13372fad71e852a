"""wallet plugin: points lots

Revision ID: w0004
Revises: w0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "w0004"
down_revision = "w0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "wallet_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("booking_id", sa.Integer(), nullable=True),
        sa.Column("earned", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("remaining >= 0 AND remaining <= earned",
                           name=op.f("ck_wallet_points_remaining")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"],
                                name=op.f("fk_wallet_points_customer_id_customers")),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"],
                                name=op.f("fk_wallet_points_booking_id_bookings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_points")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_wallet_points_booking_id")),
    )
    with op.batch_alter_table("wallet_points") as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_points_customer_id"), ["customer_id"])
        batch_op.create_index(batch_op.f("ix_wallet_points_expires_at"), ["expires_at"])


def downgrade():
    op.drop_table("wallet_points")
