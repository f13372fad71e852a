"""Deposits, late cancellation and no-show fees: applied the same way whatever paid, in
the booking's own transaction, explained on the receipt, balanced in the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask_babel import force_locale

from core.audit import acting_as
from core.booking import service
from core.booking.service import create_booking
from core.catalog.services import update_service
from core.extensions import db
from core.finance import ledger, orders
from core.models import LedgerEntry, Order
from core.org.stores import update_store
from tests.core.factories import make_shop
from tests.core.finance.helpers import pay_online


@pytest.fixture
def shop(make_app: Any) -> Iterator[Any]:
    app = make_app()
    with app.app_context(), acting_as(None, "test"):
        shop = make_shop()
        update_store("main", {"deposit_percent": 20, "late_cancel_window_min": 48 * 60,
                              "late_cancel_fee_percent": 30, "no_show_fee_percent": 50,
                              "cancel_window_min": 0})
        yield shop


def _book(shop: Any, days: int = 1) -> Any:
    return create_booking(store=shop.store, service=shop.service, customer=shop.customer,
                          start_at=shop.start + timedelta(days=days - 1), staff=shop.staff,
                          source="phone")


def _net_revenue(store_id: int) -> int:
    return ledger.balance(f"store:{store_id}:revenue") - ledger.balance(
        f"store:{store_id}:refunds")


def test_deposit_is_asked_by_the_policy(shop: Any) -> None:
    order = orders.order_for_booking(_book(shop))
    assert order.deposit == 12800 * 20 // 100
    update_service(shop.service.id, {"deposit_percent": 0})
    order2 = orders.order_for_booking(_book(shop, days=3))
    assert order2.deposit == 0  # the service overrides the store


def test_late_cancellation_keeps_the_fee_and_refunds_the_rest(shop: Any) -> None:
    booking = _book(shop)  # tomorrow: inside the 48 h late window
    order = orders.order_for_booking(booking)
    orders.pay(order.id, "cash", 2560)      # the deposit in cash
    pay_online(order.id, 10240)  # the rest online (as if notified)
    with force_locale("zh_CN"):  # the receipt is written in the reader's language
        service.transition(booking.id, "cancel", by_customer=True)
    order = db.session.get(Order, order.id)
    assert order.adjustments[0].label == "未提供服务：预约已取消"
    fee = 12800 * 30 // 100
    assert (order.status, order.total, order.paid - order.refunded) == ("paid", fee, fee)
    lines = [(line.kind, line.amount) for line in order.lines]
    assert lines == [("booking", 12800), ("fee", fee)]
    assert [a.amount for a in order.adjustments] == [-12800]
    # the excess (8960) goes back newest tender first: all from the online payment
    assert ledger.balance(f"store:{shop.store.id}:online") == 10240 - 8960
    assert ledger.balance(f"store:{shop.store.id}:cash") == 2560
    assert _net_revenue(shop.store.id) == fee
    assert sum(e.amount for e in db.session.query(LedgerEntry)) == 0


def test_early_cancellation_and_store_cancellation_refund_everything(shop: Any) -> None:
    booking = _book(shop, days=5)  # outside the late window
    order = orders.order_for_booking(booking)
    orders.pay(order.id, "cash", 12800)
    service.transition(booking.id, "cancel", by_customer=True)
    order = db.session.get(Order, order.id)
    assert (order.status, order.total, order.refunded) == ("cancelled", 0, 12800)
    late = _book(shop)  # inside the late window, but the store cancels: no fee
    order = orders.order_for_booking(late)
    orders.pay(order.id, "cash", 12800)
    service.transition(late.id, "cancel", by_customer=False, reason="stylist ill")
    assert db.session.get(Order, order.id).status == "cancelled"
    assert _net_revenue(shop.store.id) == 0


def test_no_show_fee_when_nothing_was_paid_stays_due(shop: Any) -> None:
    booking = _book(shop)
    order = orders.order_for_booking(booking)
    service.transition(booking.id, "no_show", now=booking.start_at + timedelta(minutes=20))
    order = db.session.get(Order, order.id)
    assert (order.status, order.total, orders.due(order)) == ("open", 6400, 6400)
    orders.pay(order.id, "cash", 6400)
    order = db.session.get(Order, order.id)
    assert order.status == "paid" and _net_revenue(shop.store.id) == 6400
