"""What every staff-app view needs: the logged-in person, their time zone, their own
bookings (someone else's answers 404) and local-time formatting.

A staff member may work at stores in different zones: each booking is shown in its
store's zone; "today" and "this week" are the days of the person's first store (the
brand's zone when they have none), which is what they mean when they say "today".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton
from flask import abort
from flask_babel import format_date, format_datetime, format_time, get_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ...db import utcnow
from ...extensions import db
from ...models import Booking, BrandSettings, Customer, Service, StaffProfile, Store, User
from ..session import page_user, staff_profile


@dataclass
class Me:
    """The logged-in staff member of this request."""

    user: User
    staff: StaffProfile
    tz: ZoneInfo

    @property
    def several_stores(self) -> bool:
        return len(self.staff.stores) > 1


def me() -> Me:
    """The person behind this request (views are guarded by ``@staff_only``)."""
    user = page_user()
    staff = staff_profile(user)
    if user is None or staff is None:  # the guard makes this unreachable
        abort(403)
    return Me(user, staff, home_zone(staff))


def home_zone(staff: StaffProfile) -> ZoneInfo:
    """The zone the person's days are counted in: their first store's, else the brand's."""
    if staff.stores:
        return ZoneInfo(staff.stores[0].timezone)
    brand = db.session.get(BrandSettings, 1)
    return ZoneInfo(getattr(brand, "timezone", None) or "Asia/Shanghai")


def local_now(tz: ZoneInfo) -> datetime:
    return utcnow().astimezone(tz)


@dataclass
class Row:
    """A booking with what the pages show next to it, in its store's zone."""

    booking: Booking
    store: Store
    service: Service
    customer: Customer

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.store.timezone)

    @property
    def start(self) -> datetime:
        return self.booking.start_at.astimezone(self.tz)

    @property
    def end(self) -> datetime:
        return self.booking.end_at.astimezone(self.tz)

    @property
    def first_name(self) -> str:
        return first_name(self.customer.name)


def first_name(name: str) -> str:
    """What staff call the customer: the first word of a Western name; Chinese names
    (张小姐) are already the polite short form and stay whole."""
    name = (name or "").strip()
    if not name:
        return _("Customer")
    return name.split()[0] if " " in name else name


def rows_for(query: Any) -> list[Row]:
    """Bookings of a query with their store, service and customer (four statements)."""
    bookings = db.session.scalars(query).all()
    if not bookings:
        return []
    stores = _by_id(Store, {b.store_id for b in bookings})
    services = _by_id(Service, {b.service_id for b in bookings})
    customers = _by_id(Customer, {b.customer_id for b in bookings})
    return [Row(b, stores[b.store_id], services[b.service_id], customers[b.customer_id])
            for b in bookings]


def _by_id(model: Any, ids: set[int]) -> dict[int, Any]:
    return {r.id: r for r in db.session.scalars(select(model).where(model.id.in_(ids)))}


def own_bookings(staff: StaffProfile) -> Any:
    """A select of the person's bookings, earliest first."""
    return select(Booking).where(Booking.staff_id == staff.id).order_by(Booking.start_at,
                                                                      Booking.id)


def own_booking(staff: StaffProfile, booking_id: int) -> Row:
    """The person's booking ``booking_id``; anybody else's (or none) is a 404."""
    query = select(Booking).where(Booking.id == booking_id, Booking.staff_id == staff.id) \
        .options(selectinload(Booking.history))
    rows = rows_for(query)
    if not rows:
        abort(404)
    return rows[0]


def hm(value: datetime) -> str:
    """Local clock time of an aware datetime, in the page's locale (no rebasing)."""
    return format_time(value, "short", rebase=False)


def when(value: datetime) -> str:
    return format_datetime(value, "medium", rebase=False)


def day_name(value: date, skeleton: str = "MMMEd") -> str:
    """A short, locale-shaped day (3月2日周一, Mon, Mar 2)."""
    return format_skeleton(skeleton, value, locale=get_locale())


def long_day(value: date) -> str:
    return format_date(value, "full")
