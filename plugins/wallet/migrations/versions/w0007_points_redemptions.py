"""wallet plugin: which lots each points redemption spent (given back on cancellation)

Revision ID: w0007
Revises: w0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "w0007"
down_revision = "w0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "wallet_points_redemptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("returned", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("points > 0", name=op.f("ck_wallet_points_redemptions_points")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"],
                                name=op.f("fk_wallet_points_redemptions_order_id_orders")),
        sa.ForeignKeyConstraint(["lot_id"], ["wallet_points.id"],
                                name=op.f("fk_wallet_points_redemptions_lot_id_wallet_points")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_points_redemptions")),
    )
    with op.batch_alter_table("wallet_points_redemptions") as batch_op:
        batch_op.create_index(batch_op.f("ix_wallet_points_redemptions_order_id"),
                              ["order_id"])


def downgrade():
    op.drop_table("wallet_points_redemptions")
