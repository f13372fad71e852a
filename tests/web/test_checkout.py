"""Paying online as a customer, in a real browser: a store that asks a 30% deposit holds
the booked time until it is paid; the customer pays the deposit through the sandbox
provider's page, the booking is confirmed and the rest is shown as due. Screenshots of
the confirm page, the checkout and the provider's page."""

from __future__ import annotations

import re
from typing import Any

from core.db import write_transaction
from core.extensions import db
from core.finance import orders
from core.models import Booking, Store
from tests.web.conftest import Site, customer_login, shot


def _deposit(site: Site, store_id: int, percent: int) -> None:
    with site.app.app_context(), write_transaction() as session:
        session.get(Store, store_id).deposit_percent = percent
        db.session.flush()


def test_deposit_is_paid_online_and_confirms_the_booking(page: Any, site: Site) -> None:
    _deposit(site, 1, 30)
    page.set_viewport_size({"width": 360, "height": 800})
    phone = "13912340001"
    customer_login(page, site, phone, "/book?store=1&service=1")
    page.goto("/book?store=1&service=1")
    page.locator("a.day.free").nth(1).click()
    page.wait_for_load_state()
    page.locator("a.slot").first.click()
    page.wait_for_url(re.compile(r".*/book/confirm\?.*"))
    summary = page.locator(".summary").inner_text()
    assert "定金" in summary  # the deposit is said before booking
    shot(page, "customer-confirm-deposit")
    page.click("form[data-once] button[type=submit]")
    page.wait_for_url(re.compile(r".*/me/bookings/[A-Z0-9]{8}/pay$"))
    code = page.url.rsplit("/", 2)[-2]
    with site.app.app_context():
        booking = db.session.query(Booking).filter_by(code=code).one()
        order = orders.order_of(booking.id)
        assert booking.status == "awaiting_deposit" and order.deposit == order.total * 30 // 100
        deposit, total = order.deposit, order.total
    assert page.locator(".alert-warning").is_visible()
    shot(page, "customer-checkout")
    page.check("input[name=amount][value=deposit]")
    page.check("input[name=method][value=sandbox]")
    page.click(".pay-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/sandbox/pay/sbx_\w+$"))
    shot(page, "customer-sandbox-pay")
    page.click("button[value=pay]")
    page.wait_for_url(re.compile(rf".*/me/bookings/{code}$"))
    with site.app.app_context():
        booking = db.session.query(Booking).filter_by(code=code).one()
        order = orders.order_of(booking.id)
        assert booking.status == "confirmed"
        assert (order.paid, orders.due(order)) == (deposit, total - deposit)
    assert page.locator(".alert-warning").count() == 0
    shot(page, "customer-booking-deposit-paid")
    _deposit(site, 1, 0)
