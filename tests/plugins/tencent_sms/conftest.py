"""The fake Tencent Cloud SMS service for one test, and the plugin settings that point
the provider at it (over plain HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import plugins.tencent_sms as tencent_sms
from core import i18n
from core.sms import OutgoingSms
from tests.plugins.tencent_sms.fake_tencent import FakeTemplate, FakeTencentSms

SECRET_ID = "AKIDfulianTestKey00000000000000000000"
SECRET_KEY = "fulianTestSecretKey0000000000000"
SDK_APP_ID = "1400123456"
SIGN_NAME = "青玉水疗"
LOGIN_TEMPLATE = "1234567"
REMINDER_TEMPLATE = "2345678"
PHONE = "+8613800138000"
PLUGIN_TRANSLATIONS = Path(tencent_sms.__file__).resolve().parent / "translations"


@pytest.fixture(scope="session", autouse=True)
def _plugin_catalogues() -> None:
    """``.mo`` files are build products; compile the plugin's for its translated tests."""
    i18n.compile_catalogues([PLUGIN_TRANSLATIONS])


@pytest.fixture
def fake() -> Iterator[FakeTencentSms]:
    """The account: one key, one SMS application, the 青玉水疗 signature, a login-code
    template ``{1} ... {2} minutes`` and a reminder template with three variables."""
    server = FakeTencentSms(
        secret_id=SECRET_ID, secret_key=SECRET_KEY, sdk_app_id=SDK_APP_ID,
        sign_names=(SIGN_NAME,),
        templates={LOGIN_TEMPLATE: FakeTemplate(variables=2),
                   REMINDER_TEMPLATE: FakeTemplate(variables=3, verification=False)},
    ).start()
    yield server
    server.stop()


def tencent_settings(fake: FakeTencentSms, **overrides: Any) -> dict[str, Any]:
    """Complete ``FULIAN_TENCENT_SMS_*`` settings for ``fake``; ``overrides`` by the
    part after the prefix (``SIGN_NAME=""``)."""
    settings = {
        "SECRET_ID": SECRET_ID, "SECRET_KEY": SECRET_KEY, "SDK_APP_ID": SDK_APP_ID,
        "SIGN_NAME": SIGN_NAME,
        "TEMPLATES": f"login_code={LOGIN_TEMPLATE}:code,minutes;"
                     f"booking_reminder={REMINDER_TEMPLATE}:store,time,name",
        "ENDPOINT": fake.endpoint, "SCHEME": "http", **overrides,
    }
    return {f"FULIAN_TENCENT_SMS_{name}": value for name, value in settings.items()}


def login_sms(code: str = "123456", phone: str = PHONE) -> OutgoingSms:
    """The message the core's login-code service hands to the provider."""
    return OutgoingSms(phone=phone, purpose="login_code",
                       params={"code": code, "minutes": "5"},
                       text=f"Your login code is {code} (valid for 5 minutes).",
                       secret=("code",))
