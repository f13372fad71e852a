"""Booking writes through gunicorn on PostgreSQL: throughput and latency.

Usage::

    python benchmarks/bench_booking_writes.py [--pg-url URL] [--seconds 10] [--clients 4]
        [--workers 2] [--worker-class sync|gthread] [--threads 4] [--staff 200] [--profile]

``--pg-url`` is an admin URL of a PostgreSQL server (default ``$FULIAN_TEST_PG_URL``, as
printed by ``scripts/services start``); a scratch database is created and dropped at the
end. Everything runs on 127.0.0.1 and stops itself: gunicorn (started here, stopped by its
process id) and the client processes (bounded by ``--seconds``).

Setup (in-process, through the services): a store open 08:00-22:00, a 30-minute service
without buffers, ``--staff`` people, a front-desk user and their bearer token. Then the app
runs under gunicorn (``--workers`` processes, sync workers by default; rate limits off,
since all the load comes from one address) and ``--clients`` load-generator processes POST
``/api/v1/bookings`` as fast as they can for ``--seconds``: source "phone", an explicit
staff member, a customer phone out of a small pool (so some requests create customers),
and distinct non-overlapping slots (each client owns its own staff), so nearly all succeed.
Clients use ``http.client`` with keep-alive; sync workers close the connection after each
response, so those clients reconnect (on loopback) for every request.

Printed: bookings/s (201 responses per second of wall time), other statuses, latency
p50/p95/p99 as the clients saw it, and a check that the database holds exactly the created
bookings with no overlap. Targets: >= 200 bookings/s (400/s the goal beyond), p99 <= 150
ms, booking detail >= 500 reads/s — each also printed as a ratio to a bare Flask "hello"
measured through the same gunicorn setup first, since the machine's cores are shared by
the clients, gunicorn and PostgreSQL and other work. Read the figures as a lower bound.
``--profile`` adds SQL statements per request and a cProfile of 300 requests through the
Flask test client in this process (the server's request path without HTTP).
"""

from __future__ import annotations

import argparse
import cProfile
import http.client
import io
import json
import multiprocessing
import os
import pstats
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# a throw-away test deployment: the sandbox provider and dev SMS are allowed
os.environ.setdefault("FULIAN_ENV", "test")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)
PASSWORD = "bench-front-desk-1"
OPEN_MIN, CLOSE_MIN, SERVICE_MIN = 8 * 60, 22 * 60, 30
DAYS = 50
PHONES_PER_CLIENT = 40
TARGET_RATE, GOAL_RATE, TARGET_P99 = 200.0, 400.0, 150.0
TARGET_READS = 500.0
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


def wsgi_app() -> Any:
    """gunicorn entry: the production app without rate limits; marks itself ready."""
    from core import create_app

    app = create_app({"RATELIMIT_ENABLED": False})
    ready = os.environ.get("BENCH_READY_DIR")
    if ready:
        Path(ready, f"worker-{os.getpid()}").touch()
    return app


# ---------------------------------------------------------------------------- setup


def prepare(app: Any, n_staff: int) -> dict[str, Any]:
    from core.audit import acting_as
    from core.catalog.services import add_service
    from core.extensions import db
    from core.org.brand import ensure_brand
    from core.org.staff import add_staff
    from core.org.stores import create_store
    from core.org.users import create_user

    with app.app_context(), acting_as(None, "bench"):
        ensure_brand({"name": "Bench", "default_locale": "en", "currency": "CNY",
                      "timezone": TZ_NAME})
        store = create_store({"code": "bench", "name": "Bench", "timezone": TZ_NAME},
                             hours="mon-sun 08:00-22:00")
        service = add_service({"name": "Wash", "duration_min": SERVICE_MIN, "price": 5000},
                              category="Hair", stores=["bench"])
        staff = [add_staff({"name": f"Stylist {i}", "email": f"s{i}@bench.example"},
                           {"title": "Stylist"}, stores=["bench"],
                           services=[str(service.id)]).id for i in range(n_staff)]
        create_user({"name": "Desk", "email": "desk@bench.example", "password": PASSWORD},
                    role="front_desk", stores=["bench"])
        ids = {"store": store.id, "service": service.id, "staff": staff}
        db.session.remove()
    resp = app.test_client().post("/api/v1/auth/token", json={"login": "desk@bench.example",
                                                              "password": PASSWORD})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return {**ids, "token": resp.json["token"]}


def slots_for(shop: dict[str, Any], client: int, clients: int
              ) -> Iterator[tuple[int, str]]:
    """Endless-enough stream of free (staff, start) pairs owned by one client."""
    first = datetime.now(TZ).date() + timedelta(days=1)
    mine = [sid for i, sid in enumerate(shop["staff"]) if i % clients == client]
    for d in range(DAYS):
        day = first + timedelta(days=d)
        midnight = datetime(day.year, day.month, day.day, tzinfo=TZ)
        for minute in range(OPEN_MIN, CLOSE_MIN - SERVICE_MIN + 1, SERVICE_MIN):
            start = (midnight + timedelta(minutes=minute)).isoformat()
            for sid in mine:
                yield sid, start


# ---------------------------------------------------------------------------- server


def start_gunicorn(url: str, folder: Path, workers: int, worker_class: str, threads: int
                   ) -> tuple[subprocess.Popen[bytes], int, Path]:
    log = folder / "gunicorn.log"
    ready = folder / "ready"
    ready.mkdir()
    env = {**os.environ, "FULIAN_DATABASE_URL": url, "FULIAN_INSTANCE": str(folder),
           "FULIAN_JOBS_THREAD": "0", "BENCH_READY_DIR": str(ready),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)])}
    env.pop("FULIAN_REDIS_URL", None)
    cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class",
           worker_class, "--bind", "127.0.0.1:0", "--log-level", "info", "--error-logfile",
           str(log), "--timeout", "60", "--graceful-timeout", "5", "--chdir", str(ROOT)]
    if worker_class == "gthread":
        cmd += ["--threads", str(threads)]
    cmd.append("bench_booking_writes:wsgi_app()")
    with log.open("ab") as out:  # append: gunicorn writes the same file itself
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{log.read_text()}")
        match = _LISTENING.search(log.read_text(errors="replace"))
        if match and len(list(ready.iterdir())) >= workers:
            return proc, int(match.group(1)), log
        time.sleep(0.05)
    stop_gunicorn(proc)
    raise RuntimeError(f"gunicorn not ready:\n{log.read_text()}")


def stop_gunicorn(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the session we started: master + workers
            proc.wait(timeout=5)


# ---------------------------------------------------------------------------- clients


def client(args: tuple[int, int, int, dict[str, Any], float, float]
           ) -> tuple[list[float], Counter[int], list[str]]:
    index, clients, port, shop, start_at, stop_at = args
    headers = {"Authorization": f"Bearer {shop['token']}",
               "Content-Type": "application/json", "Connection": "keep-alive"}
    phones = [f"1380{index:03d}{n:04d}" for n in range(PHONES_PER_CLIENT)]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    slots = slots_for(shop, index, clients)
    time.sleep(max(0.0, start_at - time.time()))
    n = 0
    while time.time() < stop_at:
        staff_id, start = next(slots)
        body = json.dumps({"store_id": shop["store"], "service_id": shop["service"],
                           "staff_id": staff_id, "start_at": start, "source": "phone",
                           "customer": {"phone": phones[n % len(phones)], "name": "Bench"}})
        n += 1
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/bookings", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            statuses[0] += 1
            errors.append(repr(exc))
            continue
        latencies.append((time.perf_counter() - t0) * 1000)
        statuses[resp.status] += 1
        if resp.status != 201 and len(errors) < 3:
            errors.append(data[:200].decode(errors="replace"))
    conn.close()
    return latencies, statuses, errors


def reader(args: tuple[int, str, list[str], float, float]) -> tuple[list[float], Counter[int]]:
    """One client process reading booking details with the desk's token."""
    port, token, paths, start_at, stop_at = args
    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    time.sleep(max(0.0, start_at - time.time()))
    n = 0
    while time.time() < stop_at:
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", paths[n % len(paths)], headers=headers)
            resp = conn.getresponse()
            resp.read()
        except (OSError, http.client.HTTPException):
            statuses[0] += 1
            continue
        finally:
            conn.close()
        n += 1
        latencies.append((time.perf_counter() - t0) * 1000)
        statuses[resp.status] += 1
    return latencies, statuses


def read_details(port: int, shop: dict[str, Any], ids: list[int], clients: int,
                 seconds: float) -> tuple[float, list[float], Counter[int]]:
    """GET /api/v1/bookings/{id} from ``clients`` processes for ``seconds``."""
    paths = [f"/api/v1/bookings/{i}" for i in ids[:500]]
    start_at = time.time() + 0.5
    stop_at = start_at + seconds
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        results = pool.map(reader, [(port, shop["token"], paths[i:] + paths[:i], start_at,
                                     stop_at) for i in range(clients)])
    elapsed = max(time.time(), stop_at) - start_at
    statuses: Counter[int] = sum((st for _, st in results), Counter())
    return statuses[200] / elapsed, [x for lat, _ in results for x in lat], statuses


def yardstick(folder: Path, url: str, workers: int, clients: int, seconds: float) -> float:
    """A bare Flask "hello" through the same gunicorn setup: these machines are noisy,
    so the figures are read as a ratio to it, measured in the same run."""
    import bench_availability as avail

    proc, port = avail.start_gunicorn(url, folder, "hello_app", workers)
    try:
        rate, _lat, _st, _w = avail.hammer(port, ["/"], clients, seconds)
    finally:
        avail.stop_gunicorn(proc)
    return rate


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(round(len(ordered) * q)) - 1)] if ordered else float("nan")


def check_database(app: Any) -> tuple[int, int]:
    from sqlalchemy import text

    from core.extensions import db

    with app.app_context():
        total = db.session.execute(text("SELECT count(*) FROM bookings")).scalar_one()
        overlaps = db.session.execute(text(
            "SELECT count(*) FROM bookings a JOIN bookings b ON a.staff_id = b.staff_id "
            "AND a.id < b.id AND a.block_start < b.block_end AND b.block_start < a.block_end"
        )).scalar_one()
        db.session.remove()
    return total, overlaps


# ---------------------------------------------------------------------------- profile


def profile_in_process(app: Any, shop: dict[str, Any]) -> None:
    """SQL statements per request and a cProfile of the request path (test client)."""
    from sqlalchemy import event

    from core.extensions import db

    client_ = app.test_client()
    headers = {"Authorization": f"Bearer {shop['token']}"}
    slots = slots_for(shop, 0, 1)
    for _ in range(2000):  # skip the slots the load run may have used
        next(slots)
    slots = iter(list(slots)[::-1])  # the far end of the horizon: untouched by the load

    def one(n: int) -> int:
        staff_id, start = next(slots)
        resp = client_.post("/api/v1/bookings", headers=headers, json={
            "store_id": shop["store"], "service_id": shop["service"], "staff_id": staff_id,
            "start_at": start, "source": "phone",
            "customer": {"phone": f"1390000{n % 40:04d}", "name": "Profile"}})
        return resp.status_code

    for n in range(20):
        one(n)
    seen: list[str] = []

    def listener(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())
        if os.environ.get("BENCH_SHOW_SQL"):
            print("   ", " ".join(statement.split())[:160])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listener)
    status = one(999)
    event.remove(engine, "before_cursor_execute", listener)
    print(f"\nSQL statements in one booking request ({status}): {len(seen)} "
          f"({dict(Counter(seen))})")
    wall, cpu = [], []
    for n in range(300):
        t0, c0 = time.perf_counter(), time.process_time()
        one(n)
        wall.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    app_cpu = statistics.median(cpu)
    ceiling = 1000 * (os.cpu_count() or 1) / app_cpu
    print(f"in-process (test client, no HTTP, no WSGI server), per booking: wall p50 "
          f"{statistics.median(wall):.1f} ms, CPU of the app p50 {app_cpu:.1f} ms "
          f"(PostgreSQL's own CPU not included) -> at most ~{ceiling:.0f} bookings/s "
          f"if the app alone had every core")
    prof = cProfile.Profile()
    for n in range(300):
        prof.enable()
        one(n)
        prof.disable()
    for key, title, only in (("tottime", "own time", ""),
                             ("cumulative", "cumulative time, project code", "/core/")):
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out).sort_stats(key)
        stats.print_stats(*([only] if only else []), 22)
        print(f"\ncProfile of 300 bookings, by {title}:")
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if "ncalls" in line)
        print("\n".join(line.replace(str(ROOT) + "/", "") for line in lines[start:start + 23]))


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-url", default=os.environ.get("FULIAN_TEST_PG_URL"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--staff", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if not args.pg_url:
        sys.exit("give --pg-url or set FULIAN_TEST_PG_URL (scripts/services start)")
    args.seconds = min(args.seconds, 120.0)

    from sqlalchemy import create_engine, text

    from core import create_app, dbmigrate
    from core.extensions import db

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
            shop = prepare(app, args.staff)
            hello = yardstick(folder, url, args.workers, args.clients,
                              min(args.seconds, 5.0))
            print(f"bare Flask 'hello' through the same gunicorn (the yardstick): "
                  f"{hello:.0f} req/s")
            proc, port, _log = start_gunicorn(url, folder, args.workers, args.worker_class,
                                              args.threads)
            print(f"load average {os.getloadavg()[0]:.1f} before the run")
            print(f"gunicorn: {args.workers} {args.worker_class} workers"
                  + (f" x {args.threads} threads" if args.worker_class == "gthread" else "")
                  + f" on 127.0.0.1:{port}; {args.clients} client processes; "
                  f"{args.staff} staff; {os.cpu_count()} CPUs")
            start_at = time.time() + 0.5
            stop_at = start_at + args.seconds
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(args.clients) as pool:
                results = pool.map_async(client, [
                    (i, args.clients, port, shop, start_at, stop_at)
                    for i in range(args.clients)]).get(timeout=args.seconds + 60)
            elapsed = max(time.time(), stop_at) - start_at
            print(f"load average {os.getloadavg()[0]:.1f} after the run")
            with app.app_context():
                ids = list(db.session.execute(text("SELECT id FROM bookings ORDER BY id")
                                              ).scalars())
                db.session.remove()
            reads, read_lat, read_st = read_details(port, shop, ids, args.clients,
                                                    min(args.seconds, 5.0))
            stop_gunicorn(proc)
            proc = None
            latencies = [x for lat, _, _ in results for x in lat]
            statuses: Counter[int] = sum((s for _, s, _ in results), Counter())
            errors = [e for _, _, errs in results for e in errs][:3]
            created = statuses[201]
            rate = created / elapsed
            p50, p95, p99 = (percentile(latencies, q) for q in (0.5, 0.95, 0.99))
            print(f"{sum(statuses.values())} requests in {elapsed:.1f} s: {dict(statuses)}")
            print(f"throughput: {rate:.0f} bookings/s (target >= {TARGET_RATE:.0f}: "
                  f"{'ok' if rate >= TARGET_RATE else 'MISSED'}; goal {GOAL_RATE:.0f}; "
                  f"{rate / hello:.2f} x hello)")
            print(f"latency: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms "
                  f"(target p99 <= {TARGET_P99:.0f}: "
                  f"{'ok' if p99 <= TARGET_P99 else 'MISSED'})")
            if errors:
                print("first non-201 answers:", *errors, sep="\n  ")
            print(f"booking detail (GET /api/v1/bookings/{{id}}): {reads:.0f} req/s "
                  f"(target >= {TARGET_READS:.0f}: "
                  f"{'ok' if reads >= TARGET_READS else 'MISSED'}; {reads / hello:.2f} x "
                  f"hello), p50 {percentile(read_lat, 0.5):.1f} ms, p99 "
                  f"{percentile(read_lat, 0.99):.1f} ms, {dict(read_st)}")
            total, overlaps = check_database(app)
            print(f"database: {total} bookings (201 responses: {created}), "
                  f"{overlaps} overlapping pairs")
            if args.profile:
                profile_in_process(app, shop)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    finally:
        if proc is not None:
            stop_gunicorn(proc)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
