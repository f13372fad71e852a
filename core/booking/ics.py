"""iCalendar (RFC 5545) for bookings: a staff member's subscription feed and a single
booking's confirmation, built with ``icalendar``.

Every instant is written in UTC (``DTSTART:20271107T063000Z``), not as store-local time
with a TZID: on a fall-back day the repeated hour's second 01:30 has no TZID spelling
(RFC 5545 reads an ambiguous local time as its first occurrence), and a UTC instant is
exactly what the database stores, needs no VTIMEZONE and no agreement between our zone
rules and the client's. Clients show it in the viewer's own zone, which for customers
and staff at the store is the store's."""

from __future__ import annotations

from datetime import UTC, timedelta

from icalendar import Calendar, Event
from sqlalchemy import select

from ..db import utcnow
from ..extensions import db
from ..models import Booking, BrandSettings, Customer, Service, StaffProfile, Store

STATUS = {"awaiting_deposit": "TENTATIVE", "pending": "TENTATIVE", "confirmed": "CONFIRMED",
          "completed": "CONFIRMED", "no_show": "CONFIRMED", "cancelled": "CANCELLED",
          "declined": "CANCELLED"}


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//Fulian//Bookings//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    return cal


def _event(booking: Booking, store: Store, service: Service, title: str,
           description: str) -> Event:
    event = Event()
    event.add("uid", f"booking-{booking.id}-{booking.code}@fulian")
    event.add("dtstamp", utcnow())
    event.add("dtstart", booking.start_at.astimezone(UTC))
    event.add("dtend", booking.end_at.astimezone(UTC))
    event.add("summary", title)
    event.add("location", f"{store.name} {store.address}".strip())
    event.add("description", description)
    event.add("status", STATUS[booking.status])
    event.add("sequence", max(len(booking.history) - 1, 0))
    event.add("last-modified", booking.updated_at)
    return event


def booking_ics(booking: Booking) -> bytes:
    """The confirmation a customer adds to their calendar."""
    store = db.session.get(Store, booking.store_id)
    service = db.session.get(Service, booking.service_id)
    staff = db.session.get(StaffProfile, booking.staff_id)
    brand = db.session.get(BrandSettings, 1)
    cal = _calendar(brand.name if brand else "Fulian")
    cal.add("method", "PUBLISH")
    cal.add_component(_event(booking, store, service, f"{service.name} · {store.name}",
                             f"{staff.display_name if staff else ''} · {booking.code}"))
    return cal.to_ical()


def staff_feed(staff: StaffProfile, days_back: int = 30) -> bytes:
    """A person's bookings from ``days_back`` days ago on; cancelled ones stay in the feed
    as CANCELLED so subscribed clients remove them."""
    since = utcnow() - timedelta(days=days_back)
    rows = db.session.execute(
        select(Booking, Store, Service, Customer)
        .join(Store, Store.id == Booking.store_id)
        .join(Service, Service.id == Booking.service_id)
        .join(Customer, Customer.id == Booking.customer_id)
        .where(Booking.staff_id == staff.id, Booking.end_at >= since,
               Booking.status != "declined")
        .order_by(Booking.start_at)
    ).all()
    cal = _calendar(staff.display_name)
    for booking, store, service, customer in rows:
        cal.add_component(_event(booking, store, service,
                                 f"{service.name} · {customer.name or customer.phone[-4:]}",
                                 f"{store.name} · {booking.code}"))
    return cal.to_ical()
