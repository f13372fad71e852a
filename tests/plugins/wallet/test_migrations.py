"""The wallet's w0005 migration on cards that existed before it: the principal balance
is spread over the customer's top-ups newest first (spending took the oldest), so the
stores holding the money are known from then on; on both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from core import dbmigrate
from core.audit import acting_as
from core.crm.customers import find_or_create
from core.db import write_transaction
from core.extensions import db
from core.org.brand import ensure_brand
from core.org.stores import create_store


def test_existing_cards_get_their_top_ups_remaining(make_app: Any) -> None:
    app = make_app(migrate=False)
    with app.app_context(), acting_as(None, "test"):
        # the core as it is now (its services are used below), the wallet as it was
        dbmigrate.upgrade("core@head")
        dbmigrate.upgrade("w0004")
        ensure_brand({"name": "B", "default_locale": "en", "currency": "CNY",
                      "timezone": "Asia/Shanghai"})
        first = create_store({"code": "a", "name": "A", "timezone": "Asia/Shanghai"}).id
        second = create_store({"code": "b", "name": "B", "timezone": "Asia/Shanghai"}).id
        with write_transaction():
            customer = find_or_create("13900000055", "Old card").id
        with write_transaction() as session:
            for store, paid in ((first, 10000), (second, 5000), (first, 3000)):
                session.execute(text(
                    "INSERT INTO wallet_top_ups (customer_id, store_id, paid, bonus, provider,"
                    " created_at) VALUES (:c, :s, :p, 0, 'cash', CURRENT_TIMESTAMP)"),
                    {"c": customer, "s": store, "p": paid})
            session.execute(text(  # 18000 sold, 11000 spent: 7000 left
                "INSERT INTO ledger_accounts (code, normal, currency, allow_negative, balance,"
                " created_at) VALUES (:code, 'credit', 'CNY', false, 7000, CURRENT_TIMESTAMP)"),
                {"code": f"customer:{customer}:principal"})
        db.session.remove()
        dbmigrate.upgrade()
        left = db.session.execute(text(
            "SELECT store_id, paid, principal_left FROM wallet_top_ups ORDER BY id")).all()
    assert [tuple(r) for r in left] == [(first, 10000, 0), (second, 5000, 4000),
                                        (first, 3000, 3000)]
