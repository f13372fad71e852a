"""ledger integrity at the database level: no TRUNCATE, balanced transactions, audit append-only

c0004 made ledger entries and transactions refuse UPDATE and DELETE with row triggers.
Row triggers do not fire on TRUNCATE, so on PostgreSQL:

* ``ledger_accounts``, ``ledger_transactions``, ``ledger_entries`` and ``audit_log``
  refuse TRUNCATE with a statement-level ``BEFORE TRUNCATE`` trigger (also when another
  table's ``TRUNCATE … CASCADE`` reaches them), for every login including the owner;
* a ledger transaction must balance when its database transaction commits: deferred
  constraint triggers on new transactions and new entries check that the transaction
  has at least two legs summing to zero, so neither a bug nor raw SQL can commit money
  that appears from nowhere or an entry appended to an old transaction;
* ``audit_log`` refuses UPDATE and DELETE like the ledger (the audit trail only ever
  inserts, see core/audit.py).

SQLite has no TRUNCATE (its ``DELETE FROM`` fires the DELETE triggers) and no deferred
triggers; there ``audit_log`` gets the UPDATE and DELETE triggers. SQLite drops a
table's triggers when batch mode recreates it: a later migration that batch-alters one
of these tables must create its triggers again.

What triggers cannot stop — an owner or superuser disabling them (``ALTER TABLE …
DISABLE TRIGGER``, ``session_replication_role = replica``) — is stopped by running the
app as a role that owns nothing and is no superuser (``fulian db grant-app-role``).

Revision ID: c0014
Revises: c0013
Create Date: 2026-12-02 19:10:00
"""

from alembic import op

revision = 'c0014'
down_revision = 'c0013'
branch_labels = None
depends_on = None

NO_TRUNCATE = ("ledger_accounts", "ledger_transactions", "ledger_entries", "audit_log")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON "
                       f"audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")
        return
    op.execute("""
        CREATE FUNCTION append_only_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'raise_exception';
        END $$""")
    for table in NO_TRUNCATE:
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION append_only_refuse()")
    op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
               "FOR EACH ROW EXECUTE FUNCTION append_only_refuse()")
    op.execute("""
        CREATE FUNCTION ledger_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          txn integer;
          legs integer;
          total numeric;
        BEGIN
          IF TG_TABLE_NAME = 'ledger_transactions' THEN
            txn := NEW.id;
          ELSE
            txn := NEW.transaction_id;
          END IF;
          SELECT count(*), coalesce(sum(amount), 0) INTO legs, total
            FROM ledger_entries WHERE transaction_id = txn;
          IF legs < 2 OR total <> 0 THEN
            RAISE EXCEPTION 'ledger transaction % does not balance (% legs, sum %)',
              txn, legs, total USING ERRCODE = 'check_violation';
          END IF;
          RETURN NULL;
        END $$""")
    for table in ("ledger_transactions", "ledger_entries"):
        op.execute(f"CREATE CONSTRAINT TRIGGER {table}_balanced AFTER INSERT ON {table} "
                   f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                   f"EXECUTE FUNCTION ledger_transaction_balanced()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for action in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{action}")
        return
    for table in ("ledger_transactions", "ledger_entries"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_balanced ON {table}")
    op.execute("DROP FUNCTION IF EXISTS ledger_transaction_balanced()")
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    for table in NO_TRUNCATE:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    op.execute("DROP FUNCTION IF EXISTS append_only_refuse()")
