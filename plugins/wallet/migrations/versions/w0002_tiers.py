"""wallet plugin: member tiers

Revision ID: w0002
Revises: w0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "w0002"
down_revision = "w0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "wallet_tiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("min_spend", sa.BigInteger(), nullable=False),
        sa.Column("discount_percent", sa.Integer(), nullable=False),
        sa.CheckConstraint("min_spend >= 0 AND discount_percent BETWEEN 0 AND 100",
                           name=op.f("ck_wallet_tiers_bounds")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_tiers")),
        sa.UniqueConstraint("min_spend", name=op.f("uq_wallet_tiers_min_spend")),
    )


def downgrade():
    op.drop_table("wallet_tiers")
