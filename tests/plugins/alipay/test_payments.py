"""A customer pays a booking's order with Alipay, through the real app and the fake
gateway: the API and the pay page send the browser to Alipay with a signed request, the
signed notification settles the payment once, and nothing untrusted moves money."""

from __future__ import annotations

import html
from datetime import datetime, timedelta

from sqlalchemy import select

from core.db import utcnow
from core.extensions import db
from core.finance import ledger, polling
from core.models import Order, Payment, PaymentCallback
from tests.plugins.alipay.conftest import APP_ID, PUBLIC_URL, AlipayWorld
from tests.plugins.alipay.fake_alipay import BEIJING
from tests.plugins.alipay.journey import (
    DESKTOP,
    IPHONE,
    checkout,
    customer,
    gateway_request,
    ledger_entries,
    ref_of,
    start,
)
from tests.web.conftest import post_form


def _notify(alipay: AlipayWorld, body: bytes, ref: str) -> object:
    return alipay.fake.deliver(alipay.app.test_client(), body, ref)


def _payment(alipay: AlipayWorld, ref: str) -> Payment:
    with alipay.app.app_context():
        payment = db.session.scalars(select(Payment).where(Payment.external_ref == ref)).one()
        db.session.expunge(payment)
        return payment


def test_paid_through_the_api_settles_once(alipay: AlipayWorld) -> None:
    order_id, payment = start(alipay)
    ref = ref_of(payment)
    how = checkout(alipay, payment, "wap")
    assert how["channel"] == "wap"
    sent = gateway_request(alipay, how["redirect_url"])
    assert (sent["method"], sent["app_id"], sent["sign_type"]) == \
        ("alipay.trade.wap.pay", APP_ID, "RSA2")
    assert sent["notify_url"] == f"{PUBLIC_URL}/api/v1/payments/alipay/notify"
    assert sent["return_url"] == f"{PUBLIC_URL}/pay/{ref}"
    expires = sent["biz"].pop("time_expire")
    assert sent["biz"] == {"subject": "Cut", "out_trade_no": ref, "total_amount": "128.00",
                           "product_code": "QUICK_WAP_PAY", "quit_url": sent["return_url"]}
    # Alipay stops taking the money when the core says (30 minutes here: no hold)
    until = datetime.strptime(expires, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    assert abs((until - datetime.now(BEIJING)).total_seconds() - 30 * 60) < 60
    # Alipay's timestamp is Beijing time, whatever the server's own zone
    stamp = datetime.strptime(sent["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    assert abs((stamp - datetime.now(BEIJING)).total_seconds()) < 60
    assert checkout(alipay, payment)["redirect_url"] == how["redirect_url"]  # asked once
    assert "支付宝收银台" in alipay.fake.open(how["redirect_url"])  # the fake accepts it

    body = alipay.fake.pay(ref)
    resp = _notify(alipay, body, ref)
    assert (resp.status_code, resp.get_data(), resp.mimetype) == (200, b"success",
                                                                   "text/plain")
    receipt = alipay.world.get(f"/api/v1/orders/{order_id}", "bo").json
    assert (receipt["status"], receipt["paid"]) == ("paid", 12800)
    north = alipay.world.ids["north"]
    with alipay.app.app_context():
        assert ledger.balance(f"store:{north}:online") == 12800
    entries = ledger_entries(alipay)
    trade_no = alipay.fake.trades[ref].trade_no
    assert _payment(alipay, ref).provider_txn_id == trade_no

    again = _notify(alipay, body, ref)  # the very same notification replayed
    assert (again.status_code, again.get_data()) == (200, b"success")
    retry = _notify(alipay, alipay.fake.notification(ref), ref)  # Alipay's own retry
    assert (retry.status_code, retry.get_data()) == (200, b"success")
    assert ledger_entries(alipay) == entries
    with alipay.app.app_context():
        assert ledger.balance(f"store:{north}:online") == 12800
        assert db.session.get(Order, order_id).paid == 12800


def test_the_pay_page_sends_phones_to_wap_and_desktops_to_page(alipay: AlipayWorld) -> None:
    browser = customer(alipay)
    _, phone_payment = start(alipay, 5000)
    phone_ref = ref_of(phone_payment)
    resp = browser.get(f"/pay/{phone_ref}", headers={"User-Agent": IPHONE})
    assert resp.status_code == 302
    wap = gateway_request(alipay, resp.headers["Location"])
    assert (wap["method"], wap["biz"]["product_code"], wap["biz"]["total_amount"]) == \
        ("alipay.trade.wap.pay", "QUICK_WAP_PAY", "50.00")
    # the form-action of our pages lets the browser go to the gateway
    csp = browser.get("/me").headers["Content-Security-Policy"]
    assert "http://127.0.0.1:" in csp.split("form-action", 1)[1].split(";")[0]

    _, desk_payment = start(alipay, 7800)
    desk_ref = ref_of(desk_payment)
    resp = browser.get(f"/pay/{desk_ref}", headers={"User-Agent": DESKTOP})
    page = gateway_request(alipay, resp.headers["Location"])
    assert (page["method"], page["biz"]["product_code"], page["biz"]["total_amount"]) == \
        ("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY", "78.00")
    assert page["biz"]["out_trade_no"] == desk_ref
    assert "支付宝收银台" in alipay.fake.open(resp.headers["Location"])
    # back from Alipay before its notification (or a reload): the page asks Alipay and
    # waits, offering the same request again — no loop back to the gateway, no 2nd trade
    again = browser.get(f"/pay/{desk_ref}", headers={"User-Agent": IPHONE})
    assert again.status_code == 200
    assert html.escape(resp.headers["Location"]) in again.get_data(as_text=True)
    assert any(method == "alipay.trade.query" for method, _args in alipay.fake.calls)

    assert _notify(alipay, alipay.fake.pay(desk_ref), desk_ref).get_data() == b"success"
    done = browser.get(f"/pay/{desk_ref}")
    assert done.status_code == 302 and "/me/bookings/" in done.headers["Location"]
    assert _payment(alipay, desk_ref).status == "succeeded"
    assert _payment(alipay, phone_ref).status == "pending"


def test_untrusted_notifications_are_refused_and_move_nothing(alipay: AlipayWorld) -> None:
    order_id, payment = start(alipay)
    ref = ref_of(payment)
    alipay.fake.open(checkout(alipay, payment)["redirect_url"])
    fake = alipay.fake
    good = fake.pay(ref)
    stale = fake.notification(ref, notify_time=datetime.now(BEIJING) - timedelta(minutes=6))
    other_app = fake.notification(ref, app_id="2021000000000999")
    tampered = good.replace(b"total_amount=128.00", b"total_amount=1.28")
    assert tampered != good
    wrong_key = fake.notification(ref)
    wrong_key = wrong_key.split(b"&sign=")[0] + b"&sign=" + \
        wrong_key.split(b"&sign=")[1][::-1]
    cases = {"stale": (stale, 401), "app_id": (other_app, 401), "tampered": (tampered, 401),
             "bad signature": (wrong_key, 401),
             "unsigned": (good.split(b"&sign=")[0], 401),
             "RSA": (good.replace(b"sign_type=RSA2", b"sign_type=RSA"), 401),
             "not a form": (b"\xff\xfe", 401),
             "more decimals": (fake.notification(ref, total_amount="128.005"), 401),
             "not a number": (fake.notification(ref, total_amount="1e2"), 401),
             "amount mismatch": (fake.notification(ref, total_amount="127.99"), 409),
             "unknown trade": (fake.notification(ref, out_trade_no="fp_nobody"), 404)}
    for name, (body, status) in cases.items():
        resp = _notify(alipay, body, ref)
        assert resp.status_code == status, (name, resp.get_data(as_text=True))
        assert resp.mimetype == "application/problem+json", name
    with alipay.app.app_context():
        assert db.session.get(Order, order_id).paid == 0
        assert db.session.query(PaymentCallback).count() == 0
    assert ledger_entries(alipay) == 0
    assert _notify(alipay, good, ref).get_data() == b"success"  # the genuine one still does
    with alipay.app.app_context():
        assert db.session.get(Order, order_id).status == "paid"


def test_amounts_are_read_exactly(alipay: AlipayWorld) -> None:
    """"0.1" is ten fen like "0.10"; "0.105" is no amount at all."""
    _, payment = start(alipay, 10)
    ref = ref_of(payment)
    sent = gateway_request(alipay, checkout(alipay, payment)["redirect_url"])
    assert sent["biz"]["total_amount"] == "0.10"
    alipay.fake.open(checkout(alipay, payment)["redirect_url"])
    alipay.fake.pay(ref)
    assert _notify(alipay, alipay.fake.notification(ref, total_amount="0.105"),
                   ref).status_code == 401
    resp = _notify(alipay, alipay.fake.notification(ref, total_amount="0.1"), ref)
    assert resp.get_data() == b"success"
    assert _payment(alipay, ref).status == "succeeded"


def test_a_refund_notification_changes_nothing(alipay: AlipayWorld) -> None:
    _, payment = start(alipay)
    ref = ref_of(payment)
    alipay.fake.open(checkout(alipay, payment)["redirect_url"])
    alipay.fake.pay(ref)  # paid, but that notification is lost
    alipay.fake.trades[ref].refunds["by-hand"] = alipay.fake.trades[ref].total_amount
    alipay.fake.trades[ref].status = "TRADE_CLOSED"  # refunded in Alipay's console
    resp = _notify(alipay, alipay.fake.notification(ref), ref)
    assert resp.get_data() == b"success"  # acknowledged, so Alipay stops resending
    assert _payment(alipay, ref).status == "pending"  # not "failed": it was paid


def test_lost_notifications_are_recovered_by_asking(alipay: AlipayWorld) -> None:
    _, first = start(alipay, 5000)
    _, second = start(alipay, 7800)
    first_ref, second_ref = ref_of(first), ref_of(second)
    later = utcnow() + timedelta(minutes=2)  # the payments count as a minute old
    with alipay.app.app_context():
        # nobody opened Alipay's page yet: Alipay knows no such trade, still pending
        assert polling.poll(now=later)["payments"] == 0
    alipay.fake.open(checkout(alipay, first)["redirect_url"])
    alipay.fake.open(checkout(alipay, second)["redirect_url"])
    alipay.fake.pay(first_ref)  # its notification never arrives
    with alipay.app.app_context():
        assert polling.poll()["payments"] == 0  # too fresh: the notification may come
        assert polling.poll(now=later)["payments"] == 1  # the second waits for its buyer
    assert _payment(alipay, first_ref).status == "succeeded"
    assert _payment(alipay, first_ref).provider_txn_id == \
        alipay.fake.trades[first_ref].trade_no
    assert _payment(alipay, second_ref).status == "pending"
    # paid without a notification; "I have paid" on the pay page asks Alipay at once
    alipay.fake.pay(second_ref)
    browser = customer(alipay)
    resp = post_form(browser, f"/pay/{second_ref}/check", {}, page_url="/me")
    assert resp.status_code == 302
    assert _payment(alipay, second_ref).status == "succeeded"
    north = alipay.world.ids["north"]
    with alipay.app.app_context():
        assert ledger.balance(f"store:{north}:online") == 12800
        assert polling.poll(now=later + timedelta(minutes=1))["payments"] == 0  # once
        assert ledger.balance(f"store:{north}:online") == 12800


def test_notifications_for_another_seller_are_refused_when_the_seller_is_set(
        alipay: AlipayWorld) -> None:
    alipay.app.config["FULIAN_ALIPAY_SELLER_ID"] = alipay.fake.seller_id
    _, payment = start(alipay)
    ref = ref_of(payment)
    alipay.fake.open(checkout(alipay, payment)["redirect_url"])
    body = alipay.fake.pay(ref, seller_id="2088000000000002")
    assert _notify(alipay, body, ref).status_code == 401
    assert _notify(alipay, alipay.fake.notification(ref), ref).get_data() == b"success"
    assert _payment(alipay, ref).status == "succeeded"


def test_a_trade_alipay_closed_unpaid_fails_the_payment(alipay: AlipayWorld) -> None:
    order_id, payment = start(alipay)
    ref = ref_of(payment)
    alipay.fake.open(checkout(alipay, payment)["redirect_url"])
    waiting = alipay.fake.notification(ref)  # WAIT_BUYER_PAY: nothing to do yet
    assert _notify(alipay, waiting, ref).get_data() == b"success"
    assert _payment(alipay, ref).status == "pending"
    alipay.fake.trades[ref].status = "TRADE_CLOSED"  # 30 minutes went by unpaid
    with alipay.app.app_context():
        assert polling.poll(now=utcnow() + timedelta(minutes=31))["payments"] == 1
    assert _payment(alipay, ref).status == "failed"
    assert alipay.world.get(f"/api/v1/orders/{order_id}", "bo").json["status"] == "open"
