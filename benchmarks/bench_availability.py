"""Availability endpoint, end to end: in-process on SQLite and PostgreSQL, or through
gunicorn on PostgreSQL (``--http``).

Usage::

    python benchmarks/bench_availability.py [--pg-url URL] [--no-sqlite] [--no-pg]
        [--runs 60] [--profile] [--staff 50] [--bookings-per-day 8]
    python benchmarks/bench_availability.py --http [--pg-url URL] [--staff 200]
        [--bookings-per-day 3] [--workers 2] [--clients 4] [--seconds 10]
        [--month-runs 40] [--writes 5]

``--pg-url`` is an admin URL of a PostgreSQL server (default ``$FULIAN_TEST_PG_URL``, as
printed by ``scripts/services start``); a scratch database is created on it and dropped at
the end. Without a URL only SQLite runs (a temporary file, deleted at the end).

In-process (default): ``GET /api/v1/stores/<id>/availability`` through the Flask test
client (argument parsing, the cache or the loader, the engine, serialisation; no network,
no WSGI server), each query twice: "cached" (the production default: the per-process
cache of store-days, ``core.scheduling.cache``, after a first request) and "database every
time" (an app with ``FULIAN_AVAILABILITY_CACHE=0``: the loader's two statements and the
engine on every request, which is also what a request pays for days it misses). Timings
are wall-clock per request after a few warm-up requests.

Scenario (as ``bench_engine.py``): store in Europe/London, window 2026-10-11 .. 2026-11-09
(clocks go back on 2026-10-25); 50 staff (``--staff``), each with a weekly template
09:00-13:00 and 14:00-21:00 (lunch break); about 8 bookings per person per day
(``--bookings-per-day``; ~12k rows, random but non-overlapping, inserted in bulk with Core
inserts); 1-3 time-off blocks each; a 60-minute service with 10 minutes of buffer before
and 15 after, on the store's 15-minute grid. The request's clock is pinned to 2026-10-10
08:00 UTC (``core.api.availability.utcnow`` is replaced) so that the window lies ahead of
"now" and inside the 60-day horizon, whatever the machine's date.

Queries: (a) 30 days, any staff; (b) the customer's query: one service, any staff, 7 days
(2026-10-21 .. 2026-10-27, across the change). Targets: (a) p95 <= 150 ms, (b) p95 <= 50 ms.
Each backend is measured twice: as ``create_app()`` leaves the process, and after
``gc.freeze()`` as the production entry point ``core.wsgi`` does (without it, full
cyclic-GC passes over the whole app land on ~10% of requests and dominate p95).
Also printed: this process's CPU time per request (the figure to read on a busy machine;
it leaves out the PostgreSQL server's work), SQL statements per request (transaction
control not counted), and for (a) read from the database every time a breakdown into
loader, engine and the rest (framework, serialisation). The machine's load average is
printed at the start and end. ``--profile`` adds a cProfile of cached (a) requests.

``--http`` (the issue's measurement): the same store with 200 staff and 3 bookings per
person and day, the window starting tomorrow (real dates, so that bookings can be made);
gunicorn with ``--workers`` sync workers (rate limits off, since all load comes from one
address, and ``gc.freeze()`` as ``core.wsgi``), ``--clients`` client processes on
loopback for ``--seconds`` each: a bare Flask "hello" first (the yardstick: these machines
are noisy, read the ratio), then (b) one week asked again and again, (b') three different
weeks in turn, (b') again while one more process books ``--writes`` times a second in
those weeks as the front desk (each booking invalidates its days in every worker), and
finally (a) 30 days one request at a time. Printed: answers per second, latency
p50/p95/p99 as the clients saw it. Targets: (b) >= 150 req/s and p95 <= 50 ms,
(a) p95 <= 150 ms. Everything started here is stopped here, by process id.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import http.client
import io
import json
import multiprocessing
import os
import pstats
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# a throw-away test deployment: the sandbox provider and dev SMS are allowed
os.environ.setdefault("FULIAN_ENV", "test")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
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
DESK_PASSWORD = "bench-front-desk-1"
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


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


def build(app: Any, n_staff: int = N_STAFF, per_day: int = BOOKINGS_PER_DAY,
          day_from: date = DAY_FROM, desk: bool = False) -> dict[str, Any]:
    """Store, service and staff through the services; the bulk rows with Core inserts.
    ``desk`` adds a front-desk user (``token`` in the result) for booking writes."""
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
    from core.org.users import create_user

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
                               services=[str(service.id)]).id for i in range(n_staff)]
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
        days = [day_from - timedelta(days=2) + timedelta(days=i) for i in range(DAYS + 4)]
        bookings: list[dict[str, Any]] = []
        time_off: list[dict[str, Any]] = []
        for sid in staff_ids:
            for day in days:
                for block_start, start, end in _place(rng, per_day):
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
        if desk:
            create_user({"name": "Desk", "email": "desk@bench.example",
                         "password": DESK_PASSWORD}, role="front_desk", stores=["london"])
        counts = {"bookings": len(bookings), "time_off": len(time_off)}
        ids = {"store": store.id, "service": service.id, "staff": staff_ids}
        db.session.remove()
    if desk:
        resp = app.test_client().post("/api/v1/auth/token", json={
            "login": "desk@bench.example", "password": DESK_PASSWORD})
        assert resp.status_code == 201, resp.get_data(as_text=True)
        ids["token"] = resp.json["token"]
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


def run_backend(label: str, url: str, args: argparse.Namespace) -> None:
    from core import create_app, dbmigrate
    from core.api import availability as availability_api
    from core.extensions import db

    with tempfile.TemporaryDirectory() as folder:
        settings = {"INSTANCE_PATH": folder, "SQLALCHEMY_DATABASE_URI": url,
                    "FULIAN_JOBS_THREAD": False, "RATELIMIT_ENABLED": False}
        app = create_app(settings)
        # the same database read on every request (the cache off): a cache miss's cost
        cold_app = create_app({**settings, "FULIAN_AVAILABILITY_CACHE": False})
        try:
            with app.app_context():
                dbmigrate.upgrade()
            t0 = time.perf_counter()
            runs, profile = args.runs, args.profile
            shop = build(app, args.staff, args.bookings_per_day)
            print(f"\n== {label}: {args.staff} staff, {shop['bookings']} bookings, "
                  f"{shop['time_off']} time-off rows (built in "
                  f"{time.perf_counter() - t0:.1f} s)")
            availability_api.utcnow = lambda: NOW  # pin the request's clock (see docstring)
            clients = {"cached": (app, app.test_client()),
                       "database every time": (cold_app, cold_app.test_client())}
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
                    for how, (one_app, client) in clients.items():
                        resp = client.get(path)
                        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
                        slots = len(resp.json["slots"])
                        n_sql = count_statements(one_app, lambda c=client, p=path: c.get(p))
                        samples, cpu = measure(lambda c=client, p=path: c.get(p),
                                               runs if key == "a" else runs * 3)
                        p50, p95 = statistics.median(samples), percentile(samples, 0.95)
                        verdict = "ok" if p95 <= TARGETS[key] else "MISSED"
                        print(f"{title}, {how}: p50 {p50:.1f} ms, p95 {p95:.1f} ms "
                              f"(target p95 <= {TARGETS[key]:.0f} ms: {verdict}); CPU of "
                              f"this process p50 {statistics.median(cpu):.1f} ms, p95 "
                              f"{percentile(cpu, 0.95):.1f} ms; {slots} slots, "
                              f"{len(resp.data) // 1024} KiB, {n_sql} SQL statements/"
                              f"request, n={len(samples)}")
                if frozen:
                    cold_client = clients["database every time"][1]
                    parts = breakdown(cold_app, shop, cold_client, queries["a"][0],
                                      max(10, runs // 3))
                    rest = parts["request"] - parts["loader"] - parts["engine"]
                    print(f"    (a) database every time, p50 split: request "
                          f"{parts['request']:.1f} ms = loader {parts['loader']:.1f} + engine "
                          f"{parts['engine']:.1f} + framework and serialisation "
                          f"~{rest:.1f} ms")
            if profile:
                prof = cProfile.Profile()
                prof.enable()
                for _ in range(20):
                    clients["cached"][1].get(queries["a"][0])
                prof.disable()
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
                print(f"cProfile of 20 cached (a) requests on {label}, by own time:")
                print("\n".join(out.getvalue().splitlines()[:45]))
        finally:
            gc.unfreeze()
            for one_app in (app, cold_app):
                with one_app.app_context():
                    db.session.remove()
                    db.engine.dispose()


# ------------------------------------------------------------------ through gunicorn


def wsgi_app() -> Any:
    """gunicorn entry (``bench_availability:wsgi_app()``): the app as ``core.wsgi`` builds
    it (``gc.freeze`` after start-up) but without rate limits, since all the load comes
    from one address; marks itself ready."""
    from core import create_app

    app = create_app({"RATELIMIT_ENABLED": False})
    gc.collect()
    gc.freeze()
    _ready()
    return app


def hello_app() -> Any:
    """gunicorn entry of the yardstick: a bare Flask app answering "hello"."""
    from flask import Flask

    app = Flask("hello")
    app.add_url_rule("/", "hello", lambda: "hello")
    _ready()
    return app


def _ready() -> None:
    ready = os.environ.get("BENCH_READY_DIR")
    if ready:
        Path(ready, f"worker-{os.getpid()}").touch()


def start_gunicorn(url: str, folder: Path, entry: str, workers: int
                   ) -> tuple[subprocess.Popen[bytes], int]:
    """gunicorn with ``workers`` sync workers on 127.0.0.1 (port chosen by the kernel);
    returns once every worker has loaded the app."""
    stamp = time.monotonic_ns()
    log = folder / f"gunicorn-{stamp}.log"
    ready = folder / f"ready-{stamp}"
    ready.mkdir()
    env = {**os.environ, "FULIAN_DATABASE_URL": url, "FULIAN_INSTANCE": str(folder),
           "FULIAN_JOBS_THREAD": "0", "BENCH_READY_DIR": str(ready),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    env.pop("FULIAN_REDIS_URL", None)
    cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class",
           "sync", "--bind", "127.0.0.1:0", "--log-level", "info", "--error-logfile",
           str(log), "--timeout", "60", "--graceful-timeout", "5", "--chdir", str(ROOT),
           f"bench_availability:{entry}()"]
    with log.open("ab") as out:  # append: gunicorn writes the same file itself
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()}")
        match = _LISTENING.search(log.read_text(errors="replace"))
        if match and len(list(ready.iterdir())) >= workers:
            return proc, int(match.group(1))
        time.sleep(0.05)
    stop_gunicorn(proc)
    raise RuntimeError(f"gunicorn not ready:\n{log.read_text()}")


def stop_gunicorn(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # the master stops its own workers
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the session we started: master + workers
            proc.wait(timeout=5)


def _reader(args: tuple[int, list[str], float, float]) -> tuple[list[float], Counter[int]]:
    """One client process: GET the paths in turn until ``stop_at``; sync workers close
    the connection after each answer, so every request connects again (on loopback)."""
    port, paths, start_at, stop_at = args
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    time.sleep(max(0.0, start_at - time.time()))
    n = 0
    while time.time() < stop_at:
        path = paths[n % len(paths)]
        n += 1
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            statuses[0] += 1
            continue
        finally:
            conn.close()
        latencies.append((time.perf_counter() - t0) * 1000)
        statuses[resp.status] += 1
    return latencies, statuses


def _writer(args: tuple[int, dict[str, Any], float, float, float]) -> Counter[int]:
    """Book random staff at random quarter-hours of the customer's week, ``rate`` times
    a second, as the front desk: each 201 changes busy time the readers are looking at."""
    port, shop, rate, start_at, stop_at = args
    rng = random.Random(SEED)
    statuses: Counter[int] = Counter()
    headers = {"Authorization": f"Bearer {shop['token']}", "Content-Type": "application/json"}
    time.sleep(max(0.0, start_at - time.time()))
    n = 0
    while time.time() < stop_at:
        due = start_at + n / rate
        time.sleep(max(0.0, due - time.time()))
        n += 1
        day = shop["week_from"] + timedelta(days=rng.randrange(7))
        minute = rng.randrange(WORK[0][0] + BEFORE_MIN, WORK[1][1] - 60 - AFTER_MIN, STEP_MIN)
        body = json.dumps({"store_id": shop["store"], "service_id": shop["service"],
                           "staff_id": rng.choice(shop["staff"]), "source": "phone",
                           "start_at": _local(day, minute).astimezone(TZ).isoformat(),
                           "customer": {"phone": f"+86138{n % 10000:08d}", "name": "Bench"}})
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("POST", "/api/v1/bookings", body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            statuses[resp.status] += 1
        except (OSError, http.client.HTTPException):
            statuses[0] += 1
        finally:
            conn.close()
    return statuses


def hammer(port: int, paths: list[str], clients: int, seconds: float,
           writer: tuple[dict[str, Any], float] | None = None
           ) -> tuple[float, list[float], Counter[int], Counter[int]]:
    """``clients`` reader processes (and optionally one writer) for ``seconds``; returns
    answers per second, latencies, reader statuses and writer statuses."""
    ctx = multiprocessing.get_context("fork")
    start_at = time.time() + 0.5
    stop_at = start_at + seconds
    with ctx.Pool(clients + (1 if writer else 0)) as pool:
        pending = pool.map_async(_reader, [(port, paths[i:] + paths[:i], start_at, stop_at)
                                           for i in range(clients)])
        written = pool.apply_async(_writer, ((port, writer[0], writer[1], start_at,
                                              stop_at),)) if writer else None
        results = pending.get(timeout=seconds + 120)
        wrote = written.get(timeout=seconds + 120) if written else Counter()
    elapsed = max(time.time(), stop_at) - start_at
    latencies = [x for lat, _ in results for x in lat]
    statuses: Counter[int] = sum((s for _, s in results), Counter())
    return statuses[200] / elapsed, latencies, statuses, wrote


def serial(port: int, path: str, runs: int) -> tuple[list[float], int]:
    """Latencies of ``runs`` requests one after another (nothing else running)."""
    latencies, size = [], 0
    for _ in range(runs + 3):
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status == 200, body[:300]
        latencies.append((time.perf_counter() - t0) * 1000)
        size = len(body)
    return latencies[3:], size


def _figures(latencies: list[float]) -> str:
    return (f"p50 {statistics.median(latencies):.1f} ms, p95 {percentile(latencies, 0.95):.1f}"
            f" ms, p99 {percentile(latencies, 0.99):.1f} ms")


def run_http(args: argparse.Namespace) -> None:
    """The issue's measurement: PostgreSQL, gunicorn with ``--workers`` sync workers,
    ``--staff`` people, HTTP clients in other processes (see the module docstring)."""
    from sqlalchemy import create_engine, text

    from core import create_app, dbmigrate
    from core.extensions import db

    if not args.pg_url:
        sys.exit("--http needs --pg-url or FULIAN_TEST_PG_URL (scripts/services start)")
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = args.pg_url.rsplit("/", 1)[0] + f"/{name}"
    proc = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            app = create_app({"INSTANCE_PATH": str(folder), "SQLALCHEMY_DATABASE_URI": url,
                              "FULIAN_JOBS_THREAD": False, "RATELIMIT_ENABLED": False})
            with app.app_context():
                dbmigrate.upgrade()
            first = datetime.now(TZ).date() + timedelta(days=1)
            shop = build(app, args.staff, args.bookings_per_day, first, desk=True)
            shop["week_from"] = first + timedelta(days=7)
            with app.app_context():
                db.engine.dispose()
            base = f"/api/v1/stores/{shop['store']}/availability?service_id={shop['service']}"
            week = (f"{base}&date_from={shop['week_from']}"
                    f"&date_to={shop['week_from'] + timedelta(days=6)}")
            month = f"{base}&date_from={first}&date_to={first + timedelta(days=DAYS - 1)}"
            # customers look at different weeks: the clients cycle through three of them
            weeks = [f"{base}&date_from={first + timedelta(days=d)}"
                     f"&date_to={first + timedelta(days=d + 6)}" for d in (7, 8, 14)]
            print(f"\n== through gunicorn on PostgreSQL: {args.workers} sync workers, "
                  f"{args.clients} client processes, {args.staff} staff, {shop['bookings']} "
                  f"bookings ({args.bookings_per_day} per person and day), {os.cpu_count()} "
                  f"CPUs shared by clients, gunicorn and PostgreSQL; load average "
                  f"{os.getloadavg()[0]:.1f}")
            proc, port = start_gunicorn(url, folder, "hello_app", args.workers)
            hello, lat, _, _ = hammer(port, ["/"], args.clients, min(args.seconds, 5.0))
            stop_gunicorn(proc)
            print(f"bare Flask 'hello' (the yardstick): {hello:.0f} req/s, {_figures(lat)}")
            proc, port = start_gunicorn(url, folder, "wsgi_app", args.workers)
            lat, size = serial(port, week, 5)
            print(f"(b) 7 days, any staff: {size // 1024} KiB per answer")
            for label, paths in (("(b) 7 days, any staff (customer), one week", [week]),
                                 ("(b') 7 days, three different weeks", weeks)):
                rate, lat, statuses, _ = hammer(port, paths, args.clients, args.seconds)
                print(f"{label}: {rate:.0f} req/s (target >= 150: "
                      f"{'ok' if rate >= 150 else 'MISSED'}; {rate / hello:.2f} x hello), "
                      f"{_figures(lat)} (target p95 <= 50: "
                      f"{'ok' if percentile(lat, 0.95) <= 50 else 'MISSED'}), "
                      f"{dict(statuses)}")
            if args.writes:
                rate, lat, statuses, wrote = hammer(port, weeks, args.clients, args.seconds,
                                                    writer=(shop, args.writes))
                print(f"(b') with {args.writes:g} booking attempts/s in those weeks: "
                      f"{rate:.0f} req/s, {_figures(lat)}, reads {dict(statuses)}, "
                      f"writes {dict(wrote)}")
            lat, size = serial(port, month, args.month_runs)
            print(f"(a) {DAYS} days, {args.staff} staff, one request at a time: "
                  f"{_figures(lat)} (target p95 <= 150: "
                  f"{'ok' if percentile(lat, 0.95) <= 150 else 'MISSED'}), "
                  f"{size // 1024} KiB, n={len(lat)}")
            stop_gunicorn(proc)
            proc = None
    finally:
        if proc is not None:
            stop_gunicorn(proc)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-url", default=os.environ.get("FULIAN_TEST_PG_URL"),
                        help="PostgreSQL admin URL (a scratch database is created on it)")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--staff", type=int, default=None,
                        help=f"people in the store (default {N_STAFF}; 200 with --http)")
    parser.add_argument("--bookings-per-day", type=int, default=None,
                        help=f"per person (default {BOOKINGS_PER_DAY}; 3 with --http)")
    parser.add_argument("--http", action="store_true",
                        help="measure through gunicorn on PostgreSQL instead")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--month-runs", type=int, default=40)
    parser.add_argument("--writes", type=float, default=5.0,
                        help="booking attempts per second in the churn phase (0: none)")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 120.0)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.http:
        args.staff = args.staff or 200
        args.bookings_per_day = 3 if args.bookings_per_day is None else args.bookings_per_day
        run_http(args)
    else:
        args.staff = args.staff or N_STAFF
        args.bookings_per_day = BOOKINGS_PER_DAY if args.bookings_per_day is None \
            else args.bookings_per_day
        run(args)
    print(f"\nload average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


def run(args: argparse.Namespace) -> None:
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as folder:
            run_backend("SQLite", f"sqlite:///{folder}/bench.db", args)
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
            run_backend("PostgreSQL", args.pg_url.rsplit("/", 1)[0] + f"/{name}", args)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
