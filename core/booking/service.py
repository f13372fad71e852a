"""The booking service: the only code that creates bookings or moves them.

Every check that could make a booking invalid runs inside the writing transaction (on
SQLite opened with ``BEGIN IMMEDIATE``, so concurrent writers are serialised): the store
offers the service, the staff member performs it, the slot is inside their working time
and free of other bookings (blocked range = service time plus buffers) and of time-off,
and no plugin vetoes it (``fulian_validate_booking``). On PostgreSQL an exclusion
constraint backs this up at the database level; its SQLSTATE 23P01 becomes a 409.
Lifecycle events reach plugins after commit.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .. import jobs, webhooks
from ..audit import current_actor
from ..catalog.services import price_at
from ..db import utcnow, write_transaction
from ..errors import Conflict, NotFound, RuleViolation, ValidationFailed
from ..extensions import db
from ..finance import fees, orders, polling
from ..finance.providers import online_available
from ..models import (
    ACTIVE_STATUSES,
    Booking,
    BookingStatusChange,
    BrandSettings,
    Customer,
    Service,
    StaffProfile,
    Store,
)
from ..plugins import plugins
from ..scheduling import engine, localtime
from ..scheduling.loader import StoreWindow, load_window
from . import holds
from .lifecycle import EVENTS, next_status

STAFF_SOURCES = ("walk_in", "phone")
WALK_IN_GRACE = 15 * 60  # seconds
PAYING_GRACE = timedelta(minutes=5)


class SlotTaken(Conflict):
    """The time is no longer free (someone else booked it first)."""


def _window(store: Store, service: Service, start: datetime, end: datetime,
            staff_id: int | None, exclude: int | None = None) -> StoreWindow:
    tz = ZoneInfo(store.timezone)
    day_from = start.astimezone(tz).date()
    day_to = end.astimezone(tz).date()
    return load_window(db.session.connection(), store.id, service.id, day_from, day_to,
                       staff_id=staff_id, exclude_booking_id=exclude)


def slot_rule(window: StoreWindow, source: str, now: int) -> engine.SlotRule:
    """The slot rule for a booking source: customers (online) get the store's notice
    and horizon; the front desk (walk-in, phone) may book right now — a walk-in who is
    already here, give or take a quarter of an hour — but not in the past."""
    if source in STAFF_SOURCES:
        return replace(window.rule(now, notice=False), earliest=now - WALK_IN_GRACE)
    return window.rule(now)


def _who_can_take(window: StoreWindow, start_ts: int, *, source: str, now: int) -> list[int]:
    """Staff free for the whole blocked range starting at ``start_ts``.

    Online bookings must match a published slot (aligned, minimum notice, horizon);
    front-desk bookings (walk-in, phone) may start at any minute and right now.
    """
    if not window.bookable:
        return []
    rule = slot_rule(window, source, now)
    if source in STAFF_SOURCES:
        candidates = [start_ts]
    else:
        day = datetime.fromtimestamp(start_ts, window.tz).date()
        aligned = localtime.aligned_candidates(day, day, window.tz, window.step_min)
        candidates = [start_ts] if start_ts in set(aligned) else []
    if not candidates:
        return []
    free = window.free()
    return [sid for sid in window.staff_names if engine.staff_slots(free[sid], candidates, rule)]


def _fair_pick(store: Store, staff_ids: list[int], start: datetime) -> int:
    """"Any staff": the least-booked person that local day, then the lowest id."""
    tz = ZoneInfo(store.timezone)
    local = start.astimezone(tz)
    day_start = datetime(local.year, local.month, local.day, tzinfo=tz)
    day_end = day_start + timedelta(days=1)
    counts = dict(db.session.execute(
        select(Booking.staff_id, func.count()).where(
            Booking.staff_id.in_(staff_ids), Booking.status.in_(ACTIVE_STATUSES),
            Booking.start_at >= day_start, Booking.start_at < day_end,
        ).group_by(Booking.staff_id)
    ).all())
    return min(staff_ids, key=lambda sid: (counts.get(sid, 0), sid))


def _guard_enabled() -> bool:
    # Only the race test turns this off, to prove the race test would catch a missing guard.
    return bool(current_app.config.get("FULIAN_BOOKING_GUARD", True))


def _flush_or_conflict(session: Any, staff_name: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        code = getattr(getattr(exc, "orig", None), "sqlstate", None)
        if code == "23P01":  # exclusion_violation: PostgreSQL refused an overlap
            raise SlotTaken(_l("This time is no longer free for %(staff)s.",
                               staff=staff_name)) from exc
        raise


def create_booking(*, store: Store, service: Service, customer: Customer, start_at: datetime,
                   staff: StaffProfile | None = None, source: str = "online", note: str = "",
                   idempotency_key: str | None = None,
                   before_commit: Any = None) -> Booking:
    """Book ``service`` at ``store`` for ``customer`` at ``start_at`` (aware datetime).

    ``staff=None`` means "any staff": the fairest free person is chosen here, inside the
    transaction. Raises ValidationFailed (bad request), SlotTaken (409) or NotFound.
    ``before_commit(booking)`` runs inside the transaction after the insert (the API uses
    it to remember the idempotent response atomically with the booking).
    """
    if start_at.tzinfo is None:
        raise ValidationFailed(_l("The start time needs a time zone offset."),
                               field_errors={"start_at": [_l("Give an offset, e.g. +08:00.")]})
    if source not in ("online", *STAFF_SOURCES):
        raise ValidationFailed(_l("Unknown booking source."),
                               field_errors={"source": [_l("One of: online, walk_in, phone")]})
    end_at = start_at + timedelta(minutes=service.duration_min)
    block_start = start_at - timedelta(minutes=service.buffer_before_min)
    block_end = end_at + timedelta(minutes=service.buffer_after_min)
    registry = plugins()
    with write_transaction() as session:
        now_ts = int(utcnow().timestamp())
        window = _window(store, service, block_start, block_end,
                         staff.id if staff is not None else None)
        if not window.bookable:
            raise RuleViolation(_l("%(service)s cannot be booked at %(store)s.",
                                      service=service.name, store=store.name),
                                   field_errors={"service_id": [_l("Not offered here.")]})
        if staff is not None and staff.id not in window.staff_names:
            raise RuleViolation(_l("%(staff)s does not perform %(service)s at %(store)s.",
                                      staff=staff.display_name, service=service.name,
                                      store=store.name),
                                   field_errors={"staff_id": [_l("Not available for this "
                                                                 "service here.")]})
        if _guard_enabled():
            able = _who_can_take(window, int(start_at.timestamp()), source=source, now=now_ts)
            if not able:
                name = staff.display_name if staff is not None else _l("any staff member")
                raise SlotTaken(_l("This time is no longer free for %(staff)s.", staff=name))
        else:
            able = list(window.staff_names)
        chosen_id = staff.id if staff is not None else _fair_pick(store, able, start_at)
        chosen = staff or session.get(StaffProfile, chosen_id)
        assert chosen is not None
        request: dict[str, Any] = {"store": store, "staff": chosen, "service": service,
                                   "customer": customer, "start_at": start_at,
                                   "end_at": end_at, "source": source, "note": note}
        reasons: list[Any] = registry.call_flat("fulian_validate_booking", request=request)
        if reasons:
            raise ValidationFailed(_l("The booking was refused."),
                                   field_errors={"_schema": [str(r) for r in reasons]})
        brand = session.get(BrandSettings, 1)
        price, currency = price_at(service, store.id), brand.currency if brand else "CNY"
        quote, deposit = None, 0
        if source == "online" and fees.percent(service, store, "deposit_percent"):
            quote = orders.booking_quote(store, service, customer, price, currency)
            deposit = fees.deposit_for(service, store, quote.total)
        # The slot waits for its deposit only when it can be paid online; otherwise the
        # deposit is on the order and the store takes it.
        held = bool(deposit) and online_available()
        pending = store.acceptance_required and source == "online"
        status = holds.HOLD_STATUS if held else "pending" if pending else "confirmed"
        booking = Booking(
            store_id=store.id, staff_id=chosen.id, service_id=service.id,
            customer_id=customer.id, start_at=start_at, end_at=end_at,
            block_start=block_start, block_end=block_end, status=status,
            price=price, currency=currency,
            source=source, note=note, idempotency_key=idempotency_key,
        )
        booking.history.append(BookingStatusChange(
            from_status=None, to_status=status, actor_user_id=current_actor()[0],
            reason=source,
        ))
        session.add(booking)
        _flush_or_conflict(session, chosen.display_name)
        if quote is not None:  # the deposit is asked now: its order exists from the start
            orders.record_order(booking, quote, deposit, current_actor()[0])
        webhooks.record_booking("booking.created", booking)
        if before_commit is not None:
            before_commit(booking)
        if held:
            jobs.enqueue("core.booking.service:deposit_hold_expired", booking.id,
                         delay=holds.hold_time())
        elif pending:
            jobs.enqueue("core.booking.service:acceptance_timeout", booking.id,
                         delay=timedelta(minutes=store.acceptance_timeout_min))
    registry.call("fulian_booking_event", booking=booking, event="created")
    return booking


def get_booking(booking_id: int) -> Booking:
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        raise NotFound(_l("No booking %(id)s.", id=booking_id))
    return booking


def transition(booking_id: int, action: str, *, reason: str = "", by_customer: bool = False,
               new_start: datetime | None = None, new_staff_id: int | None = None,
               now: datetime | None = None) -> Booking:
    """Apply a lifecycle action (confirm, decline, cancel, complete, no_show, reschedule).

    Store policies apply to customers acting themselves: cancellation and rescheduling
    close ``cancel_window_min`` / ``reschedule_window_min`` before the start.
    """
    now = now or utcnow()
    with write_transaction() as session:
        query = select(Booking).where(Booking.id == booking_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        booking = session.scalars(query).first()
        if booking is None:
            raise NotFound(_l("No booking %(id)s.", id=booking_id))
        store = session.get(Store, booking.store_id)
        assert store is not None
        target = next_status(booking.status, action)
        if by_customer and action in ("cancel", "reschedule"):
            window = store.cancel_window_min if action == "cancel" \
                else store.reschedule_window_min
            if booking.start_at - now < timedelta(minutes=window):
                raise Conflict(_l("Online changes close %(minutes)d minutes before the start; "
                                  "please call the store.", minutes=window))
        if action == "complete" and now < booking.start_at - timedelta(minutes=30):
            raise Conflict(_l("A booking can be completed from 30 minutes before its start."))
        if action == "no_show" and now < booking.start_at:
            raise Conflict(_l("A no-show can be recorded once the booking has started."))
        note = reason
        if action == "reschedule":
            note = _move(session, booking, store, new_start, new_staff_id, by_customer, now)
            note = f"{note}; {reason}" if reason else note
        booking.history.append(BookingStatusChange(
            from_status=booking.status, to_status=target, actor_user_id=current_actor()[0],
            reason=note, at=now,
        ))
        was = booking.status
        booking.status = target
        booking.updated_at = now
        _flush_or_conflict(session, str(booking.staff_id))
        if action in ("decline", "cancel", "no_show"):  # its money, in this transaction
            fees.booking_ended(booking, action, by_customer=by_customer, now=now,
                               user_id=current_actor()[0],
                               held=was == holds.HOLD_STATUS)
        webhooks.record_booking(f"booking.{EVENTS[action]}", booking)
    plugins().call("fulian_booking_event", booking=booking, event=EVENTS[action])
    return booking


def _move(session: Any, booking: Booking, store: Store, new_start: datetime | None,
          new_staff_id: int | None, by_customer: bool, now: datetime) -> str:
    if new_start is None or new_start.tzinfo is None:
        raise ValidationFailed(_l("Give the new start time with its offset."),
                               field_errors={"start_at": [_l("Missing data for required "
                                                             "field.")]})
    service = session.get(Service, booking.service_id)
    staff_id = new_staff_id or booking.staff_id
    start = new_start
    end = start + timedelta(minutes=service.duration_min)
    block_start = start - timedelta(minutes=service.buffer_before_min)
    block_end = end + timedelta(minutes=service.buffer_after_min)
    window = _window(store, service, block_start, block_end, staff_id, exclude=booking.id)
    source = "online" if by_customer else "phone"
    if _guard_enabled() and staff_id not in _who_can_take(window, int(start.timestamp()),
                                                          source=source,
                                                          now=int(now.timestamp())):
        raise SlotTaken(_l("The new time is not free."))
    old = booking.start_at.astimezone(ZoneInfo(store.timezone)).isoformat()
    booking.start_at, booking.end_at = start, end
    booking.block_start, booking.block_end = block_start, block_end
    booking.staff_id = staff_id
    return f"rescheduled from {old}"


def acceptance_timeout(booking_id: int) -> None:
    """Job: a booking still pending when the acceptance window closes is reassigned to
    another free staff member (store policy ``reassign``) or declined."""
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.status != "pending":
        return
    store = db.session.get(Store, booking.store_id)
    assert store is not None
    if store.acceptance_timeout_action == "reassign":
        service = db.session.get(Service, booking.service_id)
        window = _window(store, service, booking.block_start, booking.block_end, None,
                         exclude=booking.id)
        db.session.rollback()
        others = [sid for sid in _who_can_take(window, int(booking.start_at.timestamp()),
                                               source="phone",
                                               now=int(utcnow().timestamp()))
                  if sid != booking.staff_id]
        if others:
            new_staff = _fair_pick(store, others, booking.start_at)
            with write_transaction() as session:
                row = session.get(Booking, booking_id)
                if row is None or row.status != "pending":
                    return
                row.history.append(BookingStatusChange(
                    from_status="pending", to_status="pending", reason="reassigned after "
                    "acceptance timeout"))
                row.staff_id = new_staff
                _flush_or_conflict(session, str(new_staff))
                webhooks.record_booking("booking.reassigned", row)
                jobs.enqueue("core.booking.service:acceptance_timeout", booking_id,
                             delay=timedelta(minutes=store.acceptance_timeout_min))
            plugins().call("fulian_booking_event", booking=row, event="reassigned")
            return
    transition(booking_id, "decline", reason="not accepted in time")


def deposit_hold_expired(booking_id: int) -> None:
    """Job: a booking still waiting for its deposit when the hold runs out is cancelled
    and its time is free again — unless the customer is paying right now (an online
    payment started in the last few minutes), which gets a little longer."""
    booking = db.session.get(Booking, booking_id)
    if booking is None or booking.status != holds.HOLD_STATUS:
        return
    order = orders.order_of(booking_id)
    if order is not None:  # a notification may be late or lost: ask the provider first
        polling.check_order(order)
        db.session.expire_all()
        booking = db.session.get(Booking, booking_id)
        if booking is None or booking.status != holds.HOLD_STATUS:
            return
        order = orders.order_of(booking_id)
    paying = order is not None and any(
        p.status == "pending" and p.created_at > utcnow() - PAYING_GRACE
        for p in order.payments)
    if paying:
        jobs.enqueue("core.booking.service:deposit_hold_expired", booking_id,
                     delay=PAYING_GRACE)
        return
    transition(booking_id, "cancel", reason="deposit not paid in time")


def announce(booking_id: int, event: str) -> None:
    """Job: tell plugins about a booking event that happened inside another service's
    transaction (a deposit paid), after it committed."""
    booking = db.session.get(Booking, booking_id)
    if booking is not None:
        plugins().call("fulian_booking_event", booking=booking, event=event)


def bookings_for_staff(staff_id: int) -> list[Booking]:
    return list(db.session.scalars(
        select(Booking).where(Booking.staff_id == staff_id).order_by(Booking.start_at)
    ))
