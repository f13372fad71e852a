"""Alipay (支付宝) as an online payment provider of the core's contract
(:class:`core.sdk.payments.PaymentProvider`), through ``python-alipay-sdk``.

* **start** signs an ``alipay.trade.wap.pay`` (phones) or ``alipay.trade.page.pay``
  (desktops) request; the customer's browser takes it to Alipay's gateway. No network
  call: the trade exists at Alipay once the customer opens it.
* **verify** reads Alipay's form-encoded notification: RSA2 signature over the sorted
  fields except ``sign`` and ``sign_type`` (Alipay's public key), our ``app_id`` (and
  seller), the exact amount and the Beijing ``notify_time`` / ``notify_id`` the core
  checks for freshness and replays. Alipay also notifies refunds (``refund_fee``,
  ``gmt_refund``: a partial refund keeps ``TRADE_SUCCESS``, a full one says
  ``TRADE_CLOSED``); refunds here complete synchronously, so such a notification is
  recognised and answered as a payment notice that changes nothing (``pending``) —
  it must not close a paid payment, and it is acknowledged so Alipay stops resending.
* **query** / **refund** / **query_refund** are ``alipay.trade.query``,
  ``alipay.trade.refund`` (idempotent by ``out_request_no`` = our refund reference) and
  ``alipay.trade.fastpay.refund.query``; the SDK verifies each answer's signature.
* **statement** is not offered (the bill download is a zip of GBK CSV files).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from http.client import HTTPException
from typing import Any

from alipay.exceptions import AliPayException, AliPayValidationError
from flask import has_app_context
from flask_babel import lazy_gettext as _l

from core.sdk.payments import (
    CallbackRejected,
    Checkout,
    Notice,
    PayContext,
    PaymentProvider,
    ProviderError,
    RefundResult,
)

from . import config
from .codec import BEIJING, TIME_FORMAT, Malformed, parse_form, to_fen, to_unix, to_yuan

log = logging.getLogger(__name__)

#: Alipay's trade states as the core's payment statuses
TRADE_STATES = {"TRADE_SUCCESS": "succeeded", "TRADE_FINISHED": "succeeded",
                "TRADE_CLOSED": "failed", "WAIT_BUYER_PAY": "pending"}
SUCCESS = "10000"
BUSINESS_FAILED = "40004"
#: 40004 answers that mean "ask again with the same parameters", not "no"
RETRY_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR"})
NOT_FOUND = "ACQ.TRADE_NOT_EXIST"
#: fields that mark a notification about a refund rather than the payment itself
REFUND_FIELDS = ("refund_fee", "gmt_refund", "out_biz_no")
PAY_TIMEOUT = "30m"


def _deadline(context: PayContext) -> dict[str, str]:
    """When Alipay stops taking the money: the core's limit as an absolute Beijing time
    (a deposit hold ends sooner than usual), else :data:`PAY_TIMEOUT` from now."""
    if context.expires_at is None:
        return {"timeout_express": PAY_TIMEOUT}
    return {"time_expire": context.expires_at.astimezone(BEIJING).strftime(TIME_FORMAT)}
_SUBJECT_FORBIDDEN = re.compile(r"[/=&]")  # characters Alipay refuses in a subject
_MAX_REF = 64  # out_trade_no, trade_no
_MAX_NONCE = 80  # what the core stores


def _reject(reason: str) -> CallbackRejected:
    return CallbackRejected(f"alipay: {reason}")


class AlipayProvider(PaymentProvider):
    code = "alipay"
    label = _l("Alipay")
    channels = ("wap", "page")

    @property
    def origins(self) -> tuple[str, ...]:  # type: ignore[override]
        """The gateway the customer's browser is sent to (a form may post there)."""
        gateway = config.settings().gateway if has_app_context() else config.DEFAULT_GATEWAY
        return (config.origin(gateway),)

    def readiness(self) -> list[Any]:
        return config.problems()

    # -- paying -----------------------------------------------------------------------
    def start(self, payment: Any, context: PayContext) -> Checkout:
        sdk = self._client()
        channel = context.channel if context.channel in self.channels else "page"
        subject = _SUBJECT_FORBIDDEN.sub(" ", context.description).strip()[:256]
        common = {"subject": subject or payment.external_ref,
                  "out_trade_no": payment.external_ref,
                  "total_amount": to_yuan(payment.amount),
                  "return_url": context.return_url, "notify_url": context.notify_url,
                  **_deadline(context)}
        if channel == "wap":
            signed = sdk.api_alipay_trade_wap_pay(quit_url=context.return_url, **common)
        else:
            signed = sdk.api_alipay_trade_page_pay(**common)
        return Checkout(channel=channel, redirect_url=f"{config.settings().gateway}?{signed}")

    def verify(self, body: bytes, headers: Any) -> Notice:
        try:
            fields = parse_form(body)
        except Malformed as exc:
            raise _reject(str(exc)) from exc
        signature = fields.pop("sign", "")
        if not signature or fields.get("sign_type") != "RSA2":
            raise _reject("unsigned, or not RSA2")
        try:
            sdk = config.client()
        except config.NotConfigured as exc:
            raise _reject("not configured") from exc
        try:
            trusted = sdk.verify(dict(fields), signature)
        except (AliPayException, ValueError):  # sign type, base64
            trusted = False
        if not trusted:
            raise _reject("bad signature")
        settings = config.settings()
        if fields.get("app_id") != settings.app_id:
            raise _reject("another application")
        if settings.seller_id and fields.get("seller_id") != settings.seller_id:
            raise _reject("another seller")
        return _notice(fields)

    def acknowledge(self, outcome: str) -> tuple[str, int, str]:
        """Alipay resends (for 25 hours) whatever is not exactly ``success``."""
        return "success", 200, "text/plain"

    def query(self, payment: Any) -> Notice | None:
        answer = self._call("alipay.trade.query", lambda sdk: sdk.api_alipay_trade_query(
            out_trade_no=payment.external_ref))
        if answer.get("code") != SUCCESS:
            if answer.get("sub_code") == NOT_FOUND:  # the customer has not opened it yet
                return Notice(kind="payment", ref=payment.external_ref,
                              amount=payment.amount, status="pending")
            raise _refused(answer)
        status = TRADE_STATES.get(str(answer.get("trade_status")))
        if status is None or answer.get("out_trade_no", payment.external_ref) != \
                payment.external_ref:
            raise _unverifiable("alipay.trade.query", answer)
        try:
            amount = to_fen(answer.get("total_amount"))
        except Malformed as exc:
            raise _unverifiable("alipay.trade.query", answer) from exc
        return Notice(kind="payment", ref=payment.external_ref, amount=amount,
                      status=status, provider_txn_id=_txn(answer))

    # -- refunds ----------------------------------------------------------------------
    def refund(self, refund: Any, payment: Any) -> RefundResult:
        extra = {"refund_reason": refund.reason} if refund.reason else {}
        answer = self._call("alipay.trade.refund", lambda sdk: sdk.api_alipay_trade_refund(
            refund_amount=to_yuan(refund.amount), out_trade_no=payment.external_ref,
            out_request_no=refund.external_ref, **extra))
        code, sub_code = answer.get("code"), answer.get("sub_code")
        if code == SUCCESS:
            if answer.get("fund_change") == "Y":
                return RefundResult("succeeded", provider_ref=_txn(answer))
            # Alipay's rule: "N" (a retry of a refund already made, or still
            # processing) means ask the refund query.
            state = self.query_refund(refund, payment)
            return state if state.status != "unknown" else RefundResult("pending")
        if code == BUSINESS_FAILED and sub_code not in RETRY_SUB_CODES:
            reason = f"{sub_code}: {answer.get('sub_msg') or answer.get('msg') or ''}"
            log.warning("alipay refused refund %s: %s", refund.external_ref, reason)
            return RefundResult("failed", reason=reason[:200])
        raise _refused(answer)

    def query_refund(self, refund: Any, payment: Any) -> RefundResult:
        answer = self._call(
            "alipay.trade.fastpay.refund.query",
            lambda sdk: sdk.api_alipay_trade_fastpay_refund_query(
                out_request_no=refund.external_ref, out_trade_no=payment.external_ref))
        if answer.get("code") != SUCCESS:
            if answer.get("sub_code") == NOT_FOUND:
                return RefundResult("unknown")
            raise _refused(answer)
        if answer.get("refund_status") != "REFUND_SUCCESS":
            return RefundResult("unknown")  # Alipay: not received (or not accepted)
        if answer.get("out_request_no", refund.external_ref) != refund.external_ref:
            raise _unverifiable("alipay.trade.fastpay.refund.query", answer)
        try:
            amount = to_fen(answer.get("refund_amount", to_yuan(refund.amount)))
        except Malformed as exc:
            raise _unverifiable("alipay.trade.fastpay.refund.query", answer) from exc
        if amount != refund.amount:
            log.error("alipay refunded %s for refund %s of %s", amount,
                      refund.external_ref, refund.amount)
            raise _unverifiable("alipay.trade.fastpay.refund.query", answer)
        return RefundResult("succeeded", provider_ref=_txn(answer))

    # -- the SDK ----------------------------------------------------------------------
    def _client(self) -> config.Client:
        try:
            return config.client()
        except config.NotConfigured as exc:
            log.error("alipay is not configured: %s", exc)
            raise ProviderError(_l("Alipay is not set up on this site.")) from exc

    def _call(self, method: str, call: Callable[[config.Client], Any]) -> dict[str, Any]:
        """One signed request to the gateway; the SDK verifies the signed answer.
        Unreachable or unverifiable: :class:`ProviderError` (callers retry)."""
        sdk = self._client()
        try:
            answer = call(sdk)
        except (OSError, HTTPException) as exc:  # URLError, timeouts, dropped connections
            log.warning("alipay %s: %s", method, exc)
            raise ProviderError(_l("Alipay cannot be reached just now. Please try again "
                                   "in a moment.")) from exc
        except (AliPayException, AliPayValidationError, ValueError, TypeError,
                AttributeError) as exc:  # unsigned, badly signed or not JSON
            log.error("alipay %s: unverifiable answer (%s)", method, type(exc).__name__)
            raise ProviderError(_l("Alipay's answer could not be verified.")) from exc
        if not isinstance(answer, dict):
            raise _unverifiable(method, answer)
        return answer


def _notice(fields: dict[str, str]) -> Notice:
    """A verified notification as the core's :class:`Notice`."""
    status = TRADE_STATES.get(fields.get("trade_status", ""))
    ref, nonce, txn = (fields.get("out_trade_no", ""), fields.get("notify_id", ""),
                       fields.get("trade_no", ""))
    if status is None:
        raise _reject("unknown trade status")
    if not 0 < len(ref) <= _MAX_REF or not 0 < len(nonce) <= _MAX_NONCE or \
            len(txn) > _MAX_REF:
        raise _reject("missing or overlong reference")
    try:
        amount = to_fen(fields.get("total_amount"))
        timestamp = to_unix(fields.get("notify_time"))
    except Malformed as exc:
        raise _reject(str(exc)) from exc
    if any(fields.get(name) for name in REFUND_FIELDS):
        log.info("alipay notified a refund of %s (%s): nothing to do", ref,
                 fields.get("refund_fee"))
        status = "pending"
    return Notice(kind="payment", ref=ref, amount=amount, status=status,
                  timestamp=timestamp, nonce=nonce, provider_txn_id=txn or None)


def _txn(answer: dict[str, Any]) -> str | None:
    value = answer.get("trade_no")
    return str(value)[:_MAX_REF] if value else None


def _refused(answer: dict[str, Any]) -> ProviderError:
    """An answer that is neither a result nor a business refusal (a gateway error such
    as a bad signature or an unknown app): the caller retries, the log says why."""
    log.error("alipay answered %s %s: %s", answer.get("code"), answer.get("sub_code"),
              answer.get("sub_msg") or answer.get("msg"))
    return ProviderError(_l("Alipay refused the request (%(code)s).",
                            code=answer.get("sub_code") or answer.get("code") or "?"))


def _unverifiable(method: str, answer: Any) -> ProviderError:
    log.error("alipay %s: unexpected answer %r", method, answer)
    return ProviderError(_l("Alipay's answer could not be verified."))
