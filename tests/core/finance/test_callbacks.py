"""Online payments through the sandbox provider: redirect, signed notification,
freshness, replay and idempotency — over HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.extensions import db
from core.finance import callbacks, ledger, sandbox
from core.models import LedgerEntry, Order, Payment, PaymentCallback, SmsMessage
from tests.core.api.resources_world import BACKENDS, World, world_fixture
from tests.web.conftest import last_sms_code, post_form


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world_fixture(request, tmp_path)


def _start(world: World, amount: int) -> tuple[int, dict]:
    order = world.post(f"/api/v1/bookings/{world.ids['booking_n']}/order", "bo").json
    resp = world.post(f"/api/v1/orders/{order['id']}/payments", "bo",
                      json={"provider": "sandbox", "amount": amount})
    assert resp.status_code == 201, resp.json
    assert resp.json["status"] == "pending"
    assert resp.json["redirect_url"].startswith("/pay/sbx_")  # our pay page, then the
    return order["id"], resp.json                                 # provider's


def _notify(world: World, body: bytes, signature: str | None = None) -> object:
    with world.app.test_request_context():
        sig = signature if signature is not None else sandbox.sign(body)
    return world.app.test_client().post("/api/v1/payments/sandbox/notify", data=body,
                                        headers={sandbox.SIGNATURE_HEADER: sig,
                                                 "Content-Type": "application/json"})


def _ref(payment: dict) -> str:
    return payment["redirect_url"].rsplit("/", 1)[1]


def test_signed_notification_settles_once_and_replays_change_nothing(world: World) -> None:
    order_id, payment = _start(world, 12800)
    with world.app.app_context():
        body = sandbox.notice_body(_ref(payment), 12800)
    first = _notify(world, body)
    assert first.status_code == 200 and first.json == {"result": "settled"}
    again = _notify(world, body)  # the very same message replayed
    assert again.json == {"result": "duplicate"}
    with world.app.app_context():
        fresh = sandbox.notice_body(_ref(payment), 12800)  # a provider retry, new nonce
    assert _notify(world, fresh).json == {"result": "duplicate"}
    receipt = world.get(f"/api/v1/orders/{order_id}", "bo").json
    assert (receipt["status"], receipt["paid"]) == ("paid", 12800)
    with world.app.app_context():
        assert ledger.balance(f"store:{world.ids['north']}:online") == 12800
        assert db.session.query(LedgerEntry).count() == 2


def test_untrusted_notifications_are_rejected_without_effect(world: World) -> None:
    order_id, payment = _start(world, 5000)
    ref = _ref(payment)
    with world.app.app_context():
        stale = sandbox.notice_body(ref, 5000, timestamp=int(time.time()) - 400)
        future = sandbox.notice_body(ref, 5000, timestamp=int(time.time()) + 400)
        good = sandbox.notice_body(ref, 5000)
        wrong_amount = sandbox.notice_body(ref, 4999)
        unknown = sandbox.notice_body("sbx_nope", 5000)
    for body, status in ((stale, 401), (future, 401), (wrong_amount, 409), (unknown, 404)):
        resp = _notify(world, body)
        assert resp.status_code == status, (body, resp.json)
        assert resp.mimetype == "application/problem+json"
    assert _notify(world, good, signature="0" * 64).status_code == 401
    assert _notify(world, b"not json", signature=None).status_code == 401
    with world.app.app_context():
        assert db.session.get(Order, order_id).paid == 0
        assert db.session.query(LedgerEntry).count() == 0
        assert db.session.query(PaymentCallback).count() == 0


def _customer_page(world: World) -> Any:
    """A browser session of the order's customer (phone + code by the dev provider)."""
    page = world.app.test_client()
    assert post_form(page, "/me/login", {"phone": "13800000001"}).status_code == 200
    code = last_sms_code(world.app, "13800000001")
    resp = post_form(page, "/me/login", {"phone": "13800000001", "step": "code",
                                         "code": code})
    assert resp.status_code == 302
    return page


def _provider_page(page: Any, payment: dict) -> str:
    """Our pay page sends the browser on to the sandbox provider's page."""
    resp = page.get(payment["redirect_url"])
    assert resp.status_code == 302 and "/sandbox/pay/sbx_" in resp.headers["Location"]
    return resp.headers["Location"]


def test_failed_payment_and_the_provider_page(world: World) -> None:
    order_id, payment = _start(world, 12800)
    page = _customer_page(world)
    provider_page = _provider_page(page, payment)
    html = page.get(provider_page).get_data(as_text=True)
    assert "sbx_" in html and 'name="csrf_token"' in html
    resp = post_form(page, provider_page, {"outcome": "fail"})
    assert resp.status_code == 302
    with world.app.app_context():
        assert db.session.scalars(select(Payment.status)).one() == "failed"
        assert db.session.get(Order, order_id).status == "open"
    # a new attempt, paid on the provider's page: the customer returns to the booking
    _, second = _start(world, 12800)
    resp = post_form(page, _provider_page(page, second), {"outcome": "pay"})
    assert resp.status_code == 302 and "/me/bookings/" in resp.headers["Location"]
    assert world.get(f"/api/v1/orders/{order_id}", "bo").json["status"] == "paid"


def test_the_sandbox_page_pays_only_for_the_order_s_own_customer(world: World) -> None:
    """The demo's exploit: whoever learnt a sandbox reference could settle it."""
    order_id, payment = _start(world, 12800)
    provider_page = _provider_page(_customer_page(world), payment)
    anonymous = world.app.test_client()
    assert anonymous.get(payment["redirect_url"]).status_code == 302  # to the login
    resp = anonymous.post(provider_page, data={"outcome": "pay"})
    assert resp.status_code in (302, 400)  # to the login, or no CSRF token
    stranger = world.app.test_client()  # another customer, logged in
    assert post_form(stranger, "/me/login", {"phone": "13800000002"}).status_code == 200
    with world.app.app_context():
        text = db.session.scalars(select(SmsMessage.text).order_by(SmsMessage.id.desc())
                                  ).first()
    assert post_form(stranger, "/me/login", {"phone": "13800000002", "step": "code",
                                             "code": re.search(r"\d{6}", text).group(0)}
                     ).status_code == 302
    assert stranger.get(payment["redirect_url"]).status_code == 404
    assert stranger.get(provider_page).status_code == 404
    with world.app.app_context():
        assert db.session.get(Order, order_id).paid == 0
        assert db.session.query(LedgerEntry).count() == 0


def test_split_tender_cash_then_online(world: World) -> None:
    order = world.post(f"/api/v1/bookings/{world.ids['booking_n']}/order", "desk_n").json
    assert world.post(f"/api/v1/orders/{order['id']}/payments", "desk_n",
                      json={"provider": "cash", "amount": 2800}).status_code == 201
    # the customer may not record cash, and cannot start more than is due
    assert world.post(f"/api/v1/orders/{order['id']}/payments", "bo",
                      json={"provider": "cash", "amount": 100}).status_code == 403
    assert world.post(f"/api/v1/orders/{order['id']}/payments", "bo",
                      json={"provider": "sandbox", "amount": 10001}).status_code == 409
    _, payment = _start(world, 10000)
    with world.app.app_context():
        body = sandbox.notice_body(_ref(payment), 10000)
    assert _notify(world, body).json == {"result": "settled"}
    receipt = world.get(f"/api/v1/orders/{order['id']}", "bo").json
    assert receipt["status"] == "paid"
    assert sorted(p["provider"] for p in receipt["payments"]) == ["cash", "sandbox"]
    # a refund goes back to the tenders, newest (online) first
    refunded = world.post(f"/api/v1/orders/{order['id']}/refunds", "mgr_n",
                          json={"amount": 11000}).json
    assert [r["amount"] for r in refunded] == [10000, 1000]
    with world.app.app_context():
        north = world.ids["north"]
        assert ledger.balance(f"store:{north}:online") == 0
        assert ledger.balance(f"store:{north}:cash") == 1800


def test_freshness_window_is_five_minutes_either_way(world: World) -> None:
    _, payment = _start(world, 5000)
    with world.app.test_request_context():
        body = sandbox.notice_body(_ref(payment), 5000, timestamp=1_000_000)
        headers = {sandbox.SIGNATURE_HEADER: sandbox.sign(body)}
        for now in (1_000_000 - 301, 1_000_000 + 301):
            with pytest.raises(callbacks.CallbackRejected):
                callbacks.handle("sandbox", body, headers, now=now)
        assert callbacks.handle("sandbox", body, headers, now=1_000_000 + 300) == "settled"
