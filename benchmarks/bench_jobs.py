"""Background jobs per worker: jobs/s for a trivial job and for a webhook delivery.

Usage::

    python benchmarks/bench_jobs.py [--pg-url URL] [--redis-url URL] [--jobs 300]
                                    [--webhooks 200] [--no-in-process] [--no-rq]

Without ``--pg-url`` the database is a temporary SQLite file; with it (an admin URL such as
``$FULIAN_TEST_PG_URL``) a scratch database is created there and dropped at the end.
``--redis-url`` (default ``$FULIAN_TEST_REDIS_URL``) is used only through a queue of its
own (``bench-<random>``): nothing else on that Redis is touched.

Two kinds of job, each measured on both backends:

* **trivial**: a job that appends the time to a file (the cost of the machinery itself);
* **webhook**: :func:`core.webhooks.deliver` of a ``customer.created`` event to a receiver
  on 127.0.0.1 in this process (``http.server``, answers 204; the target is allowed with
  ``FULIAN_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8``), signing and posting included.

Backends:

* **in-process**: every job is enqueued first, then one runner (``jobs.run_pending`` in
  this process, one thread) works them off;
* **rq**: every job is enqueued first, then ONE real ``fulian worker`` process (started
  here against the same database and Redis, stopped by its process id) works them off.

jobs/s is measured between the first and the last job's own timestamps (the file lines,
or the receiver's arrival times), so the worker's start-up is not counted. The figures
are per worker: run more workers for more throughput. No assertion is made on them.
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

# a throw-away test deployment: no production readiness checks for the worker
os.environ.setdefault("FULIAN_ENV", "test")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ALLOWED = "127.0.0.0/8"
STAMP = "benchmarks.bench_jobs:stamp"  # by name: this file runs as __main__


def stamp(path: str) -> None:
    """The trivial job: append the current time to ``path``."""
    with open(path, "a", encoding="ascii") as fh:
        fh.write(f"{time.time()}\n")


# ------------------------------------------------------------------------- receiver


class _Receiver(http.server.BaseHTTPRequestHandler):
    arrivals: list[float] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Receiver.arrivals.append(time.time())
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def start_receiver() -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


# ---------------------------------------------------------------------------- setup


def scratch_database(pg_url: str | None, folder: Path) -> tuple[str, Any]:
    if not pg_url:
        return f"sqlite:///{folder / 'bench.db'}", lambda: None
    from sqlalchemy import create_engine, text

    name = f"bench_jobs_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return pg_url.rsplit("/", 1)[0] + f"/{name}", drop


def make_app(db_url: str, folder: Path, redis_url: str | None, queue: str) -> Any:
    from core import create_app, dbmigrate

    app = create_app({
        "INSTANCE_PATH": str(folder / "instance"), "SQLALCHEMY_DATABASE_URI": db_url,
        "FULIAN_REDIS_URL": redis_url, "FULIAN_RQ_QUEUE": queue, "FULIAN_JOBS_THREAD": False,
        "FULIAN_WEBHOOK_ALLOWED_NETWORKS": [ALLOWED], "RATELIMIT_ENABLED": False,
    })
    with app.app_context():
        dbmigrate.upgrade()
    return app


def enqueue_trivial(app: Any, path: str, n: int) -> None:
    from core import jobs

    with app.app_context():
        for _ in range(n):
            jobs.enqueue(STAMP, path)


def enqueue_webhooks(app: Any, url: str, n: int) -> None:
    from core import webhooks
    from core.db import write_transaction

    with app.app_context():
        if not webhooks.list_subscriptions():
            webhooks.create_subscription(url, ["customer.created"])
        for i in range(n):
            with write_transaction():
                webhooks.record("customer.created", {"id": i, "name": f"bench {i}"})


def rate(stamps: list[float]) -> float:
    stamps = sorted(stamps)
    if len(stamps) < 2 or stamps[-1] == stamps[0]:
        return float("nan")
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def file_stamps(path: str) -> list[float]:
    p = Path(path)
    return [float(x) for x in p.read_text().split()] if p.exists() else []


def wait_for(count: Any, n: int, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if count() >= n:
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------- runs


def run_in_process(app: Any, folder: Path, url: str, n_jobs: int, n_hooks: int
                   ) -> dict[str, float]:
    from core import jobs

    out = str(folder / "in-process.txt")
    enqueue_trivial(app, out, n_jobs)
    jobs.run_pending(app)
    trivial = rate(file_stamps(out))
    _Receiver.arrivals = []
    enqueue_webhooks(app, url, n_hooks)
    jobs.run_pending(app)
    return {"trivial": trivial, "webhook": rate(_Receiver.arrivals)}


def start_worker(db_url: str, folder: Path, redis_url: str, queue: str
                 ) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FULIAN_DATABASE_URL": db_url,
           "FULIAN_INSTANCE": str(folder / "instance"), "FULIAN_REDIS_URL": redis_url,
           "FULIAN_RQ_QUEUE": queue, "FULIAN_JOBS_THREAD": "0",
           "FULIAN_WEBHOOK_ALLOWED_NETWORKS": ALLOWED,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    fulian = Path(sys.executable).with_name("fulian")
    log = open(folder / f"worker-{queue}.log", "wb")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen([str(fulian), "worker"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, cwd=str(ROOT))


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def run_rq(db_url: str, folder: Path, redis_url: str, url: str, n_jobs: int, n_hooks: int,
           limit: float) -> dict[str, float]:
    from core.extensions import db

    queue = f"bench-{uuid.uuid4().hex[:10]}"
    app = make_app(db_url, folder, redis_url, queue)
    out = str(folder / "rq.txt")
    _Receiver.arrivals = []
    enqueue_trivial(app, out, n_jobs)
    enqueue_webhooks(app, url, n_hooks)
    proc = start_worker(db_url, folder, redis_url, queue)
    try:
        done_trivial = wait_for(lambda: len(file_stamps(out)), n_jobs, limit)
        done_hooks = wait_for(lambda: len(_Receiver.arrivals), n_hooks, limit)
    finally:
        stop_worker(proc)
        with app.app_context():
            backend = app.extensions["fulian_jobs"]
            for key in backend.connection.scan_iter(f"rq:*{queue}*"):
                backend.connection.delete(key)
            db.engine.dispose()
    if not (done_trivial and done_hooks):
        print(f"  rq: only {len(file_stamps(out))}/{n_jobs} trivial jobs and "
              f"{len(_Receiver.arrivals)}/{n_hooks} webhooks within {limit:.0f} s "
              f"(see {folder}/worker-{queue}.log)")
    return {"trivial": rate(file_stamps(out)), "webhook": rate(_Receiver.arrivals)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--redis-url", default=os.environ.get("FULIAN_TEST_REDIS_URL"))
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--webhooks", type=int, default=200)
    parser.add_argument("--rq-limit", type=float, default=300.0,
                        help="seconds to wait for the rq worker")
    parser.add_argument("--no-in-process", action="store_true")
    parser.add_argument("--no-rq", action="store_true")
    args = parser.parse_args()

    server, url = start_receiver()
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        folder = Path(tmp)
        db_url, drop = scratch_database(args.pg_url, folder)
        kind = "PostgreSQL" if args.pg_url else "SQLite"
        print(f"database: {kind}; {args.jobs} trivial jobs, {args.webhooks} webhooks; "
              f"load average {os.getloadavg()[0]:.2f}")
        try:
            if not args.no_in_process:
                from core.extensions import db

                app = make_app(db_url, folder, None, "unused")
                figures = run_in_process(app, folder, url, args.jobs, args.webhooks)
                with app.app_context():
                    db.engine.dispose()
                print(f"in-process, 1 runner: trivial {figures['trivial']:8.1f} jobs/s, "
                      f"webhook {figures['webhook']:8.1f} deliveries/s")
            if not args.no_rq:
                if not args.redis_url:
                    print("rq: skipped (no --redis-url / FULIAN_TEST_REDIS_URL)")
                else:
                    figures = run_rq(db_url, folder, args.redis_url, url, args.jobs,
                                     args.webhooks, args.rq_limit)
                    print(f"rq, 1 fulian worker:  trivial {figures['trivial']:8.1f} jobs/s, "
                          f"webhook {figures['webhook']:8.1f} deliveries/s")
        finally:
            server.shutdown()
            drop()
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
