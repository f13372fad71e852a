"""The pay page in a real browser (Debian Chromium): a desktop customer sees WeChat Pay's
QR code, in Chinese and English, on a phone's width and a desktop's, without a single
CSP violation; when WeChat's notification settles the payment, the page's own polling
takes the customer to the booking."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from core.extensions import db
from core.finance import orders
from core.models import Booking
from plugins.wechatpay.provider import WeChatPayProvider
from tests.core.factories import PASSWORD, book, make_customer_user, make_shop
from tests.web.conftest import shot


@pytest.fixture
def live(wechatpay_app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, wechatpay_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_qr_code_page_and_its_polling(wechatpay_app: Any, live: str, browser: Any,
                                          fake_wechatpay: Any) -> None:
    app = wechatpay_app
    with app.app_context():
        shop = make_shop()
        make_customer_user(shop.customer, "bo@example.com")
        booking = book(shop, source="online")
        order = orders.order_for_booking(booking)
        ref = orders.start_online(order.id, "wechatpay", order.total,
                                  WeChatPayProvider().new_reference()).external_ref
        code = db.session.get(Booking, booking.id).code
    context = browser.new_context(base_url=live, locale="zh-CN",
                                  viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    try:
        page.goto("/login")
        page.fill("#f-login", "bo@example.com")
        page.fill("#f-password", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_load_state()
        for lang in ("zh_CN", "en"):
            page.goto(f"/pay/{ref}?lang={lang}")
            assert page.locator(".pay-qr svg").is_visible()
            text = page.locator("main").inner_text()
            assert ("微信支付" in text) if lang == "zh_CN" else ("WeChat Pay" in text)
            shot(page, f"pay-wechat-qr-{lang}")
        assert fake_wechatpay.orders[ref].trade_type == "NATIVE"  # one prepay order
        note = fake_wechatpay.pay(ref)
        assert note.deliver(app.test_client()).status_code == 200
        page.wait_for_url(f"**/me/bookings/{code}")  # the page's polling moved on
        assert not violations, violations
    finally:
        context.close()
