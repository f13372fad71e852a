"""``Idempotency-Key`` (core.idempotency) on cash payments and refunds, on both databases:
replay byte for byte; 422 for the key with another body or path; a caller's keys are
their own; refusals are replies too; an unexpected error gives the key back; a claim
left by a dead process is taken over, and its owner, should it still be alive, cannot
commit. Then the races through gunicorn (three worker processes) on PostgreSQL: 20
copies of one cash payment, and of one wallet top-up, sent at once move the money once
and get 20 identical 201s — and, as the negative control, the same races without the
claim (the former look-up-then-insert) fail."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update

from core import dbmigrate
from core.db import utcnow, write_transaction
from core.extensions import db
from core.finance import ledger, orders
from core.idempotency import Claim
from core.models import IdempotencyRecord, Order, Payment
from core.web import once
from plugins.wallet.models import TopUp
from tests.core.api.resources_world import BACKENDS, World, errors_of, world_fixture
from tests.core.booking.live_server import PROBLEM, Server, gunicorn
from tests.plugins.wallet.test_wallet import env  # noqa: F401 - the fixture

CASH = {"provider": "cash", "amount": 3000}


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world_fixture(request, tmp_path)


def _order(world: World, booking: str = "booking_n") -> str:
    order = world.post(f"/api/v1/bookings/{world.ids[booking]}/order", "owner").json
    return f"/api/v1/orders/{order['id']}"


def _pay(world: World, order: str, key: str | None, who: str = "desk_n",
         body: dict[str, Any] = CASH) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return world.post(f"{order}/payments", who, json=body, headers=headers)


def _rows(world: World) -> list[tuple[str, str, str]]:
    with world.app.app_context():
        return [(r.caller, r.key, r.state) for r in
                db.session.query(IdempotencyRecord).order_by(IdempotencyRecord.id)]


def test_replay_and_what_makes_a_request_another(world: World) -> None:
    order = _order(world)
    first = _pay(world, order, "k-1")
    again = _pay(world, order, "k-1")
    assert first.status_code == again.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data() and again.mimetype == "application/json"
    # the same key with another body: 422, nothing paid
    assert "Idempotency-Key" in errors_of(_pay(world, order, "k-1",
                                               body={**CASH, "amount": 3001}))
    # the owner's "k-1" is the owner's own key: paid afresh, not a replay of the desk's
    mine = _pay(world, order, "k-1", who="owner")
    assert mine.status_code == 201 and "Idempotent-Replayed" not in mine.headers
    assert mine.json["id"] != first.json["id"]
    # ... and on another order's path it is another request: 422
    other = _order(world, "booking_s")
    assert "Idempotency-Key" in errors_of(_pay(world, other, "k-1", who="owner"))
    assert world.count(Payment) == 2
    # without a key nothing is remembered; a malformed key is refused first
    assert _pay(world, order, None).status_code == 201
    assert "Idempotency-Key" in errors_of(_pay(world, order, "k" * 129))
    assert world.count(Payment) == 3
    users = world.ids
    assert _rows(world) == [(f"user:{users['user_desk_n']}", "k-1", "done"),
                            (f"user:{users['user_owner']}", "k-1", "done")]


def test_a_refusal_is_the_reply_and_refunds_replay(world: World) -> None:
    order = _order(world)
    too_much = {**CASH, "amount": 12801}
    refused = _pay(world, order, "over", body=too_much)
    assert refused.status_code == 409 and refused.mimetype == PROBLEM
    again = _pay(world, order, "over", body=too_much)
    assert again.status_code == 409 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == refused.get_data()
    assert world.count(Payment) == 0
    assert _pay(world, order, "full", body={**CASH, "amount": 12800}).status_code == 201
    refund = {"amount": 800, "reason": "late"}
    done = world.post(f"{order}/refunds", "mgr_n", json=refund,
                      headers={"Idempotency-Key": "r-1"})
    replayed = world.post(f"{order}/refunds", "mgr_n", json=refund,
                          headers={"Idempotency-Key": "r-1"})
    assert done.status_code == replayed.status_code == 201
    assert replayed.get_data() == done.get_data()
    with world.app.app_context():
        assert ledger.balance(f"store:{world.ids['north']}:cash") == 12000


def test_an_unexpected_error_gives_the_key_back(world: World,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    order = _order(world)
    real = orders.pay

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(orders, "pay", broken)
    assert _pay(world, order, "k-5xx").status_code == 500
    assert _rows(world) == []  # released: the retry runs the payment
    monkeypatch.setattr(orders, "pay", real)
    retry = _pay(world, order, "k-5xx")
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry.headers
    assert world.count(Payment) == 1


def test_a_dead_claim_is_waited_for_then_taken_over(world: World,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    order = _order(world)
    world.app.config["FULIAN_IDEMPOTENCY_WAIT_SECONDS"] = 0

    def dies(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("killed")

    with monkeypatch.context() as patch:  # the process dies in the effect: no release
        patch.setattr(orders, "pay", dies)
        patch.setattr(Claim, "_release", lambda self: None)
        assert _pay(world, order, "k-dead").status_code == 500
    busy = _pay(world, order, "k-dead")
    assert busy.status_code == 409 and busy.mimetype == PROBLEM
    assert busy.headers["Retry-After"] == "1"
    assert "still being processed" in busy.json["detail"]
    assert "Idempotency-Key" in errors_of(_pay(world, order, "k-dead",
                                               body={**CASH, "amount": 1}))
    _age_claims(world, seconds=61)
    taken = _pay(world, order, "k-dead")
    assert taken.status_code == 201 and "Idempotent-Replayed" not in taken.headers
    assert _pay(world, order, "k-dead").get_data() == taken.get_data()
    assert world.count(Payment) == 1


def test_an_owner_presumed_dead_cannot_commit(world: World,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Another request took the claim over while the effect ran: the effect's
    transaction finds the claim gone and rolls back; the taker's reply will count."""
    order = _order(world)
    world.app.config["FULIAN_IDEMPOTENCY_WAIT_SECONDS"] = 0
    real = orders.pay

    def slow(*args: Any, **kwargs: Any) -> Any:
        with world.app.app_context(), db.engine.begin() as conn:
            conn.execute(update(IdempotencyRecord).values(claim="someone-else"))
        return real(*args, **kwargs)

    monkeypatch.setattr(orders, "pay", slow)
    lost = _pay(world, order, "k-lost")
    assert lost.status_code == 409 and lost.headers["Retry-After"] == "1"
    assert world.count(Payment) == 0
    with world.app.app_context():
        assert ledger.balance(f"store:{world.ids['north']}:cash") == 0


def _age_claims(world: World, seconds: int) -> None:
    with world.app.app_context(), db.engine.begin() as conn:
        conn.execute(update(IdempotencyRecord).values(
            claimed_at=utcnow() - timedelta(seconds=seconds)))


def test_c0013_keeps_the_replies_stored_before_it(make_app: Any) -> None:
    app = make_app(migrate=False)
    with app.app_context():
        dbmigrate.upgrade("c0012")
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO idempotency_keys (scope, key, request_hash, status, body, "
                "content_type, created_at) VALUES ('web:pay:7', 'tok', '', 303, '/paid', "
                "'text/uri-list', :at)"), {"at": datetime(2026, 1, 2, tzinfo=UTC)})
        dbmigrate.upgrade()
        row = db.session.query(IdempotencyRecord).one()
        assert (row.caller, row.state, row.status, row.body) == ("", "done", 303, "/paid")
        assert row.claimed_at == row.completed_at == datetime(2026, 1, 2, tzinfo=UTC)
        assert once.done("web:pay:7", "tok") == "/paid"  # the pages' one-time tokens


# --- the race, through gunicorn on PostgreSQL ----------------------------------------

CONCURRENT = 20
Replies = list[tuple[int, str | None, bytes]]


def at_once(server: Server, path: str, token: str, body: dict[str, Any], key: str
            ) -> Replies:
    """``CONCURRENT`` copies of one request, released together from their own
    connections: (status, Idempotent-Replayed, body) of each."""
    barrier = threading.Barrier(CONCURRENT)

    def one(_: int) -> tuple[int, str | None, bytes]:
        conn = server.connection()
        conn.connect()
        barrier.wait(timeout=30)
        try:
            conn.request("POST", path, body=json.dumps(body), headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/json",
                "Idempotency-Key": key})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Idempotent-Replayed"), resp.read()
        finally:
            conn.close()

    with ThreadPoolExecutor(CONCURRENT) as pool:
        return list(pool.map(one, range(CONCURRENT), timeout=60))


def one_effect(replies: Replies, effects: int) -> bool:
    """All 201, one of them fresh and the others its replay byte for byte, and the
    effect happened once."""
    return (Counter(status for status, _, _ in replies) == {201: CONCURRENT}
            and len({body for _, _, body in replies}) == 1
            and Counter(replayed for _, replayed, _ in replies)
            == {None: 1, "true": CONCURRENT - 1}
            and effects == 1)


@contextmanager
def _server(site: dict, db_url: str, keys: dict, *, claims: bool) -> Iterator[Server]:
    """gunicorn (three workers) on the wallet shop's database; ``claims=False`` switches
    the claim off (a setting honoured in tests only): the former look-up-then-insert."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FULIAN_LICENSE_PUBLIC_KEYS", str(keys["public"]))  # the paid wallet
        if not claims:
            patch.setenv("FULIAN_IDEMPOTENCY_CLAIMS", "0")
        with gunicorn(db_url, Path(site["app"].config["INSTANCE_PATH"]), workers=3,
                      limits=False) as server:
            yield server


def _races(site: dict, db_url: str, keys: dict, rounds: int, *, claims: bool
           ) -> Iterator[tuple[str, Replies, int]]:
    """Rounds of two races against one server — a cash payment of an open order, a
    wallet top-up — a new key each: (what, replies, effects) of each race."""
    app, ids = site["app"], site["ids"]
    with app.app_context():
        with write_transaction() as session:
            order = Order(store_id=ids.store, customer_id=ids.customer, currency="CNY",
                          subtotal=10_000, total=10_000)
            session.add(order)
        order_id = order.id
    pay = {"provider": "cash", "amount": 100}  # due for many rounds, even paid twice
    top_up = {"customer_id": ids.customer, "store_id": ids.store, "amount": 100}
    token = site["tokens"]["desk"]

    def count(model: Any) -> int:
        with app.app_context():
            return db.session.query(model).count()

    with _server(site, db_url, keys, claims=claims) as server:
        for n in range(rounds):
            for what, path, body, model in (
                    ("payment", f"/api/v1/orders/{order_id}/payments", pay, Payment),
                    ("top-up", "/api/v1/wallet/top-ups", top_up, TopUp)):
                before = count(model)
                replies = at_once(server, path, token, body, f"{what}-{n}")
                yield what, replies, count(model) - before


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_twenty_copies_of_a_payment_and_a_top_up_move_money_once(
        env: dict, db_url: str, vendor_keys: dict) -> None:  # noqa: F811
    for what, replies, effects in _races(env, db_url, vendor_keys, 1, claims=True):
        assert one_effect(replies, effects), (what, effects, replies)
    ids = env["ids"]
    with env["app"].app_context():  # 100 paid, 100 topped up: once each
        assert ledger.balance(f"store:{ids.store}:cash") == 200
        assert ledger.balance(f"customer:{ids.customer}:principal") == 100


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_negative_control_without_the_claim(env: dict, db_url: str,  # noqa: F811
                                            vendor_keys: dict) -> None:
    """The same races with the claim switched off: within three rounds each kind gives
    a 500 or moves money twice, so the test above can fail."""
    failed: dict[str, list[Any]] = {"payment": [], "top-up": []}
    for what, replies, effects in _races(env, db_url, vendor_keys, 3, claims=False):
        if not one_effect(replies, effects):
            failed[what].append((Counter(s for s, _, _ in replies), effects))
        if all(failed.values()):
            break
    assert all(failed.values()), failed
