"""Every page of the three faces renders in both shipped themes and both languages for
the people who use it — no 500, the theme's look applied, the language switched."""

from __future__ import annotations

from typing import Any

import pytest

from core.theming import use_theme
from tests.web.conftest import Site, post_form

PAGES = {
    None: ["/", "/stores/1", "/services/1", "/staff/1", "/book?store=1&service=1",
           "/login", "/me/login"],
    "customer": ["/me", "/me/bookings"],
    "staff_wanglei": ["/staff/", "/staff/week", "/staff/complete", "/staff/performance",
                      "/staff/schedule"],
    "owner": ["/admin/", "/admin/bookings", "/admin/calendar", "/admin/calendar?view=week",
              "/admin/bookings/new", "/admin/customers", "/admin/customers/1",
              "/admin/stores", "/admin/stores/1", "/admin/services", "/admin/staff",
              "/admin/staff/1", "/admin/roster", "/admin/plugins", "/admin/brand"],
}


def _client(site: Site, who: str | None) -> Any:
    if who is None:
        return site.client()
    if who == "customer":
        client = site.client()
        post_form(client, "/me/login", {"phone": "13800138001"})
        code = site.sms_code("13800138001")
        resp = post_form(client, "/me/login", {"phone": "13800138001", "code": code,
                                               "step": "code"})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
        return client
    return site.client_as(who)


@pytest.mark.parametrize("theme", ["jade", "default"])
def test_every_page_renders_in_both_themes_and_languages(site: Site, theme: str) -> None:
    with site.app.app_context():
        use_theme(site.app, theme)
    for who, urls in PAGES.items():
        client = _client(site, who)
        for url in urls:
            for lang, marker in (("zh_CN", 'lang="zh-CN"'), ("en", 'lang="en"')):
                sep = "&" if "?" in url else "?"
                resp = client.get(f"{url}{sep}lang={lang}")
                html = resp.get_data(as_text=True)
                assert resp.status_code == 200, (theme, who, url, lang, resp.status_code)
                assert marker in html, (url, lang)
                assert ("jade.css" in html) == (theme == "jade"), (theme, url)


def test_every_page_renders_on_postgresql(pg_site: Site) -> None:
    """The same pages, plus one of each detail page, on PostgreSQL (SQL that SQLite lets
    pass — e.g. DISTINCT over JSON columns — fails only there)."""
    from sqlalchemy import select

    from core.extensions import db
    from core.models import Booking, Customer, StaffProfile, User

    with pg_site.app.app_context():
        booking = db.session.scalars(select(Booking).join(
            Customer, Customer.id == Booking.customer_id).where(
            Customer.phone == "+8613800138001").order_by(Booking.id)).first()
        wanglei = db.session.scalars(select(Booking.id).join(
            StaffProfile, StaffProfile.id == Booking.staff_id).join(
            User, User.id == StaffProfile.user_id).where(
            User.email == "wanglei@demo.fulian.local").order_by(Booking.id)).first()
    extra = {"customer": [f"/me/bookings/{booking.code}", f"/me/bookings/{booking.code}/pay",
                          f"/me/bookings/{booking.code}/reschedule"],
             "staff_wanglei": [f"/staff/bookings/{wanglei}"] if wanglei else [],
             "owner": [f"/admin/bookings/{booking.id}", "/admin/services/1",
                       "/admin/services/new", "/admin/stores/new", "/admin/staff/new",
                       "/admin/customers/new"]}
    for who, urls in PAGES.items():
        client = _client(pg_site, who)
        for url in urls + extra.get(who or "", []):
            resp = client.get(url)
            assert resp.status_code == 200, (who, url, resp.status_code)
