"""idempotency keys claimed before the effect, replayed to concurrent retries

* a key is the caller's own (``caller``; unique per scope, caller and key);
* a row is claimed ``running`` (random ``claim`` token, ``claimed_at``) before the
  effect and becomes ``done`` with the reply in the effect's transaction, so the reply
  columns are empty while it runs. Existing rows are replies: ``done``, claimed when
  they were created.

Revision ID: c0013
Revises: c0012
Create Date: 2026-12-02 19:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = 'c0013'
down_revision = 'c0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('caller', sa.String(length=64), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('state', sa.String(length=8), nullable=False,
                                      server_default='done'))
        batch_op.add_column(sa.Column('claim', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('completed_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.alter_column('status', existing_type=sa.SmallInteger(), nullable=True)
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=True)
        batch_op.alter_column('content_type', existing_type=sa.String(length=80),
                              nullable=True)
        batch_op.drop_constraint('uq_idempotency_keys_scope_key', type_='unique')
        batch_op.create_unique_constraint('uq_idempotency_keys_scope_caller_key',
                                          ['scope', 'caller', 'key'])
    op.execute("UPDATE idempotency_keys SET claimed_at = created_at, "
               "completed_at = created_at")
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.alter_column('claimed_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)
        batch_op.create_check_constraint(
            op.f('ck_idempotency_keys_state'), "state IN ('running', 'done')")
        batch_op.create_check_constraint(
            op.f('ck_idempotency_keys_done_has_reply'),
            "state = 'running' OR (status IS NOT NULL AND body IS NOT NULL "
            "AND content_type IS NOT NULL)")


def downgrade() -> None:
    # Claims still running have no reply to keep.
    op.execute("DELETE FROM idempotency_keys WHERE state = 'running'")
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_idempotency_keys_done_has_reply'), type_='check')
        batch_op.drop_constraint(op.f('ck_idempotency_keys_state'), type_='check')
        batch_op.drop_constraint('uq_idempotency_keys_scope_caller_key', type_='unique')
        batch_op.alter_column('content_type', existing_type=sa.String(length=80),
                              nullable=False)
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=False)
        batch_op.alter_column('status', existing_type=sa.SmallInteger(), nullable=False)
        batch_op.drop_column('completed_at')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claim')
        batch_op.drop_column('state')
        batch_op.drop_column('caller')
    # Keys were one space per scope before: keep the newest reply of each.
    op.execute("DELETE FROM idempotency_keys WHERE id NOT IN (SELECT max(id) FROM "
               "idempotency_keys GROUP BY scope, key)")
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_idempotency_keys_scope_key', ['scope', 'key'])
