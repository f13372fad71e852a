"""Verified, replay-safe, idempotent handling of online payment notifications.

Whatever the provider, a notification is accepted only when (1) the provider verifies
its signature, (2) its timestamp is within ±5 minutes of our clock (a provider's own
client library may accept hour-old messages; see NOTES), and (3) its nonce was never
seen — the nonce is stored in the same transaction as the settlement, under a unique
constraint, so a replay (or two deliveries racing) settles nothing twice. A genuine
retry of an already processed payment answers "duplicate" without any effect.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..db import write_transaction
from ..errors import Conflict, FulianError, NotFound, RuleViolation
from ..extensions import db
from ..models import Payment, PaymentCallback
from ..plugins import plugins

log = logging.getLogger(__name__)
FRESHNESS_SECONDS = 300


@dataclass(frozen=True)
class Notice:
    ref: str
    amount: int
    status: str
    timestamp: int
    nonce: str


class CallbackRejected(FulianError):
    """Not a notification we can trust: bad signature, stale, malformed."""

    status = 401

    def __init__(self, reason: str) -> None:
        super().__init__(_l("The payment notification was rejected."))
        self.reason = reason


def providers() -> dict[str, Any]:
    """Online providers by code: the built-in sandbox and the plugins'."""
    from .sandbox import SandboxProvider

    found = {"sandbox": SandboxProvider()}
    for provider in plugins().call_flat("fulian_payment_providers"):
        code = getattr(provider, "code", None)
        if isinstance(code, str) and hasattr(provider, "verify"):
            found.setdefault(code, provider)
    return found


def provider(code: str) -> Any:
    found = providers().get(code)
    if found is None:
        raise NotFound(_l("Unknown payment method %(code)s.", code=code))
    return found


def handle(code: str, body: bytes, headers: Any, *, now: float | None = None) -> str:
    """Process one notification; returns ``settled``, ``failed`` or ``duplicate``."""
    from .orders import settle

    notice = provider(code).verify(body, headers)
    clock = time.time() if now is None else now
    if abs(clock - notice.timestamp) > FRESHNESS_SECONDS:
        raise CallbackRejected("stale timestamp")
    try:
        with write_transaction() as session:
            if session.scalars(select(PaymentCallback.id).where(
                    PaymentCallback.provider == code,
                    PaymentCallback.nonce == notice.nonce)).first():
                return "duplicate"
            payment = session.scalars(select(Payment).where(
                Payment.external_ref == notice.ref, Payment.provider == code)).first()
            if payment is None:
                raise NotFound(_l("No payment %(ref)s.", ref=notice.ref))
            if payment.amount != notice.amount:
                raise Conflict(_l("The notified amount does not match the payment."))
            record = PaymentCallback(provider=code, nonce=notice.nonce,
                                     payment_ref=notice.ref, outcome="duplicate")
            session.add(record)
            session.flush()
            if payment.status != "pending":
                return "duplicate"
            if notice.status != "succeeded":
                payment.status = record.outcome = "failed"
                return "failed"
            try:
                with session.begin_nested():
                    settle(payment)
                record.outcome = "settled"
            except RuleViolation:
                # Paid elsewhere in the meantime: the provider holds money we cannot
                # count; it must be refunded by hand, so say so loudly.
                log.error("online payment %s arrived for an order already paid", notice.ref)
                payment.status = record.outcome = "failed"
            return record.outcome
    except IntegrityError:
        db.session.rollback()  # the same nonce won a race in another request
        return "duplicate"
