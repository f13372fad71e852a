"""The fake is only worth what it checks: it must refuse requests WeChat Pay would
refuse (SIGN_ERROR) and sign what WeChat Pay signs, exactly as documented — checked
here with wechatpayv3's own helpers, independently of the plugin."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from wechatpayv3.utils import aes_decrypt, build_authorization, rsa_verify

from core.finance.providers import installed

from .conftest import DESKTOP, WeChat
from .fake_wechatpay import FakeWeChatPay, pem_private


def _send(fake: FakeWeChatPay, method: str, path: str, body: dict[str, Any] | None = None,
          *, key: rsa.RSAPrivateKey | None = None, signed_path: str | None = None,
          signed_body: str | None = None, serial: str | None = None) -> requests.Response:
    text = json.dumps(body) if body is not None else ""
    authorization = build_authorization(
        signed_path or path, method, fake.keys.mchid, serial or fake.keys.merchant_serial,
        key or fake.keys.merchant_key, data=signed_body if signed_body is not None else text)
    return requests.request(method, fake.base_url + path, data=text.encode(), timeout=5,
                            headers={"Authorization": authorization,
                                     "Content-Type": "application/json"})


def _signed_by_platform(fake: FakeWeChatPay, resp: requests.Response) -> bool:
    headers = resp.headers
    return headers["Wechatpay-Serial"] == fake.keys.platform_serial and rsa_verify(
        headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"], resp.text,
        headers["Wechatpay-Signature"], fake.keys.platform_cert.public_key())


def test_the_fake_checks_the_merchant_signature_like_wechat(fake_wechatpay: FakeWeChatPay) -> None:
    fake = fake_wechatpay
    query = f"/v3/pay/transactions/out-trade-no/fp_nothing_here?mchid={fake.keys.mchid}"
    good = _send(fake, "GET", query)
    assert good.status_code == 404 and good.json()["code"] == "ORDER_NOT_EXIST"
    assert _signed_by_platform(fake, good)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = {"out_refund_no": "fr1", "amount": {"refund": 1, "total": 1, "currency": "CNY"}}
    for resp in (
        _send(fake, "GET", query, key=forger),
        _send(fake, "GET", query, signed_path=query.replace("mchid", "sub_mchid")),
        _send(fake, "POST", "/v3/refund/domestic/refunds", body, signed_body="{}"),
        _send(fake, "GET", query, serial="0123ABCD"),
    ):
        assert resp.status_code == 401 and resp.json()["code"] == "SIGN_ERROR", resp.text
        assert _signed_by_platform(fake, resp)
    unsigned = requests.get(fake.base_url + query, timeout=5)
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "SIGN_ERROR"


def test_the_fake_hands_out_the_certificate_encrypted_with_the_apiv3_key(
        fake_wechatpay: FakeWeChatPay) -> None:
    fake = fake_wechatpay
    resp = _send(fake, "GET", "/v3/certificates")
    [entry] = resp.json()["data"]
    sealed = entry["encrypt_certificate"]
    assert (sealed["algorithm"], sealed["associated_data"]) == ("AEAD_AES_256_GCM",
                                                                "certificate")
    pem = aes_decrypt(sealed["nonce"], sealed["ciphertext"], "certificate",
                      fake.keys.apiv3_key)
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    assert entry["serial_no"] == fake.keys.platform_serial
    assert aes_decrypt(sealed["nonce"], sealed["ciphertext"], "certificate",
                       "0" * 32) is None


def test_the_fake_signs_notifications_like_wechat(fake_wechatpay: FakeWeChatPay) -> None:
    fake = fake_wechatpay
    note = fake.notification("REFUND.SUCCESS", "退款成功", "refund", {"a": 1},
                             timestamp=1_700_000_000)
    headers = note.headers
    assert headers["Wechatpay-Timestamp"] == "1700000000"
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert rsa_verify(headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"],
                      note.body.decode(), headers["Wechatpay-Signature"],
                      fake.keys.platform_cert.public_key())
    resource = json.loads(note.body)["resource"]
    assert json.loads(aes_decrypt(resource["nonce"], resource["ciphertext"], "refund",
                                  fake.keys.apiv3_key)) == {"a": 1}
    assert abs(int(fake.notification("X", "", "refund", {}).headers[
        "Wechatpay-Timestamp"]) - time.time()) < 5


def test_a_merchant_with_the_wrong_key_is_refused(wechat: WeChat, tmp_path: Path) -> None:
    """Certificate mode: the certificate download is refused, so no client; the pay page
    says WeChat Pay is unavailable and nothing is kept."""
    wrong = tmp_path / "wrong_key.pem"
    wrong.write_text(pem_private(rsa.generate_private_key(public_exponent=65537,
                                                          key_size=2048)))
    wechat.app.config["FULIAN_WECHATPAY_PRIVATE_KEY_FILE"] = str(wrong)
    order = wechat.order()
    ref = wechat.start(order["id"], 12800)["ref"]
    resp = wechat.customer().get(f"/pay/{ref}", headers={"User-Agent": DESKTOP})
    assert resp.status_code == 502
    assert ("GET", "/v3/certificates", 401) in wechat.fake.requests
    assert not any(r[1].startswith("/v3/pay/") for r in wechat.fake.requests)
    with wechat.app.app_context():
        assert installed()["wechatpay"].readiness() == []  # a key, just not the right one
