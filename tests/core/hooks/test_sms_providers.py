"""fulian_sms_providers, through the login-code API: the provider chosen by
``FULIAN_SMS_PROVIDER`` sends the code, and the code logs the customer in."""

from __future__ import annotations

from typing import Any

from core.extensions import db
from core.models import SmsMessage
from core.plugins import PluginMeta, hookimpl
from core.sms import OutgoingSms, SmsProvider, SmsReceipt


class HookSms(SmsProvider):
    code = "hooksms"
    label = "Hook SMS"

    def __init__(self) -> None:
        self.sent: list[OutgoingSms] = []

    def send(self, message: OutgoingSms) -> SmsReceipt:
        self.sent.append(message)
        return SmsReceipt(provider_ref=f"H{len(self.sent)}")


class HookSmsPlugin:
    meta = PluginMeta(name="hooksms", title="Hook SMS", version="1.0")

    def __init__(self) -> None:
        self.provider = HookSms()

    @hookimpl
    def fulian_sms_providers(self) -> list[Any]:
        return [self.provider]


def test_hook_fulian_sms_providers(started_with: Any) -> None:
    plugin = HookSmsPlugin()
    app = started_with("hooksms", extra=(plugin,), FULIAN_SMS_PROVIDER="hooksms")
    client = app.test_client()
    asked = client.post("/api/v1/auth/sms-code", json={"phone": "13800138000"})
    assert asked.status_code == 202, asked.json
    [message] = plugin.provider.sent
    assert (message.phone, message.purpose) == ("+8613800138000", "login_code")
    token = client.post("/api/v1/auth/token", json={"phone": "13800138000",
                                                    "code": message.params["code"]})
    assert token.status_code == 201, token.json
    with app.app_context():
        row = db.session.query(SmsMessage).one()
        assert (row.provider, row.status, row.provider_ref) == ("hooksms", "sent", "H1")
        assert message.params["code"] not in row.text  # only the dev provider keeps it
