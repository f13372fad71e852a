"""fulian_order_paid, through payments recorded with the orders API."""

from __future__ import annotations

from typing import Any

from tests.core.factories import bearer, make_user, token_for
from tests.core.hooks.helpers import calls, shop_with_booking


def test_hook_fulian_order_paid(contract_app: Any) -> None:
    ids = shop_with_booking(contract_app, source="phone")
    with contract_app.app_context():
        desk = bearer(token_for(make_user("desk@example.com", "front_desk", ["main"])))
    client = contract_app.test_client()
    order = client.post(f"/api/v1/bookings/{ids['booking_id']}/order", headers=desk).json
    url = f"/api/v1/orders/{order['id']}/payments"
    part = client.post(url, headers=desk, json={"provider": "cash", "amount": 5000})
    assert part.status_code == 201, part.json
    assert calls("fulian_order_paid") == []  # not paid in full yet
    rest = client.post(url, headers=desk, json={"provider": "cash",
                                                "amount": order["total"] - 5000})
    assert rest.status_code == 201, rest.json
    assert calls("fulian_order_paid") == [{"order_id": order["id"]}]  # once, when settled
    receipt = client.get(f"/api/v1/orders/{order['id']}", headers=desk).json
    assert (receipt["status"], receipt["due"]) == ("paid", 0)
    assert calls("fulian_order_paid") == [{"order_id": order["id"]}]
