"""Customer face (C端) through Flask's test client: browsing, the booking flow with its
one-time token, the confirmation page, my bookings, cancel/reschedule policy, member
centre. Browser journeys and screenshots are in test_customer_journey.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.audit import acting_as
from core.catalog.services import set_published, set_store_offer
from core.extensions import db
from core.models import Booking, Customer, Store
from core.org.stores import update_store
from tests.web.conftest import Site, post_form


@contextmanager
def app_ctx(site: Site) -> Iterator[None]:
    with site.app.app_context(), acting_as(None, "test"):
        yield
        db.session.remove()


def customer_client(site: Site, phone: str) -> Any:
    """A test client logged in as the customer with ``phone`` (SMS code login)."""
    client = site.client()
    resp = post_form(client, "/me/login", {"phone": phone})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:400]
    resp = post_form(client, "/me/login", {"phone": phone, "step": "code",
                                           "code": site.sms_code(phone)})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:400]
    return client


def text(resp: Any) -> str:
    return unescape(resp.get_data(as_text=True))


def slot_links(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'class="slot" href="([^"]+)"', html)]


def book(site: Site, client: Any, url: str = "/book?store=1&service=1", pick: int = 0,
         note: str = "") -> tuple[Any, str]:
    """Walk the flow: calendar → slot → confirm page → POST. Returns (response, token)."""
    page = client.get(url)
    assert page.status_code == 200
    links = slot_links(page.get_data(as_text=True))
    assert links, "no free slot offered"
    confirm = client.get(links[pick])
    assert confirm.status_code == 200, text(confirm)[:500]
    html = confirm.get_data(as_text=True)
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    resp = client.post(links[pick], data={"csrf_token": csrf, "token": token, "note": note})
    return resp, token


def zh(site: Site, msgid: str, **kwargs: Any) -> str:
    """The page's Chinese for ``msgid`` (the catalogue may still lack a new string)."""
    from flask_babel import gettext

    with site.app.test_request_context("/?lang=zh_CN"):
        return unescape(str(gettext(msgid, **kwargs)))


def later(days: int = 4) -> str:
    """A store-local day far enough ahead for the cancel and reschedule windows."""
    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=days)).isoformat()


def count_bookings(site: Site) -> int:
    with app_ctx(site):
        return db.session.scalar(select(func.count()).select_from(Booking))


# ------------------------------------------------------------------------ browsing


def test_home_links_stores_and_services_and_keeps_the_jade_hero(site: Site) -> None:
    html = text(site.client().get("/"))
    assert "jade-banner" in html  # the theme's hero block still renders
    assert 'href="/stores/1"' in html and 'href="/stores/2"' in html
    assert 'href="/services/1"' in html
    assert 'href="/book?store=1"' in html


def test_store_page_shows_contacts_hours_services_and_team(site: Site) -> None:
    with app_ctx(site):
        set_store_offer(1, "jingan", 19900)  # per-store price for 经典补水面部护理
    resp = site.client().get("/stores/2")
    html = text(resp)
    assert resp.status_code == 200
    assert "青玉 静安店" in html and "南京西路 1266 号" in html and "021-6288 1266" in html
    assert "周一 – 周日" in html and "10:00–21:00" in html
    assert "¥199.00" in html  # the store's own price, not the base ¥288.00
    assert "赵敏 Zhao Min" in html and "王磊 Wang Lei" in html
    assert "林雅 Lin Ya" not in html  # works at xuhui only
    assert 'href="/book?store=2&amp;service=1"' in resp.get_data(as_text=True)
    xuhui = text(site.client().get("/stores/1"))
    assert "周一 – 周五" in xuhui and "09:30–22:00" in xuhui and "¥288.00" in xuhui
    assert site.client().get("/stores/999").status_code == 404


def test_store_page_lists_upcoming_closures(site: Site) -> None:
    from datetime import date

    from core.org.stores import set_holiday

    day = date.today() + timedelta(days=20)
    with app_ctx(site):
        set_holiday("xuhui", {"day": day.isoformat(), "name": "店庆"})
    html = text(site.client().get("/stores/1"))
    assert "店庆" in html and zh(site, "closed") in html


def test_service_page_and_unpublished_404(site: Site) -> None:
    resp = site.client().get("/services/3")
    html = text(resp)
    assert resp.status_code == 200
    assert "肩颈舒缓按摩" in html and "45 分钟" in html and "¥198.00" in html
    assert "陈静 Chen Jing" in html and "青玉 徐汇旗舰店" in html and "青玉 静安店" in html
    assert 'class="placeholder"' in html  # no picture: a neutral placeholder
    with app_ctx(site):
        set_published(6, False)
    try:
        assert site.client().get("/services/6").status_code == 404
        assert customer_client(site, "13900000006").get("/services/6").status_code == 404
        assert site.client().get("/book?store=1&service=6").status_code == 404
        assert "头皮养护" not in text(site.client().get("/stores/2"))
    finally:
        with app_ctx(site):
            set_published(6, True)


def test_staff_profile(site: Site) -> None:
    resp = site.client().get("/staff/1")
    html = text(resp)
    assert resp.status_code == 200
    assert "林雅 Lin Ya" in html and "资深美容师" in html and "L3" in html
    assert "抗衰" in html and "敏感肌" in html and "从业多年" in html
    assert 'avatar-initials' in html and ">林<" in html
    assert "经典补水面部护理" in html and 'href="/book?staff=1"' in html
    assert "评分" not in html and "rating" not in html.lower()  # no invented numbers
    assert site.client().get("/staff/999").status_code == 404


def test_pages_in_english(site: Site) -> None:
    html = text(site.client().get("/stores/1?lang=en"))
    assert "Opening hours" in html and "Mon – Fri" in html and "Our team" in html


# ------------------------------------------------------------------- booking flow


def test_book_asks_for_what_is_missing(site: Site) -> None:
    client = site.client()
    html = text(client.get("/book"))
    assert "青玉 徐汇旗舰店" in html and "青玉 静安店" in html  # choose a store
    html = text(client.get("/book?store=1"))
    assert "经典补水面部护理" in html and "¥288.00" in html  # choose a service
    # Lin Ya works at one store only: the store is chosen for us
    html = text(client.get("/book?staff=1&service=1"))
    assert 'class="calendar-grid"' in html and "林雅 Lin Ya" in html
    assert client.get("/book?store=2&service=1&staff=1").status_code == 404  # not there
    assert client.get("/book?store=999&service=1").status_code == 404


def test_calendar_marks_free_days_and_groups_slots(site: Site) -> None:
    html = site.client().get("/book?store=1&service=1").get_data(as_text=True)
    assert 'class="day free' in html
    assert "aria-current=\"date\"" in html  # first free day chosen
    parts = re.findall(r'<h3 class="part-title">([^<]+)</h3>', html)
    assert parts and set(parts) <= {zh(site, p) for p in ("Morning", "Afternoon", "Evening")}
    for link in slot_links(html):
        assert "/book/confirm?" in link and "start=" in link


def test_booking_needs_login_then_books_once(site: Site) -> None:
    anonymous = site.client()
    link = slot_links(anonymous.get("/book?store=1&service=1").get_data(as_text=True))[0]
    resp = anonymous.get(link)
    assert resp.status_code == 302 and "/me/login?next=" in resp.headers["Location"]

    client = customer_client(site, "13900000001")
    before = count_bookings(site)
    resp, token = book(site, client, note="对精油过敏")
    assert resp.status_code == 302
    code = resp.headers["Location"].rsplit("/", 1)[1]
    assert count_bookings(site) == before + 1
    with app_ctx(site):
        booking = db.session.scalars(select(Booking).where(Booking.code == code)).one()
        customer = db.session.get(Customer, booking.customer_id)
        assert customer.phone == "+8613900000001"
        assert booking.source == "online" and booking.note == "对精油过敏"
        assert booking.status == "confirmed"
        confirm_url = "/book/confirm?" + urlencode({"store": 1, "service": 1,
                                                    "start": booking.start_at.isoformat()})
    # the same form again (double tap, reload): no second booking, the first is shown
    csrf = re.search(r'name="csrf_token" value="([^"]+)"',
                     client.get("/me").get_data(as_text=True)).group(1)
    again = client.post(confirm_url, data={"csrf_token": csrf, "token": token, "note": ""})
    assert again.status_code == 302 and again.headers["Location"].endswith(code)
    assert count_bookings(site) == before + 1
    page = text(client.get(f"/me/bookings/{code}"))
    assert zh(site, "Confirmed") in page and code in page and "<svg" in page and ".ics" in page
    assert "衡山路 88 号" in page and "¥288.00" in page


def test_taken_slot_is_refused_kindly_and_slots_reoffered(site: Site) -> None:
    first = customer_client(site, "13900000002")
    second = customer_client(site, "13900000003")
    # a day with plenty of free time, so that other times remain (today may have one)
    day = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=6)).isoformat()
    url = f"/book?store=1&service=1&staff=1&day={day}"
    link = slot_links(second.get(url).get_data(as_text=True))[0]
    html = second.get(link).get_data(as_text=True)  # second opens the confirm page...
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    resp, _ = book(site, first, url)  # ...first books the same slot meanwhile
    assert resp.status_code == 302
    before = count_bookings(site)
    resp = second.post(link, data={"csrf_token": csrf, "token": token, "note": ""})
    assert resp.status_code == 409
    page = text(resp)
    assert zh(site, "Sorry, that time has just been taken. Please choose another one.") in page
    assert slot_links(resp.get_data(as_text=True))  # other times offered right away
    assert count_bookings(site) == before


def test_confirm_form_keeps_typed_note_on_error(site: Site) -> None:
    client = customer_client(site, "13900000004")
    link = slot_links(client.get("/book?store=2&service=3").get_data(as_text=True))[0]
    html = client.get(link).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    resp = client.post(link, data={"csrf_token": csrf, "token": token, "note": "x" * 1001})
    assert resp.status_code == 422 and "x" * 1001 in resp.get_data(as_text=True)
    resp = client.post(link, data={"csrf_token": csrf, "token": "bad", "note": "hi"})
    assert resp.status_code == 422


# ------------------------------------------------------------------ my bookings


def test_my_bookings_only_own_and_booking_page_404_for_others(site: Site) -> None:
    demo = customer_client(site, "13800138001")
    listing = text(demo.get("/me/bookings"))
    with app_ctx(site):
        mine = db.session.scalars(select(Booking).join(Customer).where(
            Customer.phone == "+8613800138001")).all()
        others = db.session.scalars(select(Booking).join(Customer).where(
            Customer.phone != "+8613800138001")).all()
        mine_codes = [b.code for b in mine]
        other_code = others[0].code
    assert mine_codes
    assert listing.count('class="card booking-row"') == len(mine_codes)
    for code in mine_codes:
        assert demo.get(f"/me/bookings/{code}").status_code == 200
    assert demo.get(f"/me/bookings/{other_code}").status_code == 404
    assert demo.get(f"/me/bookings/{other_code}/booking.ics").status_code == 404
    fresh = customer_client(site, "13900000009")
    html = text(fresh.get("/me/bookings"))
    assert zh(site, "No upcoming bookings.") in html and 'href="/book"' in html
    for code in mine_codes:
        assert code not in html
    assert site.client().get("/me/bookings").status_code == 302  # login first
    # staff are not customers
    assert site.client_as("staff_linya").get("/me/bookings").status_code == 403


def test_ics_download(site: Site) -> None:
    client = customer_client(site, "13900000005")
    resp, _ = book(site, client, "/book?store=2&service=4")  # asks a deposit: to checkout
    code = re.search(r"/me/bookings/([A-Z0-9]{8})/pay$", resp.headers["Location"]).group(1)
    ics = client.get(f"/me/bookings/{code}/booking.ics")
    assert ics.status_code == 200 and ics.mimetype == "text/calendar"
    body = ics.get_data(as_text=True)
    assert "BEGIN:VEVENT" in body and code in body
    assert re.search(r"^DTSTART:\d{8}T\d{6}Z\r?$", body, re.M)  # UTC: never ambiguous


def test_cancel_inside_and_outside_the_policy(site: Site) -> None:
    client = customer_client(site, "13900000007")
    resp, _ = book(site, client, f"/book?store=2&service=5&day={later()}")
    code = resp.headers["Location"].rsplit("/", 1)[1]
    page_url = f"/me/bookings/{code}"
    with app_ctx(site):
        update_store("jingan", {"cancel_window_min": 43200, "reschedule_window_min": 43200})
    try:
        html = text(client.get(page_url))
        assert zh(site, "Cancel booking") not in html  # no button outside the window
        resp = post_form(client, f"{page_url}/cancel", {}, page_url="/me")
        assert resp.status_code == 409
        assert "43200" in text(resp)  # the policy's own message, translated
        with app_ctx(site):
            assert db.session.scalars(select(Booking.status).where(Booking.code == code)
                                      ).one() == "confirmed"
        assert client.get(f"{page_url}/reschedule").status_code == 409
    finally:
        with app_ctx(site):
            update_store("jingan", {"cancel_window_min": 120, "reschedule_window_min": 120})
    resp = post_form(client, f"{page_url}/cancel", {}, page_url=page_url)
    assert resp.status_code == 302
    with app_ctx(site):
        assert db.session.scalars(select(Booking.status).where(Booking.code == code)
                                  ).one() == "cancelled"
    html = text(client.get("/me/bookings"))
    assert zh(site, "Cancelled") in html
    # a second cancel is an illegal transition: refused with a message, no 500
    resp = post_form(client, f"{page_url}/cancel", {}, page_url="/me")
    assert resp.status_code == 409


def test_other_customer_cannot_cancel(site: Site) -> None:
    owner = customer_client(site, "13900000010")
    resp, _ = book(site, owner, f"/book?store=1&service=3&day={later()}")
    code = resp.headers["Location"].rsplit("/", 1)[1]
    thief = customer_client(site, "13900000011")
    resp = post_form(thief, f"/me/bookings/{code}/cancel", {}, page_url="/me")
    assert resp.status_code == 404
    with app_ctx(site):
        assert db.session.scalars(select(Booking.status).where(Booking.code == code)
                                  ).one() == "confirmed"


def test_reschedule_moves_the_booking(site: Site) -> None:
    client = customer_client(site, "13900000012")
    resp, _ = book(site, client, f"/book?store=1&service=5&day={later(3)}")
    code = resp.headers["Location"].rsplit("/", 1)[1]
    with app_ctx(site):
        old = db.session.scalars(select(Booking).where(Booking.code == code)).one()
        old_start, staff = old.start_at, old.staff_id
    page = client.get(f"/me/bookings/{code}/reschedule")
    assert page.status_code == 200
    links = slot_links(page.get_data(as_text=True))
    target = client.get(links[-1].split("#")[0])
    html = target.get_data(as_text=True)
    start = unescape(re.search(r'name="start" value="([^"]+)"', html).group(1))
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    resp = client.post(f"/me/bookings/{code}/reschedule",
                       data={"csrf_token": csrf, "start": start})
    assert resp.status_code == 302
    with app_ctx(site):
        moved = db.session.scalars(select(Booking).where(Booking.code == code)).one()
        assert moved.start_at != old_start and moved.staff_id == staff
        assert moved.start_at == datetime.fromisoformat(start)


# ----------------------------------------------------------------- member centre


def test_member_centre_empty_state_profile_and_plugin_sections(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    client = customer_client(site, "13900000013")
    html = text(client.get("/me"))
    assert "139 0000 0013" in html  # the national format
    empty = zh(site, "Stored value, punch cards and points appear here when your store "
                     "offers them.")
    assert empty in html  # empty state without plugins
    resp = post_form(client, "/me", {"name": "吴女士"})
    assert resp.status_code == 302
    assert "吴女士" in text(client.get("/me"))
    resp = post_form(client, "/me", {"name": "x" * 200})
    assert resp.status_code == 422 and "x" * 200 in resp.get_data(as_text=True)

    from markupsafe import Markup

    calls: list[dict[str, Any]] = []

    class FakeRegistry:
        def call_flat(self, hook: str, **kwargs: Any) -> list[Any]:
            calls.append({"hook": hook, **kwargs})
            return [{"key": "wallet", "title": "储值余额", "html": Markup("<b>¥500.00</b>"),
                     "order": 1}]

    import core.web.customer.me as me

    monkeypatch.setattr(me, "plugins", lambda: FakeRegistry())
    html = client.get("/me").get_data(as_text=True)
    assert "储值余额" in html and "<b>¥500.00</b>" in html
    assert calls[0]["hook"] == "fulian_customer_sections" and calls[0]["face"] == "customer"
    assert calls[0]["customer"].phone == "+8613900000013"
    assert empty not in html


def test_store_rows_stay_in_scope(site: Site) -> None:
    with app_ctx(site):
        update_store("jingan", {"status": "closed"})
    try:
        assert site.client().get("/stores/2").status_code == 404
        assert site.client().get("/book?store=2&service=1").status_code == 404
        html = text(site.client().get("/services/1"))
        assert "青玉 静安店" not in html
    finally:
        with app_ctx(site):
            update_store("jingan", {"status": "active"})
    with app_ctx(site):
        assert db.session.get(Store, 2).status == "active"


def test_month_navigation_and_cancelled_booking_cannot_move(site: Site) -> None:
    client = site.client()
    html = client.get("/book?store=1&service=1").get_data(as_text=True)
    nxt = re.search(r'href="([^"]+)" aria-label="[^"]*"\s*>›', html)
    assert nxt, "no link to the next month"
    later_month = client.get(unescape(nxt.group(1)))
    assert later_month.status_code == 200
    assert 'class="day free' in later_month.get_data(as_text=True)
    assert client.get("/book?store=1&service=1&month=1999-01").status_code == 200
    assert client.get("/book?store=1&service=1&month=garbage&day=nope").status_code == 200

    customer = customer_client(site, "13900000014")
    day = next(later(d) for d in range(5, 12)  # the service is not offered every weekday
               if 'class="slot"' in text(client.get(f"/book?store=1&service=2&day={later(d)}")))
    resp, _ = book(site, customer, f"/book?store=1&service=2&day={day}")
    code = resp.headers["Location"].rsplit("/", 1)[1]
    assert post_form(customer, f"/me/bookings/{code}/cancel", {},
                     page_url=f"/me/bookings/{code}").status_code == 302
    page = customer.get(f"/me/bookings/{code}/reschedule")
    assert page.status_code == 409 and 'class="slot"' not in page.get_data(as_text=True)
    assert "<svg" not in customer.get(f"/me/bookings/{code}").get_data(as_text=True)
