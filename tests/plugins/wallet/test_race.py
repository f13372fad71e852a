"""Stored value spent from one card by four processes at once (on PostgreSQL a real
race): the card never goes below zero, each top-up gives out at most what it holds, and
the settlement between stores adds up to what each store sold."""

from __future__ import annotations

import multiprocessing
from typing import Any

from sqlalchemy import func, select

from core.audit import acting_as
from core.db import write_transaction
from core.extensions import db
from core.finance import ledger
from core.models import LedgerEntry, Order, Store
from core.org.stores import create_store
from plugins.wallet import service as wallet
from plugins.wallet.models import TopUp
from tests.plugins.wallet.test_wallet import _shop, env  # noqa: F401 - the fixture

PRICE = 700


def _payer(url: str, folder: str, keys: str, order_ids: list[int], out: Any) -> None:
    from core import create_app
    from core.finance import orders

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": folder,
                      "FULIAN_JOBS_THREAD": False, "FULIAN_LICENSE_PUBLIC_KEYS": [keys]})
    ok = refused = 0
    with app.app_context(), acting_as(None, "test"):
        for order_id in order_ids:
            try:
                orders.pay(order_id, "wallet", PRICE)
                ok += 1
            except ledger.InsufficientFunds:
                db.session.rollback()
                refused += 1
        db.engine.dispose()
    out.put((ok, refused))


def test_four_processes_spend_one_card(env: dict, db_url: str, tmp_path: Any,  # noqa: F811
                                       vendor_keys: dict) -> None:
    app = env["app"]
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        east = db.session.scalars(select(Store).where(Store.code == "east")).one()
        cid, main = shop.customer.id, shop.store.id
        wallet.top_up(cid, main, 30_000)
        wallet.top_up(cid, east.id, 20_000)
        west = create_store({"code": "west", "name": "West", "timezone": "Asia/Shanghai"}).id
        with write_transaction() as session:  # 120 orders at a third store, 700 each
            rows = [Order(store_id=west, customer_id=cid, currency="CNY", subtotal=PRICE,
                          total=PRICE) for _ in range(120)]
            session.add_all(rows)
            session.flush()
            ids = [o.id for o in rows]
        east_id = east.id
        db.engine.dispose()
    spawn = multiprocessing.get_context("spawn")
    queue: Any = spawn.Queue()
    procs = [spawn.Process(target=_payer, args=(
        db_url, str(tmp_path / "instance"), str(vendor_keys["public"]), ids[i::4], queue))
        for i in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert sum(ok for ok, _ in results) == 71  # 71 x 700 = 49 700 of 50 000
    with app.app_context():
        assert wallet.balances(cid)["principal"] == 300
        left = dict(db.session.execute(select(TopUp.store_id, TopUp.principal_left)).all())
        assert left == {main: 0, east_id: 300}  # oldest first, never below zero
        assert ledger.balance(f"store:{west}:due_from") == 49_700
        assert ledger.balance(f"store:{main}:due_to") == 30_000
        assert ledger.balance(f"store:{east_id}:due_to") == 19_700
        assert db.session.scalar(select(func.sum(LedgerEntry.amount))) == 0
