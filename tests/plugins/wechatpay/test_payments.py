"""A customer pays by WeChat Pay through the real app, against the fake API v3: the pay
page picks the channel for the device, the signed notification settles once, and
nothing untrusted moves money — on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import html
import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import select

from core.audit import acting_as
from core.booking.service import create_booking
from core.db import utcnow
from core.extensions import db
from core.finance import ledger, polling
from core.models import (
    Booking,
    Customer,
    LedgerEntry,
    Order,
    Payment,
    PaymentCallback,
    Service,
    StaffProfile,
    Store,
)
from tests.core.factories import set_policy
from tests.web.conftest import csrf_token

from .conftest import DESKTOP, IN_WECHAT, PHONE, PUBLIC_URL, WeChat

ACK = {"code": "SUCCESS", "message": "成功"}
NOTIFY_URL = f"{PUBLIC_URL}/api/v1/payments/wechatpay/notify"


def _entries(wechat: WeChat) -> int:
    return wechat.world.count(LedgerEntry)


def _online(wechat: WeChat) -> int:
    with wechat.app.app_context():
        return ledger.balance(f"store:{wechat.world.ids['north']}:online")


def _payment(wechat: WeChat, ref: str) -> Payment:
    with wechat.app.app_context():
        payment = db.session.scalars(select(Payment).where(Payment.external_ref == ref)).one()
        db.session.expunge(payment)
        return payment


def test_a_desktop_pays_by_qr_code_and_the_notification_settles_once(wechat: WeChat) -> None:
    order = wechat.order()
    payment = wechat.start(order["id"], 12800)
    ref = payment["ref"]
    page = wechat.customer()
    resp = page.get(f"/pay/{ref}", headers={"User-Agent": DESKTOP})
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert "<svg" in text and "WeChat Pay" in text
    placed = wechat.fake.orders[ref]
    assert placed.trade_type == "NATIVE"
    assert placed.request["amount"] == {"total": 12800, "currency": "CNY"}
    assert placed.request["notify_url"] == NOTIFY_URL
    assert placed.request["description"] == "Cut"
    assert placed.request["scene_info"] == {"payer_client_ip": "127.0.0.1"}
    expires = datetime.fromisoformat(placed.request["time_expire"])
    assert expires.utcoffset() == timedelta(hours=8)
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)
    stored = _payment(wechat, ref)
    assert stored.channel == "native" and stored.checkout["qr_text"].startswith("weixin://")
    page.get(f"/pay/{ref}", headers={"User-Agent": DESKTOP})  # a reload: no second prepay
    prepays = [r for r in wechat.fake.requests if r[0] == "POST"
               and r[1].startswith("/v3/pay/transactions/")]
    assert len(prepays) == 1  # (the reload asked WeChat whether it was paid meanwhile)

    note = wechat.fake.pay(ref)
    resp = wechat.notify(note)
    assert (resp.status_code, resp.json) == (200, ACK)
    receipt = wechat.world.get(f"/api/v1/orders/{order['id']}", "bo").json
    assert (receipt["status"], receipt["paid"]) == ("paid", 12800)
    assert _payment(wechat, ref).provider_txn_id == placed.transaction_id
    assert _online(wechat) == 12800
    entries = _entries(wechat)
    # the same message again, and WeChat's retry (re-signed: new nonce): nothing moves
    for again in (note, wechat.fake.pay(ref)):
        resp = wechat.notify(again)
        assert (resp.status_code, resp.json) == (200, ACK)
    assert _entries(wechat) == entries and _online(wechat) == 12800
    with wechat.app.app_context():
        outcomes = db.session.scalars(select(PaymentCallback.outcome)
                                      .order_by(PaymentCallback.id)).all()
    assert outcomes == ["settled", "duplicate"]
    status = page.get(f"/pay/{ref}/status").json
    assert status["status"] == "succeeded" and status["next"].startswith("/me/bookings/")


def test_notifications_that_cannot_be_trusted_move_nothing(wechat: WeChat) -> None:
    order = wechat.order()
    ref = wechat.start(order["id"], 12800)["ref"]
    wechat.customer().get(f"/pay/{ref}", headers={"User-Agent": DESKTOP})
    fake = wechat.fake
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stale = fake.pay(ref, timestamp=int(time.time()) - 360)
    genuine = fake.pay(ref)
    tampered = type(genuine)(genuine.headers, genuine.body.replace(b'"summary"', b'"Summary"'))
    unknown_serial = fake.pay(ref)
    unknown_serial.headers["Wechatpay-Serial"] = "ABCDEF0123"
    no_headers = type(genuine)({}, genuine.body)
    cases = [
        (stale, 401),  # correctly signed, six minutes old
        (fake.pay(ref, timestamp=int(time.time()) + 360), 401),  # from the future
        (fake.pay(ref, key=forger), 401),  # signed by someone else
        (tampered, 401),
        (unknown_serial, 401),
        (no_headers, 401),
        (fake.pay(ref, mchid="1900000999"), 401),  # another merchant's
        (fake.pay(ref, appid="wx0000000000000000"), 401),  # another app's
        (fake.pay(ref, amount=12700), 409),  # genuine, but not what we asked for
    ]
    for note, status in cases:
        resp = wechat.notify(note)
        assert resp.status_code == status, (note.headers, resp.json)
        assert resp.mimetype == "application/problem+json"
    garbage = fake.notification("TRANSACTION.SUCCESS", "支付成功", "transaction",
                                {"hello": "world"})
    assert wechat.notify(garbage).status_code == 401
    assert wechat.world.get(f"/api/v1/orders/{order['id']}", "bo").json["paid"] == 0
    assert _entries(wechat) == 0 and wechat.world.count(PaymentCallback) == 0
    # the genuine one still settles
    assert wechat.notify(genuine).json == ACK
    assert _online(wechat) == 12800


def test_a_phone_is_sent_to_wechat_s_h5_cashier_and_back(wechat: WeChat) -> None:
    order = wechat.order()
    ref = wechat.start(order["id"], 12800)["ref"]
    resp = wechat.customer().get(f"/pay/{ref}", headers={"User-Agent": PHONE})
    assert resp.status_code == 302
    target = resp.headers["Location"]
    assert target.startswith("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=")
    back = quote(f"{PUBLIC_URL}/pay/{ref}", safe="")
    assert target.endswith(f"&redirect_url={back}")
    placed = wechat.fake.orders[ref]
    assert placed.trade_type == "H5"
    assert placed.request["scene_info"] == {"payer_client_ip": "127.0.0.1",
                                            "h5_info": {"type": "Wap"}}
    assert wechat.notify(wechat.fake.pay(ref)).json == ACK
    assert _online(wechat) == 12800


def _verify_bridge(wechat: WeChat, params: dict[str, str]) -> None:
    """What WeChat's client checks: paySign over appId, timeStamp, nonceStr, package."""
    message = "".join(f"{params[k]}\n" for k in ("appId", "timeStamp", "nonceStr", "package"))
    wechat.fake.keys.merchant_key.public_key().verify(
        base64.b64decode(params["paySign"]), message.encode(), padding.PKCS1v15(),
        hashes.SHA256())


def test_inside_wechat_jsapi_with_an_openid_else_a_qr_code(wechat: WeChat) -> None:
    order = wechat.order()
    openid = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    payment = wechat.start(order["id"], 5000, openid=openid)
    # an app or mini-program asks for the bridge's parameters through the API
    resp = wechat.world.post(f"/api/v1/payments/{payment['id']}/checkout", "bo", json={},
                             headers={"User-Agent": IN_WECHAT})
    assert resp.status_code == 200, resp.json
    params = resp.json["params"]
    assert resp.json["channel"] == "jsapi" and resp.json["redirect_url"] is None
    placed = wechat.fake.orders[payment["ref"]]
    assert placed.trade_type == "JSAPI" and placed.request["payer"] == {"openid": openid}
    assert params["appId"] == wechat.fake.keys.appid and params["signType"] == "RSA"
    assert params["package"] == f"prepay_id={placed.prepay_id}"
    assert abs(int(params["timeStamp"]) - time.time()) < 60
    _verify_bridge(wechat, params)
    # the pay page inside WeChat hands the same parameters to WeixinJSBridge
    text = wechat.customer().get(f"/pay/{payment['ref']}",
                                 headers={"User-Agent": IN_WECHAT}).get_data(as_text=True)
    bridge = re.search(r'data-pay-bridge="([^"]+)"', text).group(1)
    assert json.loads(html.unescape(bridge)) == params
    # inside WeChat without an openid: the QR code (the payer long-presses it)
    other = wechat.start(order["id"], 7800)
    text = wechat.customer().get(f"/pay/{other['ref']}",
                                 headers={"User-Agent": IN_WECHAT}).get_data(as_text=True)
    assert "<svg" in text and wechat.fake.orders[other["ref"]].trade_type == "NATIVE"


def test_a_deposit_paid_by_wechat_releases_the_booking(wechat: WeChat) -> None:
    ids = wechat.world.ids
    with wechat.app.app_context(), acting_as(None, "test"):
        north = db.session.get(Store, ids["north"])
        set_policy(north, deposit_percent=30)
        start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=6, minute=0, second=0,
                                                                microsecond=0)
        booking = create_booking(store=north, service=db.session.get(Service, ids["cut"]),
                                 customer=db.session.get(Customer, ids["bo_customer"]),
                                 start_at=start, staff=db.session.get(StaffProfile, ids["ann"]),
                                 source="online")
        assert booking.status == "awaiting_deposit"
        booking_id = booking.id
    order = wechat.world.post(f"/api/v1/bookings/{booking_id}/order", "bo").json
    assert order["deposit"] == 12800 * 30 // 100
    ref = wechat.start(order["id"], order["deposit"])["ref"]
    assert wechat.customer().get(f"/pay/{ref}", headers={"User-Agent": PHONE}
                                 ).status_code == 302
    # WeChat stops taking the money when the hold (plus the paying grace) ends, not 30
    # minutes later: nothing can be paid for a slot that was given back
    expires = datetime.fromisoformat(wechat.fake.orders[ref].request["time_expire"])
    with wechat.app.app_context():
        from core.booking import holds
        from core.booking.holds import PAYING_GRACE

        held_until = holds.held_until(db.session.get(Booking, booking_id))
    assert abs((expires - (held_until + PAYING_GRACE)).total_seconds()) < 1
    assert wechat.notify(wechat.fake.pay(ref)).json == ACK
    assert wechat.world.row(Booking, booking_id).status in ("confirmed", "pending")
    receipt = wechat.world.get(f"/api/v1/orders/{order['id']}", "bo").json
    assert (receipt["paid"], receipt["due"]) == (3840, 12800 - 3840)
    assert _online(wechat) == 3840


def test_a_lost_notification_is_recovered_by_polling_and_by_i_have_paid(
        wechat: WeChat) -> None:
    order = wechat.order()
    first = wechat.start(order["id"], 5000)["ref"]
    second = wechat.start(order["id"], 7800)["ref"]
    never_opened = wechat.world.post(f"/api/v1/orders/{wechat.order('booking_s')['id']}/"
                                     "payments", "bo",
                                     json={"provider": "wechatpay", "amount": 5000}).json
    page = wechat.customer()
    for ref in (first, second):
        assert page.get(f"/pay/{ref}", headers={"User-Agent": DESKTOP}).status_code == 200
    wechat.fake.pay(first)  # paid; the notification is lost
    with wechat.app.app_context():
        assert polling.poll()["payments"] == 0  # too fresh: the notification may come
        assert polling.poll(now=utcnow() + timedelta(minutes=2))["payments"] == 1
    assert _payment(wechat, first).status == "succeeded"
    assert _payment(wechat, first).provider_txn_id == wechat.fake.orders[first].transaction_id
    assert _payment(wechat, second).status == "pending"  # NOTPAY at WeChat
    # never placed at WeChat (ORDER_NOT_EXIST): still pending, not failed
    assert _payment(wechat, never_opened["redirect_url"].rsplit("/", 1)[1]).status == "pending"
    assert _online(wechat) == 5000
    # the second is paid too; the customer presses "I have paid"
    token = csrf_token(page, f"/pay/{second}")  # the page, still waiting
    wechat.fake.pay(second)
    resp = page.post(f"/pay/{second}/check", data={"csrf_token": token})
    assert resp.status_code == 302
    assert _payment(wechat, second).status == "succeeded"
    assert wechat.world.get(f"/api/v1/orders/{order['id']}", "bo").json["status"] == "paid"
    entries = _entries(wechat)
    with wechat.app.app_context():
        polling.poll(now=utcnow() + timedelta(minutes=5))
    assert _entries(wechat) == entries and _online(wechat) == 12800  # settled once


def test_an_order_closed_unpaid_fails_the_payment(wechat: WeChat) -> None:
    order = wechat.order()
    ref = wechat.start(order["id"], 12800)["ref"]
    wechat.customer().get(f"/pay/{ref}", headers={"User-Agent": DESKTOP})
    wechat.fake.close(ref)
    with wechat.app.app_context():
        polling.poll(now=utcnow() + timedelta(minutes=31))
    assert _payment(wechat, ref).status == "failed"
    with wechat.app.app_context():
        assert db.session.get(Order, order["id"]).status == "open"


def test_wechat_refusing_the_prepay_shows_an_error_and_can_be_retried(
        wechat: WeChat, monkeypatch: Any) -> None:
    order = wechat.order()
    ref = wechat.start(order["id"], 12800)["ref"]
    monkeypatch.setitem(wechat.app.config, "FULIAN_WECHATPAY_APPID", "wx0000000000000000")
    resp = wechat.customer().get(f"/pay/{ref}", headers={"User-Agent": DESKTOP})
    assert resp.status_code == 502
    assert "APPID_MCHID_NOT_MATCH" in resp.get_data(as_text=True)
    assert _payment(wechat, ref).checkout is None  # nothing kept: the next try asks again
    monkeypatch.setitem(wechat.app.config, "FULIAN_WECHATPAY_APPID", wechat.fake.keys.appid)
    assert wechat.customer().get(f"/pay/{ref}", headers={"User-Agent": DESKTOP}
                                 ).status_code == 200


def test_a_payment_given_up_is_closed_at_wechat(wechat: WeChat) -> None:
    """Two days unpaid: the payment fails here and the order is closed there, so the
    customer cannot pay for it any more."""
    order = wechat.order()
    ref = wechat.start(order["id"], 12800)["ref"]
    wechat.customer().get(f"/pay/{ref}", headers={"User-Agent": DESKTOP})
    with wechat.app.app_context():
        assert polling.poll(now=utcnow() + timedelta(days=2, minutes=1))["given_up"] == 1
    assert _payment(wechat, ref).status == "failed"
    assert wechat.fake.orders[ref].state == "CLOSED"
    assert ("POST", f"/v3/pay/transactions/out-trade-no/{ref}/close", 204) in \
        wechat.fake.requests
