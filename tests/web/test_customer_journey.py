"""Customer face in a real browser: a new customer books from the home page, logs in
by SMS code on the way, sees the confirmation (QR code, .ics) and cancels; screenshots
of every page at 360 and 1280 px, in Chinese and once in English."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from core.extensions import db
from core.models import Booking, Customer
from tests.web.conftest import Site, customer_login, shot


def zh(site: Site, msgid: str, **kwargs: Any) -> str:
    from flask_babel import gettext

    with site.app.test_request_context("/?lang=zh_CN"):
        return str(gettext(msgid, **kwargs))


def test_new_customer_books_on_the_phone_and_cancels(page: Any, site: Site) -> None:
    page.set_viewport_size({"width": 360, "height": 800})
    phone = "13912345678"
    page.goto("/")
    shot(page, "customer-home")
    page.click("#stores a[href='/stores/1']")
    page.wait_for_url("**/stores/1")
    assert page.locator("h1").inner_text() == "青玉 徐汇旗舰店"
    shot(page, "customer-store")
    page.click("a[href='/services/1']")
    page.wait_for_url("**/services/1")
    shot(page, "customer-service")
    page.click("a.person-name >> nth=0")
    page.wait_for_url(re.compile(r".*/staff/\d+$"))
    shot(page, "customer-staff")
    page.goto("/stores/1")
    page.click("a[href='/book?store=1&service=1']")
    page.wait_for_url("**/book?store=1&service=1")
    shot(page, "customer-book-calendar")
    # pick another free day than the first one, then a slot
    free = page.locator("a.day.free")
    assert free.count() >= 2
    free.nth(1).click()
    page.wait_for_load_state()
    page.locator("#slots").scroll_into_view_if_needed()
    shot(page, "customer-book-slots")
    page.locator("a.slot").first.click()
    page.wait_for_url(re.compile(r".*/me/login\?next=.*"))  # log in on the way
    page.fill("#f-phone", phone)
    page.click("form button[type=submit]")
    page.fill("#f-code", site.sms_code(phone))
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r".*/book/confirm\?.*"))
    page.fill("#f-note", "第一次来，请多关照")
    shot(page, "customer-confirm")
    page.click("form[data-once] button[type=submit]")
    page.wait_for_url(re.compile(r".*/me/bookings/[A-Z0-9]{8}$"))
    code = page.url.rsplit("/", 1)[1]
    assert page.locator(".qr svg").count() == 1
    assert page.locator(".qr-card .code").inner_text() == code
    assert page.locator("a[href$='/booking.ics']").count() == 1
    assert zh(site, "Confirmed") in page.locator(".ticket .status").inner_text()
    shot(page, "customer-confirmation")
    with site.app.app_context():
        booking = db.session.scalars(select(Booking).where(Booking.code == code)).one()
        assert db.session.get(Customer, booking.customer_id).phone == "+86" + phone
        assert booking.note == "第一次来，请多关照"
        db.session.remove()

    page.click("header a[href='/me/bookings']")
    page.wait_for_url("**/me/bookings")
    assert page.locator(f"a[href='/me/bookings/{code}']").count() == 1
    shot(page, "customer-my-bookings")
    page.goto(f"/me/bookings/{code}/reschedule")
    page.locator("a.slot").last.click()
    page.wait_for_url(re.compile(r".*/reschedule\?start=.*"))
    assert page.locator("#move button[type=submit]").count() == 1
    shot(page, "customer-reschedule")
    page.goto(f"/me/bookings/{code}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("form[action$='/cancel'] button")
    page.wait_for_url(f"**/me/bookings/{code}")
    assert zh(site, "Cancelled") in page.locator(".ticket .status").inner_text()
    with site.app.app_context():
        assert db.session.scalars(select(Booking.status).where(Booking.code == code)
                                  ).one() == "cancelled"
        db.session.remove()
    page.goto("/me")
    shot(page, "customer-member")


def test_pages_in_english_on_desktop(page: Any, site: Site) -> None:
    customer_login(page, site, "13800138001")
    page.goto("/")
    page.click(".lang-switch a[hreflang=en]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto("/stores/2")
    assert "Opening hours" in page.content()
    shot(page, "customer-store-en")
    page.goto("/book?store=2&service=3")
    assert page.locator(".calendar-grid").count() == 1
    assert page.locator("a.slot").count() > 0
    shot(page, "customer-book-en")
    page.goto("/me/bookings")
    assert page.locator("h1").inner_text() == "My bookings"
    shot(page, "customer-my-bookings-en")
    page.goto("/me")
    shot(page, "customer-member-en")
