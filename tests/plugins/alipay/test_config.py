"""Settings, key files, readiness and the two places we reach into the SDK."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alipay import AliPay
from cryptography.hazmat.primitives import serialization
from flask_babel import force_locale

from core import i18n, readiness
from core.finance.providers import installed, providers
from plugins.alipay import config
from plugins.alipay.codec import beijing_now
from plugins.alipay.provider import AlipayProvider
from tests.plugins.alipay.conftest import APP_ID, Keys, install_keys

PLUGIN_TRANSLATIONS = Path(config.__file__).resolve().parent / "translations"


@pytest.fixture
def app(make_app: Any) -> Iterator[Any]:
    """A deployment with the plugin enabled and nothing configured."""
    app = make_app()
    with app.app_context():
        app.extensions["fulian_plugins"].set_enabled("alipay", True)
        yield app


def _folder(app: Any) -> Path:
    return Path(app.config["INSTANCE_PATH"]) / "alipay"


def test_readiness_lists_every_missing_setting(app: Any) -> None:
    problems = [str(p) for p in installed()["alipay"].readiness()]
    assert len(problems) == 3
    assert "FULIAN_ALIPAY_APP_ID" in problems[0]
    assert "app_private_key.pem" in problems[1] and "FULIAN_ALIPAY_APP_PRIVATE_KEY_FILE" \
        in problems[1]
    assert "alipay_public_key.pem" in problems[2] and "FULIAN_ALIPAY_PUBLIC_KEY_FILE" \
        in problems[2]
    assert "alipay" not in providers()  # not offered to customers
    [finding] = [f for f in readiness.check(app) if f.topic == "payments:alipay"]
    assert finding.level == "error" and "FULIAN_ALIPAY_APP_ID" in finding.message


def test_readiness_names_unusable_keys_and_a_configured_deployment_is_ready(
        app: Any, alipay_keys: Keys) -> None:
    app.config["FULIAN_ALIPAY_APP_ID"] = APP_ID
    install_keys(_folder(app), alipay_keys)
    assert installed()["alipay"].readiness() == []
    assert "alipay" in providers()
    private = _folder(app) / "app_private_key.pem"
    private.write_bytes(alipay_keys.alipay_public_pem())  # the wrong half
    [problem] = [str(p) for p in config.problems()]
    assert problem == f"{private} holds no RSA private key."
    private.write_text("not a key")
    assert [str(p) for p in config.problems()] == [problem]
    # Alipay's key tool writes bare base64 (PKCS#8 DER); that works too
    der = alipay_keys.app.private_bytes(serialization.Encoding.DER,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    private.write_text(base64.b64encode(der).decode())
    assert config.problems() == []
    elsewhere = _folder(app) / "elsewhere.pem"
    app.config["FULIAN_ALIPAY_PUBLIC_KEY_FILE"] = str(elsewhere)
    assert [str(p) for p in config.problems()] == [
        f"Alipay's public key {elsewhere} cannot be read (FULIAN_ALIPAY_PUBLIC_KEY_FILE)."]


def test_the_client_is_cached_until_a_setting_or_key_file_changes(
        app: Any, alipay_keys: Keys) -> None:
    app.config.update(FULIAN_ALIPAY_APP_ID=APP_ID,
                      FULIAN_ALIPAY_GATEWAY="https://gw.example/gateway.do")
    install_keys(_folder(app), alipay_keys)
    first = config.client()
    assert config.client() is first
    private = _folder(app) / "app_private_key.pem"
    stat = private.stat()
    os.utime(private, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    rotated = config.client()
    assert rotated is not first and config.client() is rotated
    app.config["FULIAN_ALIPAY_GATEWAY"] = "https://other.example/gateway.do"
    assert config.client() is not rotated
    assert AlipayProvider().origins == ("https://other.example",)


def test_the_gateway_is_https_in_production(make_app: Any, alipay_keys: Keys) -> None:
    app = make_app(FULIAN_ENV="production", SECRET_KEY="p" * 48, FULIAN_ALIPAY_APP_ID=APP_ID,
                   FULIAN_ALIPAY_GATEWAY="http://openapi.alipay.com/gateway.do")
    with app.app_context():
        install_keys(_folder(app), alipay_keys)
        assert [str(p) for p in config.problems()] == [
            "FULIAN_ALIPAY_GATEWAY must be an https:// address."]
        app.config["FULIAN_ALIPAY_GATEWAY"] = config.DEFAULT_GATEWAY
        assert config.problems() == []
        assert AlipayProvider().origins == ("https://openapi.alipay.com",)


def test_the_sdk_internals_we_rely_on(alipay_keys: Keys) -> None:
    """python-alipay-sdk has no parameter for the gateway (only production or its
    sandbox) and stamps local time; config.Client sets both. If an SDK upgrade renames
    ``_gateway`` or changes ``build_body``, this fails before a payment does."""
    pem = alipay_keys.app_private_pem().decode()
    public = alipay_keys.alipay_public_pem().decode()
    plain = AliPay(appid=APP_ID, app_private_key_string=pem, alipay_public_key_string=public)
    assert plain._gateway == config.DEFAULT_GATEWAY  # set by the constructor
    body = plain.build_body("alipay.trade.query", {"out_trade_no": "x"})
    assert set(body) == {"app_id", "method", "charset", "sign_type", "timestamp",
                         "version", "biz_content"}
    assert "_gateway" in AliPay.verified_sync_response.__code__.co_names  # used there
    settings = config.Settings(app_id=APP_ID, private_key_file=Path("-"),
                               public_key_file=Path("-"), gateway="https://gw.example/gw",
                               seller_id="")
    client = config.Client(settings, pem, public)
    assert client._gateway == "https://gw.example/gw"
    stamp = client.build_body("alipay.trade.query", {"out_trade_no": "x"})["timestamp"]
    assert stamp[:16] == beijing_now()[:16]


def test_the_label_and_problems_are_translated(app: Any, make_app: Any) -> None:
    """The plugin's own catalogue (loaded by apps started with the plugin enabled)."""
    i18n.compile_catalogues([PLUGIN_TRANSLATIONS])
    restarted = make_app()
    with restarted.test_request_context(), force_locale("zh_Hans_CN"):
        assert str(AlipayProvider.label) == "支付宝"
        assert str(config.problems()[0]).startswith("未设置 FULIAN_ALIPAY_APP_ID")
