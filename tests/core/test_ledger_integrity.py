"""The database itself guards the ledger and the audit log (c0014), on both backends:
history refuses UPDATE, DELETE and (PostgreSQL) TRUNCATE, also through CASCADE and for
the tables' owner; on PostgreSQL an unbalanced transaction cannot be committed, even by
raw SQL. The restricted app role is tested in test_db_roles.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import flask_migrate
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core import dbmigrate
from core.db import write_transaction
from core.extensions import db
from core.finance import ledger
from core.models import AuditEntry, LedgerEntry, LedgerTransaction
from core.org.stores import create_store

CASH, REVENUE = "store:1:cash", "store:1:revenue"


@pytest.fixture
def posted(ctx: Any) -> Iterator[LedgerTransaction]:
    create_store({"code": "s", "name": "S", "timezone": "Asia/Shanghai"})  # audited
    with write_transaction():
        txn = ledger.post("sale", [(CASH, 500), (REVENUE, -500)])
    yield txn


def _refused(statement: str, match: str = "append-only") -> None:
    with pytest.raises(DBAPIError, match=match), write_transaction() as session:
        session.execute(text(statement))


def test_the_audit_log_is_append_only_like_the_ledger(posted: LedgerTransaction) -> None:
    entry = db.session.query(AuditEntry).first()
    assert entry is not None
    for statement in (f"UPDATE audit_log SET actor = 'someone else' WHERE id = {entry.id}",
                      "UPDATE audit_log SET after = NULL",
                      f"DELETE FROM audit_log WHERE id = {entry.id}",
                      "DELETE FROM audit_log",
                      "UPDATE ledger_entries SET amount = 1",
                      "DELETE FROM ledger_transactions"):
        _refused(statement)
    assert db.session.query(AuditEntry).count() > 0
    with write_transaction():  # inserting still works
        ledger.post("sale", [(CASH, 100), (REVENUE, -100)])
    assert ledger.balance(CASH) == ledger.balance_from_entries(CASH) == 600


def test_truncate_is_refused_also_through_cascade(posted: LedgerTransaction) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; its DELETE triggers cover DELETE FROM")
    for table in ("ledger_entries", "ledger_transactions CASCADE", "audit_log",
                  "ledger_accounts CASCADE", "payments, ledger_transactions CASCADE"):
        _refused(f"TRUNCATE {table}", r"is append-only \(TRUNCATE refused\)")
    assert db.session.query(LedgerEntry).count() == 2


def test_an_unbalanced_transaction_cannot_be_committed(posted: LedgerTransaction) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no deferred triggers: ledger.post checks the balance")
    account = db.session.scalar(text("SELECT id FROM ledger_accounts WHERE code = :c"),
                                {"c": CASH})
    new_txn = ("INSERT INTO ledger_transactions (kind, memo, created_at) "
               "VALUES ('forged', '', now()) RETURNING id")
    entry = ("INSERT INTO ledger_entries (transaction_id, account_id, amount, created_at) "
             "VALUES (:t, :a, :n, now())")
    with pytest.raises(DBAPIError, match="does not balance"), write_transaction() as s:
        s.execute(text(new_txn))  # no legs at all
    with pytest.raises(DBAPIError, match="does not balance"), write_transaction() as s:
        txn = s.scalar(text(new_txn))
        s.execute(text(entry), {"t": txn, "a": account, "n": 1000})  # money from nowhere
    with pytest.raises(DBAPIError, match="does not balance"), write_transaction() as s:
        s.execute(text(entry), {"t": posted.id, "a": account, "n": 7})  # to an old one
    with write_transaction() as s:  # balanced legs written by hand are fine
        txn = s.scalar(text(new_txn))
        s.execute(text(entry), {"t": txn, "a": account, "n": 300})
        s.execute(text(entry), {"t": txn, "a": account, "n": -300})
    assert db.session.query(LedgerTransaction).count() == 2


def test_c0014_downgrades_and_upgrades_again(make_app: Any) -> None:
    app = make_app(migrate=False)
    with app.app_context():
        dbmigrate.upgrade("c0014")
        postgres = db.engine.dialect.name == "postgresql"
        statement = "TRUNCATE audit_log" if postgres else "DELETE FROM audit_log"

        def clear() -> None:
            with write_transaction() as session:  # SQLite's DELETE trigger is per row
                session.add(AuditEntry(actor="test", action="create", entity_type="t"))
            with write_transaction() as session:
                session.execute(text(statement))

        with pytest.raises(DBAPIError, match="append-only"):
            clear()
        flask_migrate.downgrade(revision="c0013")
        clear()
        dbmigrate.upgrade("c0014")
        with pytest.raises(DBAPIError, match="append-only"):
            clear()
