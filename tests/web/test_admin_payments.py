"""Money on a booking's back-office page: the front desk takes payment in yuan (exactly
converted, once per form), managers who administer the store refund back to the tender,
the other store's manager sees nothing, bad input changes nothing."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from core.extensions import db
from core.finance import ledger, orders
from core.models import Booking, Order, Payment, Refund, Store
from tests.web.conftest import Site, csrf_token, shot


def _booking(site: Site, store_code: str) -> Booking:
    with site.app.app_context():
        store = db.session.scalars(select(Store).where(Store.code == store_code)).one()
        return db.session.scalars(select(Booking).where(
            Booking.store_id == store.id, Booking.status == "confirmed",
            ~select(Order.id).where(Order.booking_id == Booking.id).exists())
            .order_by(Booking.id)).first()


def _form(client: Any, url: str) -> dict[str, str]:
    html = client.get(url).get_data(as_text=True)
    found = re.search(r'name="once" value="([^"]+)"', html)
    assert found, html[:300]
    return {"csrf_token": csrf_token(client, url), "once": found.group(1)}


def _payments(booking_id: int) -> int:
    order = orders.order_of(booking_id)
    return 0 if order is None else int(db.session.scalar(
        select(func.count()).select_from(Payment).where(Payment.order_id == order.id)))


def test_desk_takes_cash_once_and_manager_refunds(site: Site) -> None:
    booking = _booking(site, "xuhui")
    url = f"/admin/bookings/{booking.id}"
    desk = site.client_as("desk_xuhui")
    page = desk.get(url).get_data(as_text=True)
    assert "Take payment" in page or "收款" in page

    bad = desk.post(f"{url}/pay", data={**_form(desk, url), "amount": "12.345",
                                        "method": "cash"})
    assert bad.status_code == 422
    with site.app.app_context():
        assert _payments(booking.id) == 0

    form = {**_form(desk, url), "amount": "100.50", "method": "cash"}
    assert desk.post(f"{url}/pay", data=form).status_code == 302
    assert desk.post(f"{url}/pay", data=form).status_code == 302  # double click
    with site.app.app_context():
        order = orders.order_of(booking.id)
        assert order.paid == 10050 and _payments(booking.id) == 1
        assert ledger.balance(f"store:{booking.store_id}:cash") == 10050
        order_id = order.id

    too_much = desk.post(f"{url}/pay", data={**_form(desk, url), "amount": "99999",
                                             "method": "cash"})
    assert too_much.status_code == 422
    assert desk.post(f"{url}/refund", data={**_form(desk, url), "refund_amount": "1"}
                     ).status_code == 403  # the desk does not refund

    other = site.client_as("mgr_jingan")
    assert other.get(url).status_code == 404
    assert other.post(f"{url}/pay", data={**_form(desk, url), "amount": "1",
                                          "method": "cash"}).status_code in (400, 404)

    manager = site.client_as("mgr_xuhui")
    over = manager.post(f"{url}/refund", data={**_form(manager, url),
                                               "refund_amount": "200"})
    assert over.status_code == 422
    done = manager.post(f"{url}/refund", data={**_form(manager, url),
                                               "refund_amount": "50.50",
                                               "refund_reason": "goodwill"})
    assert done.status_code == 302
    with site.app.app_context():
        order = orders.get_order(order_id)
        assert (order.paid, order.refunded) == (10050, 5050)
        assert db.session.scalars(select(Refund.reason).where(
            Refund.order_id == order_id)).all() == ["goodwill"]
    html = manager.get(url).get_data(as_text=True)
    assert "goodwill" in html


def test_payment_panel_screenshot(page: Any, site: Site) -> None:
    from tests.web.conftest import login

    booking = _booking(site, "xuhui")
    login(page, "mgr_xuhui")
    page.goto(f"/admin/bookings/{booking.id}")
    page.locator("#money-title").scroll_into_view_if_needed()
    assert page.locator("#f-amount").is_visible()
    shot(page, "admin-booking-payment")
