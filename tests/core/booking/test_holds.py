"""Deposit holds: an online booking whose policy asks a deposit waits for it, holding
its time; paying the deposit (any tender) moves it on, an unpaid hold is cancelled and
frees the time. The store's own bookings never wait."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.booking import service
from core.booking.service import SlotTaken
from core.db import utcnow, write_transaction
from core.extensions import db
from core.finance import orders
from core.models import Booking, JobRecord, Payment, WebhookDelivery, WebhookSubscription
from tests.core.factories import book, make_shop, set_policy
from tests.core.finance.helpers import pay_online


@pytest.fixture
def shop(make_app: Any) -> Iterator[Any]:
    app = make_app()
    with app.app_context():
        shop = make_shop()
        set_policy(shop.store, deposit_percent=30)
        yield shop


def _status(booking_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Booking, booking_id).status


def test_online_booking_waits_for_its_deposit_and_holds_the_time(shop: Any) -> None:
    booking = book(shop, source="online")
    assert booking.status == "awaiting_deposit"
    order = orders.order_of(booking.id)
    assert order is not None and order.total == shop.service.price
    assert order.deposit == shop.service.price * 30 // 100
    jobs = db.session.scalars(select(JobRecord).where(
        JobRecord.func == "core.booking.service:deposit_hold_expired")).all()
    assert [j.args for j in jobs] == [[booking.id]]
    assert jobs[0].run_at > utcnow() + timedelta(minutes=14)
    with pytest.raises(SlotTaken):  # the held time is not free for anyone else
        book(shop, source="phone")


def test_the_stores_own_bookings_never_wait(shop: Any) -> None:
    assert book(shop, source="phone").status == "confirmed"


def test_paying_the_deposit_online_confirms(shop: Any) -> None:
    with write_transaction() as session:
        session.add(WebhookSubscription(url="https://example.com/h",
                                        events=["booking.deposit_paid"], secret="s" * 32))
    booking = book(shop, source="online")
    order = orders.order_of(booking.id)
    orders.pay(order.id, "cash", order.deposit - 1)  # short of the deposit: still held
    assert _status(booking.id) == "awaiting_deposit"
    assert pay_online(order.id, 1) == "settled"
    assert _status(booking.id) == "confirmed"
    row = db.session.get(Booking, booking.id)
    assert [(h.from_status, h.to_status, h.reason) for h in row.history][-1] == \
        ("awaiting_deposit", "confirmed", "deposit paid")
    assert orders.due(orders.get_order(order.id)) == order.total - order.deposit
    deliveries = db.session.scalars(select(WebhookDelivery.event)).all()
    assert "booking.deposit_paid" in deliveries


def test_deposit_then_acceptance_when_the_store_accepts_by_hand(shop: Any) -> None:
    set_policy(shop.store, acceptance_required=True)
    booking = book(shop, source="online")
    order = orders.order_of(booking.id)
    pay_online(order.id, order.deposit)
    assert _status(booking.id) == "pending"
    assert db.session.scalars(select(JobRecord.id).where(
        JobRecord.func == "core.booking.service:acceptance_timeout")).first()


def test_an_unpaid_hold_is_cancelled_and_frees_the_time(shop: Any) -> None:
    booking = book(shop, source="online")
    service.deposit_hold_expired(booking.id)
    assert _status(booking.id) == "cancelled"
    assert orders.order_of(booking.id) is None  # the order is cancelled with it
    assert book(shop, source="phone").status == "confirmed"  # the time is free again


def test_a_customer_paying_right_now_gets_a_little_longer(shop: Any) -> None:
    booking = book(shop, source="online")
    order = orders.order_of(booking.id)
    orders.start_online(order.id, "sandbox", order.deposit, "sbx_paying_now")
    service.deposit_hold_expired(booking.id)
    assert _status(booking.id) == "awaiting_deposit"
    with write_transaction() as session:  # the payment page was abandoned long ago
        payment = session.scalars(select(Payment)).one()
        payment.created_at = utcnow() - timedelta(minutes=30)
    service.deposit_hold_expired(booking.id)
    assert _status(booking.id) == "cancelled"


def test_a_paid_hold_is_left_alone_and_the_store_may_waive_the_deposit(shop: Any) -> None:
    paid = book(shop, source="online")
    pay_online(orders.order_of(paid.id).id, orders.order_of(paid.id).deposit)
    service.deposit_hold_expired(paid.id)
    assert _status(paid.id) == "confirmed"
    waived = book(shop, shop.start + timedelta(days=1), source="online")
    service.transition(waived.id, "confirm", reason="regular customer")
    assert _status(waived.id) == "confirmed"


def test_cancelling_an_unpaid_hold_costs_nothing(shop: Any) -> None:
    set_policy(shop.store, late_cancel_window_min=72 * 60, late_cancel_fee_percent=50,
               cancel_window_min=0)
    booking = book(shop, source="online")  # within 72 h: inside the late window
    order_id = orders.order_of(booking.id).id
    service.transition(booking.id, "cancel", by_customer=True)
    order = orders.get_order(order_id)
    assert (order.status, order.total, orders.due(order)) == ("cancelled", 0, 0)
    confirmed = book(shop, shop.start + timedelta(days=1), source="phone")
    orders.order_for_booking(confirmed)
    service.transition(confirmed.id, "cancel", by_customer=True)  # a real booking: fee
    assert orders.due(orders.order_of(confirmed.id)) == shop.service.price // 2
