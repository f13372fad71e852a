"""What WeChat Pay's messages mean for the core: notifications, order queries and refund
answers turned into :class:`~core.sdk.payments.Notice` and
:class:`~core.sdk.payments.RefundResult`.

Pure functions over already verified (and decrypted) JSON, so every field check lives
in one place: a message about another merchant or app, a missing or non-integer
amount, a non-CNY currency or an unknown state is :class:`Malformed`, never guessed.
"""

from __future__ import annotations

from typing import Any

from core.sdk.payments import Notice, RefundResult

from .settings import Settings

#: trade_state of an order (query answers); REFUND: paid, then (partly) refunded
PAYMENT_STATES = {"SUCCESS": "succeeded", "REFUND": "succeeded", "CLOSED": "failed",
                  "REVOKED": "failed", "PAYERROR": "failed", "NOTPAY": "pending",
                  "USERPAYING": "pending"}
#: refund status (refund and refund-query answers)
REFUND_STATES = {"SUCCESS": "succeeded", "PROCESSING": "pending", "CLOSED": "failed",
                 "ABNORMAL": "failed"}
#: notification event types about refunds, and the refund status each one carries
REFUND_EVENTS = {"REFUND.SUCCESS": "SUCCESS", "REFUND.ABNORMAL": "ABNORMAL",
                 "REFUND.CLOSED": "CLOSED"}
PAYMENT_EVENT = "TRANSACTION.SUCCESS"


class Malformed(ValueError):
    """Not a message we can act on; the text says why (for the log)."""


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > 80:
        raise Malformed(f"no {key}")
    return value


def _amount(data: dict[str, Any], key: str) -> int:
    amount = data.get("amount")
    if not isinstance(amount, dict):
        raise Malformed("no amount")
    value = amount.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise Malformed(f"no amount.{key}")
    if amount.get("currency", "CNY") != "CNY":
        raise Malformed("not CNY")
    return value


def _ours(data: dict[str, Any], settings: Settings, *, app: bool) -> None:
    if data.get("mchid") != settings.mchid:
        raise Malformed("another merchant")
    if app and data.get("appid") != settings.appid:
        raise Malformed("another app")


def from_notification(event: dict[str, Any], settings: Settings, *, timestamp: int,
                      nonce: str) -> Notice:
    """A verified, decrypted notification (``resource`` already replaced by its
    plaintext, as ``wechatpayv3``'s ``callback`` returns it)."""
    resource = event.get("resource")
    if not isinstance(resource, dict):
        raise Malformed("no resource")
    event_type = event.get("event_type")
    if event_type == PAYMENT_EVENT:
        _ours(resource, settings, app=True)
        if resource.get("trade_state") != "SUCCESS":
            raise Malformed("a success event of an unpaid order")
        return Notice(kind="payment", ref=_text(resource, "out_trade_no"),
                      amount=_amount(resource, "total"), status="succeeded",
                      timestamp=timestamp, nonce=nonce,
                      provider_txn_id=_text(resource, "transaction_id"))
    if event_type in REFUND_EVENTS:
        _ours(resource, settings, app=False)
        if resource.get("refund_status", REFUND_EVENTS[event_type]) != \
                REFUND_EVENTS[event_type]:
            raise Malformed("refund status contradicts the event")
        return Notice(kind="refund", ref=_text(resource, "out_refund_no"),
                      amount=_amount(resource, "refund"),
                      status=REFUND_STATES[REFUND_EVENTS[event_type]],
                      timestamp=timestamp, nonce=nonce,
                      provider_txn_id=_text(resource, "refund_id"))
    raise Malformed(f"unexpected event {str(event_type)[:40]!r}")


def from_order(data: dict[str, Any], settings: Settings, ref: str, amount: int) -> Notice:
    """The answer to "query order by out_trade_no" (``amount``: ours, used when an
    unpaid order's answer carries none)."""
    _ours(data, settings, app=True)
    if data.get("out_trade_no") != ref:
        raise Malformed("another order")
    status = PAYMENT_STATES.get(str(data.get("trade_state")))
    if status is None:
        raise Malformed(f"unknown trade_state {str(data.get('trade_state'))[:20]!r}")
    if status == "succeeded":
        return Notice(kind="payment", ref=ref, amount=_amount(data, "total"),
                      status=status, provider_txn_id=_text(data, "transaction_id"))
    return Notice(kind="payment", ref=ref, amount=amount, status=status)


def refund_result(data: dict[str, Any], ref: str) -> RefundResult:
    """The answer to a refund request or refund query."""
    if data.get("out_refund_no") != ref:
        raise Malformed("another refund")
    state = str(data.get("status"))
    status = REFUND_STATES.get(state)
    if status is None:
        raise Malformed(f"unknown refund status {state[:20]!r}")
    provider_ref = data.get("refund_id") if isinstance(data.get("refund_id"), str) else None
    return RefundResult(status, provider_ref=provider_ref,
                        reason=f"WeChat Pay refund {state}" if status == "failed" else None)
