"""The staff app in a real browser (zh-CN): accept a booking waiting for acceptance,
complete one by typing its code, and screenshots of every page at 360 and 1280 px."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.web.conftest import Site, login, shot
from tests.web.test_staff import TZ, make_booking, status_of, tomorrow_at


def test_staff_accepts_and_completes_by_code(page: Any, site: Site) -> None:
    now = datetime.now(TZ).replace(second=0, microsecond=0)
    make_booking(site, "staff_linya", now + timedelta(hours=2), customer_phone="13800138003")
    due, code = make_booking(site, "staff_linya", customer_phone="13800138006")
    pending, _ = make_booking(site, "staff_linya", tomorrow_at(10), pending=True,
                              customer_phone="13800138004")

    login(page, "staff_linya")
    assert page.url.endswith("/staff/")
    card = page.locator(f"#pending-{pending}")
    assert card.is_visible()
    assert page.locator(".staff-timeline").get_by_text("Emily").first.is_visible()
    shot(page, "staff-today")
    card.locator("form.inline button[type=submit]").click()  # Accept
    page.wait_for_url("**/staff/")
    assert status_of(site, pending) == "confirmed"
    assert page.locator(f"#pending-{pending}").count() == 0

    page.goto("/staff/week")
    assert page.locator(".week-day").count() == 7
    shot(page, "staff-week")

    page.goto(f"/staff/bookings/{due}")
    assert page.locator('a[href="tel:+8613800138006"]').is_visible()
    shot(page, "staff-booking")

    page.goto("/staff/complete")
    shot(page, "staff-complete")
    page.fill("#f-code", code.lower())
    page.click("#code-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".done").is_visible()
    assert code in page.locator(".done").inner_text()
    assert status_of(site, due) == "completed"
    shot(page, "staff-complete-done")

    page.goto("/staff/performance")
    assert page.locator(".perf-month").count() == 2
    shot(page, "staff-performance")

    page.goto("/staff/schedule")
    page.click("#to-h ~ .time-off-layout button[type=submit]")  # empty: per-field errors
    page.wait_for_load_state()
    assert page.locator("#start_at-error").is_visible()
    shot(page, "staff-schedule")
