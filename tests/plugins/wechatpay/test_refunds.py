"""Refunds of WeChat Pay payments through the real app: reserved at once, handed to the
fake API v3 by the job, completed by WeChat's notification or by asking — the ledger
moves once; a refusal gives the reservation back."""

from __future__ import annotations

from datetime import timedelta

from core import jobs
from core.db import utcnow
from core.extensions import db
from core.finance import ledger, polling
from core.models import LedgerEntry, Order, Payment, Refund

from .conftest import PUBLIC_URL, WeChat

ACK = {"code": "SUCCESS", "message": "成功"}


def _refund(wechat: WeChat, order_id: int, amount: int, reason: str = "changed plans"
            ) -> dict:
    resp = wechat.world.post(f"/api/v1/orders/{order_id}/refunds", "mgr_n",
                             json={"amount": amount, "reason": reason})
    assert resp.status_code == 201, resp.json
    [refund] = resp.json
    assert refund["status"] == "pending"
    return refund


def _row(wechat: WeChat, refund_id: int) -> Refund:
    return wechat.world.row(Refund, refund_id)


def _balances(wechat: WeChat) -> tuple[int, int]:
    north = wechat.world.ids["north"]
    with wechat.app.app_context():
        return (ledger.balance(f"store:{north}:online"),
                ledger.balance(f"store:{north}:refunds"))


def test_a_refund_is_submitted_by_the_job_and_completed_by_the_notification(
        wechat: WeChat) -> None:
    order = wechat.paid()
    refund = _refund(wechat, order["id"], 5000)
    row = _row(wechat, refund["id"])
    assert wechat.fake.refunds == {}  # not before the commit and the job
    assert _balances(wechat) == (12800, 0)  # reserved, not moved
    assert jobs.run_pending(wechat.app) >= 1
    sent = wechat.fake.refunds[row.external_ref]
    assert sent.request == {
        "notify_url": f"{PUBLIC_URL}/api/v1/payments/wechatpay/notify",
        "out_refund_no": row.external_ref, "out_trade_no": order["ref"],
        "amount": {"refund": 5000, "total": 12800, "currency": "CNY"},
        "reason": "changed plans"}
    row = _row(wechat, refund["id"])
    assert (row.status, row.provider_ref) == ("pending", sent.refund_id)  # PROCESSING
    assert row.submitted_at is not None
    note = wechat.fake.finish_refund(row.external_ref)
    resp = wechat.notify(note)
    assert (resp.status_code, resp.json) == (200, ACK)
    assert _row(wechat, refund["id"]).status == "succeeded"
    assert _balances(wechat) == (7800, 5000)
    entries = wechat.world.count(LedgerEntry)
    assert wechat.notify(note).json == ACK  # replayed
    assert wechat.notify(wechat.fake.finish_refund(row.external_ref)).json == ACK  # retry
    assert wechat.world.count(LedgerEntry) == entries and _balances(wechat) == (7800, 5000)
    receipt = wechat.world.get(f"/api/v1/orders/{order['id']}", "bo").json
    assert (receipt["refunded"], receipt["refunds"][0]["status"]) == (5000, "succeeded")


def test_a_refund_wechat_refuses_gives_the_reservation_back(wechat: WeChat) -> None:
    order = wechat.paid()
    wechat.fake.refuse_refunds()  # NOT_ENOUGH: the merchant's balance is short
    refund = _refund(wechat, order["id"], 12800, "whole")
    with wechat.app.app_context():
        assert db.session.get(Order, order["id"]).status == "refunded"
    jobs.run_pending(wechat.app)
    row = _row(wechat, refund["id"])
    assert row.status == "failed"
    assert row.failure_reason.startswith("NOT_ENOUGH: 基本账户余额不足")
    with wechat.app.app_context():
        assert (db.session.get(Order, order["id"]).status,
                db.session.get(Order, order["id"]).refunded) == ("paid", 0)
        assert db.session.get(Payment, row.payment_id).refunded == 0
    assert _balances(wechat) == (12800, 0)
    # topped up: the manager refunds again, and it goes through
    again = _refund(wechat, order["id"], 12800, "whole, again")
    jobs.run_pending(wechat.app)
    ref = _row(wechat, again["id"]).external_ref
    assert wechat.notify(wechat.fake.finish_refund(ref)).json == ACK
    assert _balances(wechat) == (0, 12800)


def test_wechat_down_makes_the_job_retry(wechat: WeChat) -> None:
    order = wechat.paid()
    wechat.fake.refuse_refunds("SYSTEM_ERROR", "系统错误", status=500)
    refund = _refund(wechat, order["id"], 2000)
    jobs.run_pending(wechat.app)
    row = _row(wechat, refund["id"])
    assert (row.status, row.submitted_at) == ("pending", None)  # not given up
    jobs.run_pending(wechat.app, now=utcnow() + timedelta(hours=1))  # the retry
    row = _row(wechat, refund["id"])
    assert row.submitted_at is not None and row.external_ref in wechat.fake.refunds


def test_refund_outcomes_are_asked_for_when_notifications_are_lost(wechat: WeChat) -> None:
    order = wechat.paid()
    done = _refund(wechat, order["id"], 3000)
    closed = _refund(wechat, order["id"], 2000)
    jobs.run_pending(wechat.app)
    wechat.fake.finish_refund(_row(wechat, done["id"]).external_ref)  # lost
    wechat.fake.finish_refund(_row(wechat, closed["id"]).external_ref, "CLOSED")  # lost
    with wechat.app.app_context():
        assert polling.poll(now=utcnow() + timedelta(minutes=3))["refunds"] == 2
    assert _row(wechat, done["id"]).status == "succeeded"
    closed_row = _row(wechat, closed["id"])
    assert (closed_row.status, closed_row.failure_reason) == ("failed",
                                                              "WeChat Pay refund CLOSED")
    assert _balances(wechat) == (9800, 3000)


def test_a_refund_wechat_never_received_is_handed_over_again(wechat: WeChat) -> None:
    order = wechat.paid()
    refund = _refund(wechat, order["id"], 1000)
    jobs.run_pending(wechat.app)
    ref = _row(wechat, refund["id"]).external_ref
    del wechat.fake.refunds[ref]  # lost on the way: WeChat knows nothing of it
    with wechat.app.app_context():
        polling.poll(now=utcnow() + timedelta(minutes=3))  # RESOURCE_NOT_EXISTS: unknown
    assert _row(wechat, refund["id"]).submitted_at is None
    with wechat.app.app_context():
        polling.poll(now=utcnow() + timedelta(minutes=4))  # handed over again
    assert _row(wechat, refund["id"]).submitted_at is not None
    assert wechat.notify(wechat.fake.finish_refund(ref)).json == ACK
    assert _balances(wechat) == (11800, 1000)


def test_an_abnormal_refund_notification_fails_the_refund(wechat: WeChat) -> None:
    order = wechat.paid()
    refund = _refund(wechat, order["id"], 12800)
    jobs.run_pending(wechat.app)
    ref = _row(wechat, refund["id"]).external_ref
    assert wechat.notify(wechat.fake.finish_refund(ref, "ABNORMAL")).json == ACK
    assert _row(wechat, refund["id"]).status == "failed"
    with wechat.app.app_context():
        assert db.session.get(Order, order["id"]).refunded == 0
    assert _balances(wechat) == (12800, 0)
