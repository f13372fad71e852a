"""One booking across the three faces in a real browser: a customer books on the phone,
the staff member accepts it in the staff app, the store manager sees it on the calendar,
and another store's manager cannot see it anywhere."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.audit import acting_as
from core.extensions import db
from core.models import Booking
from core.org.stores import update_store
from tests.web.conftest import Site, login, shot


def _booking(site: Site, code: str) -> Booking:
    with site.app.app_context():
        booking = db.session.scalars(select(Booking).where(Booking.code == code)).one()
        db.session.expunge(booking)
        db.session.remove()
        return booking


def test_a_booking_travels_through_every_face(browser: Any, site: Site) -> None:
    with site.app.app_context(), acting_as(None, "test"):
        update_store("xuhui", {"acceptance_required": True})
        db.session.remove()

    def new_page(width: int = 1280) -> Any:
        context = browser.new_context(base_url=site.url, locale="zh-CN",
                                      viewport={"width": width, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    # 1. the customer books on a phone and sees it waiting in "my bookings"
    phone = "13955550001"
    customer = new_page(360)
    customer.goto("/book?store=1&service=1")
    customer.locator("a.day.free").nth(1).click()
    customer.wait_for_load_state()
    customer.locator("a.slot").first.click()
    customer.fill("#f-phone", phone)
    customer.click("form button[type=submit]")
    customer.fill("#f-code", site.sms_code(phone))
    customer.click("form button[type=submit]")
    customer.wait_for_url(re.compile(r".*/book/confirm\?.*"))
    customer.click("form[data-once] button[type=submit]")
    customer.wait_for_url(re.compile(r".*/me/bookings/[A-Z0-9]{8}$"))
    code = customer.url.rsplit("/", 1)[1]
    booking = _booking(site, code)
    assert booking.status == "pending"
    customer.goto("/me/bookings")
    assert customer.locator(f"a[href='/me/bookings/{code}']").count() == 1
    shot(customer, "journey-customer-my-bookings")

    # 2. the staff member accepts it in the staff app
    staff = new_page(360)
    login(staff, "staff_linya")
    card = staff.locator(f"#pending-{booking.id}")
    assert card.count() == 1
    shot(staff, "journey-staff-pending")
    card.locator("form.inline button[type=submit]").first.click()
    staff.wait_for_load_state()
    assert _booking(site, code).status == "confirmed"
    customer.goto(f"/me/bookings/{code}")
    assert customer.locator(".ticket .status").count() == 1

    # 3. the store manager sees it on the day's calendar
    manager = new_page()
    login(manager, "mgr_xuhui")
    day = booking.start_at.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    manager.goto(f"/admin/calendar?store=1&date={day}")
    assert manager.locator(f"[href='/admin/bookings/{booking.id}']").count() >= 1
    shot(manager, "journey-manager-calendar")
    manager.goto(f"/admin/bookings/{booking.id}")
    assert code in manager.content()

    # 4. another store's manager sees it nowhere
    other = new_page()
    login(other, "mgr_jingan")
    assert other.goto(f"/admin/bookings/{booking.id}").status == 404
    other.goto(f"/admin/calendar?date={day}")
    assert code not in other.content()
    other.goto(f"/admin/bookings?date_from={day}&date_to={day}")
    assert f"/admin/bookings/{booking.id}" not in other.content()
    for page in (customer, staff, manager, other):
        page.context.close()
