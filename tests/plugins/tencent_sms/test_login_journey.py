"""End to end through the app: with the plugin enabled and FULIAN_SMS_PROVIDER=tencent,
a customer asks for a login code (API and page), Tencent (the fake) receives it in the
login template, the customer logs in with it, and the code is neither in the outbox nor
in the log. Production refuses to start while the provider is incomplete."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from core import readiness, sms
from core.extensions import db
from core.models import SmsMessage
from tests.plugins.tencent_sms.conftest import LOGIN_TEMPLATE, SIGN_NAME, tencent_settings
from tests.plugins.tencent_sms.fake_tencent import FakeTencentSms
from tests.web.conftest import post_form

SECRET = "s" * 48


def _enabled(make_app: Any, fake: FakeTencentSms, **config: Any) -> Any:
    """Enable the plugin, then start the app that is tested on the same (migrated)
    database: plugin catalogues are loaded for the plugins enabled at start-up."""
    first = make_app()
    with first.app_context():
        first.extensions["fulian_plugins"].set_enabled("tencentsms", True)
    return make_app(migrate=False, FULIAN_SMS_PROVIDER="tencent",
                    **{**tencent_settings(fake), **config})


@pytest.fixture
def app(make_app: Any, fake: FakeTencentSms) -> Any:
    return _enabled(make_app, fake)


def _outbox(app: Any, phone: str) -> SmsMessage:
    with app.app_context():
        return db.session.scalars(select(SmsMessage).where(SmsMessage.phone == phone)).one()


def _no_code(code: str, *texts: str) -> None:
    for text in texts:
        assert not re.search(rf"(?<!\d){code}(?!\d)", text)


def test_customer_logs_in_through_the_api_with_a_code_tencent_sent(app, fake,
                                                                    caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    asked = client.post("/api/v1/auth/sms-code", json={"phone": "13800138000"})
    assert asked.status_code == 202, asked.get_json()
    [sent] = fake.sent
    assert (sent.phone, sent.template_id, sent.sign_name) == ("+8613800138000",
                                                              LOGIN_TEMPLATE, SIGN_NAME)
    code, minutes = sent.params
    assert re.fullmatch(r"\d{6}", code) and minutes == "5"

    token = client.post("/api/v1/auth/token", json={"phone": "13800138000", "code": code})
    assert token.status_code == 201, token.get_json()
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.get_json()['token']}"})
    assert me.status_code == 200 and me.get_json()["phone"] == "+8613800138000"

    row = _outbox(app, "+8613800138000")
    assert (row.status, row.provider, row.purpose, row.provider_ref, row.error) == (
        "sent", "tencent", "login_code", sent.serial_no, None)
    assert sms.MASK in row.text
    _no_code(code, row.text, caplog.text)


def test_customer_logs_in_on_the_page_with_a_code_tencent_sent(app, fake, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    asked = post_form(client, "/me/login", {"phone": "13800138001"})
    assert asked.status_code == 200, asked.get_data(as_text=True)[:400]
    code = fake.params_sent_to("+8613800138001")[0]
    logged_in = post_form(client, "/me/login", {"phone": "13800138001", "step": "code",
                                                "code": code})
    assert logged_in.status_code == 302, logged_in.get_data(as_text=True)[:400]
    row = _outbox(app, "+8613800138001")
    assert (row.status, row.provider, row.provider_ref) == ("sent", "tencent",
                                                            fake.sent[-1].serial_no)
    _no_code(code, row.text, caplog.text)


def test_a_number_tencent_refuses_gets_a_503_and_a_failed_outbox_row(app, fake) -> None:
    fake.fail_number("+8613800138002", "LimitExceeded.PhoneNumberDailyLimit",
                     "the daily limit of this number is exceeded")
    answer = app.test_client().post("/api/v1/auth/sms-code", json={"phone": "13800138002"},
                                    headers={"Accept-Language": "zh-CN"})
    assert answer.status_code == 503
    assert answer.get_json()["detail"] == "短信发送失败，请稍后再试。"
    row = _outbox(app, "+8613800138002")
    assert row.status == "failed" and row.provider_ref is None
    assert row.error.startswith("LimitExceeded.PhoneNumberDailyLimit: the daily limit")
    assert fake.sent == []


def test_the_plugin_brings_its_chinese_catalogue(app) -> None:
    with app.app_context():
        provider = sms.providers()["tencent"]
        with force_locale("zh_CN"):
            assert str(provider.label) == "腾讯云短信"


def test_disabled_plugin_offers_no_provider(make_app, fake) -> None:
    app = make_app(FULIAN_SMS_PROVIDER="tencent", **tencent_settings(fake))
    with app.app_context():
        assert "tencent" not in sms.providers()
        with pytest.raises(sms.SmsError):
            sms.provider()


def test_production_starts_only_with_a_complete_provider(make_app, fake) -> None:
    ready = _enabled(make_app, fake, FULIAN_ENV="production", SECRET_KEY=SECRET)
    with ready.app_context():
        [finding] = [f for f in readiness.require(ready) if f.topic == "sms"]
        assert finding.level == "ok"
    incomplete = make_app(FULIAN_ENV="production", SECRET_KEY=SECRET,
                          FULIAN_SMS_PROVIDER="tencent",
                          **tencent_settings(fake, SIGN_NAME=""))
    with incomplete.app_context(), pytest.raises(readiness.NotReady) as refused:
        readiness.require(incomplete)
    assert "FULIAN_TENCENT_SMS_SIGN_NAME" in str(refused.value)
