"""Asking providers about what they have not told us: lost notifications, refunds.

A provider's notification can be lost (our server was down, a proxy dropped it, the
provider gave up retrying). Nothing is lost with it: a periodic job asks the provider
about every online payment still pending after a minute and every refund still
pending after two, and records the answer through the same code as a notification
(:func:`core.finance.callbacks.apply`). A payment nobody paid within two days is given
up (``failed``); a refund the provider never received is handed over again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from ..db import utcnow, write_transaction
from ..extensions import db
from ..models import Order, Payment, Refund
from . import callbacks, refunds
from .providers import ProviderError, installed

log = logging.getLogger(__name__)
PAYMENT_QUIET = timedelta(minutes=1)  # let the notification arrive first
REFUND_QUIET = timedelta(minutes=2)
GIVE_UP = timedelta(days=2)
BATCH = 200


def check_payment(payment: Payment) -> str:
    """Ask the provider about one pending payment now; returns the outcome
    (``settled``, ``failed``, ``pending``, ``duplicate`` or ``unknown``)."""
    if payment.status != "pending":
        return "duplicate"
    provider = installed().get(payment.provider)
    if provider is None or not payment.external_ref:
        return "unknown"
    notice = provider.query(payment)
    if notice is None:
        return "unknown"
    return callbacks.apply(payment.provider, notice)


def check_order(order: Order) -> None:
    """Ask about every pending online payment of ``order`` (a deposit hold running out
    must not cancel a booking the customer has just paid for)."""
    for payment in list(order.payments):
        if payment.status == "pending" and payment.external_ref:
            try:
                check_payment(payment)
            except ProviderError:
                log.warning("could not ask %s about payment %s", payment.provider,
                            payment.id)


def poll(now: datetime | None = None) -> dict[str, int]:
    """Periodic job: settle what notifications missed; returns counts for the log."""
    now = now or utcnow()
    counts = {"payments": 0, "given_up": 0, "refunds": 0}
    online = list(installed())
    if not online:
        return counts
    due = list(db.session.scalars(select(Payment).where(
        Payment.status == "pending", Payment.provider.in_(online),
        Payment.external_ref.is_not(None), Payment.created_at <= now - PAYMENT_QUIET)
        .order_by(Payment.id).limit(BATCH)))
    for payment in due:
        try:
            outcome = check_payment(payment)
        except Exception:  # one provider's outage must not stop the others
            log.exception("polling payment %s failed", payment.id)
            db.session.rollback()
            continue
        counts["payments"] += outcome in ("settled", "failed")
        if outcome in ("pending", "unknown") and payment.created_at <= now - GIVE_UP:
            counts["given_up"] += _give_up(payment.id)
    for refund_id in list(db.session.scalars(select(Refund.id).join(Payment).where(
            Refund.status == "pending", Payment.provider.in_(online),
            Refund.created_at <= now - REFUND_QUIET).order_by(Refund.id).limit(BATCH))):
        try:
            counts["refunds"] += _check_refund(refund_id)
        except Exception:
            log.exception("polling refund %s failed", refund_id)
            db.session.rollback()
    return counts


def _give_up(payment_id: int) -> int:
    with write_transaction() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.status != "pending":
            return 0
        payment.status = "failed"
    log.warning("online payment %s was never paid; given up", payment_id)
    provider = installed().get(payment.provider)
    if provider is not None:
        try:  # so that it cannot be paid any more
            provider.close(payment)
        except Exception:
            log.warning("could not close %s payment %s", payment.provider, payment_id)
    return 1


def _check_refund(refund_id: int) -> int:
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.status != "pending":
        return 0
    payment = db.session.get(Payment, refund.payment_id)
    provider = installed().get(payment.provider) if payment is not None else None
    if provider is None:
        return 0
    if refund.submitted_at is None:  # the submit job never got through: hand it over
        refunds.submit(refund.id)
    else:
        refunds.record(refund.id, provider.query_refund(refund, payment))
    db.session.expire_all()
    return int(db.session.get(Refund, refund_id).status != "pending")
