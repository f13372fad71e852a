"""The adapter around ``wechatpayv3`` (plugins/wechatpay/client.py): it must talk to our
gateway from the very first request, never build a second Core, cache one client per
app, and survive made-up certificate serials. The first test fails when the library
changes what the adapter relies on."""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import wechatpayv3
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.core import Core

from core.finance.callbacks import CallbackRejected
from core.finance.providers import ProviderError, installed
from plugins.wechatpay import client as adapter
from plugins.wechatpay.provider import CHINA

from .conftest import DESKTOP, WeChat, enable_wechatpay, settings_for
from .fake_wechatpay import FakeWeChatPay, Keys, pem_private, pem_public


def test_the_library_still_has_the_shape_the_adapter_relies_on(wechat_keys: Keys) -> None:
    """If this fails after upgrading wechatpayv3, re-read core.py and __init__.py and
    revisit plugins/wechatpay/client.py before changing this test."""
    # Core assigns the hard-coded gateway in its constructor (our property ignores it)
    # and fetches certificates from _init_certificates / _update_certificates
    source = inspect.getsource(Core.__init__)
    assert "self._gate_way = 'https://api.mch.weixin.qq.com'" in source
    assert "self._init_certificates()" in source
    assert "self._gate_way" in inspect.getsource(Core.request)
    assert "self._certificates.clear()" in inspect.getsource(Core._update_certificates)
    assert "self._update_certificates()" in inspect.getsource(Core._verify_signature)
    params = inspect.signature(Core.__init__).parameters
    for name in ("mchid", "cert_serial_no", "private_key", "apiv3_key", "cert_dir",
                 "timeout", "public_key", "public_key_id"):
        assert name in params
    # WeChatPay.__init__ sets exactly the attributes Client sets (public-key mode: no
    # network), and the methods we call are still there
    real = WeChatPay(wechatpay_type=WeChatPayType.NATIVE, mchid=wechat_keys.mchid,
                     private_key=pem_private(wechat_keys.merchant_key),
                     cert_serial_no=wechat_keys.merchant_serial, appid=wechat_keys.appid,
                     apiv3_key=wechat_keys.apiv3_key,
                     public_key=pem_public(wechat_keys.platform_key.public_key()),
                     public_key_id=wechat_keys.public_key_id)
    ours = adapter.Client(real._core, mchid=wechat_keys.mchid, appid=wechat_keys.appid)
    assert vars(ours) == vars(real)
    for method in ("pay", "query", "refund", "query_refund", "trade_bill", "download_bill",
                   "callback", "sign"):
        assert callable(getattr(ours, method))
    assert "self._core._gate_way" in inspect.getsource(wechatpayv3.WeChatPay.download_bill)


def test_the_first_request_already_goes_to_our_gateway_and_certificates_are_kept(
        wechatpay_app: Any, fake_wechatpay: FakeWeChatPay, tmp_path: Path) -> None:
    with wechatpay_app.app_context():
        pay, settings = adapter.client()
        assert pay._core._gate_way == fake_wechatpay.base_url
        assert adapter.client()[0] is pay  # cached per app
        assert fake_wechatpay.requests == [("GET", "/v3/certificates", 200)]
        serial = fake_wechatpay.keys.platform_serial
        kept = tmp_path / "instance" / "wechatpay" / "platform_certs" / f"{serial}.pem"
        assert kept.is_file() and "BEGIN CERTIFICATE" in kept.read_text()
        # another process (or a restart) reads the certificate from the folder
        adapter.build(settings)
        assert len(fake_wechatpay.requests) == 1
        # a changed setting builds a new client
        wechatpay_app.config["FULIAN_WECHATPAY_APPID"] = "wx1111111111111111"
        assert adapter.client()[0] is not pay


def test_made_up_serials_make_at_most_one_download_a_minute(
        wechat: WeChat, monkeypatch: pytest.MonkeyPatch) -> None:
    order = wechat.order()
    ref = wechat.start(order["id"], 12800)["ref"]
    wechat.customer().get(f"/pay/{ref}", headers={"User-Agent": DESKTOP})
    downloads = [r for r in wechat.fake.requests if r[1] == "/v3/certificates"]
    assert len(downloads) == 1  # building the client
    clock = [adapter.time.monotonic() + adapter.REFRESH_INTERVAL + 1]
    monkeypatch.setattr(adapter.time, "monotonic", lambda: clock[0])
    for _ in range(3):
        forged = wechat.fake.pay(ref)
        forged.headers["Wechatpay-Serial"] = "ABCDEF0123456789"
        assert wechat.notify(forged).status_code == 401
    downloads = [r for r in wechat.fake.requests if r[1] == "/v3/certificates"]
    assert len(downloads) == 2  # one refresh, not three
    # the certificates it had are still there: the genuine notification settles
    assert wechat.notify(wechat.fake.pay(ref)).status_code == 200


def test_public_key_mode_downloads_no_certificate(make_app: Any, wechat_keys: Keys,
                                                  tmp_path: Path) -> None:
    fake = FakeWeChatPay(wechat_keys, public_key_mode=True).start()
    try:
        settings = settings_for(fake, tmp_path / "instance")
        app = make_app(**settings)
        enable_wechatpay(app, settings)
        with app.app_context():
            provider = installed()["wechatpay"]
            assert provider.readiness() == []
            pay, _settings = adapter.client()
            assert pay._core._public_key_id == wechat_keys.public_key_id
            status, _body = pay.pay(description="Test", out_trade_no="fp_pubkey_order_1",
                                    amount={"total": 100, "currency": "CNY"},
                                    notify_url="https://shop.example/n",
                                    time_expire=(datetime.now(CHINA) + timedelta(minutes=10)
                                                 ).isoformat(timespec="seconds"),
                                    pay_type=WeChatPayType.NATIVE)
            assert status == 200  # the answer's signature checked with the public key
            note = fake.pay("fp_pubkey_order_1")
            assert note.headers["Wechatpay-Serial"] == wechat_keys.public_key_id
            notice = provider.verify(note.body, note.headers)
            assert (notice.ref, notice.amount, notice.status) == ("fp_pubkey_order_1", 100,
                                                                  "succeeded")
        assert all(path != "/v3/certificates" for _m, path, _s in fake.requests)
    finally:
        fake.stop()


def test_wechat_pay_unreachable(make_app: Any, fake_wechatpay: FakeWeChatPay,
                                tmp_path: Path) -> None:
    settings = settings_for(fake_wechatpay, tmp_path / "instance")
    fake_wechatpay.stop()  # nobody listens there any more
    app = make_app(**settings)
    enable_wechatpay(app, settings)
    with app.app_context():
        provider = installed()["wechatpay"]
        with pytest.raises(ProviderError):
            adapter.client()
        note = fake_wechatpay.notification("TRANSACTION.SUCCESS", "支付成功", "transaction",
                                           {"out_trade_no": "x"})
        with pytest.raises(CallbackRejected):  # WeChat will try again later
            provider.verify(note.body, note.headers)
