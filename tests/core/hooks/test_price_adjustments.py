"""fulian_price_adjustments, through the quote API and a booking's order."""

from __future__ import annotations

from typing import Any

from tests.core.factories import bearer, make_user, token_for
from tests.core.hooks.helpers import calls, shop_with_booking


def test_hook_fulian_price_adjustments(contract_app: Any) -> None:
    ids = shop_with_booking(contract_app)
    client = contract_app.test_client()
    quote = client.post("/api/v1/orders/quote", json={"store_id": ids["store_id"],
                                                      "service_id": ids["service_id"]})
    assert quote.status_code == 200, quote.json
    assert (quote.json["subtotal"], quote.json["total"]) == (12800, 12700)
    [adjustment] = quote.json["adjustments"]
    assert (adjustment["source"], adjustment["label"], adjustment["amount"]) == (
        "contract", "Test discount", -100)
    assert calls("fulian_price_adjustments")
    # the order recorded from a fresh quote keeps the adjustment on its receipt
    with contract_app.app_context():
        desk = bearer(token_for(make_user("desk@example.com", "front_desk", ["main"])))
    order = client.post(f"/api/v1/bookings/{ids['booking_id']}/order", headers=desk).json
    assert order["total"] == 12700
    assert [a["source"] for a in order["adjustments"]] == ["contract"]
