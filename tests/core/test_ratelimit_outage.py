"""Rate limits with their Redis gone (NOTES trap 16): every limited route keeps answering,
limits are counted in process memory meanwhile (one warning per outage, counted), and
Redis is used again once it is back, without a restart.

The Redis here is a private redis-server this module starts, stops and starts again; the
suite's shared Redis is never touched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import flask_limiter._extension as limiter_module
import pytest
from redis import Redis

from core import ratelimit
from tests.core.factories import bearer, make_shop, make_user, token_for
from tests.core.private_redis import PrivateRedis
from tests.web.conftest import post_form

pytestmark = pytest.mark.redis

PASSWORD = "correct horse battery"


@pytest.fixture
def limited(make_app: Any, redis_server: PrivateRedis) -> Iterator[SimpleNamespace]:
    redis_server.start()
    redis_server.flush()
    app = make_app(FULIAN_REDIS_URL=redis_server.url, FULIAN_RQ_QUEUE="limits-test",
                   RATELIMIT_ENABLED=True)
    with app.app_context():
        shop = make_shop()
        desk = make_user("desk@example.com", "front_desk", ["main"])
        make_user("boss@example.com", "owner")
        world = SimpleNamespace(app=app, store_id=shop.store.id, service_id=shop.service.id,
                                staff_id=shop.staff.id, start=shop.start,
                                desk=bearer(token_for(desk)), redis=redis_server)
    yield world
    redis_server.start()


def _booking(world: SimpleNamespace, hour: int) -> Any:
    start = world.start + timedelta(hours=hour - 11)  # world.start is 11:00 local
    body = {"store_id": world.store_id, "service_id": world.service_id,
            "staff_id": world.staff_id, "start_at": start.isoformat(),
            "customer": {"phone": f"139000000{hour:02d}", "name": "Walk In"}}
    return world.app.test_client().post("/api/v1/bookings", json=body, headers=world.desk)


def _every_limited_route(world: SimpleNamespace, hour: int) -> dict[str, int]:
    client = world.app.test_client()
    return {
        "booking": _booking(world, hour).status_code,
        "token": client.post("/api/v1/auth/token", json={
            "login": "boss@example.com", "password": PASSWORD}).status_code,
        "sms": client.post("/api/v1/auth/sms-code",
                           json={"phone": f"1390001{hour:04d}"}).status_code,
        "login page": post_form(client, "/login", {"login": "boss@example.com",
                                                   "password": PASSWORD}).status_code,
        "customer login page": post_form(world.app.test_client(), "/me/login",
                                         {"phone": f"1390002{hour:04d}"}).status_code,
    }


def _sms_codes_until_refused(world: SimpleNamespace, first: int, address: str) -> list[int]:
    """Six code requests from one client ``address``, each for another number: the sixth
    is over the per-client limit (5 a minute) whatever the storage."""
    client = world.app.test_client()
    return [client.post("/api/v1/auth/sms-code", environ_base={"REMOTE_ADDR": address},
                        json={"phone": f"1390003{first + i:04d}"}).status_code
            for i in range(6)]


def _later_clock(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Flask-Limiter pings its storage again 1, 2, 4 ... 32 s after an outage began;
    move its clock on instead of waiting."""
    real = time.time
    monkeypatch.setattr(limiter_module, "time", SimpleNamespace(time=lambda: real() + seconds))


OK = {"booking": 201, "token": 201, "sms": 202, "login page": 302, "customer login page": 200}


def test_redis_up_limits_are_counted_in_redis(limited: SimpleNamespace) -> None:
    assert _every_limited_route(limited, 10) == OK
    assert _sms_codes_until_refused(limited, 0, "10.0.0.1") == [202] * 5 + [429]
    keys = Redis.from_url(limited.redis.url).keys("LIMITS:*")
    assert keys  # the counters live in Redis
    assert not ratelimit.storage_down(limited.app)


def test_redis_down_writes_and_logins_keep_working_then_redis_is_used_again(
    limited: SimpleNamespace, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    outages = ratelimit.storage_outages()
    limited.redis.stop()
    with caplog.at_level(logging.WARNING, logger="core.ratelimit"):
        assert _every_limited_route(limited, 10) == OK
        assert _every_limited_route(limited, 12) == OK
        # limits still hold meanwhile, counted in this process's memory
        refused = _sms_codes_until_refused(limited, 0, "10.0.0.2")
    assert refused == [202] * 5 + [429]
    assert ratelimit.storage_down(limited.app)
    assert ratelimit.storage_outages() == outages + 1
    warnings = [r for r in caplog.records
                if r.name == "core.ratelimit" and "unreachable" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not per request

    limited.redis.start()  # back, empty (no persistence)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="core.ratelimit"), \
            monkeypatch.context() as m:
        _later_clock(m, 120)
        assert _booking(limited, 14).status_code == 201
    assert not ratelimit.storage_down(limited.app)
    assert [r for r in caplog.records
            if r.name == "core.ratelimit" and "reachable again" in r.getMessage()]
    assert _sms_codes_until_refused(limited, 100, "10.0.0.3") == [202] * 5 + [429]
    assert Redis.from_url(limited.redis.url).keys("LIMITS:*")  # counted in Redis again
    assert ratelimit.storage_outages() == outages + 1
