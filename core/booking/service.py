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

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, and_, bindparam, exists, func, select
from sqlalchemy.exc import IntegrityError

from .. import jobs, phones, webhooks
from ..audit import current_actor
from ..crm.customers import find_or_create
from ..db import utcnow, write_transaction
from ..errors import Conflict, NotFound, RuleViolation, ValidationFailed
from ..extensions import db
from ..finance import fees, orders, polling, rates
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
    StoreServiceOffer,
    WebhookSubscription,
    staff_services,
    staff_stores,
)
from ..plugins import plugins
from ..scheduling import engine, localtime
from ..scheduling.loader import StoreWindow, load_window
from . import holds, slot
from .draft import BookingDraft
from .lifecycle import EVENTS, STATUS_LABELS, IllegalTransition, next_status

log = logging.getLogger(__name__)
STAFF_SOURCES = ("walk_in", "phone")
WALK_IN_GRACE = 15 * 60  # seconds


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
    day_start, day_end = localtime.day_bounds(start.astimezone(tz).date(), tz)
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


@dataclass(frozen=True)
class CustomerByPhone:
    """A customer the store books for, found (or created) by phone inside the booking's
    own transaction: a refused booking leaves no customer behind."""

    phone: str
    name: str = ""
    source: str = "phone"


@dataclass(frozen=True)
class CustomerOfUser:
    """The customer record of a logged-in customer (read with the rest of the booking's
    data, in the same statement)."""

    user_id: int


def _id(value: Any) -> int | None:
    return None if value is None else int(getattr(value, "id", value))


def _phone_country() -> str:
    """The brand's phone country as last seen by this process (it is read again with
    every booking; used to look a customer up by phone in the same statement)."""
    return current_app.extensions.get("fulian_phone_country", phones.DEFAULT_REGION)


def _customer_key(customer: Any) -> tuple[str, Any]:
    """Which column finds the booking's customer, and the value to look for."""
    if isinstance(customer, CustomerOfUser):
        return "user_id", customer.user_id
    if isinstance(customer, CustomerByPhone):
        return "phone", phones.lookup_key(customer.phone, _phone_country())
    return "id", _id(customer)


def _head(session: Any, store_id: int, service_id: int, staff_id: int | None,
          customer: Any) -> Any:
    """Everything the booking needs besides time, in one statement: the store and its
    policy, the service, the store's price, the brand (currency, phone country), the
    staff member with whether they work here and perform the service, the customer,
    and whether anybody subscribes to webhooks."""
    column, value = _customer_key(customer)
    return session.execute(_head_statement(column), {
        "store": store_id, "service": service_id, "staff": staff_id or 0,
        "customer": value}).first()


@cache
def _head_statement(customer_column: str) -> Any:
    """:func:`_head`'s statement, built once per way of finding the customer."""
    store, service = bindparam("store", type_=Integer), bindparam("service", type_=Integer)
    staff = bindparam("staff", type_=Integer)
    works = exists().where(staff_stores.c.staff_id == staff,
                           staff_stores.c.store_id == store)
    performs = exists().where(staff_services.c.staff_id == staff,
                              staff_services.c.service_id == service)
    hooks = exists().where(WebhookSubscription.active.is_(True))
    return (
        select(Store, Service, StoreServiceOffer.service_id.label("offered"),
               StoreServiceOffer.price_override, BrandSettings, StaffProfile,
               works.label("works"), performs.label("performs"), Customer,
               hooks.label("hooks"))
        .select_from(Store)
        .outerjoin(Service, Service.id == service)
        .outerjoin(StoreServiceOffer, and_(StoreServiceOffer.store_id == Store.id,
                                           StoreServiceOffer.service_id == service))
        .outerjoin(BrandSettings, BrandSettings.id == 1)
        .outerjoin(StaffProfile, StaffProfile.id == staff)
        .outerjoin(Customer, getattr(Customer, customer_column) == bindparam("customer"))
        .where(Store.id == store))


def create_booking(*, store: Store | int, service: Service | int, start_at: datetime,
                   customer: Customer | int | CustomerByPhone | CustomerOfUser,
                   staff: StaffProfile | int | None = None, source: str = "online",
                   note: str = "", idempotency_key: str | None = None,
                   before_commit: Any = None) -> Booking:
    """Book ``service`` at ``store`` for ``customer`` at ``start_at`` (aware datetime):
    the one way a booking is created — by the API, the customer's pages, the desk's
    pages, the CLI's demo and the tests.

    Everything happens in one write transaction: resolving the customer (by phone for the
    store's own bookings), checking that the store offers the service, the staff member
    performs it here, the slot is in their working time and free of bookings and
    time-off (only that person's interval is read: one statement), plugins' vetoes, the
    insert. A refusal writes nothing. ``staff=None`` means "any staff": the fairest free
    person is chosen here. Raises ValidationFailed, SlotTaken (409, also when the
    database's own overlap guard refuses) or NotFound. ``before_commit(booking)`` runs
    inside the transaction after the insert (the API stores its idempotent reply there).

    For the common request — a known staff member and customer — that is 4 statements
    besides the inserts of the booking, its first history entry and their audit rows.
    """
    if start_at.tzinfo is None:
        raise ValidationFailed(_l("The start time needs a time zone offset."),
                               field_errors={"start_at": [_l("Give an offset, e.g. +08:00.")]})
    if source not in ("online", *STAFF_SOURCES):
        raise ValidationFailed(_l("Unknown booking source."),
                               field_errors={"source": [_l("One of: online, walk_in, phone")]})
    by_phone = customer if isinstance(customer, CustomerByPhone) else None
    store_id, service_id, staff_id = _id(store), _id(service), _id(staff)
    assert store_id is not None and service_id is not None
    registry = plugins()
    with write_transaction() as session:
        head = _head(session, store_id, service_id, staff_id, customer)
        if head is None:
            raise NotFound(_l("%(what)s not found.", what=_l("Store")))
        store_row: Store = head.Store
        svc: Service | None = head.Service
        if svc is None:
            raise NotFound(_l("%(what)s not found.", what=_l("Service")))
        if store_row.status != "active" or not svc.published or head.offered is None:
            raise RuleViolation(_l("%(service)s cannot be booked at %(store)s.",
                                   service=svc.name, store=store_row.name),
                                field_errors={"service_id": [_l("Not offered here.")]})
        person: StaffProfile | None = head.StaffProfile
        if staff_id is not None:
            if person is None:
                raise NotFound(_l("%(what)s not found.", what=_l("Staff member")))
            if not (person.active and head.works and head.performs):
                raise RuleViolation(_l("%(staff)s does not perform %(service)s at "
                                       "%(store)s.", staff=person.display_name,
                                       service=svc.name, store=store_row.name),
                                    field_errors={"staff_id": [_l("Not available for "
                                                                  "this service here.")]})
        if by_phone is not None:
            brand_country = getattr(head.BrandSettings, "country", None) \
                or phones.DEFAULT_REGION
            if brand_country != _phone_country():  # the brand moved: look again
                current_app.extensions["fulian_phone_country"] = brand_country
                client = find_or_create(by_phone.phone, by_phone.name, by_phone.source,
                                        announce=bool(head.hooks))
            else:
                client = head.Customer or find_or_create(
                    by_phone.phone, by_phone.name, by_phone.source,
                    announce=bool(head.hooks), absent=True)
        else:
            client = head.Customer
            if client is None:
                raise NotFound(_l("%(what)s not found.", what=_l("Customer")))
        end_at = start_at + timedelta(minutes=svc.duration_min)
        block_start = start_at - timedelta(minutes=svc.buffer_before_min)
        block_end = end_at + timedelta(minutes=svc.buffer_after_min)
        now_ts = int(utcnow().timestamp())
        if person is not None:
            window = _staff_window(session, store_row, svc, person, block_start, block_end)
        else:
            window = _window(store_row, svc, block_start, block_end, None)
        if _guard_enabled():
            able = _who_can_take(window, int(start_at.timestamp()), source=source, now=now_ts)
            if not able:
                name = person.display_name if person is not None \
                    else _l("any staff member")
                raise SlotTaken(_l("This time is no longer free for %(staff)s.", staff=name))
        else:
            able = list(window.staff_names)
        if person is None:
            if not able:
                raise SlotTaken(_l("This time is no longer free for %(staff)s.",
                                   staff=_l("any staff member")))
            person = session.get(StaffProfile, _fair_pick(store_row, able, start_at))
        assert person is not None
        draft = BookingDraft(store=store_row, service=svc, staff=person, customer=client,
                             start_at=start_at, end_at=end_at, source=source,
                             note=note or "")
        reasons: list[Any] = registry.call_flat("fulian_validate_booking", draft=draft)
        if reasons:
            raise ValidationFailed(_l("The booking was refused."),
                                   field_errors={"_schema": [str(r) for r in reasons]})
        brand: BrandSettings | None = head.BrandSettings
        price = head.price_override if head.price_override is not None else svc.price
        currency = brand.currency if brand is not None else "CNY"
        quote, deposit = None, 0
        if source == "online" and rates.percent(svc, store_row, "deposit_percent"):
            quote = orders.booking_quote(store_row, svc, client, price, currency)
            deposit = rates.deposit_for(svc, store_row, quote.total)
        # The slot waits for its deposit only when it can be paid online; otherwise the
        # deposit is on the order and the store takes it.
        held = bool(deposit) and online_available()
        pending = store_row.acceptance_required and source == "online"
        status = holds.HOLD_STATUS if held else "pending" if pending else "confirmed"
        booking = Booking(
            store_id=store_row.id, staff_id=person.id, service_id=svc.id,
            customer_id=client.id, start_at=start_at, end_at=end_at,
            block_start=block_start, block_end=block_end, status=status,
            price=price, currency=currency,
            source=source, note=note, idempotency_key=idempotency_key,
        )
        booking.history.append(BookingStatusChange(
            from_status=None, to_status=status, actor_user_id=current_actor()[0],
            reason=source,
        ))
        session.add(booking)
        _flush_or_conflict(session, person.display_name)
        if quote is not None:  # the deposit is asked now: its order exists from the start
            orders.record_order(booking, quote, deposit, current_actor()[0])
        if head.hooks:
            webhooks.record_booking("booking.created", booking)
        if before_commit is not None:
            before_commit(booking)
        if held:
            jobs.enqueue("core.booking.service:deposit_hold_expired", booking.id,
                         delay=holds.hold_time())
        elif pending:
            jobs.enqueue("core.booking.service:acceptance_timeout", booking.id,
                         delay=timedelta(minutes=store_row.acceptance_timeout_min))
    registry.call("fulian_booking_event", booking=booking, event="created")
    return booking


def _staff_window(session: Any, store: Store, service: Service, person: StaffProfile,
                  block_start: datetime, block_end: datetime) -> StoreWindow:
    """The window of one known staff member around one booking: their time from one
    statement (:mod:`core.booking.slot`), the store's policy from rows already read."""
    tz = ZoneInfo(store.timezone)
    day_from, day_to = block_start.astimezone(tz).date(), block_end.astimezone(tz).date()
    work, busy = slot.staff_time(session.connection(), store.id, person.id, tz, day_from,
                                 day_to)
    return StoreWindow(
        store_id=store.id, tz=tz, step_min=store.slot_step_min,
        min_notice_min=store.min_notice_min, horizon_days=store.horizon_days,
        day_from=day_from, day_to=day_to, bookable=True,
        duration_min=service.duration_min, buffer_before_min=service.buffer_before_min,
        buffer_after_min=service.buffer_after_min,
        staff_names={person.id: person.display_name}, work={person.id: work},
        busy={person.id: busy})


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
                               status_label=STATUS_LABELS[target],
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


def acceptance_timeout(booking_id: int, *, now: datetime | None = None) -> None:
    """Job: a booking still pending when the acceptance window closes is reassigned to
    another free staff member (store policy ``reassign``) or declined.

    Everything is decided under the booking's lock: still pending, and the window since
    its last change (creation, a deposit paid, the previous reassignment) really closed
    — so an accept that came first wins, and the job running twice (the jobs outbox
    runs a job again when its "done" mark was lost) reassigns or declines once."""
    now = now or utcnow()
    decline = False
    with write_transaction() as session:
        query = select(Booking).where(Booking.id == booking_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None or row.status != "pending":
            return
        store = session.get(Store, row.store_id)
        assert store is not None
        since = max((h.at for h in row.history), default=row.created_at)
        if now < since + timedelta(minutes=store.acceptance_timeout_min):
            return  # not yet (an early or repeated run)
        others: list[int] = []
        if store.acceptance_timeout_action == "reassign":
            window = _window(store, session.get(Service, row.service_id), row.block_start,
                             row.block_end, None, exclude=row.id)
            others = [sid for sid in _who_can_take(window, int(row.start_at.timestamp()),
                                                   source="phone", now=int(now.timestamp()))
                      if sid != row.staff_id]
        if not others:
            decline = True
        else:
            row.history.append(BookingStatusChange(
                from_status="pending", to_status="pending", at=now,
                reason="reassigned after acceptance timeout"))
            row.staff_id = _fair_pick(store, others, row.start_at)
            _flush_or_conflict(session, str(row.staff_id))
            webhooks.record_booking("booking.reassigned", row)
            jobs.enqueue("core.booking.service:acceptance_timeout", booking_id,
                         delay=timedelta(minutes=store.acceptance_timeout_min))
    if decline:
        try:  # transition locks and checks again: a concurrent accept wins
            transition(booking_id, "decline", reason="not accepted in time", now=now)
        except IllegalTransition:
            return
        return
    plugins().call("fulian_booking_event", booking=row, event="reassigned")


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
        p.status == "pending" and p.created_at > utcnow() - holds.PAYING_GRACE
        for p in order.payments)
    if paying:  # committed on purpose: a job's reads are rolled back, and its jobs with them
        with write_transaction():
            jobs.enqueue("core.booking.service:deposit_hold_expired", booking_id,
                         delay=holds.PAYING_GRACE)
        return
    transition(booking_id, "cancel", reason="deposit not paid in time")


def expire_overdue(now: datetime | None = None) -> int:
    """Periodic job (``core.expire_holds``): end every hold more than
    :data:`core.booking.holds.SWEEP_AFTER` past its time through the expiry job's own
    logic (:func:`deposit_hold_expired`: a payment that arrived is honoured, a customer
    paying right now gets a little longer). Returns how many it looked at."""
    now = now or utcnow()
    ids = list(db.session.scalars(
        select(Booking.id).where(Booking.status == holds.HOLD_STATUS,
                                 Booking.created_at <= now - holds.hold_time() - holds.SWEEP_AFTER)
        .order_by(Booking.created_at).limit(holds.SWEEP_BATCH)))
    db.session.rollback()
    for booking_id in ids:
        try:
            deposit_hold_expired(booking_id)
        except Exception:  # one booking must not keep the others held
            db.session.rollback()
            log.warning("could not end the overdue hold of booking %s", booking_id,
                        exc_info=True)
    if ids:
        log.warning("%d deposit hold(s) past their time: their expiry job was lost or late",
                    len(ids))
    return len(ids)


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
