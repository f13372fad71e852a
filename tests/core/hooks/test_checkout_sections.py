"""fulian_checkout_sections, through the customer's checkout page and the desk's
booking page."""

from __future__ import annotations

from typing import Any

from core.extensions import db
from core.models import Order
from tests.core.factories import make_user
from tests.core.hooks.helpers import CUSTOMER_EMAIL, calls, login, shop_with_booking


def test_hook_fulian_checkout_sections(contract_app: Any) -> None:
    ids = shop_with_booking(contract_app)
    customer = login(contract_app, CUSTOMER_EMAIL)
    html = customer.get(f"/me/bookings/{ids['code']}/pay?lang=en").get_data(as_text=True)
    assert "<p>contract-checkout</p>" in html
    with contract_app.app_context():
        order_id = db.session.query(Order.id).filter_by(booking_id=ids["booking_id"]).scalar()
        make_user("desk@example.com", "front_desk", ["main"])
    assert calls("fulian_checkout_sections") == [{"face": "customer", "order_id": order_id}]
    desk = login(contract_app, "desk@example.com")
    html = desk.get(f"/admin/bookings/{ids['booking_id']}?lang=en").get_data(as_text=True)
    assert "<p>contract-checkout</p>" in html
    assert calls("fulian_checkout_sections")[-1] == {"face": "admin", "order_id": order_id}
