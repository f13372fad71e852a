"""Orders over HTTP: quote, a booking's order, cash payments and refunds with
Idempotency-Key, who may do what, and receipts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.finance import ledger
from core.models import LedgerEntry, Payment, Refund
from tests.core.api.resources_world import BACKENDS, World, errors_of, world_fixture


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world_fixture(request, tmp_path)


def test_quote_explains_the_price(world: World) -> None:
    ids = world.ids
    resp = world.post("/api/v1/orders/quote", json={"store_id": ids["north"],
                                                    "service_id": ids["cut"]})
    assert resp.status_code == 200
    assert resp.json["subtotal"] == resp.json["total"] == 12800
    assert resp.json["lines"][0]["description"] == "Cut" and resp.json["adjustments"] == []
    # an unpublished service is not quoted
    assert world.post("/api/v1/orders/quote", json={"store_id": ids["south"],
                                                    "service_id": ids["secret"]}
                      ).status_code == 404


def test_pay_in_parts_idempotently_and_refund(world: World) -> None:
    ids = world.ids
    order = world.post(f"/api/v1/bookings/{ids['booking_n']}/order", "desk_n").json
    assert (order["total"], order["due"], order["status"]) == (12800, 12800, "open")
    again = world.post(f"/api/v1/bookings/{ids['booking_n']}/order", "bo").json
    assert again["id"] == order["id"]  # one order per booking, the customer sees it
    url = f"/api/v1/orders/{order['id']}/payments"
    key = {"Idempotency-Key": "pay-1"}
    first = world.post(url, "desk_n", json={"provider": "cash", "amount": 5000}, headers=key)
    replay = world.post(url, "desk_n", json={"provider": "cash", "amount": 5000},
                        headers=key)
    assert first.status_code == replay.status_code == 201
    assert first.get_data() == replay.get_data()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert world.count(Payment) == 1
    assert "Idempotency-Key" in errors_of(world.post(
        url, "desk_n", json={"provider": "cash", "amount": 6000}, headers=key))
    over = world.post(url, "desk_n", json={"provider": "cash", "amount": 7801})
    assert over.status_code == 409 and over.mimetype == "application/problem+json"
    assert world.post(url, "desk_n", json={"provider": "cash", "amount": 7800}
                      ).status_code == 201
    receipt = world.get(f"/api/v1/orders/{order['id']}", "bo").json
    assert (receipt["status"], receipt["paid"], receipt["due"]) == ("paid", 12800, 0)
    assert [p["amount"] for p in receipt["payments"]] == [5000, 7800]
    # refunds: managers only, never more than paid
    refunds = f"/api/v1/orders/{order['id']}/refunds"
    assert world.post(refunds, "desk_n", json={"amount": 100}).status_code == 403
    assert world.post(refunds, "mgr_s", json={"amount": 100}).status_code == 404
    done = world.post(refunds, "mgr_n", json={"amount": 9000, "reason": "late"},
                      headers={"Idempotency-Key": "r-1"})
    assert done.status_code == 201
    assert [r["amount"] for r in done.json] == [7800, 1200]
    assert world.post(refunds, "mgr_n", json={"amount": 9000, "reason": "late"},
                      headers={"Idempotency-Key": "r-1"}).get_data() == done.get_data()
    assert world.count(Refund) == 2
    assert world.post(refunds, "mgr_n", json={"amount": 3801}).status_code == 409
    with world.app.app_context():
        assert ledger.balance(f"store:{ids['north']}:cash") == 12800 - 9000
        assert ledger.balance(f"store:{ids['north']}:revenue") == 12800


def test_who_may_pay_and_bad_amounts(world: World) -> None:
    ids = world.ids
    order = world.post(f"/api/v1/bookings/{ids['booking_n']}/order", "owner").json
    url = f"/api/v1/orders/{order['id']}/payments"
    assert world.post(url, "bo", json={"provider": "cash", "amount": 100}).status_code == 403
    assert world.post(url, "mgr_s", json={"provider": "cash", "amount": 100}
                      ).status_code == 404
    assert world.get(f"/api/v1/orders/{order['id']}", "bob").status_code == 404
    for amount in (0, -1, 1.5, "12.5", True):
        resp = world.post(url, "ann", json={"provider": "cash", "amount": amount})
        assert "amount" in errors_of(resp), amount
    assert world.post(url, "ann", json={"provider": "gold", "amount": 1}).status_code == 409
    assert "provider" in errors_of(world.post(url, "ann", json={"provider": "Gold!",
                                                                  "amount": 1}))
    assert world.count(LedgerEntry) == 0
    # the staff member who serves the booking records cash
    assert world.post(url, "ann", json={"provider": "cash", "amount": 100}).status_code == 201
