"""The fake is only worth its tests if it checks what Tencent checks: its signature
matches Tencent's published example, and a request the SDK signed is refused as soon as
any signed part of it changes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from flask import Flask

from plugins.tencent_sms.provider import TencentSmsProvider
from tests.plugins.tencent_sms.conftest import SECRET_KEY, login_sms, tencent_settings
from tests.plugins.tencent_sms.fake_tencent import FakeTencentSms, tc3_signature


def test_signature_matches_tencents_documented_example() -> None:
    """The worked example of Tencent Cloud API 3.0 "签名方法 v3" (CVM DescribeInstances,
    timestamp 1551113065): its published Authorization has this Signature."""
    body = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], ' \
           b'"Name": "instance-name"}]}'
    assert tc3_signature(
        "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", method="POST", query="",
        headers={"content-type": "application/json; charset=utf-8",
                 "host": "cvm.tencentcloudapi.com"},
        signed_headers=["content-type", "host"], body=body, timestamp="1551113065",
        date="2019-02-25", service="cvm",
    ) == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def _signed_by_the_sdk(fake: FakeTencentSms) -> dict[str, Any]:
    app = Flask(__name__)
    app.config.update(tencent_settings(fake))
    with app.app_context():
        TencentSmsProvider().send(login_sms())
    return fake.received[-1]


def _replay(fake: FakeTencentSms, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    answer = requests.post(f"http://{fake.endpoint}/", data=body, headers=headers,
                           timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    return answer.json()["Response"]


def _with_body_code(body: bytes, code: str) -> bytes:
    params = json.loads(body)
    params["TemplateParamSet"][0] = code
    return json.dumps(params).encode()


@pytest.mark.parametrize(("change", "code"), [
    (lambda h, b: (h, b), "Ok"),  # an unchanged replay within five minutes is accepted
    (lambda h, b: (h, _with_body_code(b, "000000")), "AuthFailure.SignatureFailure"),
    (lambda h, b: ({**h, "host": "sms.tencentcloudapi.com"}, b),
     "AuthFailure.SignatureFailure"),
    (lambda h, b: ({**h, "content-type": "application/json; charset=utf-8"}, b),
     "AuthFailure.SignatureFailure"),
    (lambda h, b: ({**h, "x-tc-timestamp": str(int(h["x-tc-timestamp"]) + 1)}, b),
     "AuthFailure.SignatureFailure"),
    (lambda h, b: ({**h, "authorization": h["authorization"].replace(
        "/tc3_request", "x/tc3_request")}, b), "AuthFailure.InvalidAuthorization"),
    (lambda h, b: ({**h, "authorization": h["authorization"].replace(
        "SignedHeaders=content-type;host", "SignedHeaders=content-type")}, b),
     "AuthFailure.InvalidAuthorization"),
    (lambda h, b: ({**h, "x-tc-action": "SendSmsAgain"}, b), "InvalidAction"),
    (lambda h, b: ({**h, "x-tc-version": "2019-07-11"}, b), "NoSuchVersion"),
], ids=["replay", "body", "host", "content-type", "timestamp", "service",
        "signed-headers", "action", "version"])
def test_any_signed_change_is_refused(fake: FakeTencentSms, change: Any, code: str) -> None:
    request = _signed_by_the_sdk(fake)
    headers = {name: value for name, value in request["headers"].items()
               if name.startswith("x-tc-") or name in ("authorization", "content-type",
                                                        "host")}
    headers, body = change(headers, request["body"])
    answer = _replay(fake, headers, body)
    if code == "Ok":
        assert answer["SendStatusSet"][0]["Code"] == "Ok"
        assert len(fake.sent) == 2
    else:
        assert answer["Error"]["Code"] == code and answer["RequestId"]
        assert len(fake.sent) == 1


@pytest.mark.parametrize(("date", "code"), [(None, "Ok"),
                                           ("2019-02-26", "AuthFailure.SignatureFailure")])
def test_the_credential_date_must_be_the_timestamps_utc_date(fake: FakeTencentSms,
                                                             date: str | None,
                                                             code: str) -> None:
    """Re-signed correctly for another date, the request is still refused: the date
    must come from X-TC-Timestamp in UTC (a client signing with its Beijing date fails
    after midnight there)."""
    request = _signed_by_the_sdk(fake)
    headers = dict(request["headers"])
    credential = headers["authorization"].split("Credential=")[1].split(",")[0]
    secret_id, signed_date, service, _ = credential.split("/")
    date = date or signed_date
    signature = tc3_signature(SECRET_KEY, method="POST", query="", headers=headers,
                              signed_headers=["content-type", "host"], body=request["body"],
                              timestamp=headers["x-tc-timestamp"], date=date,
                              service=service)
    headers["authorization"] = (f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/{service}/"
                                f"tc3_request, SignedHeaders=content-type;host, "
                                f"Signature={signature}")
    answer = _replay(fake, headers, request["body"])
    assert (answer.get("SendStatusSet") or [answer.get("Error")])[0]["Code"] == code
