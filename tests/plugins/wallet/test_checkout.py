"""The customer's checkout with the wallet enabled: points redeemed in the plugin's
checkout section, stored value as a tender (paying what it can), the rest online
through the sandbox provider's redirect; a resent form pays nothing twice; another
customer cannot see the page."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select

from core.audit import acting_as
from core.booking.service import create_booking
from core.db import utcnow, write_transaction
from core.errors import RuleViolation
from core.extensions import db
from core.finance import ledger, orders
from core.models import Booking, Customer, Order, Payment
from plugins.wallet import points, punch, tiers
from plugins.wallet import service as wallet
from plugins.wallet.models import PointsLot, TopUp
from tests.plugins.wallet.test_wallet import _shop, env  # noqa: F401 - the fixture
from tests.web.conftest import csrf_token, last_sms_code, post_form


def _login(app: Any, phone: str) -> Any:
    client = app.test_client()
    assert post_form(client, "/me/login", {"phone": phone}).status_code == 200
    code = last_sms_code(app, phone)
    resp = post_form(client, "/me/login", {"phone": phone, "step": "code", "code": code})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    return client


def _form(client: Any, url: str) -> dict[str, str]:
    html = client.get(url).get_data(as_text=True)
    return {"csrf_token": csrf_token(client, url),
            "once": re.search(r'name="once" value="([^"]+)"', html).group(1)}


def test_points_stored_value_and_online_pay_one_booking(env: dict) -> None:  # noqa: F811
    app = env["app"]
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        booking = create_booking(store=shop.store, service=shop.service,
                                 customer=shop.customer, start_at=shop.start,
                                 staff=shop.staff, source="online")
        wallet.top_up(shop.customer.id, shop.store.id, 10000, 1000)
        with write_transaction() as session:
            session.add(PointsLot(customer_id=shop.customer.id, earned=500, remaining=500,
                                  expires_at=utcnow() + timedelta(days=30)))
        code, phone = booking.code, shop.customer.phone
    client = _login(app, phone)
    url = f"/me/bookings/{code}/pay"
    page = client.get(url)
    html = unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    assert "Stored value" in html and "¥110.00" in html  # the balance, bonus included
    assert "500 points" in html  # the plugin's checkout section

    resp = client.post(re.search(r'action="(/me/wallet/orders/\d+/points)"', html).group(1),
                       data={"points": "300", "csrf_token": csrf_token(client, url)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(url)
    with app.app_context():
        order = orders.order_of(booking.id)
        assert order.total == 12800 - 300 and points.balance(shop.customer.id) == 200

    form = _form(client, url)
    resp = client.post(url, data={**form, "method": "wallet", "amount": "due"})
    assert resp.status_code == 302
    again = client.post(url, data={**form, "method": "wallet", "amount": "due"})
    assert again.status_code == 302  # the same form again: where the first went, no pay
    with app.app_context():
        order = orders.get_order(order.id)
        assert (order.paid, orders.due(order)) == (11000, 1500)  # the card paid what it had
        assert wallet.balances(shop.customer.id)["total"] == 0
        assert db.session.query(Payment).count() == 1

    form = _form(client, url)
    resp = client.post(url, data={**form, "method": "sandbox", "amount": "due"})
    assert resp.status_code == 302 and "/pay/sbx_" in resp.headers["Location"]
    provider_page = client.get(resp.headers["Location"]).headers["Location"]
    assert "/sandbox/pay/" in provider_page
    done = post_form(client, provider_page, {"outcome": "pay"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/me/bookings/{code}")
    with app.app_context():
        order = orders.get_order(order.id)
        assert (order.status, order.paid, orders.due(order)) == ("paid", 12500, 0)
    receipt = unescape(client.get(f"/me/bookings/{code}").get_data(as_text=True))
    assert "Paid" in receipt
    member = unescape(client.get("/me").get_data(as_text=True))
    assert "/me/wallet/statement" in member
    statement = unescape(client.get("/me/wallet/statement").get_data(as_text=True))
    assert "Top-up" in statement and re.search(r"\+\D*110\.00", statement)
    assert re.search(r"-\D*110\.00</td><td>\D*0\.00", statement)  # paid, balance after


def test_bad_choices_and_other_customers(env: dict) -> None:  # noqa: F811
    app = env["app"]
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        booking = create_booking(store=shop.store, service=shop.service,
                                 customer=shop.customer, start_at=shop.start,
                                 staff=shop.staff, source="online")
        with write_transaction() as session:
            session.add(Customer(phone="13900000088", name="Other"))
        code, phone = booking.code, shop.customer.phone
    client = _login(app, phone)
    url = f"/me/bookings/{code}/pay"
    form = _form(client, url)
    refused = client.post(url, data={**form, "method": "wallet", "amount": "due"})
    assert refused.status_code == 422  # no stored value: not a way to pay
    assert client.post(url, data={**form, "method": "sandbox", "amount": "all"}
                       ).status_code == 422
    assert client.post(url, data={**form, "once": "x"}).status_code == 400
    with app.app_context():
        assert db.session.query(Payment).count() == 0
    stranger = _login(app, "13900000088")
    assert stranger.get(url).status_code == 404
    assert stranger.post(url, data={**_form(client, url), "method": "sandbox",
                                    "amount": "due"}).status_code in (400, 404)


def test_paying_instead_of_using_a_punch_card_visit(env: dict) -> None:  # noqa: F811
    app = env["app"]
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        product = punch.add_product("3 cuts", [shop.service.id], 3, 30000, 90)
        punch.sell(shop.customer.id, shop.store.id, product.id)
        booking = create_booking(store=shop.store, service=shop.service,
                                 customer=shop.customer, start_at=shop.start,
                                 staff=shop.staff, source="online")
        order = orders.order_for_booking(booking)
        assert (order.total, order.status) == (0, "paid")  # the card covers it
        assert [c.uses_left for c in punch.cards_of(shop.customer.id)] == [2]
        code, phone, order_id = booking.code, shop.customer.phone, order.id
        customer_id = shop.customer.id
    client = _login(app, phone)
    url = f"/me/bookings/{code}/pay"
    html = unescape(client.get(url).get_data(as_text=True))
    assert "3 cuts" in html and "Pay for this visit instead" in html
    action = re.search(r'action="(/me/wallet/orders/\d+/punch-release)"', html).group(1)
    assert client.post(action, data={"csrf_token": csrf_token(client, url)}
                       ).status_code == 302
    again = client.post(action, data={"csrf_token": csrf_token(client, url)})
    assert again.status_code == 302  # refused kindly: nothing left to give back
    with app.app_context():
        order = orders.get_order(order_id)
        assert (order.total, order.status, orders.due(order)) == (12800, "open", 12800)
        assert order.adjustments[-1].source == "wallet" and order.adjustments[-1].amount == 12800
        assert [c.uses_left for c in punch.cards_of(customer_id)] == [3]
    page = unescape(client.get(url).get_data(as_text=True))
    assert "Pay for this visit instead" not in page and "Pay now" in page


def test_the_desk_redeems_points_on_a_booking(env: dict) -> None:  # noqa: F811
    from core.org.users import create_user

    app = env["app"]
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        create_user({"name": "Desk", "email": "desk2@example.com", "password": "pw-2026-desk"},
                    role="front_desk", stores=["main"])
        booking = create_booking(store=shop.store, service=shop.service,
                                 customer=shop.customer, start_at=shop.start,
                                 staff=shop.staff, source="phone")
        with write_transaction() as session:
            session.add(PointsLot(customer_id=shop.customer.id, earned=800, remaining=800,
                                  expires_at=utcnow() + timedelta(days=30)))
        booking_id, customer_id = booking.id, shop.customer.id
    desk = app.test_client()
    assert post_form(desk, "/login", {"login": "desk2@example.com",
                                      "password": "pw-2026-desk"}).status_code == 302
    url = f"/admin/bookings/{booking_id}"
    assert "Use points" not in desk.get(url).get_data(as_text=True)  # no order yet
    with app.app_context():
        orders.order_for_booking(db.session.get(Booking, booking_id))
    html = unescape(desk.get(url).get_data(as_text=True))
    action = re.search(r'action="(/admin/wallet/orders/\d+/points)"', html).group(1)
    resp = desk.post(action, data={"points": "500", "csrf_token": csrf_token(desk, url)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(url)
    with app.app_context():
        order = orders.order_of(booking_id)
        assert order.total == 12800 - 500 and points.balance(customer_id) == 300
    bad = desk.post(action, data={"points": "-3", "csrf_token": csrf_token(desk, url)})
    assert bad.status_code == 302  # refused with a message, nothing redeemed
    with app.app_context():
        assert points.balance(customer_id) == 300


def test_topping_up_online_credits_the_card_when_paid(env: dict) -> None:  # noqa: F811
    app = env["app"]
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        plan_id = wallet.add_plan("Pay 1000 get 1100", 100000, 10000).id
        phone, customer_id, store_id = shop.customer.phone, shop.customer.id, shop.store.id
    client = _login(app, phone)
    assert "/me/wallet/top-up" in client.get("/me").get_data(as_text=True)
    url = "/me/wallet/top-up"
    form = _form(client, url)
    assert client.post(url, data={**form, "plan_id": "999", "store_id": str(store_id)}
                       ).status_code == 422
    resp = client.post(url, data={**form, "plan_id": str(plan_id), "store_id": str(store_id)})
    assert resp.status_code == 302 and "/pay/sbx_" in resp.headers["Location"]
    again = client.post(url, data={**form, "plan_id": str(plan_id),
                                   "store_id": str(store_id)})
    assert again.headers["Location"] == resp.headers["Location"]  # one order, not two
    with app.app_context():
        assert wallet.balances(customer_id)["total"] == 0  # nothing until it is paid
    provider_page = client.get(resp.headers["Location"]).headers["Location"]
    done = post_form(client, provider_page, {"outcome": "pay"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/me")
    with app.app_context():
        assert wallet.balances(customer_id) == {"principal": 100000, "bonus": 10000,
                                                "total": 110000}
        order = db.session.scalars(select(Order).where(Order.booking_id.is_(None))).one()
        assert order.status == "paid" and order.lines[0].kind == "top_up"
        assert ledger.balance(f"store:{store_id}:online") == 100000
        assert ledger.balance(f"store:{store_id}:revenue") == 0  # credit, not revenue
        assert tiers.spend(customer_id) == 0  # buying credit is not spending
        with pytest.raises(RuleViolation):
            orders.refund(order.id, 100000)
        top = db.session.scalars(select(TopUp)).one()
        assert (top.provider, top.principal_left, top.bonus) == ("online", 100000, 10000)
