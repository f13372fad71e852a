"""The staff app (员工端) through Flask's test client: own data only, the lifecycle
actions, completing by code, time-off requests, and who may open it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core import phones
from core.audit import acting_as
from core.booking.service import create_booking
from core.extensions import db
from core.models import Booking, Customer, StaffProfile, TimeOff, User
from core.org.stores import update_store
from tests.web.conftest import PEOPLE, Site, post_form

TZ = ZoneInfo("Asia/Shanghai")


def make_booking(site: Site, who: str, start: datetime | None = None, *,
                 pending: bool = False, customer_phone: str = "13800138001") -> tuple[int, str]:
    """A booking of ``who`` (staff_linya / staff_wanglei) through the booking service.

    ``pending``: an online booking at a store that requires acceptance (the store's
    policy is switched on for the call). Otherwise a walk-in, which is confirmed. The
    availability guard is off for the call so that tests do not depend on the hour they
    run at; every other rule of the service applies.
    """
    if start is None:
        now = datetime.now(TZ).replace(second=0, microsecond=0)
        start = max(now - timedelta(minutes=10), now.replace(hour=0, minute=0))
    with site.app.app_context(), acting_as(None, "test"):
        staff = db.session.scalars(select(StaffProfile).join(User).where(
            User.email == PEOPLE[who])).one()
        store, service = staff.stores[0], staff.services[0]
        customer = db.session.scalars(select(Customer).where(
            Customer.phone == phones.normalise(customer_phone))).one()
        site.app.config["FULIAN_BOOKING_GUARD"] = False
        try:
            if pending:
                update_store(store.id, {"acceptance_required": True})
            booking = create_booking(store=store, service=service, customer=customer,
                                     start_at=start, staff=staff,
                                     source="online" if pending else "walk_in")
        finally:
            site.app.config["FULIAN_BOOKING_GUARD"] = True
            if pending:
                update_store(store.id, {"acceptance_required": False})
        assert booking.status == ("pending" if pending else "confirmed")
        return booking.id, booking.code


def status_of(site: Site, booking_id: int) -> str:
    with site.app.app_context():
        return db.session.get(Booking, booking_id).status


def english(site: Site, who: str) -> Any:
    """A logged-in client whose pages are in English (msgids), stable while the
    Chinese catalogue grows."""
    client = site.client_as(who)
    client.get("/staff/?lang=en")
    return client


def tomorrow_at(hour: int) -> datetime:
    day = datetime.now(TZ).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=TZ)


def test_today_shows_only_my_bookings(site: Site) -> None:
    mine, _ = make_booking(site, "staff_linya", customer_phone="13800138006")
    theirs, _ = make_booking(site, "staff_wanglei", customer_phone="13800138002")
    client = english(site, "staff_linya")
    html = client.get("/staff/").get_data(as_text=True)
    assert f"/staff/bookings/{mine}" in html
    assert "Emily" in html and "Emily Smith" not in html  # first name only
    assert f"/staff/bookings/{theirs}" not in html
    assert client.get(f"/staff/bookings/{theirs}").status_code == 404
    detail = client.get(f"/staff/bookings/{mine}").get_data(as_text=True)
    assert 'href="tel:+8613800138006"' in detail and "Emily Smith" in detail
    # wanglei sees theirs and not linya's
    other = english(site, "staff_wanglei").get("/staff/").get_data(as_text=True)
    assert f"/staff/bookings/{theirs}" in other and f"/staff/bookings/{mine}" not in other


def test_back_office_user_without_staff_profile_is_refused(site: Site) -> None:
    assert site.client_as("mgr_xuhui").get("/staff/").status_code == 403
    assert site.client().get("/staff/week").status_code == 302  # anonymous: log in first


def test_accept_and_decline_pending_bookings(site: Site) -> None:
    accept, _ = make_booking(site, "staff_linya", tomorrow_at(10), pending=True)
    decline, _ = make_booking(site, "staff_linya", tomorrow_at(12), pending=True)
    client = english(site, "staff_linya")
    today = client.get("/staff/").get_data(as_text=True)
    assert "Awaiting your acceptance" in today
    assert f'id="pending-{accept}"' in today and f'id="pending-{decline}"' in today

    resp = post_form(client, f"/staff/bookings/{accept}/confirm", {"next": "/staff/"},
                     page_url="/staff/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/staff/")
    assert status_of(site, accept) == "confirmed"

    resp = post_form(client, f"/staff/bookings/{decline}/decline", {"reason": "  "},
                     page_url=f"/staff/bookings/{decline}")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert re.search(r'class="field-error" id="reason-error">Say why the booking is declined',
                     html)
    assert status_of(site, decline) == "pending"

    resp = post_form(client, f"/staff/bookings/{decline}/decline",
                     {"reason": "Away that day"}, page_url=f"/staff/bookings/{decline}")
    assert resp.status_code == 302
    assert status_of(site, decline) == "declined"
    detail = client.get(f"/staff/bookings/{decline}").get_data(as_text=True)
    assert "Booking declined." in detail and "Away that day" in detail

    # a declined booking cannot be accepted any more: the rule's message, nothing changes
    resp = post_form(client, f"/staff/bookings/{decline}/confirm", {},
                     page_url=f"/staff/bookings/{decline}")
    assert resp.status_code == 422
    assert "A declined booking cannot be confirmed." in resp.get_data(as_text=True)
    assert status_of(site, decline) == "declined"


def test_complete_and_no_show_from_the_booking_page(site: Site) -> None:
    done, _ = make_booking(site, "staff_linya")
    missed, _ = make_booking(site, "staff_linya")
    client = english(site, "staff_linya")
    page = client.get(f"/staff/bookings/{done}").get_data(as_text=True)
    assert "Mark completed" in page and "data-confirm=" in page  # no-show asks first
    assert post_form(client, f"/staff/bookings/{done}/complete", {},
                     page_url=f"/staff/bookings/{done}").status_code == 302
    assert status_of(site, done) == "completed"
    assert post_form(client, f"/staff/bookings/{missed}/no_show", {},
                     page_url=f"/staff/bookings/{missed}").status_code == 302
    assert status_of(site, missed) == "no_show"
    # someone else's booking cannot be acted on: 404, nothing changes
    theirs, _ = make_booking(site, "staff_wanglei")
    resp = post_form(client, f"/staff/bookings/{theirs}/complete", {}, page_url="/staff/")
    assert resp.status_code == 404
    assert status_of(site, theirs) == "confirmed"
    # too early to complete: tomorrow's booking, the service's rule in words
    early, _ = make_booking(site, "staff_linya", tomorrow_at(16))
    resp = post_form(client, f"/staff/bookings/{early}/complete", {},
                     page_url=f"/staff/bookings/{early}")
    assert resp.status_code == 422
    assert "from 30 minutes before its start" in resp.get_data(as_text=True)
    assert status_of(site, early) == "confirmed"


def test_complete_by_code(site: Site) -> None:
    mine, code = make_booking(site, "staff_linya")
    theirs, their_code = make_booking(site, "staff_wanglei")
    client = english(site, "staff_linya")
    page = client.get("/staff/complete").get_data(as_text=True)
    assert "data-scanner" in page and 'name="code"' in page and "js/staff.js" in page

    resp = post_form(client, "/staff/complete", {"code": their_code}, page_url="/staff/complete")
    assert resp.status_code == 422
    assert "No booking of yours has this code." in resp.get_data(as_text=True)
    assert status_of(site, theirs) == "confirmed"
    resp = post_form(client, "/staff/complete", {"code": "NOPE2345"},
                     page_url="/staff/complete")
    assert resp.status_code == 422
    assert "No booking of yours has this code." in resp.get_data(as_text=True)

    resp = post_form(client, "/staff/complete", {"code": f"  {code.lower()} "},
                     page_url="/staff/complete")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:2000]
    html = resp.get_data(as_text=True)
    assert "Booking completed." in html and code in html
    assert status_of(site, mine) == "completed"

    again = post_form(client, "/staff/complete", {"code": code}, page_url="/staff/complete")
    assert again.status_code == 422
    assert "A completed booking cannot be completed." in again.get_data(as_text=True)
    assert status_of(site, mine) == "completed"


def test_week_and_performance(site: Site) -> None:
    later, _ = make_booking(site, "staff_linya", tomorrow_at(11))
    client = english(site, "staff_linya")
    monday = datetime.now(TZ).date() - timedelta(days=datetime.now(TZ).weekday())
    week = client.get("/staff/week").get_data(as_text=True)
    nxt = client.get(f"/staff/week?start={(monday + timedelta(days=7)).isoformat()}"
                     ).get_data(as_text=True)
    assert f"/staff/bookings/{later}" in week + nxt  # tomorrow may be next week
    assert f"start={(monday - timedelta(days=7)).isoformat()}" in week
    assert client.get("/staff/week?start=not-a-date").status_code == 200

    done, _ = make_booking(site, "staff_linya")
    post_form(client, f"/staff/bookings/{done}/complete", {}, page_url=f"/staff/bookings/{done}")
    html = client.get("/staff/performance").get_data(as_text=True)
    assert "This month" in html and "Last month" in html
    assert "Ratings and commission appear once finance is enabled." in html
    with site.app.app_context():
        staff_id = db.session.get(Booking, done).staff_id
        first = datetime.now(TZ).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        rows = db.session.scalars(select(Booking).where(
            Booking.staff_id == staff_id, Booking.status == "completed",
            Booking.start_at >= first)).all()
    stat = re.search(r'<div class="stat"><b>(\d+)</b><span>Services done', html)
    assert stat and int(stat.group(1)) == len(rows) >= 1


def test_schedule_and_time_off_request(site: Site) -> None:
    client = english(site, "staff_linya")
    html = client.get("/staff/schedule").get_data(as_text=True)
    assert "mon-fri 10:00-13:00,14:00-19:00; sat 10:00-16:00" in html
    assert "Asia/Shanghai" in html

    resp = post_form(client, "/staff/schedule",
                     {"start_at": "2031-05-02T09:00", "end_at": "2031-05-01T18:00"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'id="end_at-error"' in html and 'value="2031-05-02T09:00"' in html
    resp = post_form(client, "/staff/schedule", {"start_at": "", "end_at": "soon"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="start_at-error"' in html and "Not a valid date and time." in html

    with site.app.app_context():
        before = db.session.query(TimeOff).count()
    resp = post_form(client, "/staff/schedule", {"start_at": "2031-05-01T09:00",
                                                 "end_at": "2031-05-01T18:00",
                                                 "reason": "Dentist"})
    assert resp.status_code == 302
    with site.app.app_context():
        assert db.session.query(TimeOff).count() == before + 1
        row = db.session.scalars(select(TimeOff).order_by(TimeOff.id.desc())).first()
        assert row.status == "requested" and row.reason == "Dentist"
        assert row.start_at == datetime(2031, 5, 1, 9, 0, tzinfo=TZ)
    listed = client.get("/staff/schedule").get_data(as_text=True)
    assert "Dentist" in listed and "requested" in listed
