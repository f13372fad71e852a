"""The wallet plugin: licence-gated, top-ups with bonus, stored value as a tender with
cross-store settlement, refunds back to the card, card refunds pay principal only, and
the issue's end-to-end money journey; disabling hides it and keeps the data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

import plugins.wallet as wallet_plugin
from core import jobs, licensing
from core.audit import acting_as
from core.auth.tokens import issue_token
from core.booking import service as bookings
from core.booking.service import create_booking
from core.db import write_transaction
from core.extensions import db
from core.finance import ledger, orders, tenders
from core.models import (
    Booking,
    BrandSettings,
    Customer,
    InstalledLicense,
    LedgerEntry,
    Order,
    Service,
    StaffProfile,
    Store,
)
from core.org.stores import create_store, update_store
from core.org.users import create_user
from plugins.wallet import points, punch
from plugins.wallet import service as wallet
from plugins.wallet.models import PointsLot, TopUp
from tests.core.factories import make_shop
from tests.core.finance.helpers import pay_online


def _licence(app: Any, keys: dict, plugins: list[str]) -> None:
    with app.app_context():
        deployment = db.session.get(BrandSettings, 1).deployment_id
        document = licensing.issue(keys["private"].read_bytes(), deployment_id=deployment,
                                   licensee="Jade", plugins=plugins, max_stores=5,
                                   expires_at=date.today() + timedelta(days=30))
        with write_transaction() as session:
            session.add(InstalledLicense(document=document))
        app.extensions["fulian_plugins"].refresh()


@pytest.fixture
def env(make_app: Any, vendor_keys: dict) -> Iterator[dict[str, Any]]:
    first = make_app()
    with first.app_context():
        with pytest.raises(Exception, match="paid plugin"):
            first.extensions["fulian_plugins"].set_enabled("wallet", True)
    _licence(first, vendor_keys, ["wallet"])
    with first.app_context():
        first.extensions["fulian_plugins"].set_enabled("wallet", True)
    app = make_app(migrate=False)  # restart: the plugin's API mounts
    with app.app_context(), acting_as(None, "test"):
        shop = make_shop()
        create_store({"code": "east", "name": "East", "timezone": "Asia/Shanghai"},
                     hours="mon-sun 09:00-21:00")
        owner = create_user({"name": "O", "email": "o@example.com"}, role="owner")
        desk = create_user({"name": "D", "email": "d@example.com"}, role="front_desk",
                           stores=["main"])
        tokens = {"owner": issue_token(owner)[0], "desk": issue_token(desk)[0]}
        ids = SimpleNamespace(store=shop.store.id, service=shop.service.id,
                              staff=shop.staff.id, customer=shop.customer.id,
                              start=shop.start)
    # requests run outside the test's app context: each gets its own ``g``
    yield {"app": app, "ids": ids, "tokens": tokens, "client": app.test_client()}


def _shop(env: dict) -> SimpleNamespace:
    """The shop's rows in the current app context."""
    ids = env["ids"]
    return SimpleNamespace(store=db.session.get(Store, ids.store),
                           service=db.session.get(Service, ids.service),
                           staff=db.session.get(StaffProfile, ids.staff),
                           customer=db.session.get(Customer, ids.customer), start=ids.start)


def _call(env: dict, method: str, url: str, who: str, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {env['tokens'][who]}", **kw.pop("headers", {})}
    return env["client"].open(url, method=method, headers=headers, **kw)


def test_top_up_with_bonus_is_idempotent_and_listed(env: dict) -> None:
    shop = env["ids"]
    plan = _call(env, "POST", "/api/v1/wallet/plans", "owner",
                 json={"name": "Pay 1000 get 1100", "pay_amount": 100000,
                       "bonus_amount": 10000})
    assert plan.status_code == 201
    assert _call(env, "POST", "/api/v1/wallet/plans", "desk",
                 json={"name": "x", "pay_amount": 1}).status_code == 403
    body = {"customer_id": shop.customer, "store_id": shop.store,
            "plan_id": plan.json["id"]}
    key = {"Idempotency-Key": "tu-1"}
    first = _call(env, "POST", "/api/v1/wallet/top-ups", "desk", json=body, headers=key)
    again = _call(env, "POST", "/api/v1/wallet/top-ups", "desk", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert (again.json["principal"], again.json["bonus"], again.json["total"]) == \
        (100000, 10000, 110000)
    assert [r["kind"] for r in again.json["statement"]] == ["top_up"]
    with env["app"].app_context():
        assert ledger.balance(f"store:{shop.store}:cash") == 100000
        assert ledger.balance(f"store:{shop.store}:promotion") == 10000
    doc = env["client"].get("/api/v1/openapi.json").json
    assert "/api/v1/wallet/top-ups" in doc["paths"]


def test_stored_value_pays_at_another_store_with_settlement(env: dict) -> None:
    app = env["app"]
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        wallet.top_up(shop.customer.id, shop.store.id, 100000, 10000)
        east = db.session.scalars(select(type(shop.store)).where(
            type(shop.store).code == "east")).one()
        # book at east (a service offered everywhere) and pay 11000 from the card
        from core.catalog.services import set_store_offer
        from core.org.staff import add_staff

        set_store_offer(shop.service.id, "east", None)
        bee = add_staff({"name": "Bee", "email": "bee@example.com"}, {}, stores=["east"],
                        services=[str(shop.service.id)])
        booking = create_booking(store=east, service=shop.service, customer=shop.customer,
                                 start_at=shop.start, staff=bee, source="phone")
        order = orders.order_for_booking(booking)
        orders.pay(order.id, "wallet", 11000)
        assert wallet.balances(shop.customer.id) == {"principal": 90000, "bonus": 9000,
                                                     "total": 99000}
        assert ledger.balance(f"store:{east.id}:revenue") == 11000
        assert ledger.balance(f"store:{east.id}:due_from") == 10000
        assert ledger.balance(f"store:{shop.store.id}:due_to") == 10000
        # refunding puts the same shares back and undoes the settlement
        orders.refund(order.id, 11000)
        assert wallet.balances(shop.customer.id)["total"] == 110000
        assert ledger.balance(f"store:{east.id}:due_from") == 0
        assert ledger.balance(f"store:{shop.store.id}:due_to") == 0
        # more than the card holds is refused and changes nothing
        entries = db.session.query(LedgerEntry).count()
        order2 = orders.order_for_booking(create_booking(
            store=shop.store, service=shop.service, customer=shop.customer,
            start_at=shop.start + timedelta(days=2), staff=shop.staff, source="phone"))
        wallet.refund_card(shop.customer.id, shop.store.id)
        with pytest.raises(ledger.InsufficientFunds):
            orders.pay(order2.id, "wallet", 100)
        assert db.session.query(LedgerEntry).count() == entries + 4  # the card refund only


def test_money_is_held_by_the_stores_that_sold_it(env: dict) -> None:
    """Top-ups at two stores: spending takes the oldest first and settles with the store
    that sold each part; a partial refund gives each store its share back; refunding the
    card at one store leaves it owed what the other store still holds."""
    app = env["app"]
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        east = db.session.scalars(select(Store).where(Store.code == "east")).one()
        main, cid = shop.store.id, shop.customer.id
        wallet.top_up(cid, main, 10000)
        wallet.top_up(cid, east.id, 5000)
        order = orders.order_for_booking(create_booking(
            store=east, service=shop.service, customer=shop.customer, start_at=shop.start,
            staff=_east_staff(shop), source="phone"))
        orders.pay(order.id, "wallet", 12000)  # 10000 sold by main, 2000 by east itself
        assert ledger.balance(f"store:{east.id}:due_from") == 10000
        assert ledger.balance(f"store:{main}:due_to") == 10000
        assert _left(cid) == {main: 0, east.id: 3000}
        orders.refund(order.id, 6000)  # half back: main's half and east's half
        assert ledger.balance(f"store:{main}:due_to") == 5000
        assert _left(cid) == {main: 5000, east.id: 4000}
        wallet.refund_card(cid, east.id, reason="moving away")  # 9000 paid out at east
        assert ledger.balance(f"store:{east.id}:due_from") == 10000  # 5000 + 5000 owed
        assert ledger.balance(f"store:{main}:due_to") == 10000
        assert _left(cid) == {main: 0, east.id: 0}
        assert wallet.balances(cid)["total"] == 0
        for code in (f"store:{east.id}:due_from", f"store:{main}:due_to"):
            assert ledger.balance(code) == ledger.balance_from_entries(code)


def _east_staff(shop: Any) -> Any:
    from core.catalog.services import set_store_offer
    from core.org.staff import add_staff

    set_store_offer(shop.service.id, "east", None)
    return add_staff({"name": "Cee", "email": "cee@example.com"}, {}, stores=["east"],
                     services=[str(shop.service.id)])


def _left(customer_id: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for lot in db.session.scalars(select(TopUp).where(TopUp.customer_id == customer_id)):
        out[lot.store_id] = out.get(lot.store_id, 0) + lot.principal_left
    return out


def test_card_refund_returns_principal_only(env: dict) -> None:
    app = env["app"]
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        wallet.top_up(shop.customer.id, shop.store.id, 100000, 10000)
    ids = env["ids"]
    resp = _call(env, "POST", f"/api/v1/wallet/customers/{ids.customer}/refund", "desk",
                 json={"store_id": ids.store})
    assert resp.status_code == 403  # managers only
    done = _call(env, "POST", f"/api/v1/wallet/customers/{ids.customer}/refund",
                 "owner", json={"store_id": ids.store, "reason": "moving away"})
    assert done.json == {"principal_refunded": 100000, "bonus_voided": 10000}
    with app.app_context():
        assert wallet.balances(ids.customer)["total"] == 0
        assert ledger.balance(f"store:{ids.store}:cash") == 0
        assert ledger.balance(f"store:{ids.store}:promotion") == 0


def test_end_to_end_top_up_book_split_pay_late_cancel(env: dict) -> None:
    """The issue's journey: a customer tops up, books, pays partly by stored value and
    partly online, cancels late and is charged the fee, the rest is refunded."""
    app = env["app"]
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        update_store("main", {"late_cancel_window_min": 48 * 60,
                              "late_cancel_fee_percent": 50, "cancel_window_min": 0})
        wallet.top_up(shop.customer.id, shop.store.id, 5000, 500)  # card: 5500
        booking = create_booking(store=shop.store, service=shop.service,
                                 customer=shop.customer, start_at=shop.start,
                                 staff=shop.staff, source="online")
        order = orders.order_for_booking(booking)          # 12800
        orders.pay(order.id, "wallet", 5500)                 # the whole card
        assert pay_online(order.id, 7300) == "settled"       # the rest online
        assert db.session.get(Order, order.id).status == "paid"
        bookings.transition(booking.id, "cancel", by_customer=True)  # late: fee 6400
        order = db.session.get(Order, order.id)
        assert (order.status, order.total, order.paid - order.refunded) == ("paid", 6400,
                                                                            6400)
        # 6400 went back newest tender first: all 6400 to the online payment
        assert ledger.balance(f"store:{shop.store.id}:online") == 7300 - 6400
        assert wallet.balances(shop.customer.id)["total"] == 0
        net = ledger.balance(f"store:{shop.store.id}:revenue") - ledger.balance(
            f"store:{shop.store.id}:refunds")
        assert net == 6400
        assert db.session.scalar(select(func.sum(LedgerEntry.amount))) == 0
    receipt = _call(env, "GET", f"/api/v1/orders/{order.id}", "desk").json
    assert [line["kind"] for line in receipt["lines"]] == ["booking", "fee"]
    assert sorted(p["provider"] for p in receipt["payments"]) == ["sandbox", "wallet"]


def test_disabling_hides_everything_and_keeps_the_data(env: dict) -> None:
    app = env["app"]
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        wallet.top_up(shop.customer.id, shop.store.id, 1000)
        app.extensions["fulian_plugins"].set_enabled("wallet", False)
        assert "wallet" not in tenders.account_tenders()
        assert wallet.balances(shop.customer.id)["total"] == 1000
    assert _call(env, "GET", "/api/v1/wallet/plans", "owner").status_code == 404
    assert "/api/v1/wallet/plans" not in env["client"].get("/api/v1/openapi.json").json[
        "paths"]


def test_member_tier_discount_joins_the_quote_with_its_source(env: dict) -> None:
    app = env["app"]
    assert _call(env, "POST", "/api/v1/wallet/tiers", "desk",
                 json={"name": "Gold", "min_spend": 10000, "discount_percent": 10}
                 ).status_code == 403
    gold = _call(env, "POST", "/api/v1/wallet/tiers", "owner",
                 json={"name": "Gold", "min_spend": 10000, "discount_percent": 10})
    assert gold.status_code == 201
    assert _call(env, "POST", "/api/v1/wallet/tiers", "owner",
                 json={"name": "Again", "min_spend": 10000, "discount_percent": 5}
                 ).status_code == 409
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        before = orders.quote_for_service(shop.store, shop.service, shop.customer)
        assert before.adjustments == []  # no spend yet
        first = orders.order_for_booking(create_booking(
            store=shop.store, service=shop.service, customer=shop.customer,
            start_at=shop.start, staff=shop.staff, source="phone"))
        orders.pay(first.id, "cash", first.total)  # 12800 spent: Gold
        quote = orders.quote_for_service(shop.store, shop.service, shop.customer)
        assert [(a.source, a.amount) for a in quote.adjustments] == [("wallet", -1280)]
        assert quote.total == 11520
        app.extensions["fulian_plugins"].set_enabled("wallet", False)
        assert orders.quote_for_service(shop.store, shop.service,
                                        shop.customer).adjustments == []


def test_punch_card_reserved_consumed_released(env: dict) -> None:
    app, ids = env["app"], env["ids"]
    product = _call(env, "POST", "/api/v1/wallet/punch-products", "owner",
                    json={"name": "5 cuts", "service_ids": [ids.service], "uses": 5,
                          "price": 50000, "validity_days": 90})
    assert product.status_code == 201
    sold = _call(env, "POST", "/api/v1/wallet/punch-cards", "desk",
                 json={"customer_id": ids.customer, "store_id": ids.store,
                       "product_id": product.json["id"]})
    assert sold.status_code == 201 and sold.json["punch_cards"][0]["uses_left"] == 5
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        assert ledger.balance(f"store:{ids.store}:deferred") == 50000
        first = create_booking(store=shop.store, service=shop.service,
                               customer=shop.customer, start_at=shop.start,
                               staff=shop.staff, source="phone")
        second = create_booking(store=shop.store, service=shop.service,
                                customer=shop.customer,
                                start_at=shop.start + timedelta(days=1), staff=shop.staff,
                                source="phone")
        assert [c.uses_left for c in punch.cards_of(ids.customer)] == [3]  # two reserved
        order = orders.order_for_booking(first)
        assert (order.total, order.status) == (0, "paid")  # covered by the card
        assert order.adjustments[0].label and order.adjustments[0].source == "wallet"
        bookings.transition(second.id, "cancel", reason="changed plans")
        assert [c.uses_left for c in punch.cards_of(ids.customer)] == [4]  # released
        bookings.transition(first.id, "complete", now=first.start_at)
        assert [c.uses_left for c in punch.cards_of(ids.customer)] == [4]  # consumed
        assert ledger.balance(f"store:{ids.store}:deferred") == 40000
        assert ledger.balance(f"store:{ids.store}:revenue") == 10000


def test_points_earned_on_completion_and_redeemed_first_expiring_first(env: dict) -> None:
    app, ids = env["app"], env["ids"]
    with app.app_context(), acting_as(None, "test"):
        shop = _shop(env)
        booking = create_booking(store=shop.store, service=shop.service,
                                 customer=shop.customer, start_at=shop.start,
                                 staff=shop.staff, source="phone")
        order = orders.order_for_booking(booking)
        orders.pay(order.id, "cash", 12800)
        bookings.transition(booking.id, "complete", now=booking.start_at)
        assert points.balance(ids.customer) == 128  # 1 point per yuan
        # an older lot expiring sooner is spent first
        with write_transaction() as session:
            session.add(PointsLot(customer_id=ids.customer, earned=50, remaining=50,
                                  expires_at=booking.start_at + timedelta(days=5)))
        assert points.balance(ids.customer) == 178
        nxt = orders.order_for_booking(create_booking(
            store=shop.store, service=shop.service, customer=shop.customer,
            start_at=shop.start + timedelta(days=2), staff=shop.staff, source="phone"))
        nxt_id = nxt.id
    resp = _call(env, "POST", f"/api/v1/wallet/orders/{nxt_id}/redeem-points", "desk",
                 json={"points": 70})
    assert resp.status_code == 200
    assert (resp.json["total"], resp.json["points_left"]) == (12800 - 70, 108)
    too_many = _call(env, "POST", f"/api/v1/wallet/orders/{nxt_id}/redeem-points", "desk",
                     json={"points": 109})
    assert too_many.status_code == 409
    with app.app_context():
        lots = {lot.earned: lot.remaining for lot in db.session.query(PointsLot)}
        assert lots == {50: 0, 128: 108}  # the sooner-expiring lot went first
        receipt_total = db.session.get(Order, nxt_id).total
        assert receipt_total == 12730  # the failed redemption changed nothing
        # cancelling the booking gives the 70 points back to the lots they came from
        nxt_booking = db.session.get(Order, nxt_id).booking_id
        bookings.transition(nxt_booking, "cancel", reason="changed plans")
        lots = {lot.earned: lot.remaining for lot in db.session.query(PointsLot)}
        assert lots == {50: 50, 128: 128} and points.balance(ids.customer) == 178
        assert points.give_back(db.session.get(Booking, nxt_booking)) == 0  # once


def test_back_office_page_sells_stored_value_and_is_in_the_menu(env: dict) -> None:
    from tests.web.conftest import post_form

    app, ids = env["app"], env["ids"]
    with app.app_context(), acting_as(None, "test"):
        create_user({"name": "Desk", "email": "desk2@example.com", "password": "pw-123456789"},
                    role="front_desk", stores=["main"])
        plan = wallet.add_plan("Pay 500 get 550", 50000, 5000)
        plan_id = plan.id
        phone = _shop(env).customer.phone
    client = app.test_client()
    assert post_form(client, "/login", {"login": "desk2@example.com",
                                        "password": "pw-123456789"}).status_code == 302
    page = client.get("/admin/wallet/?lang=en").get_data(as_text=True)
    assert 'href="/admin/wallet/"' in page and "Pay 500 get 550" in page
    bad = post_form(client, "/admin/wallet/", {"what": "top_up", "phone": "139",
                                              "store_id": ids.store, "plan_id": plan_id})
    assert bad.status_code == 422 and "No customer has this phone number" in \
        bad.get_data(as_text=True)
    done = post_form(client, "/admin/wallet/", {"what": "top_up", "phone": phone,
                                               "store_id": ids.store, "plan_id": plan_id,
                                               "once": "abc"})
    assert done.status_code == 302
    with app.app_context():
        assert wallet.balances(ids.customer)["total"] == 55000


def test_expired_punch_card_visits_become_breakage_revenue(env: dict) -> None:
    """Unused visits of an expired card leave deferred revenue for the selling store's
    revenue; a visit reserved at expiry is left to its booking and, released later,
    broken by the next sweep — consumption and breakage add up to the price."""
    app, ids = env["app"], env["ids"]
    product = _call(env, "POST", "/api/v1/wallet/punch-products", "owner",
                    json={"name": "3 cuts", "service_ids": [ids.service], "uses": 3,
                          "price": 10000, "validity_days": 30})
    sold = _call(env, "POST", "/api/v1/wallet/punch-cards", "desk",
                 json={"customer_id": ids.customer, "store_id": ids.store,
                       "product_id": product.json["id"]})
    assert sold.status_code == 201
    deferred, revenue = f"store:{ids.store}:deferred", f"store:{ids.store}:revenue"
    with app.app_context(), acting_as(None, "test"):
        assert "wallet.expire_punch_cards" in {n for n, _e, _f in jobs.periodic_jobs(app)}
        shop = _shop(env)
        done, held = (create_booking(store=shop.store, service=shop.service,
                                     customer=shop.customer, start_at=shop.start + timedelta(
                                         days=d), staff=shop.staff, source="phone")
                      for d in (0, 1))
        bookings.transition(done.id, "complete", now=done.start_at)
        assert ledger.balance(revenue) == 3333
        assert punch.expire_cards() == 0  # not expired yet
        card = punch.cards_of(ids.customer)[0]
        with write_transaction() as session:
            session.get(type(card), card.id).expires_at = shop.start - timedelta(days=1)
        assert punch.expire_cards(now=shop.start) == 1
        assert punch.expire_cards(now=shop.start) == 0  # once
        assert ledger.balance(revenue) == 3333 + 3334  # the unused visit
        assert ledger.balance(deferred) == 3333  # the reserved visit stays deferred
        section = {s["key"] for s in wallet_plugin.fulian_customer_sections(
            customer=shop.customer, face="admin")}
        assert "punch" not in section  # an expired card is not offered
        bookings.transition(held.id, "cancel", reason="changed plans")
        assert punch.cards_of(ids.customer)[0].uses_left == 1
        assert punch.expire_cards(now=shop.start) == 1
        assert (ledger.balance(deferred), ledger.balance(revenue)) == (0, 10000)
        assert ledger.balance_from_entries(revenue) == 10000
        assert punch.cards_of(ids.customer)[0].broken == 6667


def test_the_plugins_own_catalogue_translates_its_pages(env: dict) -> None:
    """The wallet's strings come from its own catalogue (fulian_translation_dirs)."""
    with env["app"].test_request_context(), force_locale("zh_CN"):
        assert gettext("Top up online") == "在线充值"
        assert gettext("Our stores") == "我们的门店"  # the core's catalogue still loads
