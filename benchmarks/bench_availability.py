"""Availability endpoint, end to end, on SQLite and PostgreSQL.

Usage::

    python benchmarks/bench_availability.py [--pg-url URL] [--no-sqlite] [--no-pg]
                                            [--runs 60] [--profile]

``--pg-url`` is an admin URL of a PostgreSQL server (default ``$FULIAN_TEST_PG_URL``, as
printed by ``scripts/services start``); a scratch database is created on it and dropped at
the end. Without a URL only SQLite runs (a temporary file, deleted at the end).

What is measured: ``GET /api/v1/stores/<id>/availability`` through the Flask test client
(the whole Flask/flask-smorest request: argument parsing, the 5-query loader, the engine,
marshmallow serialisation and JSON encoding; no network, no WSGI server). Timings are
wall-clock per request after a few warm-up requests.

Scenario (as ``bench_engine.py``): store in Europe/London, window 2026-10-11 .. 2026-11-09
(clocks go back on 2026-10-25); 50 staff, each with a weekly template 09:00-13:00 and
14:00-21:00 (lunch break); about 8 bookings per person per day (~12k rows, random but
non-overlapping, inserted in bulk with Core inserts); 1-3 time-off blocks each; a 60-minute
service with 10 minutes of buffer before and 15 after, on the store's 15-minute grid. The
request's clock is pinned to 2026-10-10 08:00 UTC (``core.api.availability.utcnow`` is
replaced) so that the window lies ahead of "now" and inside the 60-day horizon, whatever
the machine's date.

Queries: (a) 30 days, any staff; (b) the customer's query: one service, any staff, 7 days
(2026-10-21 .. 2026-10-27, across the change). Targets: (a) p95 <= 150 ms, (b) p95 <= 50 ms.
Each backend is measured twice: as ``create_app()`` leaves the process, and after
``gc.freeze()`` as the production entry point ``core.wsgi`` does (without it, full
cyclic-GC passes over the whole app land on ~10% of requests and dominate p95).
Also printed: this process's CPU time per request (the figure to read on a busy machine;
it leaves out the PostgreSQL server's work), SQL statements per request (transaction
control not counted), and for (a) a breakdown into loader, engine and the rest
(framework, serialisation). The machine's load average is printed at the start and end.
``--profile`` adds a cProfile of (a) requests (top functions by own time).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# a throw-away test deployment: the sandbox provider and dev SMS are allowed
os.environ.setdefault("FULIAN_ENV", "test")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TZ_NAME = "Europe/London"
TZ = ZoneInfo(TZ_NAME)
DAY_FROM = date(2026, 10, 11)
DAYS = 30
WEEK_FROM = date(2026, 10, 21)
NOW = datetime(2026, 10, 10, 8, 0, tzinfo=UTC)
N_STAFF = 50
BOOKINGS_PER_DAY = 8
SEED = 20261025
WORK = [(540, 780), (840, 1260)]  # 09:00-13:00, 14:00-21:00
BOOKED_SERVICE_MIN = [20, 30, 45, 60]
BEFORE_MIN, AFTER_MIN, STEP_MIN = 10, 15, 15
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
TARGETS = {"a": 150.0, "b": 50.0}


# ----------------------------------------------------------------------------- data


def _place(rng: random.Random, count: int) -> list[tuple[int, int, int]]:
    """Non-overlapping (block_start, start, end) minutes of day inside working time."""
    placed: list[tuple[int, int, int]] = []
    attempts = 0
    while len(placed) < count and attempts < 500:
        attempts += 1
        duration = rng.choice(BOOKED_SERVICE_MIN)
        w_start, w_end = rng.choice(WORK)
        first, last = w_start + BEFORE_MIN, w_end - duration - AFTER_MIN
        grid = range(-(-first // STEP_MIN) * STEP_MIN, last + 1, STEP_MIN)
        if not grid:
            continue
        start = rng.choice(grid)
        block = (start - BEFORE_MIN, start + duration + AFTER_MIN)
        if all(block[1] <= s - BEFORE_MIN or block[0] >= e + AFTER_MIN
               for _, s, e in placed):
            placed.append((block[0], start, start + duration))
    return sorted(placed)


def _local(day: date, minute: int) -> datetime:
    """A local wall-clock minute as a UTC instant (09:00 stays 09:00 across DST)."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=TZ)
    return (midnight + timedelta(minutes=minute)).astimezone(UTC)  # wall-clock arithmetic


def build(app: Any) -> dict[str, Any]:
    """Store, service and staff through the services; the bulk rows with Core inserts."""
    from sqlalchemy import insert, update

    from core.audit import acting_as
    from core.catalog.services import add_service
    from core.crm.customers import find_or_create
    from core.db import write_transaction
    from core.extensions import db
    from core.models import Booking, Store, TimeOff, WeeklyAvailability
    from core.org.brand import ensure_brand
    from core.org.staff import add_staff
    from core.org.stores import create_store

    rng = random.Random(SEED)
    with app.app_context(), acting_as(None, "bench"):
        ensure_brand({"name": "Bench", "default_locale": "en", "currency": "GBP",
                      "timezone": TZ_NAME})
        store = create_store({"code": "london", "name": "London", "timezone": TZ_NAME},
                             hours="mon-sun 08:00-22:00")
        service = add_service({"name": "Colour", "duration_min": 60, "price": 9000,
                               "buffer_before_min": BEFORE_MIN,
                               "buffer_after_min": AFTER_MIN},
                              category="Hair", stores=["london"])
        staff_ids = [add_staff({"name": f"Stylist {i}", "email": f"s{i}@bench.example"},
                               {"title": "Stylist"}, stores=["london"],
                               services=[str(service.id)]).id for i in range(N_STAFF)]
        with write_transaction() as session:
            customer = find_or_create("+442000000000", "Bench customer")
            session.flush()
            customer_id = customer.id
            session.execute(update(Store).where(Store.id == store.id).values(
                slot_step_min=STEP_MIN))
            session.execute(insert(WeeklyAvailability), [
                {"staff_id": sid, "store_id": store.id, "weekday": wd, "start_min": a,
                 "end_min": b}
                for sid in staff_ids for wd in range(7) for a, b in WORK])
        days = [DAY_FROM - timedelta(days=2) + timedelta(days=i) for i in range(DAYS + 4)]
        bookings: list[dict[str, Any]] = []
        time_off: list[dict[str, Any]] = []
        for sid in staff_ids:
            for day in days:
                for block_start, start, end in _place(rng, BOOKINGS_PER_DAY):
                    bookings.append({
                        "store_id": store.id, "staff_id": sid, "service_id": service.id,
                        "customer_id": customer_id, "start_at": _local(day, start),
                        "end_at": _local(day, end), "block_start": _local(day, block_start),
                        "block_end": _local(day, end + AFTER_MIN), "status": "confirmed",
                        "price": 9000, "currency": "GBP", "source": "phone"})
            for _ in range(rng.randint(1, 3)):
                day = rng.choice(days)
                a, b = rng.choice([(0, 840), (780, 1440), (0, 1440)])
                time_off.append({"staff_id": sid, "start_at": _local(day, a),
                                 "end_at": _local(day, b),
                                 "reason": "bench", "status": "approved"})
        with write_transaction() as session:
            for i in range(0, len(bookings), 2000):
                session.execute(insert(Booking), bookings[i:i + 2000])
            session.execute(insert(TimeOff), time_off)
        counts = {"bookings": len(bookings), "time_off": len(time_off)}
        ids = {"store": store.id, "service": service.id}
        db.session.remove()
    return {**ids, **counts}


# -------------------------------------------------------------------------- measure


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(round(len(ordered) * q)) - 1)]


def measure(fn: Callable[[], Any], runs: int, warmup: int = 3
            ) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of this process per call. CPU time is the figure
    to trust on a busy machine (it excludes waiting for a core), but it leaves out the
    PostgreSQL server's own work."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return wall, cpu


def count_statements(app: Any, fn: Callable[[], Any]) -> int:
    from sqlalchemy import event

    from core.extensions import db

    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(seen)


def breakdown(app: Any, shop: dict[str, Any], client: Any, path: str, runs: int
              ) -> dict[str, float]:
    """Median ms of whole (a) requests, and of the loader and the engine for the same
    window called directly, interleaved so that all three see the same machine."""
    from core.extensions import db
    from core.scheduling.loader import load_window

    day_to = DAY_FROM + timedelta(days=DAYS - 1)
    now = int(NOW.timestamp())
    whole, loads, engines = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        client.get(path)
        whole.append((time.perf_counter() - t0) * 1000)
        with app.app_context():
            t0 = time.perf_counter()
            window = load_window(db.session.connection(), shop["store"], shop["service"],
                                 DAY_FROM, day_to)
            t1 = time.perf_counter()
            window.slots(now)
            t2 = time.perf_counter()
            db.session.remove()
        loads.append((t1 - t0) * 1000)
        engines.append((t2 - t1) * 1000)
    return {"request": statistics.median(whole), "loader": statistics.median(loads),
            "engine": statistics.median(engines)}


def run_backend(label: str, url: str, runs: int, profile: bool) -> None:
    from core import create_app, dbmigrate
    from core.api import availability as availability_api
    from core.extensions import db

    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"INSTANCE_PATH": folder, "SQLALCHEMY_DATABASE_URI": url,
                          "FULIAN_JOBS_THREAD": False, "RATELIMIT_ENABLED": False})
        try:
            with app.app_context():
                dbmigrate.upgrade()
            t0 = time.perf_counter()
            shop = build(app)
            print(f"\n== {label}: {N_STAFF} staff, {shop['bookings']} bookings, "
                  f"{shop['time_off']} time-off rows (built in "
                  f"{time.perf_counter() - t0:.1f} s)")
            availability_api.utcnow = lambda: NOW  # pin the request's clock (see docstring)
            client = app.test_client()
            base = (f"/api/v1/stores/{shop['store']}/availability?"
                    f"service_id={shop['service']}")
            queries = {
                "a": (f"{base}&date_from={DAY_FROM}"
                      f"&date_to={DAY_FROM + timedelta(days=DAYS - 1)}",
                      f"(a) {DAYS} days, any staff"),
                "b": (f"{base}&date_from={WEEK_FROM}&date_to={WEEK_FROM + timedelta(days=6)}",
                      "(b) 7 days, any staff (customer)"),
            }
            for frozen in (False, True):
                if frozen:  # what core.wsgi does after start-up (see its docstring)
                    gc.collect()
                    gc.freeze()
                print("-- " + ("after gc.freeze() (as core.wsgi, i.e. production)" if frozen
                               else "app as create_app() leaves it (no gc.freeze)"))
                for key, (path, title) in queries.items():
                    resp = client.get(path)
                    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
                    slots = len(resp.json["slots"])
                    n_sql = count_statements(app, lambda path=path: client.get(path))
                    samples, cpu = measure(lambda path=path: client.get(path),
                                           runs if key == "a" else runs * 3)
                    p50, p95 = statistics.median(samples), percentile(samples, 0.95)
                    verdict = "ok" if p95 <= TARGETS[key] else "MISSED"
                    print(f"{title}: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
                          f"(target p95 <= {TARGETS[key]:.0f} ms: {verdict}); CPU of this "
                          f"process p50 {statistics.median(cpu):.1f} ms, p95 "
                          f"{percentile(cpu, 0.95):.1f} ms; {slots} slots, "
                          f"{len(resp.data) // 1024} KiB, {n_sql} SQL statements/request, "
                          f"n={len(samples)}")
                if frozen:
                    parts = breakdown(app, shop, client, queries["a"][0], max(10, runs // 3))
                    rest = parts["request"] - parts["loader"] - parts["engine"]
                    print(f"    (a) p50 split: request {parts['request']:.1f} ms = loader "
                          f"{parts['loader']:.1f} + engine {parts['engine']:.1f} + framework"
                          f" and serialisation ~{rest:.1f} ms")
            if profile:
                prof = cProfile.Profile()
                prof.enable()
                for _ in range(20):
                    client.get(queries["a"][0])
                prof.disable()
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
                print(f"cProfile of 20 (a) requests on {label}, by own time:")
                print("\n".join(out.getvalue().splitlines()[:45]))
        finally:
            gc.unfreeze()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-url", default=os.environ.get("FULIAN_TEST_PG_URL"),
                        help="PostgreSQL admin URL (a scratch database is created on it)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    run(args)
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def run(args: argparse.Namespace) -> None:
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            run_backend("SQLite", f"sqlite:///{folder}/bench.db", args.runs, args.profile)
    if not args.no_pg:
        if not args.pg_url:
            print("\nPostgreSQL skipped: give --pg-url or set FULIAN_TEST_PG_URL "
                  "(scripts/services start)")
            return
        from sqlalchemy import create_engine, text

        name = f"bench_{uuid.uuid4().hex[:12]}"
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run_backend("PostgreSQL", args.pg_url.rsplit("/", 1)[0] + f"/{name}", args.runs,
                        args.profile)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
