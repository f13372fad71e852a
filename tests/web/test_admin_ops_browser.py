"""Back office operations in a real browser: the store manager's calendar and a walk-in
booking through the form, plus screenshots of every operations page at 360 and 1280 px."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.extensions import db
from core.models import Booking, Customer
from tests.web.conftest import Site, login, shot

TZ = ZoneInfo("Asia/Shanghai")


def test_manager_sees_the_calendar_and_books_a_walk_in(page: Any, site: Site) -> None:
    login(page, "mgr_xuhui")
    shot(page, "admin-dashboard")
    tomorrow = datetime.now(TZ).date() + timedelta(days=1)
    page.goto(f"/admin/calendar?date={tomorrow}")
    block = page.locator(".ops-block").first
    block.wait_for()
    assert "–" in block.locator(".ops-block-time").inner_text()
    assert page.locator(".ops-cal-staff").count() >= 2  # a column per xuhui staff member
    shot(page, "admin-calendar-day")
    page.click(".ops-seg a:nth-child(2)")
    page.wait_for_url("**view=week**")
    assert page.locator(".ops-week-day").count() == 7
    shot(page, "admin-calendar-week")

    page.click(".app-nav a[href='/admin/bookings/new']")
    page.wait_for_url("**/admin/bookings/new**")
    with page.expect_navigation():
        page.select_option("#f-service", page.locator("#f-service option", has_text="精致剪发")
                           .get_attribute("value"))
    day = datetime.now(TZ).date() + timedelta(days=3)
    page.fill("#f-date", day.isoformat())
    with page.expect_navigation():
        page.click("#choose button[type=submit]")
    slot = page.locator(".ops-slot").nth(2)
    value = slot.locator("input").get_attribute("value")
    slot.click()
    page.fill("#f-phone", "13955550000")
    page.fill("#f-name", "步行客")
    page.fill("#f-note", "第一次来")
    shot(page, "admin-new-booking")
    page.click(".ops-new-form button[type=submit]")
    page.wait_for_url("**/admin/bookings/*")
    assert "步行客" in page.inner_text("main")
    assert page.locator(".alert-success").count() == 1
    with site.app.app_context():
        customer = db.session.scalars(select(Customer).where(
            Customer.phone == "+8613955550000")).one()
        booking = db.session.scalars(select(Booking).where(
            Booking.customer_id == customer.id)).one()
        assert booking.source == "walk_in" and booking.start_at == datetime.fromisoformat(value)
    shot(page, "admin-booking-detail")


def test_screenshots_of_lists_and_customers(page: Any, site: Site) -> None:
    login(page, "owner")
    today = datetime.now(TZ).date()
    page.goto(f"/admin/bookings?date_from={today}&date_to={today + timedelta(days=7)}")
    assert page.locator("tr[data-booking]").count() > 0
    shot(page, "admin-bookings")
    page.goto("/admin/customers")
    shot(page, "admin-customers")
    page.click("tr[data-customer] >> nth=-1 >> a")
    page.wait_for_url("**/admin/customers/*")
    page.fill("#f-tag", "常客")
    page.click(".ops-inline-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".ops-tags").inner_text().count("常客") == 1
    shot(page, "admin-customer")
