"""c0009 on a database full of duplicates: numbers in several spellings become E.164,
customers with the same number merge (bookings, notes, orders, wallet rows, tags and
ledger balances move), colliding users give their number up, and a merge that a unique
constraint forbids stops the upgrade before anything changes. Both backends.

The rows are written with plain SQL at c0008: the app's models already describe c0009.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from core import dbmigrate
from core.extensions import db

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _insert(conn: Any, table: str, **values: Any) -> int:
    """Insert one row through the reflected table (types handled per backend)."""
    reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
    for column in reflected.columns:
        if isinstance(column.type, sa.DateTime) and isinstance(values.get(column.name),
                                                                datetime):
            if conn.dialect.name == "sqlite":
                values[column.name] = values[column.name].astimezone(UTC).replace(tzinfo=None)
    return conn.execute(reflected.insert().values(**values)).inserted_primary_key[0]


def _at_c0008(make_app: Any) -> Any:
    app = make_app(migrate=False)
    with app.app_context():
        dbmigrate.upgrade("c0008")
        dbmigrate.upgrade("wallet@head")  # a plugin's tables reference customers too
    return app


def _post(conn: Any, kind: str, legs: list[tuple[int, int]]) -> None:
    txn = _insert(conn, "ledger_transactions", kind=kind, memo="", created_at=T0)
    for account, amount in legs:
        _insert(conn, "ledger_entries", transaction_id=txn, account_id=account, amount=amount,
                created_at=T0)


def _account(conn: Any, code: str, normal: str, balance: int, allow_negative: bool) -> int:
    return _insert(conn, "ledger_accounts", code=code, normal=normal, currency="CNY",
                   allow_negative=allow_negative, balance=balance, created_at=T0)


def _world(conn: Any) -> dict[str, int]:
    ids: dict[str, int] = {}
    _insert(conn, "brand_settings", id=1, name="B", default_locale="en", currency="CNY",
            timezone="Asia/Shanghai", theme="default", deployment_id="d-1")
    ids["store"] = _insert(conn, "stores", code="main", name="Main", address="", phone="",
                           timezone="Asia/Shanghai", status="active", created_at=T0)
    ids["service"] = _insert(conn, "services", name="Cut", description="", duration_min=30,
                             buffer_before_min=0, buffer_after_min=0, price=100,
                             published=True)
    staff_user = _insert(conn, "users", name="Ann", email="ann@example.com", is_active=True,
                         created_at=T0)
    ids["staff"] = _insert(conn, "staff_profiles", user_id=staff_user, display_name="Ann",
                           title="", level="", bio="", specialities=[], active=True,
                           calendar_token="t" * 43)
    # three users with one number: the oldest keeps it; one with an e-mail loses it; one
    # without an e-mail is deactivated. One more number does not parse.
    ids["u_old"] = _insert(conn, "users", name="Old", phone="13800000001", is_active=True,
                           created_at=T0)
    ids["u_new"] = _insert(conn, "users", name="New", phone="+8613800000001",
                           is_active=True, created_at=T0 + timedelta(days=30))
    ids["u_mail"] = _insert(conn, "users", name="Mail", phone="0086 138 0000 0001",
                            email="mail@example.com", is_active=True,
                            created_at=T0 + timedelta(days=40))
    ids["u_bad"] = _insert(conn, "users", name="Bad", phone="12345", is_active=True,
                           created_at=T0)
    # three customers with that number: the lowest id is not linked; the survivor is the
    # one linked to the user who keeps the number
    ids["c_first"] = _insert(conn, "customers", phone="+86 138 0000 0001", name="First",
                             source="walk_in", created_at=T0)
    ids["c_new"] = _insert(conn, "customers", phone="13800000001", name="New",
                           user_id=ids["u_new"], source="online", created_at=T0)
    ids["c_keep"] = _insert(conn, "customers", phone="0086-13800000001", name="Keep",
                            user_id=ids["u_old"], source="online", created_at=T0)
    ids["c_other"] = _insert(conn, "customers", phone="139 0000 0009", name="Other",
                             source="phone", created_at=T0)
    ids["c_bad"] = _insert(conn, "customers", phone="555", name="Bad", source="phone",
                           created_at=T0)
    for customer, tags in (("c_first", ["vip", "new"]), ("c_new", ["regular", "vip"]),
                           ("c_keep", ["vip"])):
        for tag in tags:
            _insert(conn, "customer_tags", customer_id=ids[customer], tag=tag)
    for customer in ("c_first", "c_new"):
        _insert(conn, "customer_notes", customer_id=ids[customer], body=f"note {customer}",
                created_at=T0)
    for n, customer in enumerate(("c_first", "c_new", "c_keep")):
        start = T0 + timedelta(days=n)
        ids[f"b_{customer}"] = _insert(
            conn, "bookings", store_id=ids["store"], staff_id=ids["staff"],
            service_id=ids["service"], customer_id=ids[customer], start_at=start,
            end_at=start + timedelta(minutes=30), block_start=start,
            block_end=start + timedelta(minutes=30), status="completed", price=100,
            currency="CNY", source="phone", note="", created_at=T0, updated_at=T0,
            code=f"CODE{n}")
    ids["order"] = _insert(conn, "orders", store_id=ids["store"], customer_id=ids["c_new"],
                           status="paid", currency="CNY", subtotal=100, total=100, paid=100,
                           refunded=0, created_at=T0)
    ids["top_up"] = _insert(conn, "wallet_top_ups", customer_id=ids["c_first"],
                            store_id=ids["store"], paid=5000, bonus=0, principal_left=5000,
                            provider="cash", created_at=T0)
    # stored value on two duplicates (credit-normal, may not go negative)
    cash = _account(conn, "store:1:cash", "debit", 8700, True)
    first = _account(conn, f"customer:{ids['c_first']}:principal", "credit", 5000, False)
    new = _account(conn, f"customer:{ids['c_new']}:principal", "credit", 3000, False)
    bonus = _account(conn, f"customer:{ids['c_new']}:bonus", "credit", 700, False)
    empty = _account(conn, f"customer:{ids['c_first']}:bonus", "credit", 0, False)
    _post(conn, "top_up", [(cash, 5000), (first, -5000)])
    _post(conn, "top_up", [(cash, 3700), (new, -3000), (bonus, -700)])
    ids["empty_account"] = empty
    return ids


def _balance_from_entries(conn: Any, code: str) -> tuple[int, int]:
    """(stored balance, balance recomputed from the entries) in the normal direction."""
    row = conn.execute(sa.text("SELECT id, normal, balance FROM ledger_accounts "
                               "WHERE code = :c"), {"c": code}).one()
    total = conn.execute(sa.text("SELECT COALESCE(SUM(amount), 0) FROM ledger_entries "
                                 "WHERE account_id = :a"), {"a": row.id}).scalar()
    return int(row.balance), int(total) if row.normal == "debit" else -int(total)


def test_c0009_normalises_and_merges_duplicates(make_app: Any, capsys: Any) -> None:
    app = _at_c0008(make_app)
    with app.app_context():
        with db.engine.begin() as conn:
            ids = _world(conn)
        capsys.readouterr()
        dbmigrate.upgrade("c0009")
        printed = capsys.readouterr().out
        with db.engine.connect() as conn:
            q = lambda sql, **p: conn.execute(sa.text(sql), p).all()  # noqa: E731
            keep, first, new = ids["c_keep"], ids["c_first"], ids["c_new"]
            assert q("SELECT country FROM brand_settings") == [("CN",)]
            # one customer per number; the others are gone, their rows moved
            customers = dict(q("SELECT id, phone FROM customers"))
            assert customers == {keep: "+8613800000001", ids["c_other"]: "+8613900000009",
                                 ids["c_bad"]: "555"}
            assert q("SELECT user_id FROM customers WHERE id = :i", i=keep) \
                == [(ids["u_old"],)]
            assert sorted(t for (t,) in q("SELECT tag FROM customer_tags WHERE "
                                          "customer_id = :i", i=keep)) \
                == ["new", "regular", "vip"]
            assert q("SELECT COUNT(*) FROM customer_tags") == [(3,)]
            assert sorted(b for (b,) in q("SELECT body FROM customer_notes WHERE "
                                          "customer_id = :i", i=keep)) \
                == ["note c_first", "note c_new"]
            assert q("SELECT COUNT(*) FROM bookings WHERE customer_id = :i", i=keep) \
                == [(3,)]
            assert q("SELECT customer_id FROM orders") == [(keep,)]
            assert q("SELECT customer_id FROM wallet_top_ups") == [(keep,)]
            # money moved by appended, balanced transactions; nothing deleted
            assert _balance_from_entries(conn, f"customer:{keep}:principal") == (8000, 8000)
            assert _balance_from_entries(conn, f"customer:{keep}:bonus") == (700, 700)
            for old in (f"customer:{first}:principal", f"customer:{new}:principal",
                        f"customer:{new}:bonus"):
                assert _balance_from_entries(conn, f"merged-{old}") == (0, 0)
            assert q("SELECT code FROM ledger_accounts WHERE id = :i",
                     i=ids["empty_account"]) == [(f"merged-customer:{first}:bonus",)]
            assert _balance_from_entries(conn, "store:1:cash") == (8700, 8700)
            merges = q("SELECT id, kind, reference FROM ledger_transactions "
                       "WHERE kind = 'customer_merge'")
            assert len(merges) == 3 and {r.reference for r in merges} == {f"customer:{keep}"}
            for txn in merges:
                legs = q("SELECT amount FROM ledger_entries WHERE transaction_id = :t",
                         t=txn.id)
                assert len(legs) == 2 and sum(a for (a,) in legs) == 0
            assert q("SELECT COUNT(*) FROM ledger_entries") == [(5 + 6,)]
            # users: the oldest keeps the number; the others give it up
            users = {r.id: (r.phone, bool(r.is_active)) for r in q(
                "SELECT id, phone, is_active FROM users")}
            assert users[ids["u_old"]] == ("+8613800000001", True)
            assert users[ids["u_mail"]] == (None, True)
            assert users[ids["u_new"]] == (None, False)
            assert users[ids["u_bad"]] == ("12345", True)
            columns = {c["name"] for c in sa.inspect(conn).get_columns("users")}
            assert not columns & {"failed_logins", "locked_until"}
            assert "auth_failures" in sa.inspect(conn).get_table_names()
    assert f"customer #{first} merged into #{keep}" in printed
    assert f"customer #{new} merged into #{keep}" in printed
    assert f"user #{ids['u_new']} deactivated" in printed
    assert "'12345'" in printed and "'555'" in printed  # warnings for what did not parse
    with app.app_context():
        dbmigrate.upgrade()  # and on to the heads
        from core.models import Customer, User

        assert db.session.get(Customer, ids["c_keep"]).phone == "+8613800000001"
        assert db.session.get(User, ids["u_old"]).phone == "+8613800000001"


def test_c0009_stops_before_changing_anything_when_a_merge_is_impossible(
        make_app: Any) -> None:
    app = _at_c0008(make_app)
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "CREATE TABLE loyalty_cards (id INTEGER PRIMARY KEY, customer_id INTEGER "
                "NOT NULL REFERENCES customers (id), number VARCHAR(20) NOT NULL, "
                "CONSTRAINT uq_loyalty_cards_customer UNIQUE (customer_id))"))
            _insert(conn, "brand_settings", id=1, name="B", default_locale="en",
                    currency="CNY", timezone="Asia/Shanghai", theme="default",
                    deployment_id="d-1")
            one = _insert(conn, "customers", phone="13800000001", name="A", source="phone",
                          created_at=T0)
            two = _insert(conn, "customers", phone="+86 138 0000 0001", name="B",
                          source="phone", created_at=T0)
            for n, customer in enumerate((one, two)):
                _insert(conn, "loyalty_cards", id=n + 1, customer_id=customer,
                        number=f"L{n}")
        with pytest.raises(Exception, match=rf"#{one} and #{two}.*loyalty_cards") as caught:
            dbmigrate.upgrade("c0009")
        assert type(caught.value).__name__ == "CannotMergeCustomers"
        db.session.remove()
        with db.engine.connect() as conn:
            assert [r[0] for r in conn.execute(sa.text(
                "SELECT phone FROM customers ORDER BY id"))] \
                == ["13800000001", "+86 138 0000 0001"]
            assert "country" not in {c["name"] for c in sa.inspect(conn).get_columns(
                "brand_settings")}
        assert dbmigrate.current() and all("c0009" not in r for r in dbmigrate.current())
