"""Steps of an Alipay payment as the tests walk them: the booking's order, a payment
started through the API, the customer's browser, and what the redirect carries."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from core.auth import sessions as web_sessions
from core.extensions import db
from core.models import LedgerEntry, User
from core.web.session import SESSION_KEY
from tests.plugins.alipay.conftest import AlipayWorld
from tests.plugins.alipay.fake_alipay import signing_string

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")
DESKTOP = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
           "Gecko) Chrome/126.0 Safari/537.36")


def order_id(alipay: AlipayWorld) -> int:
    """Bo's order for his booking at north (¥128.00)."""
    world = alipay.world
    resp = world.post(f"/api/v1/bookings/{world.ids['booking_n']}/order", "bo")
    assert resp.status_code in (200, 201), resp.json
    return int(resp.json["id"])


def start(alipay: AlipayWorld, amount: int = 12800, who: str = "bo") -> tuple[int, dict]:
    """An Alipay payment of ``amount`` started through the API: (order id, payment)."""
    order = order_id(alipay)
    resp = alipay.world.post(f"/api/v1/orders/{order}/payments", who,
                             json={"provider": "alipay", "amount": amount})
    assert resp.status_code == 201, resp.json
    assert resp.json["status"] == "pending" and resp.json["redirect_url"].startswith("/pay/")
    return order, resp.json


def ref_of(payment: dict) -> str:
    return payment["redirect_url"].rsplit("/", 1)[1]


def checkout(alipay: AlipayWorld, payment: dict, channel: str | None = None) -> dict:
    """How an app pays: ``POST /api/v1/payments/<id>/checkout``."""
    resp = alipay.world.post(f"/api/v1/payments/{payment['id']}/checkout", "bo",
                             json={"channel": channel} if channel else {})
    assert resp.status_code == 200, resp.json
    return resp.json


def customer(alipay: AlipayWorld) -> Any:
    """Bo's browser with a page session (what logging in leaves in the cookie)."""
    app = alipay.app
    client = app.test_client()
    with app.app_context():
        user = db.session.get(User, alipay.world.ids["user_bo"])
        session_id = web_sessions.start(user, "sms")
    with client.session_transaction() as cookie:
        cookie[SESSION_KEY] = session_id
    return client


def gateway_request(alipay: AlipayWorld, url: str) -> dict[str, Any]:
    """The parameters of a redirect to the gateway, after checking that it goes to the
    configured gateway and that its signature verifies with the application's public
    key (Alipay's rule); ``biz`` is the decoded ``biz_content``."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == alipay.fake.gateway
    params = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True))
    content = signing_string({k: v for k, v in params.items() if v}, ("sign",))
    alipay.keys.app.public_key().verify(base64.b64decode(params["sign"]), content.encode(),
                                        padding.PKCS1v15(), hashes.SHA256())
    return {**params, "biz": json.loads(params["biz_content"])}


def ledger_entries(alipay: AlipayWorld) -> int:
    with alipay.app.app_context():
        return db.session.query(LedgerEntry).count()
