"""Back-office set-up pages through the test client: stores, services, staff, roster,
plugins and brand — outcomes in the database and who may do what."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.audit import acting_as
from core.extensions import db
from core.models import (
    AuditEntry,
    BrandSettings,
    Roster,
    Service,
    StaffProfile,
    Store,
    StoreHoliday,
    TimeOff,
)
from core.org.hours import format_hours
from core.plugins import plugins
from core.scheduling import schedules
from tests.web.conftest import Site, post_form


def _q(site: Site, fn: Any) -> Any:
    with site.app.app_context():
        return fn()


def _store_id(site: Site, code: str) -> int:
    return _q(site, lambda: db.session.scalars(select(Store.id).where(Store.code == code)).one())


def _hours(site: Site, code: str) -> str:
    def read() -> str:
        store = db.session.scalars(select(Store).where(Store.code == code)).one()
        return format_hours([(h.weekday, h.opens_min, h.closes_min)
                             for h in store.opening_hours])
    return _q(site, read)


def _html(resp: Any) -> str:
    return resp.get_data(as_text=True)


# ------------------------------------------------------------------ permissions


def test_front_desk_gets_403_and_managers_no_brand_pages(site: Site) -> None:
    desk = site.client_as("desk_xuhui")
    for url in ("/admin/stores", "/admin/services", "/admin/staff", "/admin/roster",
                "/admin/plugins", "/admin/brand", "/admin/stores/new"):
        assert desk.get(url).status_code == 403, url
    mgr = site.client_as("mgr_xuhui")
    for url in ("/admin/plugins", "/admin/brand", "/admin/stores/new", "/admin/services/new"):
        assert mgr.get(url).status_code == 403, url
    assert site.client().get("/admin/stores").status_code == 302  # login first


# ------------------------------------------------------------------------ stores


def test_owner_opens_a_store(site: Site) -> None:
    owner = site.client_as("owner")
    resp = post_form(owner, "/admin/stores/new", {
        "code": "pudong", "name": "青玉 浦东店", "timezone": "Asia/Shanghai",
        "address": "上海市浦东新区世纪大道 1 号", "phone": "021-5555 0000",
        "hours": "mon-fri 10:00-20:00; sat,sun 10:00-18:00"})
    assert resp.status_code == 302
    store_id = _store_id(site, "pudong")
    assert resp.headers["Location"].endswith(f"/admin/stores/{store_id}")
    assert _hours(site, "pudong") == "mon-fri 10:00-20:00; sat-sun 10:00-18:00"
    listing = _html(owner.get("/admin/stores"))
    assert "青玉 浦东店" in listing and "pudong" in listing
    # a taken code is a field error, nothing typed is lost
    resp = post_form(owner, "/admin/stores/new", {
        "code": "pudong", "name": "Another", "timezone": "Asia/Shanghai"})
    assert resp.status_code == 422
    html = _html(resp)
    assert 'value="Another"' in html and 'aria-invalid="true"' in html
    assert _q(site, lambda: db.session.query(Store).filter_by(name="Another").count()) == 0


def test_manager_edits_own_store_only(site: Site) -> None:
    mgr = site.client_as("mgr_xuhui")
    xuhui, jingan = _store_id(site, "xuhui"), _store_id(site, "jingan")
    listing = _html(mgr.get("/admin/stores"))
    assert "徐汇" in listing and "静安" not in listing
    page = f"/admin/stores/{xuhui}"
    resp = post_form(mgr, f"{page}/hours", {"hours": "mon-sun 09:30-20:30"}, page_url=page)
    assert resp.status_code == 302
    assert _hours(site, "xuhui") == "mon-sun 09:30-20:30"
    # the change is audited as the manager
    who = _q(site, lambda: db.session.scalars(
        select(AuditEntry.actor).order_by(AuditEntry.id.desc())).first())
    assert who and who.startswith("user:")
    # another store: 404 on read and on every write, nothing changes
    before = _hours(site, "jingan")
    assert mgr.get(f"/admin/stores/{jingan}").status_code == 404
    for action, data in (("hours", {"hours": "mon 10:00-11:00"}),
                         ("details", {"name": "Hacked"}),
                         ("policy", {"slot_step_min": "30"}),
                         ("holidays", {"day": "2030-01-01"})):
        resp = post_form(mgr, f"/admin/stores/{jingan}/{action}", data, page_url=page)
        assert resp.status_code == 404, action
    assert _hours(site, "jingan") == before
    assert _q(site, lambda: db.session.get(Store, jingan).name) != "Hacked"


def test_store_hours_policy_and_holidays(site: Site) -> None:
    mgr = site.client_as("mgr_xuhui")
    xuhui = _store_id(site, "xuhui")
    page = f"/admin/stores/{xuhui}"
    resp = post_form(mgr, f"{page}/hours", {"hours": "mon-fri 9-21"}, page_url=page)
    assert resp.status_code == 422
    assert "mon-fri 9-21" in _html(resp)  # kept for correction
    resp = post_form(mgr, f"{page}/policy", {
        "acceptance_required": "1", "acceptance_timeout_min": "30",
        "acceptance_timeout_action": "reassign", "cancel_window_min": "240",
        "reschedule_window_min": "120", "slot_step_min": "30", "min_notice_min": "90",
        "horizon_days": "30"}, page_url=page)
    assert resp.status_code == 302
    store = _q(site, lambda: db.session.get(Store, xuhui))
    assert (store.acceptance_required, store.slot_step_min, store.horizon_days,
            store.acceptance_timeout_action) == (True, 30, 30, "reassign")
    resp = post_form(mgr, f"{page}/policy", {
        "acceptance_timeout_min": "1", "acceptance_timeout_action": "decline",
        "cancel_window_min": "0", "reschedule_window_min": "0", "slot_step_min": "15",
        "min_notice_min": "0", "horizon_days": "30"}, page_url=page)
    assert resp.status_code == 422
    assert _q(site, lambda: db.session.get(Store, xuhui).slot_step_min) == 30
    # a special-hours day, a closed day, then removal
    day = (datetime.now(UTC).date() + timedelta(days=40)).isoformat()
    resp = post_form(mgr, f"{page}/holidays", {"day": day, "name": "店庆",
                                               "opens": "12:00", "closes": "18:00"},
                     page_url=page)
    assert resp.status_code == 302
    resp = post_form(mgr, f"{page}/holidays", {"day": day, "opens": "12:00"}, page_url=page)
    assert resp.status_code == 422
    holiday = _q(site, lambda: db.session.scalars(select(StoreHoliday).where(
        StoreHoliday.store_id == xuhui)).one())
    assert (holiday.closed, holiday.opens_min, holiday.closes_min) == (False, 720, 1080)
    assert "店庆" in _html(mgr.get(page))
    resp = post_form(mgr, f"{page}/holidays/{day}/delete", {}, page_url=page)
    assert resp.status_code == 302
    assert _q(site, lambda: db.session.query(StoreHoliday).filter_by(store_id=xuhui).count()
              ) == 0


# ---------------------------------------------------------------------- services


def test_service_price_in_yuan_is_stored_exactly(site: Site) -> None:
    owner = site.client_as("owner")
    xuhui = _store_id(site, "xuhui")
    resp = post_form(owner, "/admin/services/new", {
        "name": "玫瑰精油按摩", "price": "128.50", "duration_min": "75",
        "buffer_before_min": "0", "buffer_after_min": "10", "store_ids": [str(xuhui)],
        "published": "1"})
    assert resp.status_code == 302, _html(resp)[:2000]
    svc = _q(site, lambda: db.session.scalars(select(Service).where(
        Service.name == "玫瑰精油按摩")).one())
    assert svc.price == 12850 and svc.duration_min == 75 and svc.published
    resp = post_form(owner, "/admin/services/new", {
        "name": "三位小数", "price": "12.345", "duration_min": "60",
        "store_ids": [str(xuhui)]})
    assert resp.status_code == 422
    html = _html(resp)
    assert 'value="12.345"' in html and 'value="三位小数"' in html
    assert re.search(r'id="price-error"', html)
    assert _q(site, lambda: db.session.query(Service).filter_by(name="三位小数").count()) == 0
    # edit: 99 yuan, unpublish, the manager's store price
    page = f"/admin/services/{svc.id}"
    resp = post_form(owner, page, {"name": "玫瑰精油按摩", "price": "99", "duration_min": "75",
                                   "buffer_before_min": "0", "buffer_after_min": "10"})
    assert resp.status_code == 302
    assert _q(site, lambda: db.session.get(Service, svc.id).price) == 9900
    assert post_form(owner, f"{page}/unpublish", {}, page_url=page).status_code == 302
    assert _q(site, lambda: db.session.get(Service, svc.id).published) is False
    mgr = site.client_as("mgr_xuhui")
    assert "玫瑰精油按摩" in _html(mgr.get("/admin/services"))
    resp = post_form(mgr, f"{page}/stores/{xuhui}", {"offered": "1",
                                                     "price_override": "88.80"}, page_url=page)
    assert resp.status_code == 302
    offers = _q(site, lambda: {o.store_id: o.price_override
                               for o in db.session.get(Service, svc.id).offers})
    assert offers == {xuhui: 8880}
    # managers do not edit the catalogue, nor prices of other stores
    assert post_form(mgr, page, {"name": "x", "price": "1", "duration_min": "60"},
                     page_url=page).status_code == 403
    jingan = _store_id(site, "jingan")
    assert post_form(mgr, f"{page}/stores/{jingan}", {"offered": "1"},
                     page_url=page).status_code == 404


def test_categories(site: Site) -> None:
    owner = site.client_as("owner")
    resp = post_form(owner, "/admin/services/categories", {"name": "季节限定"},
                     page_url="/admin/services")
    assert resp.status_code == 302
    assert "季节限定" in _html(owner.get("/admin/services"))
    resp = post_form(owner, "/admin/services/categories", {"name": "季节限定"},
                     page_url="/admin/services")
    assert resp.status_code == 422


# ------------------------------------------------------------------------- staff


def test_manager_adds_staff_with_services(site: Site) -> None:
    mgr = site.client_as("mgr_xuhui")
    xuhui = _store_id(site, "xuhui")
    services = _q(site, lambda: list(db.session.scalars(select(Service.id).order_by(
        Service.id)).all()))
    resp = post_form(mgr, "/admin/staff/new", {
        "name": "周婷 Zhou Ting", "email": "zhouting@demo.fulian.local",
        "password": "zhou-ting-2026", "title": "理疗师", "store_ids": [str(xuhui)],
        "service_ids": [str(services[0]), str(services[1])]})
    assert resp.status_code == 302, _html(resp)[:3000]
    person = _q(site, lambda: db.session.scalars(select(StaffProfile).where(
        StaffProfile.display_name == "周婷 Zhou Ting")).one())
    assert resp.headers["Location"].endswith(f"/admin/staff/{person.id}")
    assert _q(site, lambda: [s.id for s in db.session.get(StaffProfile, person.id).services]
              ) == services[:2]
    page = f"/admin/staff/{person.id}"
    resp = post_form(mgr, f"{page}/services", {"service_ids": [str(services[2])]},
                     page_url=page)
    assert resp.status_code == 302
    assert _q(site, lambda: [s.id for s in db.session.get(StaffProfile, person.id).services]
              ) == [services[2]]
    html = _html(mgr.get(page))
    assert f'name="service_ids" value="{services[2]}" checked' in html
    # weekly availability as text, a bad text is kept with an error
    resp = post_form(mgr, f"{page}/availability/{xuhui}",
                     {"hours": "mon-fri 10:00-14:00,15:00-19:00"}, page_url=page)
    assert resp.status_code == 302
    assert "mon-fri 10:00-14:00,15:00-19:00" in _html(mgr.get(page))
    resp = post_form(mgr, f"{page}/availability/{xuhui}", {"hours": "someday"}, page_url=page)
    assert resp.status_code == 422 and "someday" in _html(resp)
    # profile
    resp = post_form(mgr, f"{page}/profile", {
        "display_name": "周婷", "title": "高级理疗师", "level": "Senior", "bio": "",
        "specialities": "肩颈、精油", "max_hours_week": "36", "min_rest_days": "2",
        "active": "1"}, page_url=page)
    assert resp.status_code == 302
    person = _q(site, lambda: db.session.get(StaffProfile, person.id))
    assert (person.display_name, person.specialities, person.max_minutes_week) == (
        "周婷", ["肩颈", "精油"], 36 * 60)
    # missing store and contact: field errors, typed values kept
    resp = post_form(mgr, "/admin/staff/new", {"name": "无名", "password": "x" * 12})
    assert resp.status_code == 422 and 'value="无名"' in _html(resp)
    # jingan's staff are not reachable
    other = _q(site, lambda: next(s.id for s in db.session.scalars(select(StaffProfile))
                                  if {st.code for st in s.stores} == {"jingan"}))
    assert mgr.get(f"/admin/staff/{other}").status_code == 404


def test_time_off_request_is_approved(site: Site) -> None:
    linya = _q(site, lambda: db.session.scalars(select(StaffProfile.id).where(
        StaffProfile.display_name == "林雅 Lin Ya")).one())
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)

    def request_it() -> int:
        with acting_as(None, "test"):
            return schedules.add_time_off(linya, start, start + timedelta(hours=4),
                                          reason="看牙医", status="requested").id
    row_id = _q(site, request_it)
    mgr = site.client_as("mgr_xuhui")
    listing = _html(mgr.get("/admin/staff"))
    assert "看牙医" in listing
    resp = post_form(mgr, f"/admin/staff/{linya}/time-off/{row_id}/approve", {"back": "list"},
                     page_url="/admin/staff")
    assert resp.status_code == 302
    assert _q(site, lambda: db.session.get(TimeOff, row_id).status) == "approved"
    # already decided: a message, no change
    resp = post_form(mgr, f"/admin/staff/{linya}/time-off/{row_id}/reject", {},
                     page_url="/admin/staff")
    assert _q(site, lambda: db.session.get(TimeOff, row_id).status) == "approved"
    # the manager of another store cannot decide
    other = site.client_as("mgr_jingan")
    resp = post_form(other, f"/admin/staff/{linya}/time-off/{row_id}/reject", {},
                     page_url="/admin/staff")
    assert resp.status_code == 404


# ------------------------------------------------------------------------ roster


def test_roster_generate_adjust_publish(site: Site) -> None:
    mgr = site.client_as("mgr_xuhui")
    xuhui = _store_id(site, "xuhui")
    week = "2030-W10"
    page = f"/admin/roster?store={xuhui}&week={week}"
    html = _html(mgr.get(page))
    assert "/admin/roster/generate" in html and 'class="su-shift"' not in html
    resp = post_form(mgr, "/admin/roster/generate", {"store": str(xuhui), "week": week},
                     page_url=page)
    assert resp.status_code == 302
    roster_id, status, monday_staff = _q(site, lambda: next(
        (r.id, r.status, [s.staff_id for s in r.shifts if s.day.isoformat() == "2030-03-04"])
        for r in db.session.scalars(select(Roster).where(Roster.store_id == xuhui))
        if r.week_start.isoformat() == "2030-03-04"))
    assert status == "draft" and monday_staff
    html = _html(mgr.get(page))
    assert 'class="su-shift"' in html
    linya = _q(site, lambda: db.session.scalars(select(StaffProfile.id).where(
        StaffProfile.display_name == "林雅 Lin Ya")).one())
    # remove every shift on Monday: the hours become uncovered gaps, shown in red
    for staff_id in monday_staff:
        resp = post_form(mgr, "/admin/roster/shift", {
            "store": str(xuhui), "week": week, "staff_id": str(staff_id),
            "day": "2030-03-04", "remove": "1"}, page_url=page)
        assert resp.status_code == 302
    html = _html(mgr.get(page))
    assert "su-gap-cell" in html and 'class="su-gap"' in html
    gaps = _q(site, lambda: db.session.get(Roster, roster_id).gaps)
    assert any(g["day"] == 0 and g["scheduled"] == 0 for g in gaps)
    # set a shift
    resp = post_form(mgr, "/admin/roster/shift", {
        "store": str(xuhui), "week": week, "staff_id": str(linya), "day": "2030-03-04",
        "start": "10:00", "end": "13:00"}, page_url=page)
    assert resp.status_code == 302
    shifts = _q(site, lambda: [(s.staff_id, s.day.isoformat(), s.start_min, s.end_min)
                               for s in db.session.get(Roster, roster_id).shifts])
    assert (linya, "2030-03-04", 600, 780) in shifts
    # move it to Tuesday (what drag and drop posts)
    resp = post_form(mgr, "/admin/roster/shift", {
        "store": str(xuhui), "week": week, "staff_id": str(linya), "day": "2030-03-05",
        "start": "10:00", "end": "13:00", "move_from": "2030-03-04"}, page_url=page)
    assert resp.status_code == 302
    shifts = _q(site, lambda: {(s.staff_id, s.day.isoformat()): (s.start_min, s.end_min)
                               for s in db.session.get(Roster, roster_id).shifts})
    assert (linya, "2030-03-04") not in shifts and shifts[(linya, "2030-03-05")] == (600, 780)
    # an end before the start: 422, the form keeps the values
    resp = post_form(mgr, "/admin/roster/shift", {
        "store": str(xuhui), "week": week, "staff_id": str(linya), "day": "2030-03-06",
        "start": "15:00", "end": "11:00"}, page_url=page)
    assert resp.status_code == 422 and 'value="15:00"' in _html(resp)
    resp = post_form(mgr, "/admin/roster/publish", {"store": str(xuhui), "week": week},
                     page_url=page)
    assert resp.status_code == 302
    assert _q(site, lambda: db.session.get(Roster, roster_id).status) == "published"
    # jingan's roster is not the xuhui manager's
    jingan = _store_id(site, "jingan")
    assert mgr.get(f"/admin/roster?store={jingan}&week={week}").status_code == 404
    resp = post_form(mgr, "/admin/roster/generate", {"store": str(jingan), "week": week},
                     page_url=page)
    assert resp.status_code == 404


# ------------------------------------------------------------- plugins and brand


def test_plugin_enable_disable(site: Site) -> None:
    owner = site.client_as("owner")
    with site.app.app_context():
        assert "beauty" in plugins().installed
        was = plugins().is_enabled("beauty")
    html = _html(owner.get("/admin/plugins"))
    assert "Beauty" in html or "beauty" in html
    first, second = ("disable", "enable") if was else ("enable", "disable")
    for action in (first, second):
        resp = post_form(owner, f"/admin/plugins/beauty/{action}", {},
                         page_url="/admin/plugins")
        assert resp.status_code == 302
        with site.app.app_context():
            plugins().refresh()
            assert plugins().is_enabled("beauty") is (action == "enable")
    assert post_form(owner, "/admin/plugins/nope/enable", {},
                     page_url="/admin/plugins").status_code == 404


def test_brand_colour_applies_on_next_page(site: Site) -> None:
    owner = site.client_as("owner")
    resp = post_form(owner, "/admin/brand", {
        "name": "青玉 Jade Spa", "logo_url": "", "primary_color": "#AA3366",
        "accent_color": "#c9a227", "accent_color_theme": "1", "default_locale": "zh_CN",
        "theme": "jade"})
    assert resp.status_code == 302
    brand = _q(site, lambda: db.session.get(BrandSettings, 1))
    assert brand.primary_color == "#aa3366" and brand.accent_color is None
    html = _html(owner.get("/"))
    assert re.search(r"--primary:\s*#aa3366", html)
    resp = post_form(owner, "/admin/brand", {
        "name": "", "primary_color": "#aa3366", "default_locale": "zh_CN", "theme": "nope"})
    assert resp.status_code == 422
    # back to the theme's colour
    resp = post_form(owner, "/admin/brand", {
        "name": "青玉 Jade Spa", "primary_color": "#aa3366", "primary_color_theme": "1",
        "accent_color": "#c9a227", "accent_color_theme": "1", "default_locale": "zh_CN",
        "theme": "jade"})
    assert resp.status_code == 302
    assert _q(site, lambda: db.session.get(BrandSettings, 1).primary_color) is None


@pytest.mark.parametrize("url", ["/admin/stores", "/admin/services", "/admin/staff",
                                 "/admin/roster", "/admin/plugins", "/admin/brand",
                                 "/admin/stores/new", "/admin/services/new",
                                 "/admin/staff/new"])
def test_pages_render_for_owner(site: Site, url: str) -> None:
    assert site.client_as("owner").get(url).status_code == 200
