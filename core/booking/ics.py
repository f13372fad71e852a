"""iCalendar (RFC 5545) for bookings: a staff member's subscription feed and a single
booking's confirmation. Built with ``icalendar``; events carry the store's TZID and the
calendar embeds the matching VTIMEZONE so any client shows the right local time."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

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
    tz = ZoneInfo(store.timezone)
    event = Event()
    event.add("uid", f"booking-{booking.id}-{booking.code}@fulian")
    event.add("dtstamp", utcnow())
    event.add("dtstart", booking.start_at.astimezone(tz))
    event.add("dtend", booking.end_at.astimezone(tz))
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
    cal.add_missing_timezones()
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
    cal.add_missing_timezones()
    return cal.to_ical()
