"""Sending through Tencent Cloud SMS (腾讯云短信) with the official SDK.

Tencent sends only approved templates: a message is the ``SendSms`` action (API version
2021-01-11) with the approved signature (``SignName``), the template id configured for
the message's purpose and the template's variables as a list, in the order the template
declares them (``{1}``, ``{2}`` ...). ``FULIAN_TENCENT_SMS_TEMPLATES`` says both:
``login_code=1234567:code,minutes;booking_reminder=2345678:store,time``.

Settings are read from the app config at every send (a changed key applies at once) and
the SDK client is built per message: it costs no network round trip, and messages are
few. A refusal (bad key, a number over its daily limit, a template mismatch ...) or an
unreachable service raises :class:`core.sdk.services.SmsError` with a generic translated message
for the user and Tencent's code and message as ``detail`` for the outbox and the log.
The params the message names ``secret`` (the login code) are never logged: not here, not
by the SDK (see :class:`_NoRequestBodies`), and they are masked in ``detail``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
    TencentCloudSDKException,
)
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111.models import SendSmsRequest
from tencentcloud.sms.v20210111.sms_client import SmsClient

from core.sdk.services import MASK, OutgoingSms, SmsError, SmsProvider, SmsReceipt

log = logging.getLogger(__name__)

DEFAULT_REGION = "ap-guangzhou"
DEFAULT_ENDPOINT = "sms.tencentcloudapi.com"
DEFAULT_SCHEME = "https"
#: seconds to wait for Tencent: the customer is waiting for the page to answer
TIMEOUT_SECONDS = 10
#: variable order of a purpose's template when the setting gives none (the core's
#: login message is "code {1}, valid for {2} minutes")
DEFAULT_PARAMS: dict[str, tuple[str, ...]] = {"login_code": ("code", "minutes")}
LOGIN_PURPOSE = "login_code"

_ENTRY = re.compile(r"(?P<purpose>[a-z][a-z0-9_]*)\s*=\s*(?P<template>\d+)"
                    r"(?:\s*:(?P<params>[^:]*))?")
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _NoRequestBodies(logging.Filter):
    """Drop the SDK's ``SendRequest`` debug records: they carry the whole request body,
    template parameters included, so a deployment logging at DEBUG would write every
    login code to its logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("SendRequest")


logging.getLogger("tencentcloud_sdk_common").addFilter(_NoRequestBodies())


class TemplatesUnreadable(ValueError):
    """``FULIAN_TENCENT_SMS_TEMPLATES`` has an entry that is not
    ``purpose=template id[:param,param...]``; ``entry`` is the first such entry."""

    def __init__(self, entry: str) -> None:
        super().__init__(entry)
        self.entry = entry


@dataclass(frozen=True)
class Template:
    """An approved template: its id and the message params filling ``{1}``, ``{2}`` ...
    in that order (``None``: the order of the message's own params)."""

    id: str
    params: tuple[str, ...] | None


def parse_templates(value: str) -> dict[str, Template]:
    """Read ``purpose=template id[:param,param...]`` entries separated by ``;``.

    Without ``:params`` a purpose gets its default order (:data:`DEFAULT_PARAMS`), or
    the order of the message's params; ``purpose=id:`` is a template without variables.
    Raises :class:`TemplatesUnreadable` naming the first bad entry: a typo must stop
    the deployment at start-up, not lose a customer's code later."""
    templates: dict[str, Template] = {}
    for raw in value.split(";"):
        entry = raw.strip()
        if not entry:
            continue
        found = _ENTRY.fullmatch(entry)
        if found is None or found["purpose"] in templates:
            raise TemplatesUnreadable(entry)
        purpose, listed = found["purpose"], found["params"]
        if listed is None:
            params = DEFAULT_PARAMS.get(purpose)
        else:
            params = tuple(p.strip() for p in listed.split(",") if p.strip())
            if not all(_PARAM.fullmatch(p) for p in params):
                raise TemplatesUnreadable(entry)
        templates[purpose] = Template(id=found["template"], params=params)
    return templates


@dataclass(frozen=True)
class Settings:
    """The ``FULIAN_TENCENT_SMS_*`` settings, trimmed (the SDK refuses keys with
    surrounding spaces, which copying from the console easily adds)."""

    secret_id: str
    secret_key: str
    sdk_app_id: str
    sign_name: str
    templates: str
    region: str
    endpoint: str
    scheme: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        def get(name: str, default: str = "") -> str:
            return str(config.get(f"FULIAN_TENCENT_SMS_{name}") or "").strip() or default

        return cls(secret_id=get("SECRET_ID"), secret_key=get("SECRET_KEY"),
                   sdk_app_id=get("SDK_APP_ID"), sign_name=get("SIGN_NAME"),
                   templates=get("TEMPLATES"), region=get("REGION", DEFAULT_REGION),
                   endpoint=get("ENDPOINT", DEFAULT_ENDPOINT),
                   scheme=get("SCHEME", DEFAULT_SCHEME).lower())


def template_params(template: Template, message: OutgoingSms) -> list[str]:
    """The message's params in the template's order (``TemplateParamSet``); raises
    :class:`SmsError` when the message lacks one, rather than sending a wrong text."""
    names = template.params if template.params is not None else tuple(message.params)
    missing = [name for name in names if name not in message.params]
    if missing:
        raise _failure(f"template {template.id} needs params {', '.join(missing)} that "
                       f"the {message.purpose} message does not have")
    return [str(message.params[name]) for name in names]


def _failure(detail: str) -> SmsError:
    return SmsError(_l("The text message could not be sent; please try again in a "
                       "moment."), detail=detail)


def _reason(code: str | None, message: Any, request_id: str | None) -> str:
    """Tencent's code and message, and the RequestId its support asks for."""
    return f"{code}: {message}" + (f" (RequestId {request_id})" if request_id else "")


def _masked(text: str, message: OutgoingSms) -> str:
    """``text`` without the message's secret values: Tencent's messages are stored in
    the outbox and logged, and must not be able to echo a login code there."""
    for name in message.secret:
        value = message.params.get(name)
        if value:
            text = text.replace(str(value), MASK)
    return text


def _client(settings: Settings) -> SmsClient:
    http = HttpProfile(protocol=settings.scheme, endpoint=settings.endpoint,
                       reqTimeout=TIMEOUT_SECONDS)
    return SmsClient(Credential(settings.secret_id, settings.secret_key), settings.region,
                     ClientProfile(httpProfile=http))


class TencentSmsProvider(SmsProvider):
    """``FULIAN_SMS_PROVIDER=tencent``: login codes and notifications through Tencent
    Cloud SMS."""

    code = "tencent"
    label = _l("Tencent Cloud SMS")

    def readiness(self) -> list[Any]:
        """What keeps the deployment from sending: the API key, the SMS application,
        the approved signature and a readable template list with a login template."""
        settings = Settings.from_config(current_app.config)
        required = (
            (settings.secret_id, _l("The Tencent Cloud SecretId is missing "
                                    "(FULIAN_TENCENT_SMS_SECRET_ID).")),
            (settings.secret_key, _l("The Tencent Cloud SecretKey is missing "
                                     "(FULIAN_TENCENT_SMS_SECRET_KEY).")),
            (settings.sdk_app_id, _l("The SMS application's SdkAppId is missing "
                                     "(FULIAN_TENCENT_SMS_SDK_APP_ID).")),
            (settings.sign_name, _l("The approved SMS signature is missing "
                                    "(FULIAN_TENCENT_SMS_SIGN_NAME).")),
        )
        problems = [problem for value, problem in required if not value]
        if settings.scheme not in ("https", "http"):
            problems.append(_l("FULIAN_TENCENT_SMS_SCHEME must be https or http, not "
                               "%(scheme)s.", scheme=settings.scheme))
        try:
            templates = parse_templates(settings.templates)
        except TemplatesUnreadable as exc:
            problems.append(_l("FULIAN_TENCENT_SMS_TEMPLATES cannot be read at "
                               "\"%(entry)s\": write purpose=template id:param,param and "
                               "separate several with \";\".", entry=exc.entry))
        else:
            if LOGIN_PURPOSE not in templates:
                problems.append(_l("No template for login codes: add login_code=<template "
                                   "id> to FULIAN_TENCENT_SMS_TEMPLATES."))
        return problems

    def send(self, message: OutgoingSms) -> SmsReceipt:
        """Send ``message`` to its one number; the receipt holds Tencent's SerialNo."""
        settings = Settings.from_config(current_app.config)
        try:
            template = parse_templates(settings.templates).get(message.purpose)
        except TemplatesUnreadable as exc:
            raise _failure(f"FULIAN_TENCENT_SMS_TEMPLATES cannot be read at {exc.entry!r}"
                           ) from None
        if template is None:
            raise _failure(f"no template for purpose {message.purpose!r} in "
                           f"FULIAN_TENCENT_SMS_TEMPLATES")
        request = SendSmsRequest()
        request.PhoneNumberSet = [message.phone]
        request.SmsSdkAppId = settings.sdk_app_id
        request.SignName = settings.sign_name
        request.TemplateId = template.id
        request.TemplateParamSet = template_params(template, message)
        try:
            answer = _client(settings).SendSms(request)
        except TencentCloudSDKException as exc:
            # ``from None``: a logged traceback would carry the unmasked SDK message
            raise _failure(_masked(_reason(exc.code, exc.message, exc.requestId), message)
                           ) from None
        status = next(iter(answer.SendStatusSet or []), None)
        if status is None:
            raise _failure(_reason("NoSendStatus", "the answer has no SendStatusSet",
                                   answer.RequestId))
        if status.Code != "Ok":
            raise _failure(_masked(_reason(status.Code, status.Message, answer.RequestId),
                                   message))
        log.info("Tencent SMS %s to ...%s accepted: %s", message.purpose, message.phone[-4:],
                 status.SerialNo)
        return SmsReceipt(provider_ref=status.SerialNo)
