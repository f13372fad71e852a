"""Fixtures for WeChat Pay: keys, the fake API v3 server, the app's settings, and the
resource world (tests/core/api/resources_world.py) with the plugin enabled.

Other tests can reuse them: ``wechatpay_settings`` gives the ``FULIAN_WECHATPAY_*``
overrides (the merchant key is written to its default place in the instance folder),
``wechatpay_app`` an app on the parametrised database with the plugin enabled, and
``wechat`` the world of customers, managers and bookings on both databases.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.extensions import db
from core.models import SmsMessage
from plugins import wechatpay
from tests.core.api.resources_world import BACKENDS, World, world_fixture
from tests.web.conftest import post_form

from .fake_wechatpay import FakeWeChatPay, Keys, make_keys, pem_private, pem_public

PUBLIC_URL = "https://shop.example"
DESKTOP = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
           "Gecko) Chrome/124.0 Safari/537.36")
PHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
         "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
IN_WECHAT = ("Mozilla/5.0 (Linux; Android 13; PGT-AN10) AppleWebKit/537.36 (KHTML, like "
             "Gecko) Version/4.0 Chrome/111.0 Mobile Safari/537.36 MicroMessenger/8.0.47")


@pytest.fixture(scope="session", autouse=True)
def _wechatpay_catalogues() -> None:
    """The plugin's .mo files are build products: compile them for the suite."""
    from core import i18n

    i18n.compile_catalogues([Path(wechatpay.__file__).resolve().parent / "translations"])


@pytest.fixture(scope="session")
def wechat_keys() -> Keys:
    """The merchant's and WeChat Pay's keys (RSA generation is slow: once a worker)."""
    return make_keys()


@pytest.fixture
def fake_wechatpay(wechat_keys: Keys) -> Iterator[FakeWeChatPay]:
    fake = FakeWeChatPay(wechat_keys).start()
    yield fake
    fake.stop()


def settings_for(fake: FakeWeChatPay, instance: Path) -> dict[str, Any]:
    """The app settings of the fake's merchant; the merchant key goes to its default
    place (``<instance>/wechatpay/apiclient_key.pem``), and in public-key mode the
    WeChat Pay public key to ``pub_key.pem`` next to it."""
    folder = instance / "wechatpay"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "apiclient_key.pem").write_text(pem_private(fake.keys.merchant_key))
    settings = {
        "FULIAN_WECHATPAY_MCHID": fake.keys.mchid,
        "FULIAN_WECHATPAY_APPID": fake.keys.appid,
        "FULIAN_WECHATPAY_APIV3_KEY": fake.keys.apiv3_key,
        "FULIAN_WECHATPAY_CERT_SERIAL_NO": fake.keys.merchant_serial,
        "FULIAN_WECHATPAY_API_BASE": fake.base_url,
        "FULIAN_PUBLIC_URL": PUBLIC_URL,
    }
    if fake.public_key_mode:
        (folder / "pub_key.pem").write_text(pem_public(fake.keys.platform_key.public_key()))
        settings["FULIAN_WECHATPAY_PUBLIC_KEY_ID"] = fake.keys.public_key_id
    return settings


@pytest.fixture
def wechatpay_settings(fake_wechatpay: FakeWeChatPay, tmp_path: Path) -> dict[str, Any]:
    """Settings for an app whose instance folder is ``tmp_path / "instance"`` (as the
    ``make_app`` and ``world`` fixtures make it)."""
    return settings_for(fake_wechatpay, tmp_path / "instance")


def enable_wechatpay(app: Any, settings: dict[str, Any]) -> None:
    app.config.update(settings)
    with app.app_context():
        app.extensions["fulian_plugins"].set_enabled("wechatpay", True)


@pytest.fixture
def wechatpay_app(make_app: Any, wechatpay_settings: dict[str, Any]) -> Any:
    """An app on the parametrised database (SQLite, PostgreSQL) taking WeChat Pay,
    started after the plugin was enabled (so its translations are loaded)."""
    enable_wechatpay(make_app(**wechatpay_settings), wechatpay_settings)
    return make_app(**wechatpay_settings)


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world_fixture(request, tmp_path)


@dataclass
class WeChat:
    """The resource world taking WeChat Pay, and the fake behind it."""

    world: World
    fake: FakeWeChatPay
    pages: dict[str, Any] = field(default_factory=dict)

    @property
    def app(self) -> Any:
        return self.world.app

    def order(self, booking: str = "booking_n") -> dict[str, Any]:
        resp = self.world.post(f"/api/v1/bookings/{self.world.ids[booking]}/order", "bo")
        assert resp.status_code == 201, resp.json
        return resp.json

    def start(self, order_id: int, amount: int, who: str = "bo",
              **extra: Any) -> dict[str, Any]:
        """A pending WeChat Pay payment through the API; its ``ref`` added."""
        resp = self.world.post(f"/api/v1/orders/{order_id}/payments", who,
                               json={"provider": "wechatpay", "amount": amount, **extra})
        assert resp.status_code == 201, resp.json
        assert resp.json["status"] == "pending"
        return {**resp.json, "ref": resp.json["redirect_url"].rsplit("/", 1)[1]}

    def notify(self, note: Any) -> Any:
        return note.deliver(self.app.test_client())

    def customer(self, phone: str = "13800000001") -> Any:
        """A browser session of the customer (Bo by default), logged in by SMS code
        once per test (codes are rate-limited per phone)."""
        if phone in self.pages:
            return self.pages[phone]
        page = self.pages[phone] = self.app.test_client()
        assert post_form(page, "/me/login", {"phone": phone}).status_code == 200
        with self.app.app_context():
            text = db.session.scalars(select(SmsMessage.text)
                                      .order_by(SmsMessage.id.desc())).first()
        code = re.search(r"\d{6}", text or "").group(0)
        resp = post_form(page, "/me/login", {"phone": phone, "step": "code", "code": code})
        assert resp.status_code == 302
        return page

    def paid(self, amount: int = 12800, booking: str = "booking_n") -> dict[str, Any]:
        """An order paid by WeChat Pay (Native on a desktop), the notification delivered;
        the order's receipt with the payment's ``ref``."""
        order = self.order(booking)
        payment = self.start(order["id"], amount)
        page = self.customer()
        assert page.get(f"/pay/{payment['ref']}", headers={"User-Agent": DESKTOP}
                        ).status_code == 200
        assert self.notify(self.fake.pay(payment["ref"])).status_code == 200
        return {**self.world.get(f"/api/v1/orders/{order['id']}", "bo").json,
                "ref": payment["ref"]}


@pytest.fixture
def wechat(world: World, fake_wechatpay: FakeWeChatPay,
           wechatpay_settings: dict[str, Any]) -> WeChat:
    enable_wechatpay(world.app, wechatpay_settings)
    return WeChat(world, fake_wechatpay)
