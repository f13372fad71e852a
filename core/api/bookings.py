"""Bookings: create (idempotent), read, and the lifecycle actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import Response, json
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..auth import policy
from ..booking import service
from ..booking.lifecycle import PEOPLE_ACTIONS
from ..errors import ValidationFailed
from ..extensions import db
from ..idempotency import idempotent
from ..models import BOOKING_STATUSES, Booking, Store
from ..validation import Instant, phone_field
from .common import IDEMPOTENCY_DOC, Forbidden, Id, audited, not_found, require_user

blp = Blueprint("bookings", __name__, url_prefix="/api/v1/bookings", description="Bookings")


class CustomerRef(ma.Schema):
    phone = phone_field(required=True)
    name = ma.fields.String(load_default="", validate=ma.validate.Length(max=120))


class BookingIn(ma.Schema):
    store_id = Id(required=True)
    service_id = Id(required=True)
    staff_id = Id(load_default=None, allow_none=True,
                  metadata={"description": "omit or null for any staff member"})
    start_at = Instant(required=True)
    customer = ma.fields.Nested(CustomerRef,
                                metadata={"description": "required when staff book on a "
                                                         "customer's behalf"})
    source = ma.fields.String(load_default=None, allow_none=True,
                              validate=ma.validate.OneOf(["online", "walk_in", "phone"]))
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=1000))


class HistorySchema(ma.Schema):
    from_status = ma.fields.String(allow_none=True)
    to_status = ma.fields.String()
    reason = ma.fields.String()
    at = ma.fields.String()
    actor_user_id = ma.fields.Integer(allow_none=True)


class BookingOut(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    store_id = ma.fields.Integer()
    staff_id = ma.fields.Integer()
    service_id = ma.fields.Integer()
    customer_id = ma.fields.Integer()
    start_at = ma.fields.String(metadata={"description": "store-local ISO 8601 with offset"})
    end_at = ma.fields.String()
    status = ma.fields.String(metadata={"description": ", ".join(BOOKING_STATUSES)})
    price = ma.fields.Integer(metadata={"description": "minor units"})
    currency = ma.fields.String()
    source = ma.fields.String()
    note = ma.fields.String()
    history = ma.fields.List(ma.fields.Nested(HistorySchema))


class ActionIn(ma.Schema):
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))
    start_at = Instant(load_default=None, allow_none=True)
    staff_id = Id(load_default=None, allow_none=True)


def booking_dict(booking: Booking, tz: ZoneInfo | None = None) -> dict[str, Any]:
    if tz is None:
        store = db.session.get(Store, booking.store_id)
        tz = ZoneInfo(store.timezone if store else "UTC")
    return {
        "id": booking.id, "code": booking.code, "store_id": booking.store_id,
        "staff_id": booking.staff_id, "service_id": booking.service_id,
        "customer_id": booking.customer_id,
        "start_at": booking.start_at.astimezone(tz).isoformat(),
        "end_at": booking.end_at.astimezone(tz).isoformat(),
        "status": booking.status, "price": booking.price, "currency": booking.currency,
        "source": booking.source, "note": booking.note,
        "history": [{"from_status": h.from_status, "to_status": h.to_status, "reason": h.reason,
                     "at": h.at.astimezone(tz).isoformat(), "actor_user_id": h.actor_user_id}
                    for h in booking.history],
    }


def _dump(booking: Booking, tz: ZoneInfo) -> str:
    return json.dumps(BookingOut().dump(booking_dict(booking, tz)), ensure_ascii=False,
                      sort_keys=True)


@blp.post("")
@blp.arguments(BookingIn)
@blp.response(201, BookingOut)
@blp.doc(parameters=IDEMPOTENCY_DOC)
@audited
def create(data: dict[str, Any]) -> Response:
    """Book a service. Staff of the store book for a customer (walk-in, phone); customers
    book for themselves. Re-checked inside the writing transaction: 409 if taken.

    When the policy asks a deposit, a customer's booking is ``awaiting_deposit``: it holds
    the time for ``FULIAN_DEPOSIT_HOLD_MIN`` minutes; pay at least the order's
    ``deposit`` (``POST /bookings/{id}/order``, then ``POST /orders/{id}/payments``) and
    it becomes ``pending`` or ``confirmed``; unpaid, it is cancelled.

    ``customer.phone`` finds the customer in any spelling of the number; one that cannot
    exist in its country's numbering plan is 422 on ``customer``."""
    user = require_user()
    if policy.can_manage_store(user, data["store_id"]):
        if not data.get("customer"):
            raise ValidationFailed(_l("The input is not valid."),
                                   field_errors={"customer": [_l("Give the customer's phone "
                                                                 "when booking for them.")]})
        source = data["source"] or "phone"
        customer: Any = service.CustomerByPhone(
            data["customer"]["phone"], data["customer"]["name"],
            "walk_in" if source == "walk_in" else "phone" if source == "phone" else "online")
    else:
        if "customer" not in policy.roles(user):
            if db.session.get(Store, data["store_id"]) is None:
                raise not_found(_l("Store"))
            raise Forbidden(_l("Only the store's front desk or the customer can book."))
        customer, source = service.CustomerOfUser(user.id), "online"

    def effect(remember: Callable[[Response], None]) -> None:
        def reply(booking: Booking) -> None:
            store = db.session.get(Store, booking.store_id)  # in the session already
            tz = ZoneInfo(store.timezone if store else "UTC")
            remember(Response(_dump(booking, tz), status=201, mimetype="application/json"))

        try:
            service.create_booking(
                store=data["store_id"], service=data["service_id"], customer=customer,
                start_at=data["start_at"], staff=data["staff_id"], source=source,
                note=data["note"], before_commit=reply)
        except ValidationFailed as exc:
            if isinstance(customer, service.CustomerByPhone) and "phone" in exc.field_errors:
                # the number cannot exist: say where it is in the request
                raise ValidationFailed(exc.message,
                                       field_errors={"customer": exc.field_errors}) from exc
            raise

    return idempotent("bookings.create", effect)


def _visible(booking_id: int) -> tuple[Booking, str]:
    user = require_user()
    # Ids beyond the column's range cannot exist (and overflow the driver: a 500).
    booking = db.session.get(Booking, booking_id)
    relation = policy.booking_relation(user, booking) if booking else None
    if booking is None or relation is None:
        raise not_found(_l("Booking"))
    return booking, relation


@blp.get("/<id:booking_id>")
@blp.response(200, BookingOut)
def read(booking_id: int) -> dict[str, Any]:
    """A booking with its status history (its store, its staff member or its customer)."""
    user = require_user()
    # the booking, its history and its store's time zone in one statement
    found = db.session.execute(
        select(Booking, Store.timezone).join(Store, Store.id == Booking.store_id)
        .options(joinedload(Booking.history))
        .where(Booking.id == booking_id)).unique().first()
    if found is None or policy.booking_relation(user, found[0]) is None:
        raise not_found(_l("Booking"))
    return booking_dict(found[0], ZoneInfo(found[1]))


ALLOWED = {
    "manager": set(PEOPLE_ACTIONS),
    "staff": {"confirm", "decline", "complete", "no_show"},
    "customer": {"cancel", "reschedule"},
}


@blp.post("/<id:booking_id>/<any(confirm,decline,cancel,complete,no_show,reschedule):action>")
@blp.arguments(ActionIn)
@blp.response(200, BookingOut)
@audited
def act(data: dict[str, Any], booking_id: int, action: str) -> dict[str, Any]:
    """Move a booking through its lifecycle: confirm, decline, cancel, complete, no_show,
    reschedule (give start_at, optionally staff_id). Illegal transitions get 409."""
    booking, relation = _visible(booking_id)
    if action not in ALLOWED[relation]:
        raise Forbidden(_l("You may not do this to this booking."))
    if action == "decline" and not data["reason"].strip():
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"reason": [_l("Say why the booking is "
                                                           "declined.")]})
    if action == "reschedule" and data["start_at"] is None:
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"start_at": [_l("Missing data for required "
                                                             "field.")]})
    if data["staff_id"] is not None and relation != "manager":
        raise Forbidden(_l("Only the store can move a booking to another staff member."))
    moved = service.transition(booking.id, action, reason=data["reason"].strip(),
                               by_customer=relation == "customer",
                               new_start=data["start_at"], new_staff_id=data["staff_id"])
    return booking_dict(moved)


