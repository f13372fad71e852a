"""Back-office set-up pages in a real browser: switching the theme, generating a roster,
and screenshots of every page at 360 and 1280 px."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.extensions import db
from core.models import Roster, Service, StaffProfile, Store
from tests.web.conftest import Site, login, shot


def _id(site: Site, model: Any, **where: Any) -> int:
    with site.app.app_context():
        query = select(model.id)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return db.session.scalars(query.order_by(model.id)).first()


def _primary(page: Any) -> str:
    return page.evaluate(
        "getComputedStyle(document.documentElement).getPropertyValue('--primary').trim()")


def test_owner_switches_theme_and_home_page_changes(page: Any, site: Site) -> None:
    login(page, "owner")
    page.goto("/")
    assert _primary(page) == "#1f4d3a"  # jade
    assert page.locator("link[href*='jade.css']").count() == 1
    shot(page, "setup-theme-before-home")
    page.goto("/admin/brand")
    page.select_option("#f-theme", "default")
    page.click("form[data-brand-form] button[type=submit]")
    page.wait_for_url("**/admin/brand")
    assert page.locator(".alert-success").count() == 1
    assert page.input_value("#f-theme") == "default"
    page.goto("/")
    assert _primary(page) == "#0f766e"  # the default theme's colour
    assert page.locator("link[href*='jade.css']").count() == 0
    shot(page, "setup-theme-after-home")
    # and back, so other screenshots show the brand's look
    page.goto("/admin/brand")
    page.select_option("#f-theme", "jade")
    page.click("form[data-brand-form] button[type=submit]")
    page.wait_for_url("**/admin/brand")


def test_manager_generates_a_week_in_the_roster_grid(page: Any, site: Site) -> None:
    login(page, "mgr_xuhui")
    xuhui = _id(site, Store, code="xuhui")
    page.goto(f"/admin/roster?store={xuhui}&week=2031-W20")
    assert page.locator(".su-shift").count() == 0
    page.click(".empty form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".su-shift").count() > 0
    with site.app.app_context():
        assert db.session.scalars(select(Roster).where(Roster.store_id == xuhui)).all()
    # click a shift: the adjust form is filled; drag it to another day
    first = page.locator(".su-shift").first
    staff_id, day = first.get_attribute("data-staff"), first.get_attribute("data-day")
    first.click()
    assert page.input_value("#f-staff_id") == staff_id
    assert page.input_value("#f-day") == day
    shot(page, "setup-roster")


def test_screenshots_of_every_page(page: Any, site: Site) -> None:
    login(page, "owner")
    xuhui = _id(site, Store, code="xuhui")
    service = _id(site, Service)
    person = _id(site, StaffProfile)
    for name, url in (("stores", "/admin/stores"), ("store", f"/admin/stores/{xuhui}"),
                      ("store-new", "/admin/stores/new"), ("services", "/admin/services"),
                      ("service", f"/admin/services/{service}"),
                      ("service-new", "/admin/services/new"), ("staff", "/admin/staff"),
                      ("staff-member", f"/admin/staff/{person}"),
                      ("staff-new", "/admin/staff/new"), ("plugins", "/admin/plugins"),
                      ("brand", "/admin/brand")):
        response = page.goto(url)
        assert response is not None and response.status == 200, url
        shot(page, f"setup-{name}")
    # a failed form: the error under the field, values kept
    page.goto("/admin/services/new")
    page.fill("#f-name", "三位小数")
    page.fill("#f-price", "12.345")
    page.click("main form button.button[type=submit]")
    assert page.locator("#price-error").count() == 1
    assert page.input_value("#f-price") == "12.345"
    shot(page, "setup-service-error")
