"""Refunds of Alipay payments: asked for by the store's manager through the API, handed
to the fake gateway by the job after commit, completed by Alipay's synchronous answer;
refused ones give the reservation back; a retry after a lost answer refunds nothing
twice (Alipay de-duplicates by ``out_request_no``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core import jobs
from core.db import utcnow
from core.extensions import db
from core.finance import ledger, polling
from core.finance.providers import provider
from core.models import Order, Payment, Refund
from tests.plugins.alipay.conftest import AlipayWorld
from tests.plugins.alipay.journey import checkout, ledger_entries, ref_of, start


@pytest.fixture
def paid(alipay: AlipayWorld) -> dict[str, Any]:
    """Bo's ¥128.00 order, paid with Alipay."""
    order_id, payment = start(alipay)
    ref = ref_of(payment)
    alipay.fake.open(checkout(alipay, payment)["redirect_url"])
    assert alipay.fake.deliver(alipay.app.test_client(), alipay.fake.pay(ref),
                               ref).get_data() == b"success"
    return {"order_id": order_id, "ref": ref, "trade": alipay.fake.trades[ref]}


def _refund(alipay: AlipayWorld, order_id: int, amount: int, reason: str = "") -> dict:
    resp = alipay.world.post(f"/api/v1/orders/{order_id}/refunds", "mgr_n",
                             json={"amount": amount, "reason": reason})
    assert resp.status_code == 201, resp.json
    [refund] = resp.json
    return refund


def _run_jobs(alipay: AlipayWorld, later: timedelta = timedelta(0)) -> None:
    with alipay.app.app_context():
        jobs.run_pending(alipay.app, now=utcnow() + later)


def _row(alipay: AlipayWorld, model: Any, ident: int) -> Any:
    return alipay.world.row(model, ident)


def _balances(alipay: AlipayWorld) -> tuple[int, int]:
    north = alipay.world.ids["north"]
    with alipay.app.app_context():
        return (ledger.balance(f"store:{north}:online"),
                ledger.balance(f"store:{north}:refunds"))


def test_a_refund_completes_synchronously_and_moves_money_once(alipay: AlipayWorld,
                                                               paid: dict) -> None:
    refund = _refund(alipay, paid["order_id"], 5000, "客人改期")
    assert refund["status"] == "pending"
    assert _balances(alipay) == (12800, 0)  # reserved, not moved
    _run_jobs(alipay)
    done = _row(alipay, Refund, refund["id"])
    assert (done.status, done.provider_ref) == ("succeeded", paid["trade"].trade_no)
    method, biz = alipay.fake.calls[-1]
    assert method == "alipay.trade.refund"
    assert biz == {"refund_amount": "50.00", "out_trade_no": paid["ref"],
                   "out_request_no": done.external_ref, "refund_reason": "客人改期"}
    assert paid["trade"].refunds == {done.external_ref: Decimal("50.00")}
    assert _balances(alipay) == (7800, 5000)
    entries = ledger_entries(alipay)
    _run_jobs(alipay, timedelta(minutes=10))
    with alipay.app.app_context():
        polling.poll(now=utcnow() + timedelta(minutes=10))
    assert ledger_entries(alipay) == entries and _balances(alipay) == (7800, 5000)
    # the rest: Alipay closes the trade, the order is refunded
    rest = _refund(alipay, paid["order_id"], 7800)
    _run_jobs(alipay)
    assert _row(alipay, Refund, rest["id"]).status == "succeeded"
    assert paid["trade"].status == "TRADE_CLOSED"
    assert _row(alipay, Order, paid["order_id"]).status == "refunded"
    assert _balances(alipay) == (0, 12800)


def test_a_refused_refund_fails_and_gives_the_reservation_back(alipay: AlipayWorld,
                                                               paid: dict) -> None:
    alipay.fake.refuse_refunds = ("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足")
    refund = _refund(alipay, paid["order_id"], 12800)
    order = _row(alipay, Order, paid["order_id"])
    assert (order.status, order.refunded) == ("refunded", 12800)
    _run_jobs(alipay)
    failed = _row(alipay, Refund, refund["id"])
    assert failed.status == "failed"
    assert failed.failure_reason == "ACQ.SELLER_BALANCE_NOT_ENOUGH: 卖家余额不足"
    order = _row(alipay, Order, paid["order_id"])
    assert (order.status, order.refunded) == ("paid", 0)
    with alipay.app.app_context():
        payment = db.session.scalars(select(Payment)).one()
        assert payment.refunded == 0
    assert _balances(alipay) == (12800, 0) and paid["trade"].refunds == {}
    # topped up: the manager refunds again
    alipay.fake.refuse_refunds = None
    again = _refund(alipay, paid["order_id"], 12800)
    _run_jobs(alipay)
    assert _row(alipay, Refund, again["id"]).status == "succeeded"
    assert _balances(alipay) == (0, 12800)


def test_a_retry_after_a_lost_answer_refunds_once(alipay: AlipayWorld, paid: dict) -> None:
    alipay.fake.lose_answers["alipay.trade.refund"] = 1  # Alipay refunds, we never hear
    refund = _refund(alipay, paid["order_id"], 3000)
    _run_jobs(alipay)
    assert _row(alipay, Refund, refund["id"]).status == "pending"  # the job will retry
    assert paid["trade"].refunded == Decimal("30.00")
    assert _balances(alipay) == (12800, 0)
    _run_jobs(alipay, timedelta(minutes=10))  # the retry: "fund_change N", then a query
    assert [m for m, _ in alipay.fake.calls[-2:]] == [
        "alipay.trade.refund", "alipay.trade.fastpay.refund.query"]
    assert _row(alipay, Refund, refund["id"]).status == "succeeded"
    assert paid["trade"].refunded == Decimal("30.00")  # once at Alipay
    assert _balances(alipay) == (9800, 3000)  # once here


def test_alipay_busy_is_retried_not_failed(alipay: AlipayWorld, paid: dict) -> None:
    alipay.fake.refuse_refunds = ("ACQ.SYSTEM_ERROR", "系统错误")
    refund = _refund(alipay, paid["order_id"], 1000)
    _run_jobs(alipay)
    assert _row(alipay, Refund, refund["id"]).status == "pending"
    alipay.fake.refuse_refunds = None
    _run_jobs(alipay, timedelta(minutes=10))
    assert _row(alipay, Refund, refund["id"]).status == "succeeded"


def test_a_refund_that_never_reached_alipay_is_handed_over_again(alipay: AlipayWorld,
                                                                 paid: dict) -> None:
    gateway = alipay.app.config["FULIAN_ALIPAY_GATEWAY"]
    alipay.app.config["FULIAN_ALIPAY_GATEWAY"] = "http://127.0.0.1:9/gateway.do"  # down
    refund = _refund(alipay, paid["order_id"], 2000)
    for attempt in range(6):  # every attempt of the job fails
        _run_jobs(alipay, timedelta(hours=attempt + 1))
    row = _row(alipay, Refund, refund["id"])
    assert (row.status, row.submitted_at) == ("pending", None)
    alipay.app.config["FULIAN_ALIPAY_GATEWAY"] = gateway
    with alipay.app.app_context():
        alipay_provider = provider("alipay")
        refund_row = db.session.get(Refund, refund["id"])
        payment = db.session.get(Payment, refund_row.payment_id)
        assert alipay_provider.query_refund(refund_row, payment).status == "unknown"
        assert polling.poll(now=utcnow() + timedelta(minutes=3))["refunds"] == 1
    assert _row(alipay, Refund, refund["id"]).status == "succeeded"
    assert paid["trade"].refunded == Decimal("20.00")
