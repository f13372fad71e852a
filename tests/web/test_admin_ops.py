"""Back office operations pages (dashboard, bookings, calendar, new booking, customers)
through Flask's test client: scopes per store, filters, actions and validation."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core.audit import acting_as
from core.extensions import db
from core.models import (
    Booking,
    Customer,
    CustomerNote,
    CustomerTag,
    Service,
    StaffProfile,
    Store,
    staff_services,
    staff_stores,
)
from tests.web.conftest import Site, post_form

TZ = ZoneInfo("Asia/Shanghai")


def _store(code: str) -> Store:
    return db.session.scalars(select(Store).where(Store.code == code)).one()


def _booking_at(site: Site, code: str) -> int:
    """The id of some demo booking at store ``code``."""
    with site.app.app_context():
        return db.session.scalars(select(Booking.id).where(Booking.store_id == _store(code).id)
                                  .order_by(Booking.id)).first()


@pytest.fixture(scope="module")
def today_bookings(site: Site) -> dict[str, Any]:
    """Bookings at store-local noon today at both stores (demo bookings start tomorrow)."""
    with site.app.app_context(), acting_as(None, "test"):
        today = datetime.now(TZ).date()
        made = {}
        # plus one pending next week, so the "to accept" alert shows at any time of day
        for code, hour, status, days in (("xuhui", 12, "confirmed", 0),
                                         ("xuhui", 14, "pending", 0),
                                         ("jingan", 12, "confirmed", 0),
                                         ("xuhui", 12, "pending", 7)):
            store = _store(code)
            staff = db.session.scalars(
                select(StaffProfile).join(staff_stores).where(staff_stores.c.store_id == store.id)
                .order_by(StaffProfile.id)).first()
            svc = db.session.scalars(select(Service).join(
                staff_services, staff_services.c.service_id == Service.id)
                .where(staff_services.c.staff_id == staff.id)).first()
            customer = db.session.scalars(select(Customer).order_by(Customer.id)).first()
            start = datetime.combine(today + timedelta(days=days), time(hour), tzinfo=TZ)
            end = start + timedelta(minutes=svc.duration_min)
            b = Booking(store_id=store.id, staff_id=staff.id, service_id=svc.id,
                        customer_id=customer.id, start_at=start, end_at=end,
                        block_start=start, block_end=end, status=status, price=svc.price,
                        currency="CNY", source="phone")
            db.session.add(b)
            db.session.commit()
            made[f"{code}-{hour}" + (f"+{days}" if days else "")] = b.id
        return made


def _today_counts(site: Site, codes: list[str]) -> dict[str, int]:
    with site.app.app_context():
        today = datetime.now(TZ).date()
        start = datetime.combine(today, time(0), tzinfo=TZ)
        ids = [_store(c).id for c in codes]
        rows = db.session.execute(
            select(Booking.status, func.count()).where(
                Booking.store_id.in_(ids), Booking.start_at >= start,
                Booking.start_at < start + timedelta(days=1)).group_by(Booking.status)).all()
        return dict(rows)


def _stat(html: str, key: str) -> int:
    found = re.search(rf'data-stat="{key}">(\d+)<', html)
    assert found, key
    return int(found.group(1))


@pytest.mark.parametrize("who,codes", [("owner", ["xuhui", "jingan"]),
                                       ("mgr_xuhui", ["xuhui"]), ("mgr_jingan", ["jingan"]),
                                       ("desk_xuhui", ["xuhui"])])
def test_dashboard_counts_match_the_database(site: Site, today_bookings: dict[str, Any],
                                             who: str, codes: list[str]) -> None:
    html = site.client_as(who).get("/admin/").get_data(as_text=True)
    counts = _today_counts(site, codes)
    assert _stat(html, "total") == sum(counts.values()) > 0
    for status in ("pending", "confirmed", "completed", "cancelled"):
        assert _stat(html, status) == counts.get(status, 0)
    assert ('class="alert alert-info ops-pending"' in html) == ("xuhui" in codes)
    assert ('data-store="jingan"' in html) == ("jingan" in codes)
    assert ('data-store="xuhui"' in html) == ("xuhui" in codes)


def test_jingan_manager_never_sees_xuhui(site: Site, today_bookings: dict[str, Any]) -> None:
    client = site.client_as("mgr_jingan")
    xuhui_booking = _booking_at(site, "xuhui")
    jingan_booking = _booking_at(site, "jingan")
    with site.app.app_context():
        xuhui_ids = set(db.session.scalars(select(Booking.id).where(
            Booking.store_id == _store("xuhui").id)))
        xuhui_id = _store("xuhui").id
    today = datetime.now(TZ).date()
    listing = client.get(f"/admin/bookings?date_from={today}&date_to={today + timedelta(days=5)}"
                         ).get_data(as_text=True)
    shown = {int(x) for x in re.findall(r'data-booking="(\d+)"', listing)}
    assert shown and not shown & xuhui_ids
    assert client.get(f"/admin/bookings/{xuhui_booking}").status_code == 404
    assert client.get(f"/admin/bookings/{jingan_booking}").status_code == 200
    assert client.post(f"/admin/bookings/{xuhui_booking}/cancel",
                       data={"csrf_token": _token(client)}).status_code == 404
    assert client.get(f"/admin/bookings?store={xuhui_id}").status_code == 404
    assert client.get(f"/admin/calendar?store={xuhui_id}").status_code == 404
    for view in ("day", "week"):
        cal = client.get(f"/admin/calendar?view={view}&date={today + timedelta(days=1)}"
                         ).get_data(as_text=True)
        on_cal = {int(x) for x in re.findall(r'data-booking="(\d+)"', cal)}
        assert on_cal and not on_cal & xuhui_ids
    # a customer with bookings at both stores: the history shows only jingan's
    with site.app.app_context():
        customer_id = db.session.scalars(select(Booking.customer_id).where(
            Booking.store_id == xuhui_id)).first()
    page = client.get(f"/admin/customers/{customer_id}").get_data(as_text=True)
    rows = {int(x) for x in re.findall(r'data-booking="(\d+)"', page)}
    assert not rows & xuhui_ids
    owner_page = site.client_as("owner").get(f"/admin/customers/{customer_id}"
                                             ).get_data(as_text=True)
    assert {int(x) for x in re.findall(r'data-booking="(\d+)"', owner_page)} & xuhui_ids


def _token(client: Any) -> str:
    html = client.get("/admin/bookings/new").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_filters(site: Site, today_bookings: dict[str, Any]) -> None:
    client = site.client_as("owner")
    today = datetime.now(TZ).date()
    with site.app.app_context():
        jingan = _store("jingan").id
        wanted = set(db.session.scalars(select(Booking.id).where(
            Booking.store_id == jingan, Booking.start_at >= datetime.combine(
                today, time(0), tzinfo=TZ))))
        linya = db.session.scalars(select(StaffProfile.id).where(
            StaffProfile.display_name.contains("Lin Ya"))).one()
    html = client.get(f"/admin/bookings?store={jingan}&date_from={today}"
                      f"&date_to={today + timedelta(days=6)}").get_data(as_text=True)
    assert {int(x) for x in re.findall(r'data-booking="(\d+)"', html)} == wanted
    html = client.get(f"/admin/bookings?status=pending&date_from={today}&date_to={today}"
                      ).get_data(as_text=True)
    assert {int(x) for x in re.findall(r'data-booking="(\d+)"', html)} == \
        {today_bookings["xuhui-14"]}
    html = client.get(f"/admin/bookings?staff={linya}&date_from={today}"
                      f"&date_to={today + timedelta(days=6)}").get_data(as_text=True)
    ids = {int(x) for x in re.findall(r'data-booking="(\d+)"', html)}
    with site.app.app_context():
        assert ids and set(db.session.scalars(select(Booking.staff_id).where(
            Booking.id.in_(ids)))) == {linya}
    bad = client.get(f"/admin/bookings?date_from={today}&date_to={today - timedelta(days=3)}")
    assert bad.status_code == 422
    assert "field-error" in bad.get_data(as_text=True)


def _status(site: Site, booking_id: int) -> str:
    with site.app.app_context():
        return db.session.get(Booking, booking_id).status


def test_booking_actions_change_status(site: Site, today_bookings: dict[str, Any]) -> None:
    client = site.client_as("desk_xuhui")
    pending = today_bookings["xuhui-14"]
    url = f"/admin/bookings/{pending}"
    # declining needs a reason: 422, nothing changes
    resp = post_form(client, f"{url}/decline", {"decline_reason": ""}, page_url=url)
    assert resp.status_code == 422 and _status(site, pending) == "pending"
    assert "decline_reason-error" in resp.get_data(as_text=True)
    resp = post_form(client, f"{url}/confirm", {}, page_url=url)
    assert resp.status_code == 302 and _status(site, pending) == "confirmed"
    # illegal transition: a translated refusal, 422
    resp = post_form(client, f"{url}/confirm", {}, page_url=url)
    assert resp.status_code == 422 and "alert-error" in resp.get_data(as_text=True)
    # reschedule to another free time of the same person keeps the booking id
    future = _booking_at(site, "xuhui")
    with site.app.app_context():
        b = db.session.get(Booking, future)
        args = (b.store_id, b.service_id, b.start_at.astimezone(TZ).date())
        staff_id, old_start = b.staff_id, b.start_at
    html = client.get(f"/admin/bookings/new?store={args[0]}&service={args[1]}&date={args[2]}"
                      f"&staff={staff_id}").get_data(as_text=True)
    free = [datetime.fromisoformat(x) for x in re.findall(r'name="start_at" value="([^"]+)"',
                                                          html)]
    new_start = next(x for x in free if x != old_start)
    resp = post_form(client, f"/admin/bookings/{future}/reschedule",
                     {"start_at": new_start.strftime("%Y-%m-%dT%H:%M"), "staff_id": ""},
                     page_url=f"/admin/bookings/{future}")
    assert resp.status_code == 302, re.findall(r"alert-error[^<]*", resp.get_data(as_text=True))
    with site.app.app_context():
        assert db.session.get(Booking, future).start_at == new_start
    resp = post_form(client, f"/admin/bookings/{future}/cancel",
                     {"cancel_reason": "customer called"}, page_url=f"/admin/bookings/{future}")
    assert resp.status_code == 302 and _status(site, future) == "cancelled"
    with site.app.app_context():
        assert db.session.get(Booking, future).history[-1].reason == "customer called"
    # a booking that has not started cannot be a no-show yet
    other = today_bookings["xuhui-12"]
    resp = post_form(client, f"/admin/bookings/{other}/complete", {},
                     page_url=f"/admin/bookings/{other}")
    if datetime.now(TZ).hour >= 12:
        assert resp.status_code == 302 and _status(site, other) == "completed"
    else:
        assert resp.status_code == 422 and _status(site, other) == "confirmed"


def _free_slot(client: Any, store: int, service: int, day: Any) -> str:
    html = client.get(f"/admin/bookings/new?store={store}&service={service}&date={day}"
                      ).get_data(as_text=True)
    slots = re.findall(r'name="start_at" value="([^"]+)"', html)
    assert slots, "no free times"
    return slots[len(slots) // 2]


def test_new_booking_creates_customer_and_refuses_a_taken_slot(site: Site) -> None:
    client = site.client_as("mgr_xuhui")
    with site.app.app_context():
        xuhui = _store("xuhui").id
        svc = db.session.scalars(select(Service).where(Service.name == "精致剪发")).one().id
    day = datetime.now(TZ).date() + timedelta(days=2)
    slot = _free_slot(client, xuhui, svc, day)
    data = {"store": xuhui, "service": svc, "date": day.isoformat(), "staff": "",
            "start_at": slot, "phone": "13912345678", "name": "新客人", "source": "walk_in",
            "note": "first visit"}
    resp = post_form(client, "/admin/bookings/new", data)
    assert resp.status_code == 302
    with site.app.app_context():
        customer = db.session.scalars(select(Customer).where(
            Customer.phone == "+8613912345678")).one()
        assert customer.name == "新客人" and customer.source == "walk_in"
        booking = db.session.scalars(select(Booking).where(
            Booking.customer_id == customer.id)).one()
        assert booking.start_at == datetime.fromisoformat(slot)
        assert booking.source == "walk_in" and booking.note == "first visit"
        assert booking.status == "confirmed"
    # the only haircut staff at xuhui is busy now: the same time is refused, values kept
    again = dict(data, phone="13912345679", name="晚到的人", source="phone")
    resp = post_form(client, "/admin/bookings/new", again)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'value="13912345679"' in html and "晚到的人" in html
    assert 'name="start_at"' in html  # the free times are offered again
    assert slot not in re.findall(r'name="start_at" value="([^"]+)"', html)
    with site.app.app_context():  # no booking (the customer record is kept, as in the API)
        assert not db.session.scalars(select(Booking).join(
            Customer, Customer.id == Booking.customer_id).where(
            Customer.phone == "+8613912345679")).all()


def test_new_booking_invalid_input(site: Site) -> None:
    client = site.client_as("desk_xuhui")
    with site.app.app_context():
        xuhui = _store("xuhui").id
        svc = db.session.scalars(select(Service).where(Service.name == "精致剪发")).one().id
        jingan = _store("jingan").id
    day = datetime.now(TZ).date() + timedelta(days=2)
    resp = post_form(client, "/admin/bookings/new",
                     {"store": xuhui, "service": svc, "date": day.isoformat(),
                      "phone": "12ab", "name": "X", "start_at": ""})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="start_at-error"' in html and 'value="12ab"' in html
    slot = _free_slot(client, xuhui, svc, day)
    resp = post_form(client, "/admin/bookings/new",
                     {"store": xuhui, "service": svc, "date": day.isoformat(),
                      "phone": "12ab", "start_at": slot})
    assert resp.status_code == 422 and 'id="phone-error"' in resp.get_data(as_text=True)
    # another store's id: 404
    assert client.get(f"/admin/bookings/new?store={jingan}").status_code == 404


def test_customers_search_segments_tags_and_notes(site: Site) -> None:
    client = site.client_as("desk_xuhui")
    html = client.get("/admin/customers?q=13800138003").get_data(as_text=True)
    assert "王女士" in html and "张小姐" not in html
    html = client.get("/admin/customers").get_data(as_text=True)
    with site.app.app_context():
        high = db.session.scalar(select(func.count()).select_from(CustomerTag).where(
            CustomerTag.tag == "高价值"))
        cid = db.session.scalars(select(Customer.id).where(
            Customer.phone == "+8613800138002")).one()
    assert re.search(rf'data-segment="高价值">{high}<', html)
    html = client.get("/admin/customers?tag=高价值").get_data(as_text=True)
    assert "张小姐" in html and "李先生" not in html
    url = f"/admin/customers/{cid}"
    resp = post_form(client, f"{url}/tags", {"tag": "常客"}, page_url=url)
    assert resp.status_code == 302
    resp = post_form(client, f"{url}/notes", {"body": "喜欢安静的房间"}, page_url=url)
    assert resp.status_code == 302
    with site.app.app_context():
        assert db.session.scalars(select(CustomerTag.tag).where(
            CustomerTag.customer_id == cid)).all() == ["常客"]
        note = db.session.scalars(select(CustomerNote).where(
            CustomerNote.customer_id == cid)).one()
        assert note.body == "喜欢安静的房间" and note.author_id is not None
    assert "喜欢安静的房间" in client.get(url).get_data(as_text=True)
    resp = post_form(client, f"{url}/tags/remove", {"remove": "常客"}, page_url=url)
    assert resp.status_code == 302
    with site.app.app_context():
        assert not db.session.scalars(select(CustomerTag).where(
            CustomerTag.customer_id == cid)).all()
    # invalid input: 422 with the field's message
    resp = post_form(client, f"{url}/notes", {"body": "   "}, page_url=url)
    assert resp.status_code == 422 and 'id="body-error"' in resp.get_data(as_text=True)
    resp = post_form(client, f"{url}/tags", {"tag": "x" * 41}, page_url=url)
    assert resp.status_code == 422 and 'id="tag-error"' in resp.get_data(as_text=True)
    resp = post_form(client, url, {"name": "李先生", "phone": "13800138001", "source": "phone"})
    assert resp.status_code == 422 and 'id="phone-error"' in resp.get_data(as_text=True)
    resp = post_form(client, url, {"name": "李四", "phone": "13800138002", "source": "referral"})
    assert resp.status_code == 302
    with site.app.app_context():
        c = db.session.get(Customer, cid)
        assert (c.name, c.source) == ("李四", "referral")
    assert client.get("/admin/customers/999999").status_code == 404


def test_create_customer(site: Site) -> None:
    client = site.client_as("mgr_jingan")
    resp = post_form(client, "/admin/customers/new",
                     {"phone": "13700001234", "name": "周女士", "source": "referral",
                      "tags": "VIP, 敏感肌"})
    assert resp.status_code == 302
    with site.app.app_context():
        c = db.session.scalars(select(Customer).where(Customer.phone == "+8613700001234")).one()
        assert sorted(t.tag for t in c.tags) == ["VIP", "敏感肌"]
    resp = post_form(client, "/admin/customers/new", {"phone": "13700001234", "name": "x"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'id="phone-error"' in html
    assert f"/admin/customers/{c.id}" in html  # a link to the existing record
    resp = post_form(client, "/admin/customers/new", {"phone": "", "name": "x"})
    assert resp.status_code == 422


def test_pages_need_a_back_office_user(site: Site) -> None:
    assert site.client().get("/admin/bookings").status_code == 302
    assert site.client_as("staff_linya").get("/admin/customers").status_code == 403
