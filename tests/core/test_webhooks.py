"""Webhooks end to end on both databases: the outbox written in the change's transaction,
delivery by the real job runner to a real HTTP receiver on loopback, signatures, retries
with backoff, giving up, replay, event filtering and subscription validation; targets that
are not public addresses refused at subscription and at delivery (DNS rebinding).

The receivers listen on 127.0.0.1, which webhooks refuse unless the operator allows it:
this module's app allows ``127.0.0.0/8`` (``FULIAN_WEBHOOK_ALLOWED_NETWORKS``), and the
tests of refusals take that allowance away again."""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core import jobs, webhooks
from core.booking import service
from core.crm.customers import find_or_create
from core.db import write_transaction
from core.errors import Conflict, ValidationFailed
from core.extensions import db
from core.models import JobRecord, WebhookDelivery
from tests.core.factories import Shop, add_person, book, make_shop, set_policy

# --- a tiny real receiver ---------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers ``fail_status`` to the first ``fail_first`` requests."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    fail_first: int = 0
    fail_status: int = 500
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
                failing = len(receiver.requests) <= receiver.fail_first
            if receiver.delay:
                time.sleep(receiver.delay)
            status = receiver.fail_status if failing else 200
            reply = b"nope" if failing else b"ok"
            try:
                self.send_response(status)
                if status in (301, 302, 303, 307, 308):
                    self.send_header("Location", receiver.url("/elsewhere"))
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def _serving(state: Receiver, tls: ssl.SSLContext | None = None) -> Iterator[Receiver]:
    """Run a receiver on 127.0.0.1 (over TLS with ``tls``) for the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with _serving(Receiver()) as state:
        yield state


# --- helpers ----------------------------------------------------------------------------------

LOOPBACK_ALLOWED = ["127.0.0.0/8"]


@pytest.fixture
def app(make_app: Any) -> Any:
    """The test app, allowed to post to the receivers on loopback."""
    return make_app(FULIAN_WEBHOOK_ALLOWED_NETWORKS=LOOPBACK_ALLOWED)


@pytest.fixture
def strict(ctx: Any) -> Any:
    """The app as deployed by default: no intranet network allowed."""
    ctx.config["FULIAN_WEBHOOK_ALLOWED_NETWORKS"] = []
    return ctx


@pytest.fixture
def shop(ctx: Any) -> Shop:
    return make_shop()


def _later(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


def _deliveries(event: str | None = None) -> list[WebhookDelivery]:
    db.session.rollback()  # see what the jobs committed (and drop any stale snapshot)
    query = select(WebhookDelivery).order_by(WebhookDelivery.id)
    if event is not None:
        query = query.where(WebhookDelivery.event == event)
    return list(db.session.scalars(query))


def _queued_jobs() -> list[JobRecord]:
    db.session.rollback()
    return list(db.session.scalars(select(JobRecord).where(
        JobRecord.func == webhooks.JOB, JobRecord.status == "queued").order_by(JobRecord.id)))


def _subscribe(url: str, events: list[str], **kw: Any) -> Any:
    return webhooks.create_subscription(url, events, **kw)


def _valid(sub: Any, req: Received) -> bool:
    return webhooks.verify_signature(sub.secret, req.headers["X-Fulian-Timestamp"], req.body,
                                     req.headers["X-Fulian-Signature"])


# --- outbox and delivery --------------------------------------------------------------------


def test_booking_created_is_written_in_the_transaction_and_sent_only_after_commit(
        ctx: Any, shop: Shop, receiver: Receiver) -> None:
    created = _subscribe(receiver.url("/created"), ["booking.created"])
    everything = _subscribe(receiver.url("/all"), ["*"])
    _subscribe(receiver.url("/cancelled"), ["booking.cancelled"])
    off = _subscribe(receiver.url("/off"), ["*"])
    webhooks.deactivate_subscription(off.id)
    seen: dict[str, Any] = {}

    def inside(booking: Any) -> None:
        # Still inside create_booking's transaction: the outbox rows are there, but the
        # jobs are only remembered on the session, not dispatched.
        rows = db.session.scalars(select(WebhookDelivery)).all()
        seen["subs"] = sorted(r.subscription_id for r in rows)
        seen["pending_jobs"] = len(db.session.info.get(jobs.PENDING_KEY, []))
        seen["dispatched"] = db.session.scalars(
            select(JobRecord).where(JobRecord.func == webhooks.JOB)).all()

    booking = service.create_booking(store=shop.store, service=shop.service,
                                     customer=shop.customer, start_at=shop.start,
                                     staff=shop.staff, source="phone", before_commit=inside)
    assert seen["subs"] == sorted([created.id, everything.id])
    assert seen["pending_jobs"] == 2
    assert seen["dispatched"] == []

    rows = _deliveries()
    assert [(r.subscription_id, r.event, r.status, r.attempts) for r in rows] == [
        (created.id, "booking.created", "pending", 0),
        (everything.id, "booking.created", "pending", 0)]
    assert len(_queued_jobs()) == 2
    assert receiver.requests == []  # queued, not sent

    assert jobs.run_pending(ctx) == 2
    by_path = {r.path: r for r in receiver.requests}
    assert sorted(by_path) == ["/all", "/created"]
    for sub, path in ((created, "/created"), (everything, "/all")):
        req = by_path[path]
        assert _valid(sub, req)
        assert not _valid(everything if sub is created else created, req)  # per-sub secret
        assert req.headers["Content-Type"] == "application/json"
        assert req.headers["X-Fulian-Event"] == "booking.created"
        body = req.json
        assert body["event"] == "booking.created"
        assert body["id"] == req.headers["X-Fulian-Delivery"]
        assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
        assert body["data"] == {
            "id": booking.id, "code": booking.code, "store_id": shop.store.id,
            "staff_id": shop.staff.id, "service_id": shop.service.id,
            "customer_id": shop.customer.id, "status": "confirmed",
            "start_at": shop.start.astimezone(datetime.fromisoformat(
                body["data"]["start_at"]).tzinfo).isoformat(),
            "end_at": (shop.start + timedelta(minutes=60)).astimezone(datetime.fromisoformat(
                body["data"]["start_at"]).tzinfo).isoformat(),
            "price": 12800, "currency": "CNY"}
        assert body["data"]["start_at"].endswith("+08:00")  # store-local offset
        assert datetime.fromisoformat(body["data"]["start_at"]) == shop.start
    assert by_path["/all"].json["id"] != by_path["/created"].json["id"]
    rows = _deliveries()
    assert [(r.status, r.attempts, r.last_status_code) for r in rows] == [
        ("delivered", 1, 200), ("delivered", 1, 200)]
    assert all(r.delivered_at is not None for r in rows)
    assert jobs.run_pending(ctx) == 0
    assert len(receiver.requests) == 2  # once each


def test_rolled_back_changes_send_nothing(ctx: Any, shop: Shop, receiver: Receiver) -> None:
    _subscribe(receiver.url(), ["*"])

    def boom(booking: Any) -> None:
        raise RuntimeError("refused after the insert")

    with pytest.raises(RuntimeError):
        service.create_booking(store=shop.store, service=shop.service,
                               customer=shop.customer, start_at=shop.start, staff=shop.staff,
                               source="phone", before_commit=boom)
    with pytest.raises(RuntimeError), write_transaction():
        webhooks.record("customer.created", {"id": 1})
        find_or_create("13900000077", "Rolled back")
        raise RuntimeError("rolled back")
    assert _deliveries() == []
    assert _queued_jobs() == []
    assert jobs.run_pending(ctx) == 0
    assert receiver.requests == []


def test_failure_is_retried_with_backoff_and_then_delivered(
        ctx: Any, shop: Shop, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    sub = _subscribe(receiver.url(), ["booking.created"])
    receiver.fail_first = 1
    book(shop)
    with caplog.at_level("WARNING", logger="core.webhooks"):
        assert jobs.run_pending(ctx) == 1
    assert "failed, attempt 1 of 8" in caplog.text
    [row] = _deliveries()
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
    assert row.last_error == "HTTP 500 Internal Server Error"  # never the body ("nope")
    assert row.delivered_at is None
    wait = webhooks.backoff(1)
    assert wait == timedelta(seconds=60)
    assert abs(row.next_attempt_at - (_later() + wait)) < timedelta(seconds=10)
    [retry] = _queued_jobs()
    assert retry.args == [row.id, 1]

    assert jobs.run_pending(ctx, now=_later(seconds=45)) == 0  # not before the delay
    assert len(receiver.requests) == 1
    assert jobs.run_pending(ctx, now=_later(seconds=75)) == 1
    assert len(receiver.requests) == 2
    [row] = _deliveries()
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)
    first, second = receiver.requests
    assert first.headers["X-Fulian-Delivery"] == second.headers["X-Fulian-Delivery"]
    assert first.body == second.body
    assert _valid(sub, first) and _valid(sub, second)


def test_gives_up_after_max_attempts_and_replay_sends_again(
        ctx: Any, shop: Shop, receiver: Receiver) -> None:
    sub = _subscribe(receiver.url(), ["booking.created"])
    receiver.fail_first = 100
    book(shop)
    # A day later every retry is due: the runner works through the whole backoff chain.
    jobs.run_pending(ctx, now=_later(days=1))
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS
    [row] = _deliveries()
    assert (row.status, row.attempts, row.last_status_code) == ("failed", 8, 500)
    assert row.next_attempt_at is None
    assert _queued_jobs() == []
    assert jobs.run_pending(ctx, now=_later(days=2)) == 0
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS

    receiver.fail_first = 0
    receiver.requests.clear()
    replayed = webhooks.replay(row.id)
    assert replayed.status == "pending"
    assert jobs.run_pending(ctx) == 1
    [req] = receiver.requests
    assert _valid(sub, req)
    [row] = _deliveries()
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 9, 200)
    assert row.delivered_at is not None

    webhooks.replay(row.id)  # a delivered one can be sent again too
    jobs.run_pending(ctx)
    assert len(receiver.requests) == 2
    assert receiver.requests[1].headers["X-Fulian-Delivery"] == req.headers["X-Fulian-Delivery"]
    assert _deliveries()[0].status == "delivered"


def test_backoff_doubles_and_is_capped_at_an_hour() -> None:
    assert [webhooks.backoff(n).total_seconds() for n in range(1, 9)] == [
        60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_replay_while_a_retry_is_scheduled_does_not_send_twice(
        ctx: Any, shop: Shop, receiver: Receiver) -> None:
    _subscribe(receiver.url(), ["booking.created"])
    receiver.fail_first = 1
    book(shop)
    jobs.run_pending(ctx)
    [row] = _deliveries()
    assert row.attempts == 1 and len(_queued_jobs()) == 1  # the retry in 60 s
    webhooks.replay(row.id)
    jobs.run_pending(ctx)
    assert len(receiver.requests) == 2
    assert _deliveries()[0].status == "delivered"
    jobs.run_pending(ctx, now=_later(minutes=5))  # the old retry job finds nothing to do
    assert len(receiver.requests) == 2
    assert _deliveries()[0].attempts == 2


def test_unreachable_receiver_and_redirects_count_as_failures(
        ctx: Any, shop: Shop, receiver: Receiver) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = closed.server_address[1]
    closed.server_close()  # nothing listens there any more
    _subscribe(f"http://127.0.0.1:{port}/hook", ["booking.created"])
    _subscribe(receiver.url(), ["booking.created"])
    receiver.fail_first, receiver.fail_status = 1, 302
    book(shop)
    jobs.run_pending(ctx)
    refused, redirected = _deliveries()
    assert (refused.status, refused.attempts, refused.last_status_code) == ("pending", 1, None)
    assert refused.last_error == "ConnectionRefusedError: connection refused"
    assert (redirected.attempts, redirected.last_status_code) == (1, 302)
    assert redirected.last_error == "HTTP 302 Found"
    assert [r.path for r in receiver.requests] == ["/hook"]  # the redirect was not followed


def test_a_slow_receiver_times_out(ctx: Any, shop: Shop, receiver: Receiver,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.3)
    _subscribe(receiver.url(), ["booking.created"])
    receiver.delay = 1.0
    book(shop)
    jobs.run_pending(ctx)
    [row] = _deliveries()
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert row.last_error == "TimeoutError: timed out"


# --- events and filtering -------------------------------------------------------------------


def test_subscriptions_receive_only_their_events(ctx: Any, shop: Shop,
                                                 receiver: Receiver) -> None:
    cancelled = _subscribe(receiver.url("/cancelled"), ["booking.cancelled"])
    both = _subscribe(receiver.url("/both"), ["booking.created", "booking.cancelled"])
    customers = _subscribe(receiver.url("/customers"), ["customer.created"])
    booking = book(shop)
    service.transition(booking.id, "cancel", reason="changed plans")
    rows = _deliveries()
    assert sorted((r.subscription_id, r.event) for r in rows) == sorted([
        (both.id, "booking.created"), (cancelled.id, "booking.cancelled"),
        (both.id, "booking.cancelled")])
    assert customers.id not in {r.subscription_id for r in rows}
    jobs.run_pending(ctx)
    got = sorted((r.path, r.json["event"], r.json["data"]["status"]) for r in receiver.requests)
    assert got == [("/both", "booking.cancelled", "cancelled"),
                   ("/both", "booking.created", "confirmed"),
                   ("/cancelled", "booking.cancelled", "cancelled")]


def test_every_lifecycle_action_has_its_event(ctx: Any, shop: Shop) -> None:
    _subscribe("https://example.com/hook", ["*"])
    starts = [shop.start + timedelta(minutes=90 * i) for i in range(4)]
    set_policy(shop.store, acceptance_required=True)
    pending = [book(shop, s, source="online") for s in starts[:2]]
    set_policy(shop.store, acceptance_required=False)
    confirmed = [book(shop, s) for s in starts[2:]]
    service.transition(pending[0].id, "confirm")
    service.transition(pending[1].id, "decline", reason="busy")
    service.transition(pending[0].id, "reschedule", new_start=starts[0] + timedelta(days=1))
    service.transition(confirmed[0].id, "complete", now=starts[2] + timedelta(minutes=5))
    service.transition(confirmed[1].id, "no_show", now=starts[3] + timedelta(minutes=5))
    service.transition(pending[0].id, "cancel")
    events = [r.event for r in _deliveries()]
    assert events == ["booking.created"] * 4 + [
        "booking.confirmed", "booking.declined", "booking.rescheduled", "booking.completed",
        "booking.no_show", "booking.cancelled"]
    rescheduled = _deliveries("booking.rescheduled")[0].payload["data"]
    assert datetime.fromisoformat(rescheduled["start_at"]) == starts[0] + timedelta(days=1)


def test_acceptance_timeout_reassigns_or_declines_with_events(ctx: Any, shop: Shop) -> None:
    _subscribe("https://example.com/hook", ["booking.reassigned", "booking.declined"])
    other = add_person("Cy", "cy@example.com", [shop.store.code], [shop.service])
    set_policy(shop.store, acceptance_required=True, acceptance_timeout_action="reassign")
    booking = book(shop, source="online")
    later = datetime.now(UTC) + timedelta(hours=2)
    service.acceptance_timeout(booking.id, now=later)
    [reassigned] = _deliveries()
    assert reassigned.event == "booking.reassigned"
    assert reassigned.payload["data"]["staff_id"] == other.id
    assert reassigned.payload["data"]["status"] == "pending"
    set_policy(shop.store, acceptance_timeout_action="decline")
    service.acceptance_timeout(booking.id, now=later + timedelta(hours=2))
    assert [r.event for r in _deliveries()] == ["booking.reassigned", "booking.declined"]


def test_customer_created_only_for_new_customers(ctx: Any, receiver: Receiver) -> None:
    sub = _subscribe(receiver.url(), ["customer.created"])
    with write_transaction():
        customer = find_or_create("13900000042", "Dee", "walk_in", tags=["vip"])
    with write_transaction():
        find_or_create("13900000042", "Dee again")  # existing: no event
    [row] = _deliveries()
    assert row.payload["data"] == {"id": customer.id, "phone": "+8613900000042", "name": "Dee",
                                   "source": "walk_in"}
    jobs.run_pending(ctx)
    [req] = receiver.requests
    assert _valid(sub, req) and req.headers["X-Fulian-Event"] == "customer.created"


def test_deactivated_subscription_stops_pending_deliveries(ctx: Any, shop: Shop,
                                                           receiver: Receiver) -> None:
    sub = _subscribe(receiver.url(), ["booking.created"])
    book(shop)
    webhooks.deactivate_subscription(sub.id)
    jobs.run_pending(ctx)
    assert receiver.requests == []
    [row] = _deliveries()
    assert (row.status, row.last_error) == ("failed", "subscription deactivated")
    with pytest.raises(Conflict):
        webhooks.replay(row.id)
    webhooks.delete_subscription(sub.id)
    assert _deliveries() == []


def test_record_refuses_unknown_events(ctx: Any) -> None:
    with pytest.raises(ValueError, match="unknown webhook event"):
        webhooks.record("booking.exploded", {})


# --- subscriptions --------------------------------------------------------------------------


def test_create_subscription_generates_a_secret(ctx: Any) -> None:
    sub = _subscribe("https://example.com/hook", ["booking.created", "*"])
    assert len(sub.secret) == 64 and int(sub.secret, 16) >= 0
    assert sub.active is True
    own = _subscribe("http://127.0.0.1:8080/x", ["customer.created"],
                     secret="s" * 16)
    assert own.secret == "s" * 16
    assert [s.id for s in webhooks.list_subscriptions()] == [sub.id, own.id]
    webhooks.deactivate_subscription(own.id)
    assert [s.id for s in webhooks.list_subscriptions(include_inactive=False)] == [sub.id]


INVALID = [
    ("ftp://example.com/hook", ["booking.created"], None, "url"),
    ("file:///etc/passwd", ["booking.created"], None, "url"),
    ("https://", ["booking.created"], None, "url"),
    ("not a url", ["booking.created"], None, "url"),
    ("https://example.com:99999/", ["booking.created"], None, "url"),
    ("https://example.com/" + "x" * 500, ["booking.created"], None, "url"),
    ("https://example.com/hook", ["booking.exploded"], None, "events"),
    ("https://example.com/hook", [], None, "events"),
    ("https://example.com/hook", ["booking.created", "booking.created"], None, "events"),
    ("https://example.com/hook", ["booking.created"], "short", "secret"),
    ("https://example.com/hook", ["booking.created"], "has spaces in the secret", "secret"),
]


def test_create_subscription_validates(ctx: Any) -> None:
    for url, events, secret, field_name in INVALID:
        with pytest.raises(ValidationFailed) as info:
            webhooks.create_subscription(url, events, secret)
        assert info.value.status == 422
        assert field_name in info.value.field_errors, (url, events, secret)
    assert webhooks.list_subscriptions() == []


# --- signatures (pure functions) ------------------------------------------------------------


def test_signature_verification() -> None:
    secret = "x" * 64
    body = json.dumps({"event": "booking.created", "data": {"id": 1}}).encode()
    ts = int(time.time())
    signature = webhooks.sign(secret, ts, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert webhooks.verify_signature(secret, ts, body, signature)
    assert webhooks.verify_signature(secret, str(ts), body.decode(), signature)  # str forms
    # tampered body, other secret, other timestamp, mangled header
    assert not webhooks.verify_signature(secret, ts, body.replace(b"1", b"2"), signature)
    assert not webhooks.verify_signature("y" * 64, ts, body, signature)
    assert not webhooks.verify_signature(secret, ts + 1, body, signature)
    assert not webhooks.verify_signature(secret, ts, body, signature[7:])
    assert not webhooks.verify_signature(secret, ts, body, "sha256=" + "0" * 64)
    assert not webhooks.verify_signature(secret, "soon", body, signature)
    assert not webhooks.verify_signature(secret, ts, body, "sha256=\u00e9")


def test_signature_freshness_window() -> None:
    secret = "k" * 32
    body = b'{"a":1}'
    ts = 1_700_000_000
    signature = webhooks.sign(secret, ts, body)
    at = datetime.fromtimestamp(ts, UTC)
    assert webhooks.verify_signature(secret, ts, body, signature, now=at)
    assert webhooks.verify_signature(secret, ts, body, signature, now=ts + 300)
    assert webhooks.verify_signature(secret, ts, body, signature, now=ts - 300)
    assert not webhooks.verify_signature(secret, ts, body, signature,
                                         now=at + timedelta(seconds=301))  # stale
    assert not webhooks.verify_signature(secret, ts, body, signature, now=ts - 301)  # future
    assert webhooks.verify_signature(secret, ts, body, signature, now=ts + 3000,
                                     tolerance=3600)
    assert not webhooks.verify_signature(secret, ts, body, signature)  # 2023 is stale today


# --- targets that are not public addresses (SSRF) -------------------------------------------

PUBLIC = "93.184.215.14"
REFUSED_URLS = [
    "http://127.0.0.1:8080/hook", "http://10.0.0.5/hook", "http://172.16.0.1/hook",
    "http://192.168.1.1/hook", "http://100.64.0.1/hook", "http://0.0.0.0/hook",
    "http://224.0.0.1/hook", "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook", "http://[::]/hook", "http://[fd00::1]/hook", "http://[fe80::1]/hook",
    "http://[::ffff:127.0.0.1]/hook", "http://[::ffff:169.254.169.254]/hook",
    "http://localhost:8080/hook", "https://api.localhost/hook",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://2130706433/hook",  # 127.0.0.1 written as one number: the resolver's answer counts
    "https://erp.brand.example/hook", "https://mixed.brand.example/hook",  # names, below
]
ACCEPTED_URLS = [
    "https://hooks.brand.example/hook", f"http://{PUBLIC}/hook",
    "http://[2606:4700:4700::1111]/hook",
    "https://not-yet-in-dns.invalid/hook",  # checked again at every delivery
]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A DNS server under the test's control for ``*.brand.example`` names (others go to
    the real resolver); it answers what the dict says at the time of the lookup."""
    answers = {"erp.brand.example": ["10.1.2.3"], "hooks.brand.example": [PUBLIC],
               "mixed.brand.example": [PUBLIC, "127.0.0.1"]}
    real = webhooks._resolve

    def resolve(host: str, port: int) -> list[str]:
        if host.endswith(".brand.example"):
            if host not in answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return list(answers[host])
        return real(host, port)

    monkeypatch.setattr(webhooks, "_resolve", resolve)
    return answers


def test_targets_that_are_not_public_are_refused_at_creation(
        strict: Any, dns: dict[str, list[str]]) -> None:
    for url in REFUSED_URLS:
        with pytest.raises(ValidationFailed) as info:
            webhooks.create_subscription(url, ["booking.created"])
        assert info.value.status == 422, url
        assert list(info.value.field_errors) == ["url"], url
    assert webhooks.list_subscriptions() == []
    with pytest.raises(ValidationFailed) as info:
        webhooks.create_subscription("http://169.254.169.254/", ["*"])
    assert "non-public address" in str(info.value.field_errors["url"][0])
    with pytest.raises(ValidationFailed) as info:
        webhooks.create_subscription("https://erp.brand.example/", ["*"])
    assert "resolves to" in str(info.value.field_errors["url"][0])
    with pytest.raises(ValidationFailed) as info:
        webhooks.create_subscription("http://metadata.google.internal/", ["*"])
    assert "metadata" in str(info.value.field_errors["url"][0])

    for url in ACCEPTED_URLS:
        assert webhooks.create_subscription(url, ["booking.created"]).url == url

    # The operator allows the brand's ERP network on purpose; loopback stays refused.
    strict.config["FULIAN_WEBHOOK_ALLOWED_NETWORKS"] = ["10.0.0.0/8"]
    for url in ("http://10.0.0.5/hook", "https://erp.brand.example/hook"):
        assert webhooks.create_subscription(url, ["booking.created"]).url == url
    with pytest.raises(ValidationFailed):
        webhooks.create_subscription("http://127.0.0.1/hook", ["booking.created"])
    assert len(webhooks.list_subscriptions()) == len(ACCEPTED_URLS) + 2


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("10.0.0.5", "private"),
    ("172.31.255.255", "private"), ("192.168.0.1", "private"),
    ("100.64.0.1", "shared (CGNAT)"), ("100.127.255.254", "shared (CGNAT)"),
    ("169.254.169.254", "link-local"), ("0.0.0.0", "unspecified"),
    ("224.0.0.251", "multicast"), ("239.255.255.250", "multicast"),
    ("::1", "loopback"), ("::", "unspecified"), ("fe80::1", "link-local"),
    ("fe80::1%eth0", "link-local"), ("fd12:3456::1", "private"), ("fc00::1", "private"),
    ("ff02::1", "multicast"), ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"), ("64:ff9b::a00:1", "private"),  # NAT64
    ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
    ("8.8.8.8", None), (PUBLIC, None), ("2606:4700:4700::1111", None),
    ("not an address", "invalid"),
])
def test_address_problem(address: str, kind: str | None) -> None:
    assert webhooks.address_problem(address, allowed=[]) == kind


def test_address_problem_reserved_ranges_and_allowed_networks() -> None:
    for address in ("240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "fec0::1",
                    "2001:db8::1"):
        assert webhooks.address_problem(address, allowed=[]) is not None, address
    erp = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]
    assert webhooks.address_problem("10.20.30.40", allowed=erp) is None
    assert webhooks.address_problem("::ffff:10.20.30.40", allowed=erp) is None
    assert webhooks.address_problem("fd00::5", allowed=erp) is None
    assert webhooks.address_problem("127.0.0.1", allowed=erp) == "loopback"
    assert webhooks.address_problem("172.16.0.1", allowed=erp) == "private"


def test_a_name_that_turns_private_later_is_refused_at_delivery_without_connecting(
        strict: Any, shop: Shop, receiver: Receiver, dns: dict[str, list[str]],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    connects: list[Any] = []
    real_connect = socket.create_connection

    def spy(address: Any, *args: Any, **kwargs: Any) -> Any:
        connects.append(address)
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", spy)
    url = f"http://hooks.brand.example:{receiver.port}/hook"
    sub = _subscribe(url, ["booking.created"])  # public when subscribed
    dns["hooks.brand.example"] = ["127.0.0.1"]  # then the DNS server rebinds the name
    book(shop)
    with caplog.at_level("WARNING", logger="core.webhooks"):
        assert jobs.run_pending(strict) == 1
    assert receiver.requests == [] and connects == []
    [row] = _deliveries()
    assert (row.status, row.attempts, row.last_status_code, row.next_attempt_at) == (
        "failed", 1, None, None)  # at once: no retry storm
    assert row.last_error.startswith("target refused: loopback address")
    assert _queued_jobs() == []
    assert "127.0.0.1" in caplog.text  # the server log names the address, the row does not
    assert "127.0.0.1" not in row.last_error
    assert jobs.run_pending(strict, now=_later(days=1)) == 0

    # One private address among public ones is enough to refuse (every one is checked).
    dns["hooks.brand.example"] = [PUBLIC, "127.0.0.1"]
    webhooks.replay(row.id)
    jobs.run_pending(strict)
    assert receiver.requests == [] and connects == []
    assert _deliveries()[0].status == "failed"

    # An operator allowing the network makes the same subscription work.
    dns["hooks.brand.example"] = ["127.0.0.1"]
    strict.config["FULIAN_WEBHOOK_ALLOWED_NETWORKS"] = LOOPBACK_ALLOWED
    webhooks.replay(row.id)
    jobs.run_pending(strict)
    [req] = receiver.requests
    assert _valid(sub, req)
    assert connects == [("127.0.0.1", receiver.port)]
    assert _deliveries()[0].status == "delivered"


def test_delivery_connects_to_the_address_it_checked(
        ctx: Any, shop: Shop, receiver: Receiver, dns: dict[str, list[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    dns["hooks.brand.example"] = ["127.0.0.1"]
    looked_up: list[Any] = []
    real_getaddrinfo = socket.getaddrinfo

    def spy(host: Any, *args: Any, **kwargs: Any) -> Any:
        looked_up.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    _subscribe(f"http://hooks.brand.example:{receiver.port}/hook?x=1", ["booking.created"])
    book(shop)
    assert jobs.run_pending(ctx) == 1
    [req] = receiver.requests
    assert req.path == "/hook?x=1"
    assert req.headers["Host"] == f"hooks.brand.example:{receiver.port}"
    assert "hooks.brand.example" not in looked_up  # no second, unchecked DNS answer
    assert _deliveries()[0].status == "delivered"


def _certificates(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for ``name`` signed by it (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fulian test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def test_https_is_verified_against_the_host_name_not_the_address(
        ctx: Any, shop: Shop, dns: dict[str, list[str]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ca, cert, key = _certificates(tmp_path, "hooks.brand.example")
    dns["hooks.brand.example"] = dns["other.brand.example"] = ["127.0.0.1"]
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setattr(webhooks, "_tls_context",
                        lambda: ssl.create_default_context(cafile=str(ca)))
    state = Receiver()
    with _serving(state, server_tls):
        good = _subscribe(f"https://hooks.brand.example:{state.port}/hook", ["*"])
        wrong = _subscribe(f"https://other.brand.example:{state.port}/hook", ["*"])
        book(shop)
        assert jobs.run_pending(ctx) == 2
    rows = {r.subscription_id: r for r in _deliveries()}
    assert rows[good.id].status == "delivered"
    assert (rows[wrong.id].status, rows[wrong.id].last_error) == (
        "pending", "SSLCertVerificationError: TLS certificate not trusted")
    [req] = state.requests
    assert _valid(good, req) and req.headers["Host"] == f"hooks.brand.example:{state.port}"
