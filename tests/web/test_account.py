"""Logging in and out of the pages; CSRF on every form."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import PEOPLE, Site, customer_login, login, shot


def test_password_login_lands_by_role_and_logs_out(page: Any, site: Site) -> None:
    page.goto("/admin/")
    assert "/login?next=" in page.url  # pages need a login first
    page.fill("#f-login", PEOPLE["owner"])
    page.fill("#f-password", "wrong-password")
    page.click("form button[type=submit]")
    assert page.locator(".alert-error").inner_text() == "账号或密码错误。"
    assert page.input_value("#f-login") == PEOPLE["owner"]  # nothing typed is lost
    shot(page, "login-error")
    page.fill("#f-password", "demo-pass-2026")
    page.click("form button[type=submit]")
    page.wait_for_url("**/admin/")
    page.click("text=退出登录")
    page.wait_for_url("**/login")
    login(page, "staff_linya")
    assert page.url.endswith("/staff/")


def test_customer_logs_in_with_phone_and_code(page: Any, site: Site) -> None:
    customer_login(page, site, "13900001111")
    assert page.url.endswith("/me/bookings")


def test_forms_need_a_csrf_token(site: Site) -> None:
    client = site.client()
    resp = client.post("/login", data={"login": PEOPLE["owner"], "password": "x"})
    assert resp.status_code == 400
    assert "表单已过期" in resp.get_data(as_text=True)
    # the API uses bearer tokens and is not subject to CSRF
    assert client.post("/api/v1/auth/token", json={"login": "a", "password": "b"}
                       ).status_code == 401
