"""A local stand-in for the Tencent Cloud SMS API (``SendSms``, version 2021-01-11).

A real HTTP server on 127.0.0.1 (werkzeug, in a thread, on a free port) that checks a
request the way the service does, so the plugin is tested through the unmodified SDK:

* TC3-HMAC-SHA256, recomputed from the request as received, following Tencent's
  "签名方法 v3" document: the canonical request (method, URI ``/``, query string, the
  signed headers lower-cased, trimmed and sorted, the signed header names, the SHA-256
  of the body), the string to sign (algorithm, ``X-TC-Timestamp``, credential scope,
  hash of the canonical request) and the key derived from ``"TC3" + SecretKey``, the
  date and the service. ``content-type`` and ``host`` must be signed, the credential
  date must be the UTC date of the timestamp and the service ``sms``; a timestamp more
  than five minutes off the server's clock is ``AuthFailure.SignatureExpire``.
* the action, version and region; the SMS application (``SmsSdkAppId``), the approved
  signature, the template and its number of variables (verification-code templates take
  0-6 digit variables only), the phone number's format.

Errors have the service's shape (``{"Response": {"Error": {"Code", "Message"},
"RequestId"}}``), per-number refusals come in ``SendStatusSet`` with their ``Code``, and
HTTP status is 200 either way, as on the real service. Accepted messages are kept in
:attr:`FakeTencentSms.sent`, so tests read the code that was "sent".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

ALGORITHM = "TC3-HMAC-SHA256"
SERVICE = "sms"
VERSION = "2021-01-11"
REGIONS = ("ap-guangzhou", "ap-beijing", "ap-nanjing")
MAX_SKEW_SECONDS = 5 * 60
_AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/]+)/(?P<date>[^/]+)/(?P<service>[^/]+)"
    r"/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]+)")
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_CN_MOBILE = re.compile(r"\+861[3-9]\d{9}")
_CODE_VALUE = re.compile(r"\d{0,6}")


def tc3_signature(secret_key: str, *, method: str, query: str, headers: dict[str, str],
                  signed_headers: list[str], body: bytes, timestamp: str, date: str,
                  service: str) -> str:
    """The TC3-HMAC-SHA256 signature of a request, step by step as Tencent documents it
    (written from the document, not taken from the SDK, so that the two check each
    other). ``headers`` are the request's, by lower-case name."""
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip().lower()}\n"
                                for name in signed_headers)
    canonical_request = "\n".join([method, "/", query, canonical_headers,
                                   ";".join(signed_headers),
                                   hashlib.sha256(body).hexdigest()])
    string_to_sign = "\n".join([ALGORITHM, timestamp, f"{date}/{service}/tc3_request",
                                hashlib.sha256(canonical_request.encode()).hexdigest()])

    def sign(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    signing_key = sign(sign(sign(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class FakeTemplate:
    """An approved template: how many variables it has; verification-code templates
    accept only 0-6 digit values (Tencent's rule)."""

    variables: int
    verification: bool = True


@dataclass(frozen=True)
class SentSms:
    """A message the fake accepted."""

    phone: str
    sdk_app_id: str
    sign_name: str
    template_id: str
    params: list[str]
    serial_no: str
    region: str


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code, self.message = code, message


@dataclass
class FakeTencentSms:
    """The fake service for one account: its API key, SMS application, approved
    signatures and templates. ``clock`` is the server's time (tests move it instead of
    sleeping); :meth:`fail_number` makes the service refuse a number."""

    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_names: tuple[str, ...]
    templates: dict[str, FakeTemplate]
    clock: Callable[[], float] = time.time
    sent: list[SentSms] = field(default_factory=list)
    #: every request's outcome: ``Ok``, a per-number code or an error code
    outcomes: list[str] = field(default_factory=list)
    #: the raw requests received, for replaying them altered
    received: list[dict[str, Any]] = field(default_factory=list)
    _failures: dict[str, tuple[str, str]] = field(default_factory=dict)
    _server: Any = None
    _thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> FakeTencentSms:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        # a short poll interval: shutdown() waits for one, after every test
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    @property
    def endpoint(self) -> str:
        """``host:port``, what ``FULIAN_TENCENT_SMS_ENDPOINT`` points at."""
        return f"127.0.0.1:{self._server.server_port}"

    def fail_number(self, phone: str, code: str, message: str) -> None:
        """Refuse messages to ``phone`` with a per-number ``code`` (e.g.
        ``LimitExceeded.PhoneNumberDailyLimit``), as the service does."""
        self._failures[phone] = (code, message)

    def params_sent_to(self, phone: str) -> list[str]:
        """The ``TemplateParamSet`` of the last message accepted for ``phone``."""
        found = [m for m in self.sent if m.phone == phone]
        assert found, f"nothing was sent to {phone}"
        return found[-1].params

    # ------------------------------------------------------------------ the API
    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        self.received.append({"headers": {k.lower(): v for k, v in request.headers.items()},
                              "body": body, "query": request.query_string.decode()})
        request_id = str(uuid.uuid4())
        try:
            answer = self._answer(request, body)
            self.outcomes.append(answer["SendStatusSet"][0]["Code"])
        except _Refused as refused:
            self.outcomes.append(refused.code)
            answer = {"Error": {"Code": refused.code, "Message": refused.message}}
        answer["RequestId"] = request_id
        response = Response(json.dumps({"Response": answer}), status=200,
                            content_type="application/json")
        return response(environ, start_response)

    def _answer(self, request: Request, body: bytes) -> dict[str, Any]:
        headers = {k.lower(): v for k, v in request.headers.items()}
        self._authenticate(request, headers, body)
        if headers.get("x-tc-action") != "SendSms":
            raise _Refused("InvalidAction", "The requested action does not exist.")
        if headers.get("x-tc-version") != VERSION:
            raise _Refused("NoSuchVersion", "The requested API version does not exist.")
        if headers.get("x-tc-region") not in REGIONS:
            raise _Refused("UnsupportedRegion", "The API does not support this region.")
        try:
            params = json.loads(body)
        except ValueError:
            raise _Refused("FailedOperation.JsonParseFail", "Failed to parse the JSON "
                           "body.") from None
        for name in ("PhoneNumberSet", "SmsSdkAppId", "TemplateId"):
            if not params.get(name):
                raise _Refused("MissingParameter", f"The request is missing a required "
                               f"parameter `{name}`.")
        if params["SmsSdkAppId"] != self.sdk_app_id:
            raise _Refused("UnauthorizedOperation.SmsSdkAppIdVerifyFail",
                           "SmsSdkAppId verification failed.")
        return {"SendStatusSet": [self._send_one(phone, params, headers["x-tc-region"])
                                  for phone in params["PhoneNumberSet"]]}

    def _authenticate(self, request: Request, headers: dict[str, str], body: bytes) -> None:
        found = _AUTHORIZATION.fullmatch(headers.get("authorization", ""))
        signed = found["signed"].split(";") if found else []
        if (found is None or request.method != "POST" or request.path != "/"
                or found["service"] != SERVICE or signed != sorted(set(signed))
                or not {"content-type", "host"} <= set(signed)):
            raise _Refused("AuthFailure.InvalidAuthorization", "Authorization in the "
                           "request header is invalid.")
        timestamp = headers.get("x-tc-timestamp", "")
        if not timestamp.isdigit():
            raise _Refused("MissingParameter", "The request is missing a required "
                           "parameter `Timestamp`.")
        if abs(self.clock() - int(timestamp)) > MAX_SKEW_SECONDS:
            raise _Refused("AuthFailure.SignatureExpire", "Signature expired. Timestamp "
                           "and server time cannot differ by more than five minutes.")
        if found["secret_id"] != self.secret_id:
            raise _Refused("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        expected = tc3_signature(self.secret_key, method=request.method,
                                 query=request.query_string.decode(), headers=headers,
                                 signed_headers=signed, body=body, timestamp=timestamp,
                                 date=found["date"], service=found["service"])
        utc_date = datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d")
        if found["date"] != utc_date or not hmac.compare_digest(expected,
                                                                 found["signature"]):
            raise _Refused("AuthFailure.SignatureFailure", "The provided credentials "
                           "could not be validated. Please check your signature is "
                           "correct.")

    def _send_one(self, phone: str, params: dict[str, Any], region: str) -> dict[str, Any]:
        values = [str(v) for v in params.get("TemplateParamSet") or []]
        template = self.templates.get(str(params["TemplateId"]))
        if not _E164.fullmatch(phone):
            code, message = ("InvalidParameterValue.IncorrectPhoneNumber",
                             "incorrect phone number")
        elif not _CN_MOBILE.fullmatch(phone):
            code, message = ("UnsupportedOperation.ChineseMainlandTemplateToGlobalPhone",
                             "a Chinese mainland template cannot be sent to this number")
        elif params.get("SignName") not in self.sign_names:
            code, message = ("FailedOperation.SignatureIncorrectOrUnapproved",
                             "signature format error or signature not approved")
        elif template is None:
            code, message = ("FailedOperation.TemplateIncorrectOrUnapproved",
                             "template format error or template not approved")
        elif len(values) != template.variables:
            code, message = ("FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
                             "the template parameters do not match the approved template")
        elif template.verification and not all(_CODE_VALUE.fullmatch(v) for v in values):
            code, message = ("InvalidParameterValue.TemplateParameterFormatError",
                             "verification code template parameter format error")
        else:
            code, message = self._failures.get(phone, ("Ok", "send success"))
        serial = f"5000:{uuid.uuid4().int % 10**28:028d}" if code == "Ok" else ""
        if code == "Ok":
            self.sent.append(SentSms(phone=phone, sdk_app_id=params["SmsSdkAppId"],
                                     sign_name=params["SignName"],
                                     template_id=str(params["TemplateId"]), params=values,
                                     serial_no=serial, region=region))
        return {"SerialNo": serial, "PhoneNumber": phone, "Fee": 1 if code == "Ok" else 0,
                "SessionContext": str(params.get("SessionContext") or ""), "Code": code,
                "Message": message, "IsoCode": "CN" if phone.startswith("+86") else "DEF"}
