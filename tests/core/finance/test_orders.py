"""Orders: the pricing pipeline explains the total, payments and refunds move money in
the ledger exactly once and never beyond what is due or paid; a day's revenue can be
recomputed from the ledger alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from core.booking.service import create_booking
from core.errors import RuleViolation, ValidationFailed
from core.extensions import db
from core.finance import ledger, orders
from core.models import LedgerAccount, LedgerEntry, LedgerTransaction, Order
from tests.core.factories import make_shop
from tests.core.finance.helpers import pay_online


@pytest.fixture
def shop(make_app: Any) -> Iterator[Any]:
    app = make_app()
    with app.app_context():
        shop = make_shop()
        booking = create_booking(store=shop.store, service=shop.service,
                                 customer=shop.customer, start_at=shop.start,
                                 staff=shop.staff, source="phone")
        yield shop, booking


def revenue_from_ledger(store_id: int) -> int:
    """Net revenue of a store computed from ledger entries alone."""
    def total(purpose: str) -> int:
        return int(db.session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0))
            .join(LedgerAccount, LedgerEntry.account_id == LedgerAccount.id)
            .where(LedgerAccount.code == f"store:{store_id}:{purpose}")))
    return -total("revenue") - total("refunds")


def test_order_for_a_booking_is_priced_and_unique(shop: Any) -> None:
    shop_, booking = shop
    order = orders.order_for_booking(booking)
    assert (order.subtotal, order.total, order.status) == (12800, 12800, "open")
    assert [line.description for line in order.lines] == ["Cut main"]
    assert orders.order_for_booking(booking).id == order.id


def test_plugin_adjustments_are_recorded_with_their_source(make_app: Any) -> None:
    app = make_app()
    with app.app_context():
        app.extensions["fulian_plugins"].set_enabled("contract", True)
        shop = make_shop()
        quote = orders.quote_for_service(shop.store, shop.service, shop.customer)
    assert quote.subtotal == 12800
    assert [(a.source, a.amount) for a in quote.adjustments] == [("contract", -100)]
    assert quote.total == 12700


def test_cash_split_payment_refund_and_ledger(shop: Any) -> None:
    shop_, booking = shop
    order = orders.order_for_booking(booking)
    orders.pay(order.id, "cash", 8000, user_id=None)
    with pytest.raises(RuleViolation):
        orders.pay(order.id, "cash", 4801)  # more than is due
    pay_online(order.id, 4800)
    order = db.session.get(Order, order.id)
    assert (order.paid, order.status) == (12800, "paid")
    with pytest.raises(RuleViolation):
        orders.pay(order.id, "cash", 1)  # nothing is due any more
    store = shop_.store.id
    assert ledger.balance(f"store:{store}:cash") == 8000
    assert ledger.balance(f"store:{store}:online") == 4800
    assert ledger.balance(f"store:{store}:revenue") == 12800
    # a partial refund goes back to the newest tender first
    refunds = orders.refund(order.id, 5000, "unhappy")
    providers = {p.id: p.provider for p in db.session.get(Order, order.id).payments}
    assert [(r.amount, providers[r.payment_id]) for r in refunds] == [(4800, "sandbox"),
                                                                       (200, "cash")]
    assert ledger.balance(f"store:{store}:online") == 0
    assert ledger.balance(f"store:{store}:cash") == 7800
    with pytest.raises(RuleViolation):
        orders.refund(order.id, 7801)
    orders.refund(order.id, 7800)
    assert db.session.get(Order, order.id).status == "refunded"
    assert revenue_from_ledger(store) == 0
    for txn in db.session.scalars(select(LedgerTransaction)):
        assert sum(e.amount for e in txn.entries) == 0


def test_bad_amounts_and_tenders_change_nothing(shop: Any) -> None:
    _, booking = shop
    order = orders.order_for_booking(booking)
    for amount in (0, -5, 1.5, True):
        with pytest.raises(ValidationFailed):
            orders.pay(order.id, "cash", amount)
    with pytest.raises(RuleViolation):
        orders.pay(order.id, "bitcoin", 100)
    assert db.session.query(LedgerEntry).count() == 0
    assert db.session.get(Order, order.id).paid == 0


def test_commission_is_a_separate_balanced_leg(make_app: Any) -> None:
    app = make_app(FULIAN_COMMISSION_BPS=250)
    with app.app_context():
        shop = make_shop()
        booking = create_booking(store=shop.store, service=shop.service,
                                 customer=shop.customer, start_at=shop.start,
                                 staff=shop.staff, source="phone")
        order = orders.order_for_booking(booking)
        orders.pay(order.id, "cash", 12800)
        assert ledger.balance("platform:0:commission") == 320
        assert ledger.balance(f"store:{shop.store.id}:commission_expense") == 320
        assert revenue_from_ledger(shop.store.id) == 12800


def test_a_days_revenue_recomputed_from_the_ledger_matches_the_orders(shop: Any) -> None:
    shop_, booking = shop
    order = orders.order_for_booking(booking)
    orders.pay(order.id, "cash", 12800)
    orders.refund(order.id, 2800)
    paid = db.session.scalar(select(func.sum(Order.paid - Order.refunded)))
    assert revenue_from_ledger(shop_.store.id) == paid == 10000
