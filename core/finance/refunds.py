"""Refunds of online payments: reserved at once, completed when the provider says so.

Cash and account tenders refund inside the caller's transaction. An online provider
must be asked over the network, which never happens inside a database transaction, and
may answer later. So a refund of an online payment is first a ``pending`` row: its
amount is reserved on the order and the payment at once (nothing can be refunded twice
meanwhile) but the ledger is not touched. After commit a job hands it to the provider
(:func:`submit`, retried with backoff; the provider de-duplicates by our reference, so
handing it over twice is harmless). The provider's answer, notification or a later
query (:mod:`core.finance.polling`) then either **completes** it — the ledger posting
moves the money out of the store's online account — or **fails** it, which gives the
reservation back so the manager can refund another way.
"""

from __future__ import annotations

import logging

from sqlalchemy import update

from .. import jobs
from ..db import utcnow, write_transaction
from ..extensions import db
from ..models import Order, Payment, Refund
from . import ledger, tenders
from .providers import RefundResult, provider

log = logging.getLogger(__name__)
SUBMIT_ATTEMPTS = 6


def open_online(order: Order, payment: Payment, amount: int, reason: str,
                user_id: int | None) -> Refund:
    """A pending refund of ``amount`` of an online ``payment`` (inside the caller's
    write transaction, which has reserved ``amount`` on the order)."""
    session = db.session
    row = Refund(order_id=order.id, payment_id=payment.id, amount=amount,
                 reason=reason[:200], created_by=user_id, status="pending",
                 external_ref=provider(payment.provider).new_refund_reference())
    session.add(row)
    payment.refunded += amount
    session.flush()
    jobs.enqueue("core.finance.refunds:submit", row.id, max_attempts=SUBMIT_ATTEMPTS)
    return row


def submit(refund_id: int) -> None:
    """Job: hand a pending refund to its provider and record the answer. Raising (the
    provider unreachable) makes the job retry; the poller picks up what is left."""
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.status != "pending":
        return
    payment = db.session.get(Payment, refund.payment_id)
    assert payment is not None
    result = provider(payment.provider).refund(refund, payment)
    record(refund.id, result)


def record(refund_id: int, result: RefundResult) -> None:
    """Apply a provider's answer about a refund in one write transaction."""
    with write_transaction() as session:
        refund = session.get(Refund, refund_id)
        if refund is None or refund.status != "pending":
            return
        if result.status == "succeeded":
            complete(refund, result.provider_ref)
        elif result.status == "failed":
            fail(refund, result.reason or "refused by the provider")
        elif result.status == "unknown":
            refund.submitted_at = None  # never arrived: the poller hands it over again
        else:
            refund.submitted_at = utcnow()
            if result.provider_ref:
                refund.provider_ref = result.provider_ref


def complete(refund: Refund, provider_ref: str | None = None) -> bool:
    """The provider paid the refund back: post it to the ledger (inside the caller's
    write transaction). False if it was already settled either way."""

    session = db.session
    moved = session.execute(update(Refund).where(
        Refund.id == refund.id, Refund.status == "pending"
    ).values(status="succeeded", settled_at=utcnow())).rowcount
    if not moved:
        return False
    session.refresh(refund)
    order = session.get(Order, refund.order_id)
    payment = session.get(Payment, refund.payment_id)
    assert order is not None and payment is not None
    txn = ledger.post("refund", [(f"store:{order.store_id}:refunds", refund.amount),
                                 *tenders.refund_legs(order, payment, refund.amount)],
                      reference=f"order:{order.id}", idempotency_key=f"refund:{refund.id}",
                      currency=order.currency)
    refund.ledger_txn_id = txn.id
    if provider_ref:
        refund.provider_ref = provider_ref
    session.flush()
    return True


def fail(refund: Refund, reason: str) -> bool:
    """The provider refused: give the reserved amount back to the order and the payment
    (inside the caller's write transaction). False if already settled either way."""
    session = db.session
    moved = session.execute(update(Refund).where(
        Refund.id == refund.id, Refund.status == "pending"
    ).values(status="failed", settled_at=utcnow(), failure_reason=reason[:200])).rowcount
    if not moved:
        return False
    session.execute(update(Order).where(Order.id == refund.order_id)
                    .values(refunded=Order.refunded - refund.amount))
    session.execute(update(Payment).where(Payment.id == refund.payment_id)
                    .values(refunded=Payment.refunded - refund.amount))
    order = session.get(Order, refund.order_id)
    assert order is not None
    session.refresh(order)
    if order.status == "refunded":
        order.status = "paid"
    session.refresh(refund)
    log.error("refund %s of order %s failed: %s", refund.id, order.id, reason)
    session.flush()
    return True
