"""online payment provider lifecycle; licence clock; deployment id bound at install

* payments: the channel, the payer id, the provider's checkout answer and its
  transaction id;
* refunds of online payments wait for the provider: status, our reference, the
  provider's reference, when submitted and settled, why refused (existing refunds all
  completed at once: ``succeeded``);
* licences remember the latest day seen (a clock set back revives nothing);
* the SMS outbox records every message with its purpose, status and provider reply;
* the deployment id cannot change once written (licences are bound to it). SQLite
  recreates a table in batch mode without its triggers: a later migration that batch-
  alters ``brand_settings`` must create ``brand_deployment_id_fixed`` again.

Revision ID: c0011
Revises: c0010
Create Date: 2026-12-02 18:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = 'c0011'
down_revision = 'c0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('payer', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('checkout', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('provider_txn_id', sa.String(length=80), nullable=True))
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status', sa.String(length=12), nullable=False,
                                      server_default='succeeded'))
        batch_op.add_column(sa.Column('external_ref', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('provider_ref', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('submitted_at', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failure_reason', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_refunds_status'), ['status'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_refunds_external_ref'),
                                          ['external_ref'])
    with op.batch_alter_table('licenses', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clock_seen', sa.Date(), nullable=True))
    with op.batch_alter_table('sms_outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purpose', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=12), nullable=False,
                                      server_default='sent'))
        batch_op.add_column(sa.Column('provider_ref', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('error', sa.String(length=200), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION brand_deployment_id_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF OLD.deployment_id IS NOT NULL
                 AND NEW.deployment_id IS DISTINCT FROM OLD.deployment_id THEN
                RAISE EXCEPTION 'the deployment id is bound at install'
                  USING ERRCODE = 'raise_exception';
              END IF;
              RETURN NEW;
            END $$""")
        op.execute("CREATE TRIGGER brand_deployment_id_fixed BEFORE UPDATE ON brand_settings "
                   "FOR EACH ROW EXECUTE FUNCTION brand_deployment_id_fixed()")
    else:
        op.execute("CREATE TRIGGER brand_deployment_id_fixed BEFORE UPDATE OF deployment_id "
                   "ON brand_settings WHEN OLD.deployment_id IS NOT NULL AND "
                   "NEW.deployment_id IS NOT OLD.deployment_id BEGIN SELECT RAISE(ABORT, "
                   "'the deployment id is bound at install'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS brand_deployment_id_fixed ON brand_settings")
        op.execute("DROP FUNCTION IF EXISTS brand_deployment_id_fixed()")
    else:
        op.execute("DROP TRIGGER IF EXISTS brand_deployment_id_fixed")
    with op.batch_alter_table('sms_outbox', schema=None) as batch_op:
        batch_op.drop_column('error')
        batch_op.drop_column('provider_ref')
        batch_op.drop_column('status')
        batch_op.drop_column('purpose')
    with op.batch_alter_table('licenses', schema=None) as batch_op:
        batch_op.drop_column('clock_seen')
    with op.batch_alter_table('refunds', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_refunds_external_ref'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_refunds_status'))
        batch_op.drop_column('failure_reason')
        batch_op.drop_column('settled_at')
        batch_op.drop_column('submitted_at')
        batch_op.drop_column('provider_ref')
        batch_op.drop_column('external_ref')
        batch_op.drop_column('status')
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_column('provider_txn_id')
        batch_op.drop_column('checkout')
        batch_op.drop_column('payer')
        batch_op.drop_column('channel')
