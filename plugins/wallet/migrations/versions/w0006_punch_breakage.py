"""wallet plugin: breakage of expired punch cards

Revision ID: w0006
Revises: w0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "w0006"
down_revision = "w0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("wallet_punch_cards", schema=None) as batch_op:
        batch_op.add_column(sa.Column("broken", sa.BigInteger(), nullable=False,
                                      server_default="0"))
        batch_op.create_index(batch_op.f("ix_wallet_punch_cards_expires_at"),
                              ["expires_at"], unique=False)


def downgrade():
    with op.batch_alter_table("wallet_punch_cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wallet_punch_cards_expires_at"))
        batch_op.drop_column("broken")
