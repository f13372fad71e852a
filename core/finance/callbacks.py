"""Verified, replay-safe, idempotent handling of what online providers tell us.

Whatever the provider, a notification is accepted only when (1) the provider verifies
its signature (:meth:`~core.finance.providers.PaymentProvider.verify`), (2) its
timestamp is within ±5 minutes of our clock (a provider's own client library may accept
hour-old messages; see NOTES), and (3) its nonce was never seen — the nonce is stored in
the same transaction as the settlement, under a unique constraint, so a replay (or two
deliveries racing) settles nothing twice. A genuine retry of an already processed
payment answers "duplicate" without any effect.

What a provider answers to a query (:mod:`core.finance.polling`) goes through the same
:func:`apply`, without the nonce: the provider's signed answer to our own request needs
no replay protection, and the payment's status makes it idempotent.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..db import write_transaction
from ..errors import Conflict, FulianError, NotFound, RuleViolation
from ..extensions import db
from ..models import Payment, PaymentCallback, Refund
from . import refunds
from .orders import settle
from .providers import Notice, provider

log = logging.getLogger(__name__)
FRESHNESS_SECONDS = 300


class CallbackRejected(FulianError):
    """Not a notification we can trust: bad signature, stale, malformed."""

    status = 401

    def __init__(self, reason: str) -> None:
        super().__init__(_l("The payment notification was rejected."))
        self.reason = reason


def handle(code: str, body: bytes, headers: Any, *, now: float | None = None) -> str:
    """Process one notification; returns ``settled``, ``failed``, ``pending``,
    ``refunded``, ``refund_failed`` or ``duplicate``."""
    notice = provider(code).verify(body, headers)
    clock = time.time() if now is None else now
    if notice.timestamp is None or not notice.nonce:
        raise CallbackRejected("no timestamp or nonce")
    if abs(clock - notice.timestamp) > FRESHNESS_SECONDS:
        raise CallbackRejected("stale timestamp")
    return apply(code, notice)


#: longest reference or nonce we store (the columns' size)
MAX_TOKEN = 80


def apply(code: str, notice: Notice) -> str:
    """Record what the provider said about a payment or a refund, at most once."""
    if not notice.ref or len(notice.ref) > MAX_TOKEN or len(notice.nonce or "") > MAX_TOKEN \
            or len(notice.provider_txn_id or "") > MAX_TOKEN:
        raise CallbackRejected("reference, nonce or transaction id of a bad size")
    try:
        with write_transaction() as session:
            record = None
            if notice.nonce:
                if session.scalars(select(PaymentCallback.id).where(
                        PaymentCallback.provider == code,
                        PaymentCallback.nonce == notice.nonce)).first():
                    return "duplicate"
                record = PaymentCallback(provider=code, nonce=notice.nonce,
                                         payment_ref=notice.ref, outcome="duplicate")
                session.add(record)
                session.flush()
            if notice.kind == "refund":
                outcome = _refund(code, notice)
            elif notice.kind == "payment":
                outcome = _payment(code, notice)
            else:
                raise CallbackRejected(f"unknown notice kind {notice.kind!r}")
            if record is not None:
                record.outcome = outcome
            return outcome
    except IntegrityError:
        db.session.rollback()  # the same nonce won a race in another request
        return "duplicate"


def _payment(code: str, notice: Notice) -> str:
    session = db.session
    payment = session.scalars(select(Payment).where(
        Payment.external_ref == notice.ref, Payment.provider == code)).first()
    if payment is None:
        raise NotFound(_l("No payment %(ref)s.", ref=notice.ref))
    if notice.status == "succeeded" and payment.amount != notice.amount:
        log.error("%s notified %s for payment %s of %s", code, notice.amount, notice.ref,
                  payment.amount)
        raise Conflict(_l("The notified amount does not match the payment."))
    if notice.provider_txn_id and not payment.provider_txn_id:
        payment.provider_txn_id = notice.provider_txn_id
    if payment.status != "pending":
        if payment.status == "failed" and notice.status == "succeeded":
            # Given up on (expired) and paid after all: the provider holds money we
            # do not count. It must be refunded by hand, so say so loudly.
            log.error("%s payment %s succeeded after it was given up", code, notice.ref)
        return "duplicate"
    if notice.status == "pending":
        return "pending"
    if notice.status != "succeeded":
        payment.status = "failed"
        return "failed"
    try:
        with session.begin_nested():
            settle(payment)
    except RuleViolation:
        # Paid elsewhere in the meantime: the provider holds money we cannot count; it
        # must be refunded by hand, so say so loudly.
        log.error("online payment %s arrived for an order already paid", notice.ref)
        payment.status = "failed"
        return "failed"
    return "settled"


def _refund(code: str, notice: Notice) -> str:
    session = db.session
    refund = session.scalars(select(Refund).where(Refund.external_ref == notice.ref)).first()
    payment = session.get(Payment, refund.payment_id) if refund is not None else None
    if refund is None or payment is None or payment.provider != code:
        raise NotFound(_l("No refund %(ref)s.", ref=notice.ref))
    if notice.status == "succeeded" and refund.amount != notice.amount:
        log.error("%s notified a refund of %s for %s of %s", code, notice.amount,
                  notice.ref, refund.amount)
        raise Conflict(_l("The notified amount does not match the refund."))
    if notice.status == "succeeded":
        return "refunded" if refunds.complete(refund, notice.provider_txn_id) \
            else "duplicate"
    if notice.status == "failed":
        return "refund_failed" if refunds.fail(refund, "refused by the provider") \
            else "duplicate"
    return "pending"
