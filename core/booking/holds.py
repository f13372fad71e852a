"""Deposit holds.

When the store's policy (or the service's) asks a deposit, an online booking is created
``awaiting_deposit``: it holds the staff member's time, unpaid, for
``FULIAN_DEPOSIT_HOLD_MIN`` minutes (default 15) — long enough to pay on a phone, short
enough that an abandoned checkout does not block a slot for the day. Paying at least the
deposit, with any tender, moves it on as if it had just been booked: ``pending`` where
the store accepts bookings by hand, else ``confirmed``. Still unpaid when the hold runs
out, it is cancelled (:func:`core.booking.service.deposit_hold_expired`).

Bookings made by the store (walk-in, phone) never wait: the desk takes the deposit or
waives it. The store may also confirm a held booking itself.

Each hold's expiry is a job written with the booking. The core's periodic
:func:`core.booking.service.expire_overdue` is the safety net for a hold whose job
never ran (lost with a Redis before jobs were rows, failed for good): without it the
held slot would stay blocked for ever.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import update

from .. import jobs, webhooks
from ..audit import current_actor
from ..db import utcnow
from ..extensions import db
from ..finance import events
from ..models import Booking, BookingStatusChange, Order, Store
from .lifecycle import next_status

HOLD_STATUS = "awaiting_deposit"
SWEEP_EVERY_SECONDS = 300
#: a hold this long past its time has lost its expiry job: the sweep ends it
SWEEP_AFTER = timedelta(minutes=2)
SWEEP_BATCH = 200
#: a hold whose customer started paying online this recently gets this much longer
PAYING_GRACE = timedelta(minutes=5)


def hold_time() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("FULIAN_DEPOSIT_HOLD_MIN", 15)))


def held_until(booking: Booking) -> datetime:
    """When an unpaid hold runs out (shown to the customer)."""
    return booking.created_at + hold_time()


@events.payment_deadline.connect
def _payment_deadline(order: Order) -> datetime | None:
    """An online payment towards a held booking may stay open until the hold ends (and
    the paying grace): later, the slot is no longer kept for it."""
    booking = db.session.get(Booking, order.booking_id) if order.booking_id else None
    if booking is None or booking.status != HOLD_STATUS:
        return None
    return held_until(booking) + PAYING_GRACE


@events.payment_settled.connect
def on_payment(order: Order) -> Booking | None:
    """Release the booking of ``order`` once its deposit is covered (inside the
    payment's transaction); returns the booking it moved on."""
    if order.booking_id is None:
        return None
    session = db.session
    booking = session.get(Booking, order.booking_id)
    if booking is None or booking.status != HOLD_STATUS:
        return None
    if order.paid - order.refunded < order.deposit:
        return None
    store = session.get(Store, booking.store_id)
    assert store is not None
    target = next_status(HOLD_STATUS, "deposit_paid",
                         acceptance_required=store.acceptance_required)
    moved = session.execute(update(Booking).where(
        Booking.id == booking.id, Booking.status == HOLD_STATUS
    ).values(status=target, updated_at=utcnow())).rowcount
    if not moved:  # two payments raced: the other one released it
        return None
    session.add(BookingStatusChange(
        booking_id=booking.id, from_status=HOLD_STATUS, to_status=target,
        actor_user_id=current_actor()[0], reason="deposit paid"))
    session.flush()
    session.expire(booking, ["status", "updated_at", "history"])
    webhooks.record_booking("booking.deposit_paid", booking)
    if target == "pending":
        jobs.enqueue("core.booking.service:acceptance_timeout", booking.id,
                     delay=timedelta(minutes=store.acceptance_timeout_min))
    jobs.enqueue("core.booking.service:announce", booking.id, "deposit_paid")
    return booking
