"""iCalendar output parsed back with ``icalendar``: every instant is written in UTC (no
TZID, no VTIMEZONE), so both occurrences of a fall-back day's repeated hour come out
exactly; UIDs survive changes, cancellations stay in the feed as CANCELLED, and the
secret feed URL works only with the right token."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
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


def _instant(event: Any, name: str = "DTSTART") -> datetime:
    """The property's instant, which must be written in UTC (``…Z``, no TZID)."""
    prop = event[name]
    assert "TZID" not in prop.params
    assert prop.dt.utcoffset() == timedelta(0) and prop.to_ical().endswith(b"Z")
    return prop.dt


def _reload(booking_id: int) -> Booking:
    db.session.rollback()
    return db.session.get(Booking, booking_id)


def test_booking_ics_has_utc_instants_and_a_stable_uid(shop: Shop) -> None:
    booking = book(shop)
    data = booking_ics(booking)
    assert data.startswith(b"BEGIN:VCALENDAR")
    (event,) = _events(data)
    assert _zones(data) == set()  # nothing refers to a TZID
    start = _instant(event)
    assert start == booking.start_at == shop.start  # 11:00 in Shanghai is 03:00Z
    assert (start.hour, start.minute) == (3, 0)
    assert _instant(event, "DTEND") - start == timedelta(minutes=60)
    assert _instant(event, "DTSTAMP") and _instant(event, "LAST-MODIFIED")
    assert str(event["STATUS"]) == "CONFIRMED"
    assert "Cut main" in str(event["SUMMARY"]) and "Store main" in str(event["SUMMARY"])
    assert booking.code in str(event["DESCRIPTION"])
    assert b"TZID" not in data
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
    assert _instant(moved) == shop.start + timedelta(days=1, hours=2)
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
    assert _zones(data) == set()
    start = _instant(events[f"booking-{there.id}-{there.code}@fulian"])
    assert start == there.start_at
    new_york = start.astimezone(ZoneInfo("America/New_York"))
    assert (new_york.date(), new_york.hour, new_york.minute) == (day, 10, 30)
    start = _instant(events[f"booking-{mine.id}-{mine.code}@fulian"])
    assert start == mine.start_at and start.astimezone(ZoneInfo("Asia/Shanghai")).hour == 11
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
        start = booking.start_at
        token = db.session.get(StaffProfile, shop.staff.id).calendar_token
    client = app.test_client()
    response = client.get(f"/api/v1/calendar/staff/{token}.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    (event,) = _events(response.data)
    assert str(event["UID"]) == uid
    assert _instant(event) == start
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


# --- the repeated hour of a fall-back day -----------------------------------------------------


def _next_fall_back(zone: ZoneInfo) -> date:
    """The next day (from the day after tomorrow) whose clocks go back an hour."""
    today = datetime.now(zone).date()
    for ahead in range(2, 370):
        day = today + timedelta(days=ahead)
        midnight, noon = (datetime(day.year, day.month, day.day, h, tzinfo=zone)
                          for h in (0, 12))
        if midnight.utcoffset() > noon.utcoffset():
            return day
    raise AssertionError("no fall-back day within a year")


def test_both_occurrences_of_a_repeated_hour_are_exact_utc_instants(app: Any) -> None:
    """America/New_York's 01:30 on a fall-back day happens twice (EDT, then EST): the
    booking .ics and the staff feeds must tell the two apart, which a TZID cannot.
    (Two people serve them: the booking engine refuses the second 01:30 next to the
    first for one person — a scheduling matter, not the calendar's.)"""
    zone = ZoneInfo("America/New_York")
    day = _next_fall_back(zone)
    with app.app_context():
        store = create_store({"code": "nyc", "name": "Manhattan",
                              "timezone": "America/New_York"}, hours="mon-sun 00:00-23:00")
        set_policy(store, horizon_days=365)
        cut = add_service({"name": "Trim", "duration_min": 30, "price": 5000},
                          stores=["nyc"])
        staff = [add_staff({"name": name, "email": f"{name}@example.com"}, {},
                           stores=["nyc"], services=[str(cut.id)]) for name in ("nia", "ola")]
        customer = make_shop().customer
        bookings = [create_booking(store=store, service=cut, customer=customer,
                                   start_at=datetime(day.year, day.month, day.day, 1, 30,
                                                     fold=fold, tzinfo=zone),
                                   staff=person, source="phone")
                    for fold, person in ((0, staff[0]), (1, staff[1]))]
        first, second = (datetime(day.year, day.month, day.day, hour, 30, tzinfo=UTC)
                         for hour in (5, 6))  # 01:30 EDT (-4), then 01:30 EST (-5)
        assert [b.start_at for b in bookings] == [first, second]
        expected = [{f"booking-{b.id}-{b.code}@fulian": (b.start_at, b.end_at)}
                    for b in bookings]
        for booking in bookings:
            data = booking_ics(booking)
            (event,) = _events(data)
            assert (_instant(event), _instant(event, "DTEND")) == \
                (booking.start_at, booking.end_at)
            assert f"DTSTART:{booking.start_at:%Y%m%dT%H%M%S}Z".encode() in data
        tokens = [db.session.get(StaffProfile, p.id).calendar_token for p in staff]
    for token, wanted in zip(tokens, expected, strict=True):
        response = app.test_client().get(f"/api/v1/calendar/staff/{token}.ics")
        assert response.status_code == 200
        found = {str(e["UID"]): (_instant(e), _instant(e, "DTEND"))
                 for e in _events(response.data)}
        assert found == wanted
        assert b"TZID" not in response.data
