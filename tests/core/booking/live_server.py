"""A real gunicorn server for concurrency tests, and what they share.

The tests prepare the database in-process (``make_app``), then start gunicorn with
several sync workers (separate processes, each with its own engine and connections) on
a port of loopback that the kernel picks, and hit it from several client processes over
plain HTTP. Only processes started here are ever stopped, by their own id.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[3]
TZ = "Asia/Shanghai"
PASSWORD = "front-desk-pass-1"
PROBLEM = "application/problem+json"
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


def wsgi_app(guard: bool = True, limits: bool = True) -> Any:
    """gunicorn entry (``...live_server:wsgi_app()``): the production app of
    :mod:`core.wsgi`, or the same app with the in-transaction availability re-check
    switched off (``guard=False``, the negative control) or without rate limits
    (``limits=False``, for runs that send more than a client may). Each worker leaves a
    marker file once its app is loaded, so the race starts only when all are ready."""
    if guard and limits:
        from core.wsgi import app
    else:
        from core import create_app

        app = create_app({"FULIAN_BOOKING_GUARD": guard, "RATELIMIT_ENABLED": limits})
    ready = os.environ.get("FULIAN_TEST_READY_DIR")
    if ready:
        Path(ready, f"worker-{os.getpid()}").touch()
    return app


@dataclass
class Server:
    port: int
    log: Path

    def connection(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)


@contextmanager
def gunicorn(db_url: str, instance: Path, *, workers: int = 3, guard: bool = True,
             limits: bool = True, startup_timeout: float = 40.0) -> Iterator[Server]:
    """Run the app under gunicorn (sync workers) on 127.0.0.1, port chosen by the kernel,
    until the block ends; every worker has loaded the app before the block starts."""
    stamp = time.monotonic_ns()
    log = instance / f"gunicorn-{stamp}.log"
    ready = instance / f"ready-{stamp}"
    ready.mkdir(parents=True)
    env = {
        **os.environ,
        "FULIAN_DATABASE_URL": db_url,
        "FULIAN_INSTANCE": str(instance),
        "FULIAN_JOBS_THREAD": "0",
        "FULIAN_TEST_READY_DIR": str(ready),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("FULIAN_REDIS_URL", None)
    cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers),
           "--worker-class", "sync", "--bind", "127.0.0.1:0", "--timeout", "60",
           "--graceful-timeout", "5", "--log-level", "info", "--error-logfile", str(log),
           "--chdir", str(ROOT),
           f"tests.core.booking.live_server:wsgi_app(guard={guard}, limits={limits})"]
    with log.open("ab") as out:  # append: gunicorn writes the same file itself
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT, start_new_session=True)
    try:
        port = _wait(proc, log, startup_timeout, lambda text: _port(text) if len(
            list(ready.iterdir())) >= workers else None)
        yield Server(port, log)
    finally:
        _stop(proc)


def _port(text: str) -> int | None:
    match = _LISTENING.search(text)
    return int(match.group(1)) if match else None


def _wait(proc: subprocess.Popen[bytes], log: Path, timeout: float,
          check: Callable[[str], int | None]) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}:\n{log.read_text()}")
        found = check(log.read_text(errors="replace"))
        if found is not None:
            return found
        time.sleep(0.05)
    raise RuntimeError(f"gunicorn not ready in {timeout}s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # the master stops its own workers
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # our own session: the master + its workers
            proc.wait(timeout=5)


# ------------------------------------------------------------------------ test data


@dataclass
class Shop:
    store_id: int
    service_id: int
    staff_ids: list[int]
    token: str
    day: datetime  # local midnight of the booking day

    def at(self, hour: int, minute: int) -> str:
        return (self.day + timedelta(hours=hour, minutes=minute)).isoformat()


def prepare_shop(app: Any, *, n_staff: int = 3, code: str = "race",
                 desk_email: str = "desk@example.com") -> Shop:
    """A store open 09:00-21:00 with ``n_staff`` people, a 60-minute service with a
    15-minute buffer, and a front-desk user's bearer token."""
    from core.audit import acting_as
    from core.catalog.services import add_service
    from core.extensions import db
    from core.org.staff import add_staff
    from core.org.stores import create_store
    from core.org.users import create_user

    with app.app_context(), acting_as(None, "test"):
        store = create_store({"code": code, "name": f"Store {code}", "timezone": TZ},
                             hours="mon-sun 09:00-21:00")
        service = add_service({"name": f"Cut {code}", "duration_min": 60, "price": 12800,
                               "buffer_after_min": 15}, category="Hair", stores=[code])
        staff = [add_staff({"name": f"Stylist {i}", "email": f"{code}-staff{i}@example.com"},
                           {"title": "Stylist"}, stores=[code], services=[str(service.id)])
                 for i in range(n_staff)]
        create_user({"name": "Desk", "email": desk_email, "password": PASSWORD},
                    role="front_desk", stores=[code])
        ids = (store.id, service.id, [s.id for s in staff])
        db.session.remove()
    token = login(app, desk_email)
    tomorrow = datetime.now(ZoneInfo(TZ)).date() + timedelta(days=2)
    day = datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=ZoneInfo(TZ))
    return Shop(ids[0], ids[1], ids[2], token, day)


def add_desk_user(app: Any, email: str, code: str = "race") -> str:
    from core.audit import acting_as
    from core.extensions import db
    from core.org.users import create_user

    with app.app_context(), acting_as(None, "test"):
        create_user({"name": "Desk 2", "email": email, "password": PASSWORD},
                    role="front_desk", stores=[code])
        db.session.remove()
    return login(app, email)


def login(app: Any, email: str) -> str:
    resp = app.test_client().post("/api/v1/auth/token",
                                  json={"login": email, "password": PASSWORD})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.json["token"]


def booking_body(shop: Shop, staff_id: int | None, start: str, phone: str) -> dict[str, Any]:
    return {"store_id": shop.store_id, "service_id": shop.service_id, "staff_id": staff_id,
            "start_at": start, "customer": {"phone": phone, "name": "Caller"},
            "source": "phone"}


# ------------------------------------------------------------------------- clients


@dataclass
class Reply:
    status: int
    content_type: str
    replayed: str | None
    body: bytes
    tag: Any = None


def post(conn: http.client.HTTPConnection, token: str, body: dict[str, Any],
         key: str | None = None, tag: Any = None) -> Reply:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    conn.request("POST", "/api/v1/bookings", body=json.dumps(body), headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return Reply(resp.status, resp.getheader("Content-Type", ""),
                 resp.getheader("Idempotent-Replayed"), data, tag)


def _client(args: tuple[int, str, float, list[tuple[dict[str, Any], str | None, Any]]]
            ) -> list[Reply]:
    port, token, start_at, jobs = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.connect()
    time.sleep(max(0.0, start_at - time.time()))  # every process starts together
    try:
        return [post(conn, token, body, key, tag) for body, key, tag in jobs]
    finally:
        conn.close()


def fire(server: Server, token: str,
         per_process: list[list[tuple[dict[str, Any], str | None, Any]]],
         timeout: float = 60.0) -> list[Reply]:
    """Run each list of (body, idempotency key, tag) in its own client process, all
    released at the same instant; return every reply."""
    ctx = multiprocessing.get_context("fork")
    start_at = time.time() + 0.3
    with ctx.Pool(len(per_process)) as pool:
        result = pool.map_async(_client, [(server.port, token, start_at, jobs)
                                          for jobs in per_process], chunksize=1)
        replies = result.get(timeout=timeout)
    return [r for chunk in replies for r in chunk]


# ------------------------------------------------------------------------ database


def active_bookings(app: Any) -> list[Any]:
    from core.extensions import db
    from core.models import ACTIVE_STATUSES, Booking

    with app.app_context():
        rows = db.session.execute(
            select(Booking.id, Booking.staff_id, Booking.block_start, Booking.block_end,
                   Booking.idempotency_key)
            .where(Booking.status.in_(ACTIVE_STATUSES)).order_by(Booking.id)).all()
        db.session.remove()
    return list(rows)


def overlapping_pairs(rows: list[Any]) -> list[tuple[int, int]]:
    """Pairs of active bookings of one person whose blocked ranges intersect."""
    found = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if a.staff_id == b.staff_id and a.block_start < b.block_end \
                    and b.block_start < a.block_end:
                found.append((a.id, b.id))
    return found


def run_sql(app: Any, statement: str) -> None:
    from sqlalchemy import text

    from core.extensions import db

    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text(statement))
        db.session.remove()

