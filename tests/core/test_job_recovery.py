"""Lose no job: fault tests of the jobs outbox (core.jobs) and of the core's sweeps.

Redis is a private redis-server of this module that the tests stop, start again (empty:
no persistence) and flush; the suite's shared Redis is never touched. Every test runs on
SQLite and PostgreSQL (``make_app``). Webhooks go to a real receiver on 127.0.0.1, which
the apps here allow (``FULIAN_WEBHOOK_ALLOWED_NETWORKS``).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from core import jobs, webhooks
from core.booking import holds
from core.booking import service as booking_service
from core.db import utcnow, write_transaction
from core.extensions import db
from core.finance import orders
from core.models import Booking, JobRecord, PluginState, WebhookDelivery
from tests.core import jobs_fixtures as fx
from tests.core.factories import bearer, book, make_shop, make_user, set_policy, token_for
from tests.core.private_redis import PrivateRedis
from tests.core.test_webhooks import Receiver, _serving

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = ["127.0.0.0/8"]


@pytest.fixture
def redis(redis_server: PrivateRedis) -> Iterator[PrivateRedis]:
    redis_server.start()
    redis_server.flush()
    yield redis_server
    redis_server.start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with _serving(Receiver()) as state:
        yield state


@pytest.fixture
def out(tmp_path: Path) -> str:
    return str(tmp_path / "out.jsonl")


def _rq_app(make_app: Any, redis: PrivateRedis) -> Any:
    return make_app(FULIAN_REDIS_URL=redis.url, FULIAN_RQ_QUEUE=f"recovery-{uuid.uuid4().hex}",
                    FULIAN_WEBHOOK_ALLOWED_NETWORKS=LOOPBACK)


def _rows(app: Any) -> list[JobRecord]:
    with app.app_context():
        rows = list(db.session.scalars(select(JobRecord).order_by(JobRecord.id)))
        db.session.expunge_all()
        return rows


def _values(out: str) -> list[Any]:
    return [e["values"][0] for e in fx.lines(out) if isinstance(e, dict)]


def _wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _enqueue_in_a_write(app: Any, out: str, value: Any) -> None:
    """A change and its job in one transaction, as services do."""
    with app.app_context(), write_transaction() as session:
        session.add(PluginState(name=f"change-{value}", enabled=True))
        jobs.enqueue(fx.record, out, value)


# ------------------------------------------------------------------------ Redis faults


@pytest.mark.redis
def test_redis_stopped_writes_succeed_and_their_jobs_run_once_when_it_returns(
    make_app: Any, redis: PrivateRedis, receiver: Receiver, out: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = _rq_app(make_app, redis)
    with app.app_context():
        shop = make_shop()
        desk = bearer(token_for(make_user("desk@example.com", "front_desk", ["main"])))
        webhooks.create_subscription(receiver.url(), ["booking.created"])
        body = {"store_id": shop.store.id, "service_id": shop.service.id,
                "staff_id": shop.staff.id, "start_at": shop.start.isoformat(),
                "customer": {"phone": "13900000009", "name": "Walk In"}}
    outages = jobs.redis_outages()

    redis.stop()
    with caplog.at_level(logging.WARNING, logger="core.jobs"):
        booked = app.test_client().post("/api/v1/bookings", json=body, headers=desk)
        for value in range(3):
            _enqueue_in_a_write(app, out, value)
    assert booked.status_code == 201, booked.get_data(as_text=True)
    rows = _rows(app)
    assert [r.func for r in rows] == [webhooks.JOB] + [f"{fx.__name__}:record"] * 3
    assert {r.status for r in rows} == {"queued"}  # written, waiting for Redis
    assert jobs.redis_outages() == outages + 1
    assert len([r for r in caplog.records
                if r.name == "core.jobs" and "unreachable" in r.getMessage()]) == 1

    redis.start()  # back, and empty
    jobs.run_worker(app, burst=True)
    assert [(r.status, r.attempts) for r in _rows(app)] == [("done", 1)] * 4
    assert _values(out) == [0, 1, 2]
    assert [r.json["event"] for r in receiver.requests] == ["booking.created"]
    jobs.run_worker(app, burst=True)
    assert _values(out) == [0, 1, 2] and len(receiver.requests) == 1


@pytest.mark.redis
def test_redis_flushed_with_jobs_queued_the_sweep_hands_them_over_again(
    make_app: Any, redis: PrivateRedis, out: str
) -> None:
    app = _rq_app(make_app, redis)
    for value in range(3):
        _enqueue_in_a_write(app, out, value)
    with app.app_context():
        jobs.enqueue(fx.record, out, "tomorrow", delay=timedelta(days=1))
    assert [r.status for r in _rows(app)] == ["enqueued"] * 3 + ["queued"]

    redis.flush()  # FLUSHALL: the three messages are gone
    jobs.run_worker(app, burst=True)
    assert _values(out) == []
    # just handed over, the messages may still be on their way: left alone for 30 s
    # (measured from the handover, however slow this machine is right now)
    handed = max(r.handed_at for r in _rows(app) if r.handed_at is not None)
    assert jobs.sweep(app, now=handed + timedelta(seconds=29)) == 0
    assert jobs.sweep(app, now=handed + timedelta(seconds=31)) == 6  # 3 back, 3 handed
    jobs.run_worker(app, burst=True)
    assert _values(out) == [0, 1, 2]
    assert [(r.status, r.attempts) for r in _rows(app)][:3] == [("done", 1)] * 3
    assert jobs.sweep(app, now=utcnow() + timedelta(minutes=5)) == 0
    jobs.run_worker(app, burst=True)
    assert _values(out) == [0, 1, 2]  # each ran once
    assert _rows(app)[3].status == "queued"  # the delayed job never left the table


def _start_worker(tmp_path: Path, db_url: str, app: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FULIAN_DATABASE_URL": db_url,
           "FULIAN_INSTANCE": app.config["INSTANCE_PATH"],
           "FULIAN_REDIS_URL": app.config["FULIAN_REDIS_URL"],
           "FULIAN_RQ_QUEUE": app.config["FULIAN_RQ_QUEUE"], "FULIAN_JOBS_THREAD": "0",
           "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - the process writes it
    return subprocess.Popen([str(Path(sys.executable).with_name("fulian")), "worker"],
                            env=env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT)


def _stopped(worker: subprocess.Popen[bytes], tmp_path: Path, seconds: float) -> int:
    """The worker's exit code once it stopped; its log in the failure if it did not."""
    try:
        return worker.wait(seconds)
    except subprocess.TimeoutExpired:
        log = (tmp_path / "worker.log").read_text(errors="replace")
        pytest.fail(f"the worker did not stop within {seconds} s; its log:\n{log[-6000:]}")


@pytest.mark.redis
def test_a_running_worker_survives_redis_going_away_loses_nothing_and_stops_gracefully(
    make_app: Any, redis: PrivateRedis, db_url: str, tmp_path: Path, out: str
) -> None:
    app = _rq_app(make_app, redis)
    worker = _start_worker(tmp_path, db_url, app)
    try:
        _enqueue_in_a_write(app, out, "warm-up")
        _wait_for(lambda: _values(out) == ["warm-up"])

        with app.app_context():
            jobs.enqueue(fx.slow, out, 1.0)
        _wait_for(lambda: "started" in fx.lines(out))
        redis.stop()  # in the middle of a job: rq cannot even record that it finished
        for value in range(5):
            _enqueue_in_a_write(app, out, value)
        _wait_for(lambda: "finished" in fx.lines(out))
        redis.start()  # empty: whatever was handed over before is gone too
        _wait_for(lambda: all(r.status == "done" for r in _rows(app)))
        assert sorted(_values(out)[1:]) == [0, 1, 2, 3, 4]  # each once
        assert fx.lines(out).count("started") == 1  # the slow job was not run again
        assert worker.poll() is None

        with app.app_context():  # SIGTERM in the middle of a job: it finishes first
            jobs.enqueue(fx.slow, out, 1.0)
        _wait_for(lambda: fx.lines(out).count("started") == 2)
        worker.send_signal(signal.SIGTERM)
        assert _stopped(worker, tmp_path, 30) == 0
        assert fx.lines(out)[-2:] == ["started", "finished"]
        assert _rows(app)[-1].status == "done"
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


@pytest.mark.redis
def test_an_idle_worker_stops_on_sigterm(
    make_app: Any, redis: PrivateRedis, db_url: str, tmp_path: Path, out: str
) -> None:
    """rq's own wait for a job ends only with a job, and its stop request raised out of
    whatever code the signal interrupted: an idle worker could hang on for minutes."""
    app = _rq_app(make_app, redis)
    worker = _start_worker(tmp_path, db_url, app)
    try:
        _enqueue_in_a_write(app, out, "warm-up")
        _wait_for(lambda: _values(out) == ["warm-up"])
        worker.send_signal(signal.SIGTERM)
        assert _stopped(worker, tmp_path, jobs.STOP_CHECK_SECONDS + 10) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


# ------------------------------------------------------------------------- the sweeps


@pytest.fixture
def held(make_app: Any) -> Iterator[Any]:
    app = make_app()
    with app.app_context():
        shop = make_shop()
        set_policy(shop.store, deposit_percent=30)
        booking = book(shop, source="online")
        assert booking.status == holds.HOLD_STATUS
        yield app, shop, booking


def _status(booking_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Booking, booking_id).status


def test_a_hold_whose_expiry_job_was_lost_is_cancelled_by_the_sweep(held: Any) -> None:
    app, shop, booking = held
    with write_transaction() as session:  # the expiry job is gone (lost, or failed for good)
        session.execute(delete(JobRecord))
    assert dict((n, f) for n, _e, f in jobs.periodic_jobs(app))["core.expire_holds"] \
        is booking_service.expire_overdue
    # not overdue yet
    assert booking_service.expire_overdue(now=utcnow() + timedelta(minutes=16)) == 0
    assert _status(booking.id) == holds.HOLD_STATUS
    assert booking_service.expire_overdue(now=utcnow() + timedelta(minutes=18)) == 1
    assert _status(booking.id) == "cancelled"
    assert book(shop, source="phone").status == "confirmed"  # the time is free again
    assert booking_service.expire_overdue(now=utcnow() + timedelta(minutes=30)) == 0


def test_the_sweep_honours_a_deposit_paid_meanwhile(held: Any) -> None:
    _app, _shop, booking = held
    order = orders.order_of(booking.id)
    orders.pay(order.id, "cash", order.deposit)
    assert booking_service.expire_overdue(now=utcnow() + timedelta(minutes=30)) == 0
    assert _status(booking.id) == "confirmed"


def test_a_hold_being_paid_keeps_its_recheck(held: Any) -> None:
    """The expiry job finds the customer paying: the re-check it schedules is committed
    (a job's own reads are rolled back when it ends, and used to take the job along)."""
    app, _shop, booking = held
    order = orders.order_of(booking.id)
    orders.start_online(order.id, "sandbox", order.deposit, "sbx_paying_now")
    [expiry] = _rows(app)
    assert app.extensions["fulian_jobs"].run_row(expiry.id, now=utcnow()
                                                 + timedelta(minutes=16))
    assert _status(booking.id) == holds.HOLD_STATUS
    recheck = [r for r in _rows(app) if r.status == "queued"]
    assert [(r.func, r.args) for r in recheck] == [
        ("core.booking.service:deposit_hold_expired", [booking.id])]
    assert recheck[0].run_at > utcnow() + timedelta(minutes=4)
    assert holds.PAYING_GRACE == timedelta(minutes=5)


def _delivery() -> WebhookDelivery:
    db.session.rollback()
    return db.session.scalars(select(WebhookDelivery)).one()


def test_a_pending_delivery_whose_job_was_lost_is_delivered_by_the_sweep(
    make_app: Any, receiver: Receiver
) -> None:
    app = make_app(FULIAN_WEBHOOK_ALLOWED_NETWORKS=LOOPBACK)
    with app.app_context():
        webhooks.create_subscription(receiver.url(), ["customer.created"])
        with write_transaction() as session:
            webhooks.record("customer.created", {"id": 1, "name": "Bo"})
            session.flush()
        with write_transaction() as session:  # its job is gone
            session.execute(delete(JobRecord))
        assert dict((n, f) for n, _e, f in jobs.periodic_jobs(app))["core.resend_webhooks"] \
            is webhooks.sweep_pending
        assert webhooks.sweep_pending(now=utcnow() + timedelta(minutes=4)) == 0
        assert webhooks.sweep_pending(now=utcnow() + timedelta(minutes=6)) == 1
    assert jobs.run_pending(app) == 1
    with app.app_context():
        row = _delivery()
        assert (row.status, row.attempts, row.next_attempt_at) == ("delivered", 1, None)
        assert webhooks.sweep_pending(now=utcnow() + timedelta(hours=1)) == 0
    assert len(receiver.requests) == 1


def test_a_delivery_whose_worker_died_mid_post_is_sent_again_by_the_sweep(
    make_app: Any, receiver: Receiver
) -> None:
    app = make_app(FULIAN_WEBHOOK_ALLOWED_NETWORKS=LOOPBACK)
    with app.app_context():
        webhooks.create_subscription(receiver.url(), ["customer.created"])
        with write_transaction():
            webhooks.record("customer.created", {"id": 1, "name": "Bo"})
        with write_transaction() as session:  # attempt 1 claimed, then its worker died
            session.execute(delete(JobRecord))
            row = session.scalars(select(WebhookDelivery)).one()
            row.attempts, row.next_attempt_at = 1, utcnow()
        assert webhooks.sweep_pending(now=utcnow() + timedelta(minutes=6)) == 1
    assert jobs.run_pending(app) == 1
    with app.app_context():
        assert (_delivery().status, _delivery().attempts) == ("delivered", 2)
        with write_transaction():
            webhooks.record("customer.created", {"id": 2, "name": "Cy"})
        with write_transaction() as session:  # its last attempt never reported back
            session.execute(delete(JobRecord))
            last = session.scalars(select(WebhookDelivery).where(
                WebhookDelivery.status == "pending")).one()
            last.attempts, last.next_attempt_at = webhooks.MAX_ATTEMPTS, utcnow()
        assert webhooks.sweep_pending(now=utcnow() + timedelta(minutes=6)) == 1
        db.session.rollback()
        assert db.session.get(WebhookDelivery, last.id).status == "failed"
    assert jobs.run_pending(app) == 0
    assert len(receiver.requests) == 1


def test_an_attempt_in_flight_is_not_sent_again_by_the_sweep(
    make_app: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delivery recorded long ago (its job waited out an outage) is being posted right
    now: the claim marks the attempt's start, so the sweep leaves it to that post."""
    app = make_app(FULIAN_WEBHOOK_ALLOWED_NETWORKS=LOOPBACK)
    with app.app_context():
        webhooks.create_subscription(receiver.url(), ["customer.created"])
        with write_transaction():
            webhooks.record("customer.created", {"id": 1, "name": "Bo"})
        with write_transaction() as session:
            session.scalars(select(WebhookDelivery)).one().created_at = \
                utcnow() - timedelta(hours=1)
    swept: list[int] = []

    def in_flight(url: str, body: bytes, headers: dict[str, str]) -> int:
        swept.append(webhooks.sweep_pending())  # the sweep runs while the post is under way
        return 200

    monkeypatch.setattr(webhooks, "_post", in_flight)
    assert jobs.run_pending(app) == 1
    assert swept == [0]
    with app.app_context():
        assert (_delivery().status, _delivery().attempts) == ("delivered", 1)
    assert jobs.run_pending(app) == 0
