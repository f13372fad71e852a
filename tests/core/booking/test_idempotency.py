"""``Idempotency-Key`` on POST /api/v1/bookings, against a live gunicorn server.

Twenty identical requests with one key arrive at once (a double-clicking front desk, a
retrying client): one booking, twenty byte-identical 201 bodies, the copies marked
``Idempotent-Replayed: true``. The customer is new, so the requests also race to create
the same customer record. Then the refusals (same key with another body, a key that is
too long), a late retry, and a second user whose keys are their own.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .live_server import (
    PROBLEM,
    Reply,
    Server,
    active_bookings,
    add_desk_user,
    booking_body,
    gunicorn,
    post,
    prepare_shop,
)

CONCURRENT = 20


def _at_once(server: Server, token: str, body: dict[str, Any], key: str) -> list[Reply]:
    barrier = threading.Barrier(CONCURRENT)

    def one(_: int) -> Reply:
        conn = server.connection()
        conn.connect()
        barrier.wait(timeout=30)
        try:
            return post(conn, token, body, key)
        finally:
            conn.close()

    with ThreadPoolExecutor(CONCURRENT) as pool:
        return list(pool.map(one, range(CONCURRENT), timeout=60))


def _once(server: Server, token: str, body: dict[str, Any], key: str | None) -> Reply:
    conn = server.connection()
    try:
        return post(conn, token, body, key)
    finally:
        conn.close()


def test_idempotent_booking_creation(make_app: Any, db_url: str, tmp_path: Path) -> None:
    app = make_app()
    shop = prepare_shop(app, code="idem")
    other_token = add_desk_user(app, "desk2@example.com", code="idem")
    body = booking_body(shop, shop.staff_ids[0], shop.at(11, 0), "13700000001")
    key = "desk-1:booking:7f3a"
    with gunicorn(db_url, tmp_path / "instance", workers=3) as server:
        replies = _at_once(server, shop.token, body, key)

        statuses = Counter(r.status for r in replies)
        assert statuses == {201: CONCURRENT}, [(r.status, r.body[:300]) for r in replies]
        assert len({r.body for r in replies}) == 1, "bodies differ"
        fresh = [r for r in replies if r.replayed is None]
        assert len(fresh) == 1, Counter(r.replayed for r in replies)
        assert all(r.replayed == "true" for r in replies if r is not fresh[0])
        assert all(r.content_type.startswith("application/json") for r in replies)
        rows = active_bookings(app)
        assert len(rows) == 1
        created = json.loads(replies[0].body)
        assert created["id"] == rows[0].id and created["staff_id"] == shop.staff_ids[0]

        # The same key with another body is refused, and books nothing.
        moved = {**body, "start_at": shop.at(15, 0)}
        reused = _once(server, shop.token, moved, key)
        assert reused.status == 422 and reused.content_type.startswith(PROBLEM), reused
        assert "Idempotency-Key" in json.loads(reused.body).get("errors", {})

        # A key over 128 characters is refused before anything happens.
        too_long = _once(server, shop.token, moved, "k" * 129)
        assert too_long.status == 422 and too_long.content_type.startswith(PROBLEM)
        assert len(active_bookings(app)) == 1

        # A retry much later still replays the first response byte for byte.
        late = _once(server, shop.token, body, key)
        assert late.status == 201 and late.replayed == "true"
        assert late.body == replies[0].body

        # Another user's identical key is theirs: not a replay of the first user's
        # response. The same slot is taken (409) — and that refusal is the key's answer
        # from now on: the same request replays it, another body under it is 422.
        clash = _once(server, other_token, body, key)
        assert clash.status == 409 and clash.replayed is None, clash
        assert _once(server, other_token, body, key).replayed == "true"
        elsewhere = {**body, "staff_id": shop.staff_ids[1]}
        assert _once(server, other_token, elsewhere, key).status == 422
        own = _once(server, other_token, elsewhere, key + ":2")  # a new request, a new key
        assert own.status == 201 and own.replayed is None, own
        assert json.loads(own.body)["id"] != created["id"]
        again = _once(server, other_token, elsewhere, key + ":2")
        assert again.status == 201 and again.replayed == "true" and again.body == own.body

    assert len(active_bookings(app)) == 2
