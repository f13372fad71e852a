"""Production is the default and has no demo parts: no sandbox money, no dev SMS, no
debug output, no start without what it needs; the demo keeps its sandbox."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core import readiness, sms
from core.config import load_config
from core.extensions import db
from core.finance import orders
from core.finance.providers import installed, providers
from core.plugins import PluginMeta, hookimpl
from tests.core.factories import book, make_customer_user, make_shop
from tests.web.conftest import csrf_token, post_form

SECRET = "s" * 48


@pytest.fixture
def prod(make_app: Any) -> Any:
    """A production app that is otherwise ready, served over plain HTTP by the test
    client (so cookies must be allowed without HTTPS here)."""
    return make_app(FULIAN_ENV="production", SECRET_KEY=SECRET, SESSION_COOKIE_SECURE=False)


def test_production_is_the_default_and_a_typo_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv("FULIAN_ENV")
    monkeypatch.setenv("FULIAN_INSTANCE", str(tmp_path))
    config = load_config()
    assert config["FULIAN_ENV"] == "production"
    assert config["SECRET_KEY"] is None  # production makes up no key at start
    assert config["SESSION_COOKIE_SECURE"] is True
    assert not (tmp_path / "secret_key").exists()
    monkeypatch.setenv("FULIAN_ENV", "prodution")
    with pytest.raises(ValueError, match="production, demo or test"):
        load_config()


def test_no_sandbox_no_dev_sms_no_debug_in_production(make_app: Any) -> None:
    app = make_app(FULIAN_ENV="production", SECRET_KEY=SECRET, DEBUG=True)
    assert app.debug is False and app.config["PROPAGATE_EXCEPTIONS"] is False
    assert not [r for r in app.url_map.iter_rules() if r.endpoint.startswith("sandbox.")]
    client = app.test_client()
    assert client.get("/sandbox/pay/sbx_0123456789abcdef01234567").status_code == 404
    with app.app_context():
        assert "sandbox" not in installed() and providers() == {}
        assert "dev" not in sms.providers()
        assert app.config["FULIAN_SMS_PROVIDER"] is None
        with pytest.raises(sms.SmsError):
            sms.provider()


def test_sandbox_and_dev_sms_exist_in_demo_and_test(make_app: Any) -> None:
    for env in ("demo", "test"):
        app = make_app(FULIAN_ENV=env)
        with app.app_context():
            assert "sandbox" in providers() and "dev" in sms.providers()


def test_sandbox_payment_refused_in_production(prod: Any) -> None:
    with prod.app_context():
        shop = make_shop()
        order = orders.order_for_booking(book(shop))
        with pytest.raises(Exception, match="not available"):
            orders.start_online(order.id, "sandbox", order.total, "sbx_" + "0" * 24)


def test_security_headers_and_cookie_flags_in_production(make_app: Any) -> None:
    app = make_app(FULIAN_ENV="production", SECRET_KEY=SECRET)
    with app.app_context():
        make_customer_user(make_shop().customer, "bo@example.com")
    client = app.test_client()
    page = client.get("/login", base_url="https://shop.example")
    headers = page.headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"].split("script-src")[1]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"]
    assert "max-age=" in headers["Strict-Transport-Security"]
    token = csrf_token(client, "https://shop.example/login")
    resp = client.post("https://shop.example/login", data={  # over HTTPS, CSRF wants the
        "login": "bo@example.com", "password": "correct horse battery",  # Referer too
        "csrf_token": token}, headers={"Referer": "https://shop.example/login"})
    assert resp.status_code == 302
    cookie = resp.headers["Set-Cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
        assert flag in cookie


class _Unready:
    code, label = "halfpay", "Half Pay"

    def readiness(self) -> list[str]:
        return ["merchant id missing"]

    def verify(self, body: bytes, headers: Any) -> None:
        raise AssertionError


class HalfPay:
    meta = PluginMeta(name="halfpay", title="Half Pay", version="1.0")

    @hookimpl
    def fulian_payment_providers(self) -> list[Any]:
        return [_Unready()]


def _errors(app: Any) -> list[str]:
    with app.app_context():
        return [f.topic for f in readiness.check(app) if f.level == "error"]


def test_production_refuses_to_start_without_what_it_needs(make_app: Any) -> None:
    app = make_app(FULIAN_ENV="production", SECRET_KEY=None, extra=(HalfPay(),))
    assert _errors(app) == ["secret_key", "sms"]
    with app.app_context():
        with pytest.raises(readiness.NotReady, match="secret key"):
            readiness.require(app)
        app.extensions["fulian_plugins"].set_enabled("halfpay", True)
    app.config.update(SECRET_KEY=SECRET, FULIAN_SMS_LOGIN=False)
    assert _errors(app) == ["payments:halfpay"]
    with app.app_context(), pytest.raises(readiness.NotReady, match="merchant id missing"):
        readiness.require(app)
    app.config["FULIAN_SMS_PROVIDER"] = "dev"  # the demo provider is no provider here
    app.config["FULIAN_SMS_LOGIN"] = True
    with app.app_context():
        app.extensions["fulian_plugins"].set_enabled("halfpay", False)
        findings = {f.topic: f for f in readiness.check(app)}
    assert findings["sms"].level == "error"
    assert findings["payments"].level == "warning"  # customers pay at the store


def test_demo_and_test_deployments_report_but_do_not_refuse(make_app: Any) -> None:
    app = make_app(FULIAN_ENV="demo", SECRET_KEY="short")
    with app.app_context():
        findings = readiness.require(app)
    assert any(f.level == "error" and f.topic == "secret_key" for f in findings)


def test_a_ready_production_deployment_starts(prod: Any) -> None:
    prod.config["FULIAN_SMS_LOGIN"] = False
    with prod.app_context():
        findings = readiness.require(prod)
    assert not [f for f in findings if f.level == "error"]
    assert {f.topic for f in findings if f.level == "warning"} >= {"payments", "sms"}


def test_an_unpaid_top_up_or_deposit_credits_nothing_in_production(prod: Any,
                                                                 vendor_keys) -> None:
    """The exploit from the field: without paying, nothing is credited or settled."""
    from datetime import date, timedelta

    from core import licensing
    from core.db import write_transaction
    from core.models import BrandSettings, InstalledLicense
    from plugins.wallet import service as wallet

    with prod.app_context():
        deployment = db.session.get(BrandSettings, 1).deployment_id
        with write_transaction() as session:
            session.add(InstalledLicense(document=licensing.issue(
                vendor_keys["private"].read_bytes(), deployment_id=deployment,
                licensee="L", plugins=["wallet"], max_stores=5,
                expires_at=date.today() + timedelta(days=30))))
        registry = prod.extensions["fulian_plugins"]
        registry.refresh()
        registry.set_enabled("wallet", True)
    from core import create_app

    app = create_app({**{k: prod.config[k] for k in (
        "INSTANCE_PATH", "SQLALCHEMY_DATABASE_URI", "FULIAN_LICENSE_PUBLIC_KEYS",
        "SECRET_KEY", "SESSION_COOKIE_SECURE", "FULIAN_JOBS_THREAD")},
        "FULIAN_ENV": "production"})  # a restart mounts the wallet's pages
    try:
        with app.app_context():
            shop = make_shop()
            make_customer_user(shop.customer, "bo@example.com")
            plan = wallet.add_plan("Pay 1000 get 1100", 100000, 10000)
            customer_id, plan_id, store_id = shop.customer.id, plan.id, shop.store.id
        client = app.test_client()
        assert post_form(client, "/login", {"login": "bo@example.com",
                                            "password": "correct horse battery"}
                         ).status_code == 302
        page = client.get("/me/wallet/top-up").get_data(as_text=True)
        assert "top up at the store" in page.lower()
        resp = post_form(client, "/me/wallet/top-up",
                         {"plan_id": str(plan_id), "store_id": str(store_id),
                          "provider": "sandbox", "once": "x" * 22},
                         page_url="/login")  # any form of this session
        assert resp.status_code == 200  # the page again: nothing to pay online with
        with app.app_context():
            assert wallet.balances(customer_id)["total"] == 0
            from core.models import Order, Payment

            assert db.session.query(Payment).count() == 0
            assert db.session.query(Order).count() == 0
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_sandbox_payment_in_a_demo_deployment_still_works_end_to_end(make_app: Any
                                                                       ) -> None:
    """What the demo shows newcomers: book, pay the deposit on the sandbox's page as the
    customer, the booking is confirmed and the money is in the ledger."""
    from core.finance import ledger
    from core.models import Booking
    from tests.core.factories import set_policy

    app = make_app(FULIAN_ENV="demo")
    with app.app_context():
        shop = make_shop()
        set_policy(shop.store, deposit_percent=30)
        make_customer_user(shop.customer, "bo@example.com")
        booking = book(shop, source="online")
        assert booking.status == "awaiting_deposit"
        code, store_id = booking.code, shop.store.id
    client = app.test_client()
    assert post_form(client, "/login", {"login": "bo@example.com",
                                        "password": "correct horse battery"}
                     ).status_code == 302
    checkout = f"/me/bookings/{code}/pay"
    once = re.search(r'name="once" value="([^"]+)"',
                     client.get(checkout).get_data(as_text=True)).group(1)
    resp = post_form(client, checkout, {"method": "sandbox", "amount": "deposit",
                                        "once": once})
    assert resp.status_code == 302 and "/pay/sbx_" in resp.headers["Location"]
    provider_page = client.get(resp.headers["Location"]).headers["Location"]
    done = post_form(client, provider_page, {"outcome": "pay"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/bookings/{code}")
    with app.app_context():
        booking = db.session.query(Booking).filter_by(code=code).one()
        assert booking.status == "confirmed"
        order = orders.order_of(booking.id)
        assert order.paid == order.deposit > 0
        assert ledger.balance(f"store:{store_id}:online") == order.deposit
