"""WeChat Pay API v3 as a core payment provider (direct merchant mode).

The core owns the money (see :mod:`core.sdk.payments`); this class only speaks
WeChat Pay through ``wechatpayv3`` (bent to our needs in :mod:`.client`):

- **start** places a prepay order for the channel that fits the device — Native (a QR
  code on a desktop, or inside WeChat without an openid: long-press to pay), H5 (a
  phone's browser, sent on to WeChat's cashier at ``wx.tenpay.com`` and back to our pay
  page) or JSAPI (inside WeChat with the payer's openid: parameters signed with the
  merchant key for ``WeixinJSBridge``).
- **verify** checks a notification's RSA signature with the platform certificate or
  WeChat Pay public key, decrypts its AES-256-GCM resource with the APIv3 key and
  checks it is about our merchant and app. The library does not look at the
  timestamp: the core enforces ±5 minutes on the signed ``Wechatpay-Timestamp`` and a
  never-seen ``Wechatpay-Nonce``, which is why exactly those values are returned.
- **query**, **refund**, **query_refund** and **statement** (the day's trade bill)
  follow WeChat's API; anything unreachable or untrustworthy is a
  :class:`~core.sdk.payments.ProviderError` for the caller to retry.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
import secrets
import time
import zlib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from wechatpayv3 import WeChatPayType

from core.sdk.payments import (
    CallbackRejected,
    Checkout,
    Notice,
    PayContext,
    PaymentProvider,
    ProviderError,
    RefundResult,
    StatementLine,
    notify_url,
)

from . import bill, notices
from .client import client
from .settings import load, problems

log = logging.getLogger(__name__)
CODE = "wechatpay"
CURRENCY = "CNY"
CHINA = ZoneInfo("Asia/Shanghai")
#: how long a prepay order can be paid
PAY_WINDOW = timedelta(minutes=30)
WECHAT_BROWSER = "MicroMessenger"
PAY_TYPES = {"jsapi": WeChatPayType.JSAPI, "h5": WeChatPayType.H5,
             "native": WeChatPayType.NATIVE}
#: WeChat's documented acknowledgement; anything else makes it retry
ACK = json.dumps({"code": "SUCCESS", "message": "成功"}, ensure_ascii=False)
SIGNED_HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature",
                  "Wechatpay-Serial", "Wechatpay-Signature-Type")
TIMESTAMP = re.compile(r"[0-9]{1,12}")
NONCE = re.compile(r"[!-~]{1,64}")
#: a platform certificate's hex serial, or a public key id (PUB_KEY_ID_...)
SERIAL = re.compile(r"[0-9A-Fa-f]{1,64}|PUB_KEY_ID_[0-9A-Za-z_]{1,64}")
UNREACHABLE = _l("WeChat Pay cannot be reached at the moment. Please try again.")


def _call(action: str, call: Callable[..., tuple[int, Any]], *args: Any,
          **kwargs: Any) -> tuple[int, Any]:
    """One request through the library: ``(status, body)``, or :class:`ProviderError`
    when WeChat Pay cannot be reached or its answer's signature does not verify."""
    try:
        return call(*args, **kwargs)
    except Exception as exc:  # network errors, bad signatures, the library's own checks
        log.warning("WeChat Pay %s failed: %s: %s", action, type(exc).__name__,
                    str(exc)[:200])
        raise ProviderError(UNREACHABLE) from exc


def _json(raw: Any) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw else {}
    except (ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _ok(status: int) -> bool:
    return 200 <= status < 300


def _refused(action: str, status: int, data: dict[str, Any]) -> str:
    """Log WeChat's error answer (its code and message, nothing of ours); the code."""
    code = str(data.get("code") or status)[:40]
    log.warning("WeChat Pay %s answered %s %s: %s", action, status, code,
                str(data.get("message") or "")[:200])
    return code


def _expires(context: PayContext) -> str:
    """RFC 3339 in China time, e.g. ``2026-12-01T10:34:56+08:00``: the core's limit
    (a deposit hold ends sooner), else :data:`PAY_WINDOW` from now."""
    limit = context.expires_at or datetime.now(CHINA) + PAY_WINDOW
    return limit.astimezone(CHINA).isoformat(timespec="seconds")


def _path(url: str) -> str:
    """The path and query of a URL WeChat gave us: the request goes to our gateway."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class WeChatPayProvider(PaymentProvider):
    code = CODE
    label = _l("WeChat Pay")
    channels = ("jsapi", "h5", "native")
    origins = ("https://wx.tenpay.com",)

    def readiness(self) -> list[Any]:
        return problems(load())

    def choose_channel(self, user_agent: str, wanted: str | None = None,
                       payer: str | None = None) -> str:
        """JSAPI inside WeChat's browser when the payer's openid is known (else Native:
        WeChat lets the payer long-press the QR code), H5 on phones, Native (QR code) on
        desktops."""
        if wanted in self.channels:
            return str(wanted)
        if WECHAT_BROWSER in user_agent:
            return "jsapi" if payer else "native"
        mobile = any(word in user_agent for word in ("Mobile", "Android", "iPhone"))
        return "h5" if mobile else "native"

    # -- paying ------------------------------------------------------------------------
    def start(self, payment: Any, context: PayContext) -> Checkout:
        if payment.order.currency != CURRENCY:
            raise ProviderError(_l("WeChat Pay takes payments in CNY only."))
        channel = context.channel if context.channel in PAY_TYPES else "native"
        openid = context.openid or payment.payer
        if channel == "jsapi" and not openid:
            channel = "native"  # WeChat's browser lets the payer long-press the QR code
        scene: dict[str, Any] = {}
        if context.client_ip:
            scene["payer_client_ip"] = context.client_ip
        if channel == "h5":
            scene["h5_info"] = {"type": "Wap"}
        pay, settings = client()
        status, raw = _call(
            "prepay", pay.pay, description=context.description or str(_l("Payment")),
            out_trade_no=payment.external_ref,
            amount={"total": payment.amount, "currency": CURRENCY},
            payer={"openid": openid} if channel == "jsapi" else None,
            time_expire=_expires(context), scene_info=scene or None,
            notify_url=context.notify_url, pay_type=PAY_TYPES[channel])
        data = _json(raw)
        if not _ok(status):
            code = _refused("prepay", status, data)
            raise ProviderError(_l("WeChat Pay could not start the payment (%(code)s). "
                                   "Please try again or choose another way to pay.",
                                   code=code))
        answer = {"native": "code_url", "h5": "h5_url", "jsapi": "prepay_id"}[channel]
        value = data.get(answer)
        if not isinstance(value, str) or not value:
            log.warning("WeChat Pay prepay answer without %s", answer)
            raise ProviderError(UNREACHABLE)
        if channel == "native":
            return Checkout(channel="native", qr_text=value)
        if channel == "h5":
            back = quote(context.return_url, safe="")
            joiner = "&" if "?" in value else "?"
            return Checkout(channel="h5", redirect_url=f"{value}{joiner}redirect_url={back}")
        return Checkout(channel="jsapi", params=self._bridge(pay, settings.appid, value))

    @staticmethod
    def _bridge(pay: Any, appid: str, prepay_id: str) -> dict[str, str]:
        """The parameters of ``getBrandWCPayRequest`` / ``wx.requestPayment``, signed
        with the merchant key over ``appId\\ntimeStamp\\nnonceStr\\npackage\\n``."""
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        return {"appId": appid, "timeStamp": timestamp, "nonceStr": nonce,
                "package": package, "signType": "RSA",
                "paySign": pay.sign([appid, timestamp, nonce, package])}

    # -- notifications -----------------------------------------------------------------
    def verify(self, body: bytes, headers: Any) -> Notice:
        signed = {name: str(headers.get(name) or "") for name in SIGNED_HEADERS}
        timestamp, nonce = signed["Wechatpay-Timestamp"], signed["Wechatpay-Nonce"]
        if not TIMESTAMP.fullmatch(timestamp) or not NONCE.fullmatch(nonce) or \
                not SERIAL.fullmatch(signed["Wechatpay-Serial"]) or \
                not signed["Wechatpay-Signature"]:
            raise CallbackRejected("missing or malformed Wechatpay-* headers")
        try:
            pay, settings = client()
        except ProviderError as exc:
            raise CallbackRejected("WeChat Pay client unavailable") from exc
        try:
            # the exact header values the signature covers are the ones returned below
            event = pay.callback(signed, body)
        except Exception as exc:  # unknown algorithm, bad serial, not JSON, not UTF-8
            raise CallbackRejected(f"unverifiable: {type(exc).__name__}") from exc
        if not isinstance(event, dict):
            raise CallbackRejected("bad signature, or resource not decryptable")
        try:
            return notices.from_notification(event, settings, timestamp=int(timestamp),
                                             nonce=nonce)
        except notices.Malformed as exc:
            raise CallbackRejected(str(exc)) from exc

    def acknowledge(self, outcome: str) -> tuple[str, int, str]:
        return ACK, 200, "application/json"

    # -- asking ------------------------------------------------------------------------
    def query(self, payment: Any) -> Notice | None:
        pay, settings = client()
        status, raw = _call("order query", pay.query, out_trade_no=payment.external_ref)
        data = _json(raw)
        if status == 404 and data.get("code") == "ORDER_NOT_EXIST":
            # not placed at WeChat (yet): the customer never reached the pay page
            return Notice(kind="payment", ref=payment.external_ref, amount=payment.amount,
                          status="pending")
        if not _ok(status):
            _refused("order query", status, data)
            raise ProviderError(UNREACHABLE)
        try:
            return notices.from_order(data, settings, payment.external_ref, payment.amount)
        except notices.Malformed as exc:
            log.error("WeChat Pay order query answer refused: %s", exc)
            raise ProviderError(UNREACHABLE) from exc

    def close(self, payment: Any) -> None:
        """Close the order at WeChat Pay, so a payment we gave up on cannot be paid."""
        pay, _settings = client()
        status, raw = _call("close", pay.close, out_trade_no=payment.external_ref)
        if not _ok(status):
            _refused("close", status, _json(raw))

    def refund(self, refund: Any, payment: Any) -> RefundResult:
        pay, _settings = client()
        status, raw = _call(
            "refund", pay.refund, out_refund_no=refund.external_ref,
            amount={"refund": refund.amount, "total": payment.amount,
                    "currency": CURRENCY},
            out_trade_no=payment.external_ref,
            reason=(refund.reason or "").strip()[:80] or None, notify_url=notify_url(CODE))
        data = _json(raw)
        if _ok(status):
            return self._refund_result(data, refund.external_ref)
        code = _refused("refund", status, data)
        if status == 429 or status >= 500:
            raise ProviderError(UNREACHABLE)  # the job tries again
        message = str(data.get("message") or "")
        return RefundResult("failed", reason=f"{code}: {message}"[:200])

    def query_refund(self, refund: Any, payment: Any) -> RefundResult:
        pay, _settings = client()
        status, raw = _call("refund query", pay.query_refund,
                            out_refund_no=refund.external_ref)
        data = _json(raw)
        if status == 404 and data.get("code") == "RESOURCE_NOT_EXISTS":
            return RefundResult("unknown")
        if not _ok(status):
            _refused("refund query", status, data)
            raise ProviderError(UNREACHABLE)
        return self._refund_result(data, refund.external_ref)

    @staticmethod
    def _refund_result(data: dict[str, Any], ref: str) -> RefundResult:
        try:
            return notices.refund_result(data, ref)
        except notices.Malformed as exc:
            log.error("WeChat Pay refund answer refused: %s", exc)
            raise ProviderError(UNREACHABLE) from exc

    # -- reconciliation ----------------------------------------------------------------
    def statement(self, day: date) -> list[StatementLine]:
        """The payments and refunds of ``day`` (China time) on WeChat's trade bill;
        empty when WeChat has no bill for a day without transactions."""
        pay, _settings = client()
        status, raw = _call("trade bill", pay.trade_bill, day.isoformat(), "ALL", "GZIP")
        data = _json(raw)
        if status == 400 and data.get("code") == "NO_STATEMENT_EXIST":
            return []
        url = data.get("download_url")
        if not _ok(status) or not isinstance(url, str):
            _refused("trade bill", status, data)
            raise ProviderError(UNREACHABLE)
        status, content = _call("bill download", pay.download_bill, _path(url))
        if not _ok(status) or not isinstance(content, bytes):
            _refused("bill download", status, _json(content))
            raise ProviderError(UNREACHABLE)
        try:
            text = gzip.decompress(content)
            if data.get("hash_type") != "SHA1" or \
                    hashlib.sha1(text).hexdigest() != str(data.get("hash_value")).lower():
                raise bill.BillError("the bill does not match its hash")
            return bill.parse(text.decode("utf-8-sig"))
        except (OSError, EOFError, zlib.error, UnicodeDecodeError, bill.BillError) as exc:
            log.error("WeChat Pay bill of %s refused: %s", day, exc)
            raise ProviderError(_l("WeChat Pay's bill of %(day)s cannot be read.",
                                   day=day.isoformat())) from exc
