"""iCalendar output parsed back with ``icalendar``: the zone travels with the event (TZID
plus a VTIMEZONE), times are the store's wall clock, UIDs survive changes, cancellations
stay in the feed as CANCELLED, and the secret feed URL works only with the right token."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from core.booking import service
from core.booking.ics import booking_ics, staff_feed
from core.booking.service import create_booking
from core.catalog.services import add_service
from core.db import write_transaction
from core.extensions import db
from core.models import Booking, Service, StaffProfile
from core.org.staff import add_staff
from core.org.stores import create_store
from tests.core.factories import Shop, add_person, book, local, make_shop, set_policy


@pytest.fixture
def shop(ctx: Any) -> Shop:
    return make_shop()


def _events(data: bytes) -> list[Any]:
    cal = Calendar.from_ical(data)
    assert cal["VERSION"] == "2.0"
    return list(cal.walk("VEVENT"))


def _zones(data: bytes) -> set[str]:
    return {str(tz["TZID"]) for tz in Calendar.from_ical(data).walk("VTIMEZONE")}


def _local_start(event: Any) -> tuple[str, datetime]:
    prop = event["DTSTART"]
    return prop.params["TZID"], prop.dt


def _reload(booking_id: int) -> Booking:
    db.session.rollback()
    return db.session.get(Booking, booking_id)


def test_booking_ics_has_the_store_zone_local_times_and_a_stable_uid(shop: Shop) -> None:
    booking = book(shop)
    data = booking_ics(booking)
    assert data.startswith(b"BEGIN:VCALENDAR")
    (event,) = _events(data)
    assert _zones(data) == {"Asia/Shanghai"}
    tzid, start = _local_start(event)
    assert tzid == "Asia/Shanghai"
    assert (start.hour, start.minute) == (11, 0)  # shop.start is 11:00 local
    assert start == booking.start_at
    assert event["DTEND"].params["TZID"] == "Asia/Shanghai"
    assert event["DTEND"].dt - start == timedelta(minutes=60)
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "Cut main" in str(event["SUMMARY"]) and "Store main" in str(event["SUMMARY"])
    assert booking.code in str(event["DESCRIPTION"])
    assert b"DTSTART;TZID=Asia/Shanghai:" in data
    # The UID survives new downloads, confirmation and rescheduling.
    set_policy(shop.store, acceptance_required=True)
    booking = book(shop, shop.start + timedelta(days=1), source="online")
    (first,) = _events(booking_ics(booking))
    (again,) = _events(booking_ics(_reload(booking.id)))
    assert str(first["UID"]) == str(again["UID"]) == f"booking-{booking.id}-{booking.code}@fulian"
    assert str(first["STATUS"]) == "TENTATIVE"  # pending: not accepted yet
    service.transition(booking.id, "confirm")
    service.transition(booking.id, "reschedule",
                       new_start=shop.start + timedelta(days=1, hours=2))
    (moved,) = _events(booking_ics(_reload(booking.id)))
    assert str(moved["UID"]) == str(first["UID"])
    assert int(moved["SEQUENCE"]) > int(first["SEQUENCE"])
    assert _local_start(moved)[1].hour == 13
    assert str(moved["STATUS"]) == "CONFIRMED"


def test_cancelled_booking_is_cancelled_in_ics_and_feed(shop: Shop) -> None:
    kept = book(shop)
    gone = book(shop, shop.start + timedelta(hours=2))
    service.transition(gone.id, "cancel", reason="ill")
    (event,) = _events(booking_ics(_reload(gone.id)))
    assert str(event["STATUS"]) == "CANCELLED"
    feed = _events(staff_feed(db.session.get(StaffProfile, shop.staff.id)))
    status = {str(e["UID"]): str(e["STATUS"]) for e in feed}
    assert status == {f"booking-{kept.id}-{kept.code}@fulian": "CONFIRMED",
                      f"booking-{gone.id}-{gone.code}@fulian": "CANCELLED"}
    # Someone without bookings gets a valid, empty calendar.
    newcomer = add_staff({"name": "New", "email": "new@example.com"}, {}, stores=["main"])
    assert _events(staff_feed(newcomer)) == []


def test_feed_has_only_this_persons_recent_bookings_in_each_stores_zone(shop: Shop) -> None:
    ny = create_store({"code": "nyc", "name": "Manhattan", "timezone": "America/New_York"},
                      hours="mon-sun 09:00-21:00")
    with write_transaction() as session:
        session.get(StaffProfile, shop.staff.id).stores.append(ny)
    nyc_cut = add_service({"name": "NYC cut", "duration_min": 30, "price": 5000},
                          stores=["nyc"])
    with write_transaction() as session:
        session.get(StaffProfile, shop.staff.id).services.append(session.get(Service,
                                                                             nyc_cut.id))
    bea = add_person("Bea", "bea@example.com", [shop.store.code], [shop.service])
    mine = book(shop)
    day = (datetime.now(ZoneInfo("America/New_York")) + timedelta(days=2)).date()
    there = create_booking(store=ny, service=nyc_cut, customer=shop.customer,
                           start_at=local(ny, day, "10:30"), staff=shop.staff, source="phone")
    book(shop, staff=bea)  # someone else's
    declined_for = _declined(shop)
    old = book(shop, shop.start + timedelta(hours=4))
    with write_transaction() as session:  # long past: out of the feed
        row = session.get(Booking, old.id)
        for field in ("start_at", "end_at", "block_start", "block_end"):
            setattr(row, field, getattr(row, field) - timedelta(days=60))
    data = staff_feed(db.session.get(StaffProfile, shop.staff.id))
    events = {str(e["UID"]): e for e in _events(data)}
    assert set(events) == {f"booking-{b.id}-{b.code}@fulian" for b in (mine, there)}
    assert declined_for not in events
    assert _zones(data) == {"Asia/Shanghai", "America/New_York"}
    tzid, start = _local_start(events[f"booking-{there.id}-{there.code}@fulian"])
    assert tzid == "America/New_York"
    assert (start.date(), start.hour, start.minute) == (day, 10, 30)
    tzid, start = _local_start(events[f"booking-{mine.id}-{mine.code}@fulian"])
    assert (tzid, start.hour) == ("Asia/Shanghai", 11)
    assert str(Calendar.from_ical(data)["X-WR-CALNAME"]) == "Ann"


def _declined(shop: Shop) -> str:
    set_policy(shop.store, acceptance_required=True)
    booking = book(shop, shop.start + timedelta(hours=6), source="online")
    set_policy(shop.store, acceptance_required=False)
    service.transition(booking.id, "decline", reason="no")
    return f"booking-{booking.id}-{booking.code}@fulian"


# --- the secret feed URL ----------------------------------------------------------------------


def test_feed_url_works_with_the_token_and_404s_otherwise(app: Any) -> None:
    with app.app_context():
        shop = make_shop()
        booking = book(shop)
        uid = f"booking-{booking.id}-{booking.code}@fulian"
        token = db.session.get(StaffProfile, shop.staff.id).calendar_token
    client = app.test_client()
    response = client.get(f"/api/v1/calendar/staff/{token}.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    (event,) = _events(response.data)
    assert str(event["UID"]) == uid
    assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), "nope", "x" * 100):
        response = client.get(f"/api/v1/calendar/staff/{wrong}.ics")
        assert response.status_code == 404, wrong
        assert response.mimetype == "application/problem+json"
        assert uid.encode() not in response.data
    # Rotating the token revokes the old URL.
    with app.app_context(), write_transaction() as session:
        session.get(StaffProfile, shop.staff.id).calendar_token = "rotated-token-value"
    assert client.get(f"/api/v1/calendar/staff/{token}.ics").status_code == 404
    assert client.get("/api/v1/calendar/staff/rotated-token-value.ics").status_code == 200
