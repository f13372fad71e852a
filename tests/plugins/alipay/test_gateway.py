"""What goes wrong between us and Alipay's gateway: a request Alipay cannot verify, an
answer we cannot verify, a gateway that is down, a configuration that broke after the
payment started. Each is a ProviderError (the caller retries or says so), never a
settled or failed payment."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, urlencode, urlsplit
from urllib.request import urlopen

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import select

from core.extensions import db
from core.finance import polling
from core.finance.providers import ProviderError
from core.models import Payment
from tests.plugins.alipay.conftest import AlipayWorld, install_keys
from tests.plugins.alipay.journey import DESKTOP, checkout, customer, ref_of, start
from tests.web.conftest import post_form


def _pending(alipay: AlipayWorld, ref: str) -> Payment:
    return db.session.scalars(select(Payment).where(Payment.external_ref == ref)).one()


def _other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_the_fake_refuses_a_request_signed_with_another_key_as_alipay_does(
        alipay: AlipayWorld) -> None:
    _, payment = start(alipay)
    url = checkout(alipay, payment)["redirect_url"]
    params = dict(parse_qsl(urlsplit(url).query))
    params["method"] = "alipay.trade.query"  # a signed request, changed after signing
    raw = urlopen(alipay.fake.gateway + "?" + urlencode(params), timeout=5).read().decode()
    answer = json.loads(raw)
    error = answer["alipay_trade_query_response"]
    assert (error["code"], error["msg"], error["sub_code"]) == \
        ("40002", "Invalid Arguments", "isv.invalid-signature")
    assert error["sub_msg"].startswith("验签出错")
    # signed by Alipay over the exact text of the response object
    text = raw[raw.index("{", 1):raw.index(',"sign"')]
    alipay.keys.alipay.public_key().verify(base64.b64decode(answer["sign"]), text.encode(),
                                           padding.PKCS1v15(), hashes.SHA256())
    # and a pay page whose amount was changed after signing is Alipay's error page
    tampered = url.replace("128.00", "1.28")
    assert tampered != url and "invalid-signature" in alipay.fake.open(tampered)


def test_alipay_not_trusting_our_key_is_a_provider_error(alipay: AlipayWorld) -> None:
    _, payment = start(alipay)
    ref = ref_of(payment)
    alipay.fake.open(checkout(alipay, payment)["redirect_url"])
    alipay.fake.pay(ref)
    alipay.fake.app_public_key = _other_key().public_key()  # the console has another key
    with alipay.app.app_context():
        with pytest.raises(ProviderError, match="isv.invalid-signature"):
            polling.check_payment(_pending(alipay, ref))
        assert _pending(alipay, ref).status == "pending"


def test_an_answer_not_signed_by_alipay_is_a_provider_error(alipay: AlipayWorld) -> None:
    _, payment = start(alipay)
    ref = ref_of(payment)
    alipay.fake.open(checkout(alipay, payment)["redirect_url"])
    alipay.fake.pay(ref)
    alipay.fake.private_key = _other_key()  # someone in the middle answers "paid"
    with alipay.app.app_context():
        with pytest.raises(ProviderError, match="could not be verified"):
            polling.check_payment(_pending(alipay, ref))
        assert _pending(alipay, ref).status == "pending"


def test_a_gateway_that_is_down_is_a_provider_error(alipay: AlipayWorld) -> None:
    _, payment = start(alipay)
    ref = ref_of(payment)
    alipay.app.config["FULIAN_ALIPAY_GATEWAY"] = "http://127.0.0.1:9/gateway.do"
    # starting needs no network: the signed request is built here
    redirect = checkout(alipay, payment)["redirect_url"]
    assert redirect.startswith("http://127.0.0.1:9/gateway.do?")
    with alipay.app.app_context():
        with pytest.raises(ProviderError, match="cannot be reached"):
            polling.check_payment(_pending(alipay, ref))
    # the pay page's "I have paid" says it is still waiting instead of failing
    resp = post_form(customer(alipay), f"/pay/{ref}/check", {}, page_url="/me")
    assert resp.status_code == 302


def test_a_configuration_that_broke_shows_an_error_and_refuses_notifications(
        alipay: AlipayWorld) -> None:
    _, opened = start(alipay, 5000)
    _, fresh = start(alipay, 7800)
    opened_ref = ref_of(opened)
    alipay.fake.open(checkout(alipay, opened)["redirect_url"])
    (alipay.key_folder / "app_private_key.pem").unlink()
    resp = customer(alipay).get(f"/pay/{ref_of(fresh)}", headers={"User-Agent": DESKTOP})
    assert resp.status_code == 502
    assert "Alipay is not set up on this site." in resp.get_data(as_text=True)
    # a notification cannot be trusted meanwhile: refused, so Alipay sends it again
    body = alipay.fake.pay(opened_ref)
    client = alipay.app.test_client()
    assert alipay.fake.deliver(client, body, opened_ref).status_code == 401
    install_keys(alipay.key_folder, alipay.keys)  # fixed: Alipay's next attempt settles
    assert alipay.fake.deliver(client, body, opened_ref).get_data() == b"success"
