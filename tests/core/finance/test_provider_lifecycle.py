"""The online payment lifecycle the core drives for any provider: the pay page asks the
provider once, lost notifications are recovered by asking, refunds wait for the
provider, a deposit hold asks before it gives up, and a provider that is not configured
is not offered. A scripted provider object stands in for the network (the real ones,
with fakes of their HTTP APIs, are tested in tests/plugins/)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import jobs
from core.booking import service
from core.db import utcnow
from core.extensions import db
from core.finance import ledger, orders, polling
from core.finance.callbacks import CallbackRejected
from core.finance.providers import (
    Checkout,
    Notice,
    PayContext,
    PaymentProvider,
    RefundResult,
    providers,
)
from core.models import Booking, LedgerEntry, Order, Payment, Refund
from core.plugins import PluginMeta, hookimpl
from tests.core.factories import book, make_customer_user, make_shop, set_policy
from tests.web.conftest import post_form


class Scripted(PaymentProvider):
    """A provider whose remote side is a dict: what was paid, how refunds answer."""

    code = "remote"
    label = "Remote Pay"
    channels = ("native",)

    def __init__(self) -> None:
        self.paid: dict[str, int] = {}
        self.starts = 0
        self.refund_answer = RefundResult("pending", provider_ref="R1")
        self.refund_state = RefundResult("succeeded", provider_ref="R1")
        self.refunds_seen: list[str] = []
        self.problems: list[str] = []

    def readiness(self) -> list[Any]:
        return list(self.problems)

    def start(self, payment: Any, context: PayContext) -> Checkout:
        self.starts += 1
        assert context.notify_url.endswith("/api/v1/payments/remote/notify")
        return Checkout(channel="native", qr_text=f"remote://{payment.external_ref}")

    def verify(self, body: bytes, headers: Any) -> Notice:
        raise CallbackRejected("this provider only answers queries")

    def query(self, payment: Any) -> Notice | None:
        amount = self.paid.get(payment.external_ref)
        return Notice(kind="payment", ref=payment.external_ref,
                      amount=amount if amount is not None else payment.amount,
                      status="succeeded" if amount is not None else "pending",
                      provider_txn_id="T-" + payment.external_ref)

    def refund(self, refund: Any, payment: Any) -> RefundResult:
        self.refunds_seen.append(refund.external_ref)
        return self.refund_answer

    def query_refund(self, refund: Any, payment: Any) -> RefundResult:
        return self.refund_state


class RemotePlugin:
    meta = PluginMeta(name="remote", title="Remote Pay", version="1.0")

    def __init__(self) -> None:
        self.provider = Scripted()

    @hookimpl
    def fulian_payment_providers(self) -> list[Any]:
        return [self.provider]


@pytest.fixture
def world(make_app: Any) -> Iterator[dict[str, Any]]:
    """The services run in an app context held for the whole test; pages are asked of a
    second app on the same database (the same provider object behind both), so that
    every request has an app context — and ``g`` — of its own, as in production."""
    plugin = RemotePlugin()
    app = make_app(extra=(plugin,))
    web = make_app(extra=(plugin,))
    with app.app_context():
        app.extensions["fulian_plugins"].set_enabled("remote", True)
        shop = make_shop()
        user = make_customer_user(shop.customer, "bo@example.com")
        yield {"app": app, "web": web, "shop": shop, "remote": plugin.provider,
               "user_id": user.id}


def _order(world: dict[str, Any]) -> Order:
    """A new online booking's order (each an hour after the last: one staff member)."""
    shop = world["shop"]
    slot = world.setdefault("slot", 0)
    world["slot"] = slot + 1
    booking = book(shop, shop.start + timedelta(hours=2 * slot), source="online")
    return orders.order_for_booking(booking)


def _start(world: dict[str, Any], amount: int | None = None) -> Payment:
    order = _order(world)
    remote = world["remote"]
    return orders.start_online(order.id, "remote", amount or order.total,
                               remote.new_reference())


def _customer(world: dict[str, Any]) -> Any:
    client = world["web"].test_client()
    resp = post_form(client, "/login", {"login": "bo@example.com",
                                        "password": "correct horse battery"})
    assert resp.status_code == 302
    return client


def test_the_pay_page_asks_the_provider_once_and_recovers_a_lost_notification(world):
    payment = _start(world)
    ref, remote = payment.external_ref, world["remote"]
    client = _customer(world)
    html = client.get(f"/pay/{ref}").get_data(as_text=True)
    assert "<svg" in html and "Remote Pay" in html  # the QR code to scan, inline
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    client.get(f"/pay/{ref}")
    assert remote.starts == 1  # a reload opens no second prepay order
    db.session.rollback()  # a new read: what the jobs and pages committed since
    assert db.session.get(Payment, payment.id).checkout["qr_text"] == f"remote://{ref}"
    assert client.get(f"/pay/{ref}/status").json == {"status": "pending", "next": None}
    # paid at the provider; its notification never arrives; "I have paid" asks
    remote.paid[ref] = payment.amount
    resp = client.post(f"/pay/{ref}/check", data={"csrf_token": token})
    assert resp.status_code == 302
    db.session.rollback()  # a new read: what the jobs and pages committed since
    assert db.session.get(Payment, payment.id).status == "succeeded"
    assert db.session.get(Payment, payment.id).provider_txn_id == f"T-{ref}"
    assert client.get(f"/pay/{ref}/status").json["next"].startswith("/me/bookings/")
    # someone else's payment page is not there for this customer, nor for nobody
    assert world["web"].test_client().get(f"/pay/{ref}").status_code == 302


def test_the_poller_settles_what_notifications_missed_and_gives_up_after_two_days(world):
    paid, unpaid = _start(world), _start(world)
    world["remote"].paid[paid.external_ref] = paid.amount
    assert polling.poll()["payments"] == 0  # too fresh: the notification may still come
    counts = polling.poll(now=utcnow() + timedelta(minutes=2))
    assert counts["payments"] == 1
    db.session.rollback()  # a new read: what the jobs and pages committed since
    assert db.session.get(Payment, paid.id).status == "succeeded"
    assert db.session.get(Payment, unpaid.id).status == "pending"
    store = world["shop"].store.id
    assert ledger.balance(f"store:{store}:online") == paid.amount
    assert polling.poll(now=utcnow() + timedelta(minutes=3))["payments"] == 0  # once
    assert ledger.balance(f"store:{store}:online") == paid.amount
    assert polling.poll(now=utcnow() + timedelta(days=2, minutes=5))["given_up"] == 1
    db.session.rollback()  # a new read: what the jobs and pages committed since
    assert db.session.get(Payment, unpaid.id).status == "failed"


def test_the_poller_keeps_going_when_one_query_fails(world, monkeypatch):
    first, second = _start(world), _start(world)
    remote = world["remote"]
    remote.paid[second.external_ref] = second.amount
    original = remote.query

    def flaky(payment: Any) -> Notice | None:
        if payment.id == first.id:
            raise ConnectionError("provider down")
        return original(payment)

    monkeypatch.setattr(remote, "query", flaky)
    assert polling.poll(now=utcnow() + timedelta(minutes=2))["payments"] == 1
    db.session.rollback()  # a new read: what the jobs and pages committed since
    assert db.session.get(Payment, second.id).status == "succeeded"


def _paid(world: dict[str, Any]) -> Payment:
    payment = _start(world)
    world["remote"].paid[payment.external_ref] = payment.amount
    polling.check_payment(payment)
    db.session.rollback()  # a new read: what the jobs and pages committed since
    return db.session.get(Payment, payment.id)


def test_a_refund_waits_for_the_provider_then_moves_the_money_once(world):
    payment = _paid(world)
    store = world["shop"].store.id
    [refund] = orders.refund(payment.order_id, 5000, "changed plans")
    assert refund.status == "pending" and refund.external_ref
    order = db.session.get(Order, payment.order_id)
    assert order.refunded == 5000  # reserved: it cannot be refunded twice meanwhile
    assert ledger.balance(f"store:{store}:refunds") == 0  # but no money moved yet
    with pytest.raises(Exception, match="At most"):
        orders.refund(payment.order_id, payment.amount)
    jobs.run_pending(world["app"])  # the job hands it to the provider: "processing"
    assert world["remote"].refunds_seen == [refund.external_ref]
    db.session.rollback()  # a new read: what the jobs and pages committed since
    assert db.session.get(Refund, refund.id).submitted_at is not None
    assert polling.poll(now=utcnow() + timedelta(minutes=3))["refunds"] == 1
    db.session.rollback()  # a new read: what the jobs and pages committed since
    done = db.session.get(Refund, refund.id)
    assert (done.status, done.provider_ref) == ("succeeded", "R1")
    assert ledger.balance(f"store:{store}:refunds") == 5000
    assert ledger.balance(f"store:{store}:online") == payment.amount - 5000
    entries = db.session.query(LedgerEntry).count()
    polling.poll(now=utcnow() + timedelta(minutes=4))
    assert db.session.query(LedgerEntry).count() == entries  # once
    assert ledger.balance(f"store:{store}:refunds") == 5000


def test_a_refused_refund_gives_the_reservation_back(world):
    payment = _paid(world)
    world["remote"].refund_answer = RefundResult("failed", reason="NOT_ENOUGH balance")
    orders.refund(payment.order_id, payment.amount, "whole")
    order = db.session.get(Order, payment.order_id)
    assert (order.status, order.refunded) == ("refunded", payment.amount)
    jobs.run_pending(world["app"])
    db.session.rollback()  # a new read: what the jobs and pages committed since
    refund = db.session.scalars(select(Refund)).one()
    assert (refund.status, refund.failure_reason) == ("failed", "NOT_ENOUGH balance")
    order = db.session.get(Order, payment.order_id)
    assert (order.status, order.refunded) == ("paid", 0)
    assert db.session.get(Payment, payment.id).refunded == 0
    # the manager can refund again (another way, or once the account is topped up)
    world["remote"].refund_answer = RefundResult("succeeded", provider_ref="R2")
    orders.refund(payment.order_id, payment.amount, "again")
    jobs.run_pending(world["app"])
    db.session.rollback()  # a new read: what the jobs and pages committed since
    assert db.session.get(Order, payment.order_id).status == "refunded"
    store = world["shop"].store.id
    assert ledger.balance(f"store:{store}:refunds") == payment.amount


def test_a_refund_the_provider_never_received_is_handed_over_again(world):
    payment = _paid(world)
    world["remote"].refund_state = RefundResult("unknown")
    [refund] = orders.refund(payment.order_id, 1000)
    jobs.run_pending(world["app"])
    polling.poll(now=utcnow() + timedelta(minutes=3))  # "unknown": not submitted any more
    db.session.rollback()  # a new read: what the jobs and pages committed since
    assert db.session.get(Refund, refund.id).submitted_at is None
    world["remote"].refund_answer = RefundResult("succeeded")
    polling.poll(now=utcnow() + timedelta(minutes=4))
    db.session.rollback()  # a new read: what the jobs and pages committed since
    assert db.session.get(Refund, refund.id).status == "succeeded"
    assert world["remote"].refunds_seen == [refund.external_ref] * 2  # same reference


def test_a_deposit_hold_asks_the_provider_before_it_gives_up(world):
    set_policy(world["shop"].store, deposit_percent=30)
    booking = book(world["shop"], source="online")
    assert booking.status == "awaiting_deposit"
    order = orders.order_of(booking.id)
    payment = orders.start_online(order.id, "remote", order.deposit,
                                  world["remote"].new_reference())
    world["remote"].paid[payment.external_ref] = payment.amount  # notification lost
    with db.session.no_autoflush:
        service.deposit_hold_expired(booking.id)
    db.session.rollback()  # a new read: what the jobs and pages committed since
    assert db.session.get(Booking, booking.id).status == "confirmed"


def test_a_provider_that_is_not_configured_is_not_offered(world):
    remote = world["remote"]
    remote.problems = ["no merchant id"]
    assert "remote" not in providers()
    order = _order(world)
    with pytest.raises(Exception, match="not available"):
        orders.start_online(order.id, "remote", order.total, remote.new_reference())
    client = _customer(world)
    booking = db.session.get(Booking, order.booking_id)
    html = client.get(f"/me/bookings/{booking.code}/pay").get_data(as_text=True)
    assert 'value="remote"' not in html and 'value="sandbox"' in html


def test_without_any_online_provider_customers_pay_at_the_store(make_app):
    """Production without a provider: no hold for the deposit, the checkout says so."""
    app = make_app(FULIAN_ENV="production", SECRET_KEY="p" * 48, SESSION_COOKIE_SECURE=False)
    with app.app_context():
        assert providers() == {}
        shop = make_shop()
        set_policy(shop.store, deposit_percent=30)
        make_customer_user(shop.customer, "bo@example.com")
        booking = book(shop, source="online")
        assert booking.status == "confirmed"  # nobody could pay a hold online
        order = orders.order_of(booking.id)
        assert order.deposit == order.total * 30 // 100  # the store takes it
        client = app.test_client()
        assert post_form(client, "/login", {"login": "bo@example.com",
                                            "password": "correct horse battery"}
                         ).status_code == 302
        html = client.get(f"/me/bookings/{booking.code}/pay").get_data(as_text=True)
        assert "pay at the store" in html and 'name="method"' not in html
