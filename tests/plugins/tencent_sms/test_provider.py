"""The Tencent provider through the real SDK against the fake service: what it sends,
how Tencent's refusals and an unreachable service become SmsError, the template
mapping, readiness, and that no login code reaches a log."""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from core.sms import MASK, OutgoingSms, SmsError
from plugins.tencent_sms.provider import (
    Template,
    TemplatesUnreadable,
    TencentSmsProvider,
    parse_templates,
)
from tests.plugins.tencent_sms.conftest import (
    LOGIN_TEMPLATE,
    PHONE,
    PLUGIN_TRANSLATIONS,
    REMINDER_TEMPLATE,
    SDK_APP_ID,
    SIGN_NAME,
    login_sms,
    tencent_settings,
)
from tests.plugins.tencent_sms.fake_tencent import FakeTencentSms

GENERIC = "The text message could not be sent; please try again in a moment."


def bare_app(config: dict[str, Any]) -> Flask:
    """An app with only the settings and the plugin's catalogues: the provider needs no
    database."""
    app = Flask(__name__)
    app.config.update(config, BABEL_TRANSLATION_DIRECTORIES=str(PLUGIN_TRANSLATIONS))
    Babel(app)
    return app


@pytest.fixture
def configure(fake: FakeTencentSms) -> Iterator[Any]:
    """``configure(**overrides)`` enters an app context with the settings for the fake
    (no database: the provider reads only its settings)."""
    contexts = []

    def enter(**overrides: Any) -> None:
        context = bare_app(tencent_settings(fake, **overrides)).app_context()
        context.push()
        contexts.append(context)

    yield enter
    for context in reversed(contexts):
        context.pop()


def refused(message: OutgoingSms) -> SmsError:
    with pytest.raises(SmsError) as caught:
        TencentSmsProvider().send(message)
    assert str(caught.value) == GENERIC
    return caught.value


def test_a_login_code_goes_out_as_the_login_template(fake, configure) -> None:
    configure()
    receipt = TencentSmsProvider().send(login_sms("204817"))
    [sent] = fake.sent
    assert receipt.provider_ref == sent.serial_no and sent.serial_no.startswith("5000:")
    assert (sent.phone, sent.sdk_app_id, sent.sign_name, sent.template_id, sent.params,
            sent.region) == (PHONE, SDK_APP_ID, SIGN_NAME, LOGIN_TEMPLATE, ["204817", "5"],
                             "ap-guangzhou")
    assert fake.outcomes == ["Ok"]


def test_the_region_setting_reaches_tencent(fake, configure) -> None:
    configure(REGION="ap-beijing")
    TencentSmsProvider().send(login_sms())
    assert fake.sent[-1].region == "ap-beijing"


@pytest.mark.parametrize(("secret_id", "secret_key", "code"), [
    ("AKIDfulianTestKey00000000000000000000", "notTheKey", "AuthFailure.SignatureFailure"),
    ("AKIDsomebodyElse", "notTheKey", "AuthFailure.SecretIdNotFound"),
])
def test_a_wrong_key_is_refused(fake, configure, secret_id, secret_key, code) -> None:
    configure(SECRET_ID=secret_id, SECRET_KEY=secret_key)
    error = refused(login_sms())
    assert error.detail.startswith(f"{code}: ")
    assert fake.sent == [] and fake.outcomes == [code]


@pytest.mark.parametrize(("offset", "accepted"), [
    (-6 * 60, False), (6 * 60, False), (-4 * 60, True), (4 * 60, True)])
def test_a_request_signed_more_than_five_minutes_off_is_refused(fake, configure, offset,
                                                                 accepted) -> None:
    """The fake's clock moves, not the test: the SDK signs with the real time."""
    fake.clock = lambda: time.time() + offset
    configure()
    if accepted:
        TencentSmsProvider().send(login_sms())
        assert fake.outcomes == ["Ok"]
    else:
        assert refused(login_sms()).detail.startswith("AuthFailure.SignatureExpire: ")


def test_a_refusal_for_the_number_is_an_sms_error_with_tencents_reason(fake,
                                                                      configure) -> None:
    fake.fail_number(PHONE, "LimitExceeded.PhoneNumberDailyLimit",
                     "the number of SMS messages sent from a single mobile number every "
                     "day exceeds the upper limit")
    configure()
    error = refused(login_sms())
    assert error.detail.startswith("LimitExceeded.PhoneNumberDailyLimit: the number of SMS "
                                   "messages sent from a single mobile number every day")
    assert "RequestId" in error.detail and fake.sent == []
    TencentSmsProvider().send(login_sms(phone="+8613800138001"))  # other numbers still go
    assert [m.phone for m in fake.sent] == ["+8613800138001"]


def test_tencents_reason_never_carries_the_code(fake, configure) -> None:
    fake.fail_number(PHONE, "InvalidParameterValue.TemplateParameterFormatError",
                     "parameter 654321 is not allowed")
    configure()
    error = refused(login_sms("654321"))
    assert "654321" not in error.detail
    assert error.detail.startswith("InvalidParameterValue.TemplateParameterFormatError: "
                                   f"parameter {MASK} is not allowed")


@pytest.mark.parametrize(("overrides", "code"), [
    ({"SIGN_NAME": "别的签名"}, "FailedOperation.SignatureIncorrectOrUnapproved"),
    ({"TEMPLATES": "login_code=7654321"}, "FailedOperation.TemplateIncorrectOrUnapproved"),
    ({"TEMPLATES": f"login_code={LOGIN_TEMPLATE}:code"},
     "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"),
    ({"TEMPLATES": f"login_code={LOGIN_TEMPLATE}:minutes,code"}, "Ok"),
    ({"SDK_APP_ID": "1400999999"}, "UnauthorizedOperation.SmsSdkAppIdVerifyFail"),
    ({"REGION": "ap-shanghai"}, "UnsupportedRegion"),
], ids=["sign", "template", "param-count", "param-order", "app", "region"])
def test_what_tencent_checks(fake, configure, overrides, code) -> None:
    configure(**overrides)
    if code == "Ok":
        TencentSmsProvider().send(login_sms("123456"))
        assert fake.sent[-1].params == ["5", "123456"]  # whatever the template says
    else:
        assert refused(login_sms()).detail.startswith(f"{code}: ")
        assert fake.sent == []
    assert fake.outcomes == [code]


def test_a_verification_template_takes_digits_only(fake, configure) -> None:
    configure()
    error = refused(login_sms("12ab56"))
    assert error.detail.startswith("InvalidParameterValue.TemplateParameterFormatError: ")


def test_params_follow_the_template_order_not_the_message_order(fake, configure) -> None:
    configure()
    TencentSmsProvider().send(OutgoingSms(
        phone=PHONE, purpose="booking_reminder", text="...",
        params={"name": "Lin", "time": "15:00", "store": "Xuhui"}))
    sent = fake.sent[-1]
    assert (sent.template_id, sent.params) == (REMINDER_TEMPLATE, ["Xuhui", "15:00", "Lin"])


def test_the_login_template_has_a_default_order(fake, configure) -> None:
    configure(TEMPLATES=f"login_code={LOGIN_TEMPLATE}")
    TencentSmsProvider().send(OutgoingSms(
        phone=PHONE, purpose="login_code", text="...", secret=("code",),
        params={"minutes": "5", "code": "987654"}))
    assert fake.sent[-1].params == ["987654", "5"]


@pytest.mark.parametrize(("templates", "message", "detail"), [
    (f"login_code={LOGIN_TEMPLATE}", OutgoingSms(PHONE, "booking_reminder", {}, "..."),
     "no template for purpose 'booking_reminder'"),
    (f"booking_reminder={REMINDER_TEMPLATE}:store,time,name",
     OutgoingSms(PHONE, "booking_reminder", {"store": "Xuhui", "time": "15:00"}, "..."),
     f"template {REMINDER_TEMPLATE} needs params name"),
    ("login_code:1234567", login_sms(), "FULIAN_TENCENT_SMS_TEMPLATES cannot be read"),
])
def test_a_message_without_its_template_is_not_sent(fake, configure, templates, message,
                                                    detail) -> None:
    configure(TEMPLATES=templates)
    assert refused(message).detail.startswith(detail)
    assert fake.received == []


def test_an_unreachable_service_is_an_sms_error(configure) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    configure(ENDPOINT=f"127.0.0.1:{port}")
    assert refused(login_sms()).detail.startswith("ClientNetworkError: ")


def test_no_code_in_the_logs_even_at_debug(fake, configure, caplog) -> None:
    """The SDK logs each request body at DEBUG; the provider's filter drops those."""
    caplog.set_level(logging.DEBUG)
    configure()
    TencentSmsProvider().send(login_sms("480213"))
    fake.fail_number(PHONE, "LimitExceeded.PhoneNumberDailyLimit", "limit")
    refused(login_sms("731950"))
    assert any(r.name == "tencentcloud_sdk_common" for r in caplog.records)  # SDK logged
    for code in ("480213", "731950"):
        assert not re.search(rf"(?<!\d){code}(?!\d)", caplog.text)


# ------------------------------------------------------------------ readiness


def test_ready_when_everything_is_set(configure) -> None:
    configure()
    assert TencentSmsProvider().readiness() == []


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"SECRET_ID": ""}, "The Tencent Cloud SecretId is missing "
                        "(FULIAN_TENCENT_SMS_SECRET_ID)."),
    ({"SECRET_KEY": "  "}, "The Tencent Cloud SecretKey is missing "
                           "(FULIAN_TENCENT_SMS_SECRET_KEY)."),
    ({"SDK_APP_ID": None}, "The SMS application's SdkAppId is missing "
                           "(FULIAN_TENCENT_SMS_SDK_APP_ID)."),
    ({"SIGN_NAME": ""}, "The approved SMS signature is missing "
                        "(FULIAN_TENCENT_SMS_SIGN_NAME)."),
    ({"TEMPLATES": f"booking_reminder={REMINDER_TEMPLATE}"},
     "No template for login codes: add login_code=<template id> to "
     "FULIAN_TENCENT_SMS_TEMPLATES."),
    ({"TEMPLATES": "login_code=123;oops"},
     "FULIAN_TENCENT_SMS_TEMPLATES cannot be read at \"oops\": write purpose=template "
     "id:param,param and separate several with \";\"."),
    ({"SCHEME": "ftp"}, "FULIAN_TENCENT_SMS_SCHEME must be https or http, not ftp."),
])
def test_readiness_names_what_is_missing(configure, overrides, problem) -> None:
    configure(**overrides)
    assert [str(p) for p in TencentSmsProvider().readiness()] == [problem]


def test_nothing_configured_lists_every_problem_translated() -> None:
    with bare_app({}).app_context():
        problems = [str(p) for p in TencentSmsProvider().readiness()]
        with force_locale("zh_CN"):
            chinese = [str(p) for p in TencentSmsProvider().readiness()]
            label = str(TencentSmsProvider.label)
    assert len(problems) == 5 and "SecretId" in problems[0] and "login" in problems[-1]
    assert chinese[0] == "缺少腾讯云 SecretId（FULIAN_TENCENT_SMS_SECRET_ID）。"
    assert chinese[-1] == ("没有登录验证码模板：请在 FULIAN_TENCENT_SMS_TEMPLATES 中加入 "
                           "login_code=<模板 ID>。")
    assert label == "腾讯云短信"


def test_the_user_reads_the_refusal_in_their_language(fake, configure) -> None:
    fake.fail_number(PHONE, "LimitExceeded.PhoneNumberDailyLimit", "limit")
    configure()
    error = refused(login_sms())
    with force_locale("zh_CN"):
        assert str(error) == "短信发送失败，请稍后再试。"


# ------------------------------------------------------------------ the mapping


def test_parse_templates() -> None:
    assert parse_templates(" login_code = 1234567 ; reminder=2345678: store, time ;"
                           "notice=3456789:;other=4567890") == {
        "login_code": Template("1234567", ("code", "minutes")),
        "reminder": Template("2345678", ("store", "time")),
        "notice": Template("3456789", ()),
        "other": Template("4567890", None),
    }
    assert parse_templates("") == {}


@pytest.mark.parametrize("value", [
    "login_code", "login_code=abc", "login_code=1:code;login_code=2:code",
    "Login=1", "login_code=1:co-de", "login_code=1:code:minutes", "=1"])
def test_parse_templates_refuses(value: str) -> None:
    with pytest.raises(TemplatesUnreadable):
        parse_templates(value)
