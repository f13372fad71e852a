"""Ledger postings: throughput and latency, one account and many, SQLite and PostgreSQL.

Usage::

    python benchmarks/bench_ledger.py [--pg-url URL] [--seconds 5] [--procs 4]

``--pg-url`` is an admin URL of a PostgreSQL server (default ``$FULIAN_TEST_PG_URL``, as
printed by ``scripts/services start``); a scratch database is created and dropped. Without
it only SQLite runs. Each run: ``--procs`` processes post two-leg "spend" transactions
(``core.finance.ledger.post`` inside ``write_transaction``, exactly as payments do) for
``--seconds``, either all from ONE customer wallet (the hot-account case: every posting
locks the same balance row) or each from its own wallet. Printed: postings/s, latency
p50/p99, refusals (there should be none: wallets are funded for the run) and a check that
every balance equals the sum of its entries.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from typing import Any

from sqlalchemy import create_engine, func, select, text

# a throw-away test deployment: the sandbox provider and dev SMS are allowed
os.environ.setdefault("FULIAN_ENV", "test")

FUND = 10**12


def _app(url: str, folder: str) -> Any:
    from core import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": folder,
                       "FULIAN_JOBS_THREAD": False})


def _worker(url: str, folder: str, wallet: str, seconds: float, out: Any) -> None:
    from core.db import write_transaction
    from core.extensions import db
    from core.finance import ledger

    app = _app(url, folder)
    times: list[float] = []
    refused = 0
    with app.app_context():
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            started = time.perf_counter()
            try:
                with write_transaction():
                    ledger.post("spend", [(wallet, 100), ("store:1:revenue", -100)])
            except ledger.InsufficientFunds:
                refused += 1
            times.append(time.perf_counter() - started)
        db.engine.dispose()
    out.put((times, refused))


def run(url: str, label: str, procs: int, seconds: float) -> None:
    from core import dbmigrate
    from core.db import write_transaction
    from core.extensions import db
    from core.finance import ledger
    from core.models import LedgerAccount, LedgerEntry

    folder = tempfile.mkdtemp()
    app = _app(url, folder)
    with app.app_context():
        dbmigrate.upgrade()
        for i in range(procs):
            with write_transaction():
                ledger.post("top_up", [("store:1:cash", FUND), (f"customer:{i}:principal",
                                                                 -FUND)])
        db.engine.dispose()
    ctx = multiprocessing.get_context("spawn")
    for mode in ("one hot wallet", "a wallet each"):
        queue: Any = ctx.Queue()
        wallets = ["customer:0:principal"] * procs if mode.startswith("one") else \
            [f"customer:{i}:principal" for i in range(procs)]
        workers = [ctx.Process(target=_worker, args=(url, folder, w, seconds, queue))
                   for w in wallets]
        for w in workers:
            w.start()
        results = [queue.get(timeout=seconds + 120) for _ in workers]
        for w in workers:
            w.join()
        times = sorted(t for r in results for t in r[0])
        refused = sum(r[1] for r in results)
        p99 = times[int(len(times) * 0.99) - 1] * 1000
        print(f"{label:10} {mode:15} {procs} procs: {len(times) / seconds:7.0f} postings/s"
              f"  p50 {statistics.median(times) * 1000:5.1f} ms  p99 {p99:5.1f} ms"
              f"  refused {refused}")
    with app.app_context():
        accounts = db.session.scalars(select(LedgerAccount)).all()
        for account in accounts:
            total = db.session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                                      .where(LedgerEntry.account_id == account.id))
            expected = total if account.normal == "debit" else -total
            assert account.balance == expected, account.code
        print(f"{label:10} balances equal the sums of their entries "
              f"({len(accounts)} accounts)")
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pg-url", default=os.environ.get("FULIAN_TEST_PG_URL"))
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--procs", type=int, default=4)
    args = parser.parse_args()
    run(f"sqlite:///{tempfile.mkdtemp()}/ledger.db", "SQLite", args.procs, args.seconds)
    if args.pg_url:
        name = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run(args.pg_url.rsplit("/", 1)[0] + f"/{name}", "PostgreSQL", args.procs,
                args.seconds)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
