"""Every wallet call that moves money or points takes ``Idempotency-Key`` (the core's
:mod:`core.idempotency`): a retry replays the first reply and sells nothing twice; the
same key for another customer or amount is 422 and sells nothing — the top-up used to
answer 201 with the first customer's card instead."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core.audit import acting_as
from core.crm.customers import find_or_create
from core.db import utcnow, write_transaction
from core.extensions import db
from core.models import Order
from plugins.wallet import punch
from plugins.wallet import service as wallet
from plugins.wallet.models import PointsLot, PointsRedemption, PunchCard, TopUp
from tests.core.api.resources_world import errors_of
from tests.plugins.wallet.test_wallet import _call, env  # noqa: F401 - the fixture

TOP_UPS = "/api/v1/wallet/top-ups"


def _twice(env: dict, url: str, who: str, body: dict[str, Any],  # noqa: F811
           key: str) -> tuple[Any, Any]:
    first = _call(env, "POST", url, who, json=body, headers={"Idempotency-Key": key})
    again = _call(env, "POST", url, who, json=body, headers={"Idempotency-Key": key})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.status_code == first.status_code and again.get_data() == first.get_data()
    return first, again


def _count(env: dict, column: Any) -> int:  # noqa: F811
    with env["app"].app_context():
        return db.session.scalar(select(func.count(column)))


def test_a_top_up_key_is_for_one_sale_only(env: dict) -> None:  # noqa: F811
    ids = env["ids"]
    with env["app"].app_context(), acting_as(None, "test"), write_transaction() as session:
        customer = find_or_create("13900000002", "Cy")
        session.flush()
        other = customer.id
    sale = {"customer_id": ids.customer, "store_id": ids.store, "amount": 5000}
    first, _ = _twice(env, TOP_UPS, "desk", sale, "tu-1")
    assert first.status_code == 201 and first.json["customer_id"] == ids.customer
    for changed in ({**sale, "customer_id": other}, {**sale, "amount": 5001}):
        assert "Idempotency-Key" in errors_of(_call(
            env, "POST", TOP_UPS, "desk", json=changed, headers={"Idempotency-Key": "tu-1"}))
    with env["app"].app_context():
        assert wallet.balances(ids.customer)["principal"] == 5000
        assert wallet.balances(other)["total"] == 0  # nothing sold to the other customer
    assert _count(env, TopUp.id) == 1


def test_punch_cards_points_and_card_refunds_replay(env: dict) -> None:  # noqa: F811
    ids = env["ids"]
    with env["app"].app_context(), acting_as(None, "test"):
        product = punch.add_product("3 cuts", [ids.service], 3, 30000, 90).id
        with write_transaction() as session:
            session.add(PointsLot(customer_id=ids.customer, earned=500, remaining=500,
                                  expires_at=utcnow() + timedelta(days=30)))
            order = Order(store_id=ids.store, customer_id=ids.customer, currency="CNY",
                          subtotal=9000, total=9000)
            session.add(order)
        order_id = order.id
    sold, _ = _twice(env, "/api/v1/wallet/punch-cards", "desk",
                     {"customer_id": ids.customer, "store_id": ids.store,
                      "product_id": product}, "card-1")
    assert sold.status_code == 201 and len(sold.json["punch_cards"]) == 1
    assert _count(env, PunchCard.id) == 1

    redeemed, _ = _twice(env, f"/api/v1/wallet/orders/{order_id}/redeem-points", "desk",
                         {"points": 200}, "points-1")
    assert redeemed.status_code == 200 and redeemed.json["points_left"] == 300
    assert _count(env, PointsRedemption.id) == 1

    _call(env, "POST", TOP_UPS, "desk",
          json={"customer_id": ids.customer, "store_id": ids.store, "amount": 7000})
    refunded, _ = _twice(env, f"/api/v1/wallet/customers/{ids.customer}/refund", "owner",
                         {"store_id": ids.store}, "refund-1")
    assert refunded.status_code == 200 and refunded.json["principal_refunded"] == 7000
    # without the replay the second refund would have been 409: nothing left to refund
    with env["app"].app_context():
        assert wallet.balances(ids.customer)["total"] == 0
