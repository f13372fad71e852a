"""The booking service: the only code that creates bookings.

Everything that could make a booking invalid is checked inside the writing transaction
(on SQLite opened with ``BEGIN IMMEDIATE``, so concurrent writers are serialised): the
staff member works at the store and offers the service, nobody vetoes it through
``fulian_validate_booking``, and the staff member's blocked range (service time plus
buffers) overlaps no active booking. Lifecycle events reach plugins after commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..audit import current_actor
from ..catalog.services import price_at
from ..db import write_transaction
from ..errors import Conflict, ValidationFailed
from ..extensions import db
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


def create_booking(*, store: Store, staff: StaffProfile, service: Service, customer: Customer,
                   start_at: datetime, source: str = "online", note: str = "",
                   idempotency_key: str | None = None) -> Booking:
    if start_at.tzinfo is None:
        raise ValidationFailed(_l("The start time needs a time zone offset."),
                               field_errors={"start_at": [_l("Give an offset, e.g. +08:00.")]})
    end_at = start_at + timedelta(minutes=service.duration_min)
    block_start = start_at - timedelta(minutes=service.buffer_before_min)
    block_end = end_at + timedelta(minutes=service.buffer_after_min)
    registry = plugins()
    with write_transaction() as session:
        if store.id not in {s.id for s in staff.stores}:
            raise ValidationFailed(_l("%(staff)s does not work at %(store)s.",
                                      staff=staff.display_name, store=store.name),
                                   field_errors={"staff_id": [_l("Not at this store.")]})
        if service.id not in {s.id for s in staff.services}:
            raise ValidationFailed(_l("%(staff)s does not offer %(service)s.",
                                      staff=staff.display_name, service=service.name),
                                   field_errors={"staff_id": [_l("Does not offer it.")]})
        request: dict[str, Any] = {"store": store, "staff": staff, "service": service,
                                   "customer": customer, "start_at": start_at,
                                   "end_at": end_at, "source": source}
        reasons: list[Any] = registry.call_flat("fulian_validate_booking", request=request)
        if reasons:
            raise ValidationFailed(_l("The booking was refused."),
                                   field_errors={"_schema": [str(r) for r in reasons]})
        clash = session.scalars(select(Booking.id).where(
            Booking.staff_id == staff.id,
            Booking.status.in_(ACTIVE_STATUSES),
            Booking.block_start < block_end,
            Booking.block_end > block_start,
        ).limit(1)).first()
        if clash is not None:
            raise Conflict(_l("This time is no longer free for %(staff)s.",
                              staff=staff.display_name))
        brand = session.get(BrandSettings, 1)
        booking = Booking(
            store_id=store.id, staff_id=staff.id, service_id=service.id,
            customer_id=customer.id, start_at=start_at, end_at=end_at,
            block_start=block_start, block_end=block_end, status="confirmed",
            price=price_at(service, store.id), currency=brand.currency if brand else "CNY",
            source=source, note=note, idempotency_key=idempotency_key,
        )
        booking.history.append(BookingStatusChange(
            from_status=None, to_status="confirmed", actor_user_id=current_actor()[0],
            reason=source,
        ))
        session.add(booking)
    registry.call("fulian_booking_event", booking=booking, event="created")
    return booking


def bookings_for_staff(staff_id: int) -> list[Booking]:
    return list(db.session.scalars(
        select(Booking).where(Booking.staff_id == staff_id).order_by(Booking.start_at)
    ))
