"""Background jobs: one facade (:func:`enqueue`), one table of work to do, two runners.

Why it looks like this:

* **The database is the source of truth (an outbox).** Every job is a row of the
  ``jobs`` table (:class:`core.models.JobRecord`) committed together with the change that
  asked for it: :func:`enqueue` inside a ``db.session`` transaction remembers the job, and
  the rows are inserted (one statement for all of them) on that transaction's connection
  just before it commits. So a job never runs for a change that was rolled back (a
  confirmation for a booking that was never written), no change is committed without its
  jobs, and a runner never picks a job up before the rows it reads are visible. Outside a
  transaction the row is written in a short transaction of its own.
* **Two runners of the same table.** The embedded default has no Redis, and rq has no
  server-free mode (NOTES trap 3), so in process a daemon thread of the web process,
  :func:`run_pending` or ``fulian worker`` claim due rows and run them. With rq
  (``FULIAN_REDIS_URL``) Redis only carries "run row N" messages: a web process hands an
  immediate job over right after its commit; a dispatcher inside every ``fulian worker``
  hands over delayed jobs when they fall due, and whatever a web process could not hand
  over (Redis down: the row simply waits, ``queued``).
* **Redis may lose what it holds.** A row handed over is ``enqueued``. The dispatcher's
  sweep (:func:`sweep`, every :data:`RECOVER_SECONDS`) hands a row over again when its
  message is gone from Redis (restarted without persistence, flushed, or down at the
  handover) or has waited longer than the visibility timeout
  (``FULIAN_JOBS_VISIBILITY_TIMEOUT``, default an hour); a row ``running`` for longer than
  that belonged to a worker that died, and counts as a failed attempt. A Redis outage or
  data loss therefore delays work but loses none. A job must finish within half the
  visibility timeout (rq stops it then).
* **One runner per job at a time.** A runner claims a row with a conditional ``UPDATE``
  (``queued`` and due, or ``enqueued``, to ``running``) that also counts the attempt; only
  the runner whose claim matched runs the job, and only the claim that is still current
  (the same attempt count) records the outcome. A duplicate message does nothing.
* **At least once: jobs must be idempotent.** A job that ran but whose "done" mark was
  lost (its worker died in between) runs again after the visibility timeout. Every job
  checks the state it acts on and does nothing when it has moved on: a deposit hold
  still held, a webhook delivery still pending at the attempt it was scheduled for, a
  refund still pending (and providers de-duplicate our refund reference), a punch card
  still holding unbroken visits. Plugins' ``fulian_booking_event`` handlers called by
  :func:`core.booking.service.announce` may therefore see an event twice.
* **Failures back off.** A failing job is retried after 2, 4, 8 ... seconds until it has
  run ``max_attempts`` times; then it is ``failed``, kept with its traceback. Finished
  rows are deleted after ``FULIAN_JOBS_KEEP_DAYS`` days (default 14).
* **Jobs are data, the app is not rebuilt per job.** A job is a dotted path
  (``"pkg.mod:func"``) plus JSON arguments, run in an app context of the runner's
  long-lived app; ``fulian worker`` with rq runs rq's ``SimpleWorker`` (no fork per job,
  NOTES trap 17). Jobs must commit their own writes.
* **Periodic jobs are not rows.** The core's sweeps and the enabled plugins'
  ``fulian_periodic_jobs`` recur anyway: in process they run when due (last run kept in
  memory); with rq each is enqueued at most once per period across all workers (a Redis
  key per job), so while Redis is down they simply wait for the next period.
* **One warning per outage.** Failing Redis or database calls of the runners log when
  they start failing and when they work again, not at every attempt
  (:func:`redis_outages` counts the Redis outages).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Connection, Engine, and_, delete, event, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from .db import WRITE_OPTION, utcnow
from .extensions import db
from .models.system import JobRecord

__all__ = [
    "enqueue", "get_backend", "init_app", "periodic_jobs", "purge_finished", "redis_outages",
    "run_pending", "run_periodic", "run_worker", "start_worker_thread", "stop_worker_thread",
    "sweep",
]

log = logging.getLogger(__name__)

EXTENSION = "fulian_jobs"
PENDING_KEY = "fulian_jobs_pending"      # session.info: jobs waiting for the commit
INSERTED_KEY = "fulian_jobs_inserted"    # session.info: rows written by the commit
POLL_SECONDS = 1.0
RECOVER_SECONDS = 15.0  # how often runners look for lost messages and dead workers
#: an ``enqueued`` row younger than this may still be on its way to Redis
HANDOVER_GRACE = timedelta(seconds=30)
#: after a failed handover, web processes leave handovers to the dispatcher this long
REDIS_RETRY_SECONDS = 5.0
#: seconds to connect to / hear from Redis when handing jobs over
REDIS_TIMEOUT_SECONDS = 2.0
#: longest wait for a job before an idle rq worker looks at a stop request again
STOP_CHECK_SECONDS = 5
FAILURE_TTL = 7 * 24 * 3600  # an rq message that failed outside our runner (diagnostics)
BATCH = 200
MAX_ROUNDS = 100  # run_pending / dispatch: rounds picking up jobs that became due meanwhile
DEFAULT_VISIBILITY_SECONDS = 3600
DEFAULT_KEEP_DAYS = 14
STOPPED = "the worker running this job stopped before it finished"

QUEUED, ENQUEUED, RUNNING, DONE, FAILED = "queued", "enqueued", "running", "done", "failed"

PeriodicJob = tuple[str, int, Callable[[], Any]]
_T = JobRecord.__table__
_C = _T.c


@dataclass(frozen=True)
class Job:
    """A job ready to be written: dotted path, JSON-safe arguments, when and how often."""

    func: str
    args: list[Any]
    kwargs: dict[str, Any]
    run_at: datetime | None  # None: as soon as possible
    max_attempts: int


def backoff_seconds(attempts: int) -> int:
    """Delay before retrying a job that has failed ``attempts`` times."""
    return 2 ** attempts


# ----------------------------------------------------------------------------- facade


def init_app(app: Flask) -> None:
    """Choose the runner: rq if ``FULIAN_REDIS_URL`` is set, else in-process."""
    _install_session_listeners()
    url = app.config.get("FULIAN_REDIS_URL")
    backend: InProcessBackend | RQBackend
    if url:
        backend = RQBackend(app, url, app.config.get("FULIAN_RQ_QUEUE") or "fulian")
    else:
        backend = InProcessBackend(app)
    app.extensions[EXTENSION] = backend


def get_backend(app: Flask | None = None) -> InProcessBackend | RQBackend:
    return (app or current_app).extensions[EXTENSION]


def enqueue(
    func: Callable[..., Any] | str,
    *args: Any,
    at: datetime | None = None,
    delay: timedelta | None = None,
    max_attempts: int = 3,
    **kwargs: Any,
) -> None:
    """Run ``func(*args, **kwargs)`` in the background, in an app context, at least once.

    ``func`` is a module-level function or its path ``"pkg.mod:func"``; arguments must be
    JSON-serialisable (they are stored as JSON; tuples come back as lists). ``at`` (an
    aware datetime) or ``delay`` postpones the job. A failing job is retried with
    exponential backoff until it has run ``max_attempts`` times. Inside a ``db.session``
    transaction the job's row is written by that transaction's commit (and discarded by
    its rollback): call it inside the write transaction of the change it belongs to. The
    names ``at``, ``delay`` and ``max_attempts`` cannot be passed on to the job. Needs an
    app context. Only ``db.session`` transactions are waited for: do not enqueue while
    holding a write transaction on a connection of your own (on SQLite the row's own
    transaction would wait for your write lock).
    """
    if at is not None and delay is not None:
        raise ValueError("pass either at or delay, not both")
    if at is not None:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("at must be an aware datetime")
        run_at: datetime | None = at.astimezone(UTC)
    elif delay is not None:
        run_at = utcnow() + delay
    else:
        run_at = None
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    job = Job(func=_path_of(func), args=_json_safe(list(args)), kwargs=_json_safe(kwargs),
              run_at=run_at, max_attempts=max_attempts)
    backend = get_backend()

    session = db.session()
    root = session.get_transaction()
    if root is not None and root.is_active:
        nested = session.get_nested_transaction()
        owner = nested if nested is not None and nested.is_active else root
        session.info.setdefault(PENDING_KEY, []).append((owner, backend, job))
    else:
        # No transaction, or called while one is committing (e.g. from an after-commit
        # hook): there is nothing left to wait for.
        backend.write_alone(job)


def run_pending(app: Flask, now: datetime | None = None) -> int:
    """Run every due job of the in-process backend now; returns how many were run.

    ``now`` (aware) pretends it is a later time, for tests. Jobs that fail are counted too.
    """
    backend = get_backend(app)
    if not isinstance(backend, InProcessBackend):
        raise RuntimeError("run_pending is for the in-process backend; "
                           "use run_worker(app, burst=True) with rq")
    return backend.run_pending(now)


def sweep(app: Flask, now: datetime | None = None) -> int:
    """Recover lost jobs now and (with rq) hand over the due ones; returns how many rows
    were handed over or put back in the queue.

    Runners do this on their own every :data:`RECOVER_SECONDS`; ``now`` (aware) pretends
    it is a later time, for tests.
    """
    return get_backend(app).sweep(now)


def run_periodic(app: Flask, now: datetime | None = None) -> int:
    """Start the periodic jobs that are due; returns how many were started.

    In-process they run here and now (last run remembered in memory); with rq they are
    enqueued, at most once per period across all workers (a Redis key per job).
    """
    return get_backend(app).run_periodic(now)


def run_worker(app: Flask, burst: bool = False) -> None:
    """Work off jobs in the foreground (``fulian worker``); ``burst`` returns when idle."""
    get_backend(app).run_worker(burst)


def start_worker_thread(app: Flask) -> bool:
    """Start the in-process polling thread if ``FULIAN_JOBS_THREAD`` allows it.

    Returns whether a thread is running. Web entry points call this so that jobs persisted
    before a restart run without waiting for the next :func:`enqueue`. No-op with rq.
    """
    backend = get_backend(app)
    return isinstance(backend, InProcessBackend) and backend.ensure_thread()


def stop_worker_thread(app: Flask, timeout: float = 5.0) -> None:
    """Stop the in-process polling thread (if any) and wait for it."""
    backend = get_backend(app)
    if isinstance(backend, InProcessBackend):
        backend.stop_thread(timeout)


def purge_finished(now: datetime | None = None) -> int:
    """Periodic job: delete jobs done or failed more than ``FULIAN_JOBS_KEEP_DAYS`` days
    ago (every job is a row now, so the table would only grow); returns how many."""
    days = int(current_app.config.get("FULIAN_JOBS_KEEP_DAYS", DEFAULT_KEEP_DAYS))
    cutoff = (now or utcnow()) - timedelta(days=days)
    engine = get_backend().engine
    finished = (_C.status.in_((DONE, FAILED)), _C.run_at < cutoff, _C.finished_at < cutoff)
    removed = 0
    for _ in range(MAX_ROUNDS):
        with engine.connect() as conn:
            ids = list(conn.scalars(select(_C.id).where(*finished).limit(1000)))
        if not ids:
            break
        with _write(engine) as conn:
            removed += conn.execute(delete(_T).where(_C.id.in_(ids), *finished)).rowcount
    return removed


def _core_periodic() -> list[PeriodicJob]:
    """The core's own periodic work: asking payment providers what their lost
    notifications would have said (:mod:`core.finance.polling`), remembering the latest
    day seen for licence checks, the safety nets for work whose job was lost before the
    jobs table was its source of truth or whose worker died mid-way (deposit holds past
    their time, webhook deliveries overdue), and forgetting old finished jobs."""
    from . import webhooks
    from .booking import holds
    from .booking import service as booking_service
    from .finance import polling
    from .plugins import remember_licence_clock

    return [("core.poll_payments", 60, polling.poll),
            ("core.licence_clock", 3600, remember_licence_clock),
            ("core.expire_holds", holds.SWEEP_EVERY_SECONDS, booking_service.expire_overdue),
            ("core.resend_webhooks", webhooks.SWEEP_EVERY_SECONDS, webhooks.sweep_pending),
            ("core.purge_jobs", 3600, purge_finished)]


def periodic_jobs(app: Flask) -> list[PeriodicJob]:
    """``(name, every_seconds, callable)``: the core's, then those of the enabled
    plugins' ``fulian_periodic_jobs``."""
    with app.app_context():
        items = [*_core_periodic(),
                 *app.extensions["fulian_plugins"].call_flat("fulian_periodic_jobs")]
    out: list[PeriodicJob] = []
    seen: set[str] = set()
    for item in items:
        try:
            name, every, fn = item
            every = int(every)
        except (TypeError, ValueError):
            log.error("ignoring malformed periodic job %r", item)
            continue
        if not callable(fn) or every <= 0 or name in seen:
            log.error("ignoring periodic job %r (not callable, bad period or duplicate)", name)
            continue
        seen.add(name)
        out.append((str(name), every, fn))
    return out


# -------------------------------------------------------------------- paths and args


def _path_of(func: Callable[..., Any] | str) -> str:
    if isinstance(func, str):
        module, sep, qualname = func.partition(":")
        if not sep:
            module, _, qualname = func.rpartition(".")
        path = f"{module}:{qualname}"
        try:
            _resolve(path)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ValueError(f"cannot import job function {func!r}: {exc}") from exc
        return path
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        raise ValueError(f"{func!r} is not a module-level function importable by name")
    path = f"{module}:{qualname}"
    try:
        found = _resolve(path)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{func!r} is not importable as {path}") from exc
    if found is not func:
        raise ValueError(f"{func!r} is not importable as {path}")
    return path


def _resolve(path: str) -> Callable[..., Any]:
    module_name, _, qualname = path.partition(":")
    if not module_name or not qualname:
        raise ValueError(f"job path {path!r} is not of the form 'pkg.mod:func'")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{path} is not callable")
    return obj


def _json_safe(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"job arguments must be JSON-serialisable: {exc}") from exc


def _execute(app: Flask, path: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    func = _resolve(path)
    with app.app_context():
        func(*args, **kwargs)


# ------------------------------------------------------------------ rows and commits


def _row(job: Job, status: str, now: datetime) -> dict[str, Any]:
    return {"func": job.func, "args": job.args, "kwargs": job.kwargs,
            "run_at": job.run_at or now, "status": status, "attempts": 0,
            "max_attempts": job.max_attempts, "created_at": now,
            "handed_at": now if status == ENQUEUED else None}


#: what a backend learns about the rows just committed: (id, func, status)
Written = tuple[int, str, str]


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> list[Written]:
    """Write ``rows`` in one statement (in no particular order on SQLite, hence the
    columns that tell them apart)."""
    result = conn.execute(insert(_T).returning(_C.id, _C.func, _C.status), rows)
    return [(r.id, r.func, r.status) for r in result]


@contextmanager
def _write(engine: Engine) -> Iterator[Connection]:
    """A short write transaction on a connection of our own (``BEGIN IMMEDIATE`` on
    SQLite)."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def _install_session_listeners() -> None:
    if not event.contains(Session, "before_commit", _before_commit):
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_soft_rollback)
        event.listen(Session, "after_transaction_end", _after_transaction_end)


def _before_commit(session: Session) -> None:
    """Write the rows of the jobs enqueued in this transaction, inside it."""
    if session.in_nested_transaction():
        return  # a savepoint is being released: its jobs wait for the outermost commit
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    now = utcnow()
    conn = session.connection()
    groups: dict[int, tuple[Backend, list[Job]]] = {}
    for _owner, backend, job in pending:
        groups.setdefault(id(backend), (backend, []))[1].append(job)
    inserted = session.info.setdefault(INSERTED_KEY, [])
    for backend, group in groups.values():
        rows = [_row(job, backend.initial_status(job), now) for job in group]
        inserted.append((backend, _insert(conn, rows)))


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return
    for backend, rows in session.info.pop(INSERTED_KEY, None) or ():
        try:
            backend.committed(rows)
        except Exception:  # the rows are committed: a runner will find them
            log.exception("could not announce %d committed job(s)", len(rows))


def _within(txn: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while txn is not None:
        if txn is ancestor:
            return True
        txn = txn.parent
    return False


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    pending = session.info.get(PENDING_KEY)
    if pending:
        session.info[PENDING_KEY] = [p for p in pending if not _within(p[0], previous)]


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(INSERTED_KEY, None)  # the commit failed: its rows are gone too
        dropped = session.info.pop(PENDING_KEY, None)
        if dropped:
            log.info("discarded %d job(s): their transaction did not commit", len(dropped))


# ------------------------------------------------------------------------- outages

_redis_outages = 0
_outages_lock = threading.Lock()


def redis_outages() -> int:
    """How many times the job runners of this process lost Redis so far."""
    return _redis_outages


class _Outage:
    """Logs when ``what`` starts failing and when it works again, not at every attempt;
    remembers for a few seconds that it is down, so web processes do not wait on it."""

    def __init__(self, what: str, meaning: str, counts_redis: bool = False) -> None:
        self.what = what
        self.meaning = meaning
        self.counts_redis = counts_redis
        self.since: float | None = None
        self.retry_at = 0.0
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self.since is not None and time.monotonic() < self.retry_at

    def failed(self, exc: BaseException) -> None:
        global _redis_outages
        with self._lock:
            now = time.monotonic()
            self.retry_at = now + REDIS_RETRY_SECONDS
            if self.since is not None:
                return
            self.since = now
            if self.counts_redis:
                with _outages_lock:
                    _redis_outages += 1
        log.warning("%s unreachable (%s: %s): %s", self.what, type(exc).__name__, exc,
                    self.meaning)

    def succeeded(self) -> None:
        with self._lock:
            if self.since is None:
                return
            down_for, self.since = time.monotonic() - self.since, None
        log.warning("%s reachable again after %.0f s", self.what, down_for)


# ------------------------------------------------------------------- shared runner


class Backend:
    """What both runners share: writing rows, claiming and running them, recovering rows
    left ``running`` by a worker that died."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._engine: Engine | None = None
        self.database = _Outage("the database (jobs table)",
                                "no job runs until it is back")
        self.visibility = timedelta(seconds=int(
            app.config.get("FULIAN_JOBS_VISIBILITY_TIMEOUT") or DEFAULT_VISIBILITY_SECONDS))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self.app.app_context():
                self._engine = db.engine
        return self._engine

    # -- writing
    def initial_status(self, job: Job) -> str:
        return QUEUED

    def write_alone(self, job: Job) -> None:
        """Write ``job``'s row in a transaction of its own, then announce it."""
        with _write(self.engine) as conn:
            written = _insert(conn, [_row(job, self.initial_status(job), utcnow())])
        self.committed(written)

    def committed(self, rows: list[Written]) -> None:
        """Rows ``(id, func, status)`` were just committed."""
        raise NotImplementedError

    # -- running
    def run_row(self, job_id: int, now: datetime | None = None) -> bool:
        """Claim row ``job_id`` and run it; False if it was not ours to run (another runner
        has it, it is not due, or it is finished)."""
        due_at = now or utcnow()
        with _write(self.engine) as conn:
            row = conn.execute(
                update(_T).where(_C.id == job_id, or_(
                    _C.status == ENQUEUED, and_(_C.status == QUEUED, _C.run_at <= due_at)))
                .values(status=RUNNING, started_at=utcnow(), attempts=_C.attempts + 1)
                .returning(_C.func, _C.args, _C.kwargs, _C.attempts, _C.max_attempts)
            ).one_or_none()
        if row is None:
            return False
        try:
            _execute(self.app, row.func, row.args or [], row.kwargs or {})
        except Exception:
            error = traceback.format_exc()
            log.warning("job %s (%s) failed, attempt %d of %d", job_id, row.func, row.attempts,
                        row.max_attempts, exc_info=True)
            if row.attempts >= row.max_attempts:
                values: dict[str, Any] = {"status": FAILED, "finished_at": utcnow()}
            else:
                values = {"status": QUEUED,
                          "run_at": due_at + timedelta(seconds=backoff_seconds(row.attempts))}
            values["last_error"] = error
        else:
            values = {"status": DONE, "finished_at": utcnow()}
        with _write(self.engine) as conn:  # only if our claim is still the current one
            conn.execute(update(_T).where(_C.id == job_id, _C.status == RUNNING,
                                          _C.attempts == row.attempts).values(**values))
        return True

    # -- recovery
    def recover_running(self, now: datetime) -> int:
        """Rows ``running`` for longer than the visibility timeout: their worker died. The
        attempt was counted at the claim; queue them again, or fail them when that was
        their last attempt."""
        stale = (_C.status == RUNNING, _C.started_at <= now - self.visibility)
        with self.engine.connect() as conn:
            if conn.scalar(select(_C.id).where(*stale).limit(1)) is None:
                return 0
        with _write(self.engine) as conn:
            failed = conn.execute(update(_T).where(*stale, _C.attempts >= _C.max_attempts)
                                  .values(status=FAILED, last_error=STOPPED,
                                          finished_at=utcnow())).rowcount
            again = conn.execute(update(_T).where(*stale).values(
                status=QUEUED, last_error=STOPPED, run_at=now)).rowcount
        log.warning("%d job(s) left running by a worker that stopped: %d queued again, "
                    "%d failed", failed + again, again, failed)
        return failed + again

    def sweep(self, now: datetime | None = None) -> int:
        raise NotImplementedError


# --------------------------------------------------------------- in-process backend


class InProcessBackend(Backend):
    """Jobs run from the table by a daemon thread, ``run_pending`` or ``fulian worker``."""

    def __init__(self, app: Flask):
        super().__init__(app)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_pid: int | None = None
        self._lock = threading.Lock()
        self._last_periodic: dict[str, datetime] = {}
        self._last_recovery = float("-inf")
        self._foreground = False

    def committed(self, rows: list[Written]) -> None:
        self.ensure_thread()
        self._wake.set()

    # -- running
    def run_pending(self, now: datetime | None = None) -> int:
        if time.monotonic() - self._last_recovery >= RECOVER_SECONDS:
            self.sweep()
        seen: set[int] = set()
        count = 0
        for _ in range(MAX_ROUNDS):
            due_at = now or utcnow()
            with self.engine.connect() as conn:
                ids = [i for i in conn.scalars(
                    select(_C.id).where(_C.status == QUEUED, _C.run_at <= due_at)
                    .order_by(_C.run_at, _C.id).limit(BATCH)
                ) if i not in seen]
            if not ids:
                break
            for job_id in ids:
                seen.add(job_id)
                count += self.run_row(job_id, now)
        return count

    def sweep(self, now: datetime | None = None) -> int:
        """Rows left ``running`` by a dead process run again; rows handed to a Redis this
        deployment no longer uses (it switched from rq to in-process) run here."""
        self._last_recovery = time.monotonic()
        now = now or utcnow()
        count = self.recover_running(now)
        with self.engine.connect() as conn:
            if conn.scalar(select(_C.id).where(_C.status == ENQUEUED).limit(1)) is None:
                return count
        with _write(self.engine) as conn:
            count += conn.execute(update(_T).where(_C.status == ENQUEUED)
                                  .values(status=QUEUED)).rowcount
        return count

    def run_periodic(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        due: list[PeriodicJob] = []
        with self._lock:
            for name, every, fn in periodic_jobs(self.app):
                last = self._last_periodic.get(name)
                if last is None or (now - last).total_seconds() >= every:
                    self._last_periodic[name] = now
                    due.append((name, every, fn))
        for name, _every, fn in due:
            try:
                with self.app.app_context():
                    fn()
            except Exception:
                log.exception("periodic job %s failed", name)
        return len(due)

    def tick(self) -> int:
        return self.run_pending() + self.run_periodic()

    def run_worker(self, burst: bool = False) -> None:
        self._foreground = True  # jobs enqueued by jobs must not start a second runner
        try:
            if burst:
                self.tick()
            else:
                log.info("running in-process jobs of %s", self.engine.url.render_as_string())
                self._stop.clear()
                self._loop()
        finally:
            self._foreground = False

    # -- thread
    def ensure_thread(self) -> bool:
        if not self.app.config.get("FULIAN_JOBS_THREAD") or self._foreground:
            return False
        with self._lock:
            alive = self._thread is not None and self._thread.is_alive()
            if alive and self._thread_pid == os.getpid():
                return True
            # Not started yet, or we are a forked child: threads do not survive fork().
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="fulian-jobs", daemon=True)
            self._thread_pid = os.getpid()
            self._thread.start()
            return True

    def stop_thread(self, timeout: float = 5.0) -> None:
        thread = self._thread
        self._stop.set()
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.tick()
                self.database.succeeded()
            except SQLAlchemyError as exc:
                self.database.failed(exc)
            except Exception:
                log.exception("job runner failed")
            self._wake.wait(POLL_SECONDS)


# ------------------------------------------------------------------------ rq backend


class RQBackend(Backend):
    """Rows handed to an rq queue as "run row N"; ``fulian worker`` runs rq's
    ``SimpleWorker`` in its own long-lived app, with the dispatcher beside it."""

    def __init__(self, app: Flask, url: str, queue_name: str):
        from redis import Redis
        from rq import Queue

        super().__init__(app)
        self.url = url
        # short timeouts: a web process hands jobs over after its commit and must not hang
        # on a Redis that does not answer (the row waits in the table instead)
        self.connection = Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                                         socket_timeout=REDIS_TIMEOUT_SECONDS)
        self.queue = Queue(queue_name, connection=self.connection)
        self.redis = _Outage("Redis (jobs)", "jobs wait in the database until it is back",
                             counts_redis=True)
        self._id_prefix = re.sub(r"[^A-Za-z0-9_-]", "_", queue_name)

    def message_id(self, job_id: int) -> str:
        """The rq job id of row ``job_id``: the same at every handover, so a message can
        be looked up, and one queue name per deployment keeps deployments apart."""
        return f"{self._id_prefix}-{job_id}"

    # -- handing over
    def initial_status(self, job: Job) -> str:
        if job.run_at is None and not self.redis.down:
            return ENQUEUED  # handed over right after the commit
        return QUEUED  # the dispatcher hands it over when it is due

    def committed(self, rows: list[Written]) -> None:
        handed = [(job_id, func) for job_id, func, status in rows if status == ENQUEUED]
        if not handed or self._push(handed):
            return
        try:  # the dispatcher takes them over as soon as Redis answers again
            with _write(self.engine) as conn:
                conn.execute(update(_T).where(_C.id.in_([i for i, _f in handed]),
                                              _C.status == ENQUEUED)
                             .values(status=QUEUED, handed_at=None))
        except SQLAlchemyError:  # then the sweep finds them, HANDOVER_GRACE later
            log.warning("could not put %d job(s) back in the queue", len(handed),
                        exc_info=True)

    def _push(self, rows: list[tuple[int, str]]) -> bool:
        from redis.exceptions import RedisError
        from rq import Queue

        timeout = max(int(self.visibility.total_seconds()) // 2, 1)
        datas = [Queue.prepare_data(_run_record, args=(job_id,),
                                    job_id=self.message_id(job_id), description=func,
                                    timeout=timeout, result_ttl=0, failure_ttl=FAILURE_TTL)
                 for job_id, func in rows]
        try:
            with self.connection.pipeline() as pipe:
                self.queue.enqueue_many(datas, pipeline=pipe)
                pipe.execute()
        except RedisError as exc:
            self.redis.failed(exc)
            return False
        self.redis.succeeded()
        return True

    def dispatch_due(self, now: datetime | None = None) -> int:
        """Hand over the rows that are due and not handed over yet; returns how many."""
        count = 0
        for _ in range(MAX_ROUNDS):
            due_at = now or utcnow()
            with self.engine.connect() as conn:
                ids = list(conn.scalars(select(_C.id).where(_C.status == QUEUED,
                                                            _C.run_at <= due_at)
                                        .order_by(_C.run_at, _C.id).limit(BATCH)))
            if not ids:
                break
            with _write(self.engine) as conn:  # ours only if still queued: one handover
                rows = conn.execute(update(_T).where(_C.id.in_(ids), _C.status == QUEUED)
                                    .values(status=ENQUEUED, handed_at=utcnow())
                                    .returning(_C.id, _C.func)).all()
            if rows and not self._push([(r.id, r.func) for r in rows]):
                with _write(self.engine) as conn:
                    conn.execute(update(_T).where(_C.id.in_([r.id for r in rows]),
                                                  _C.status == ENQUEUED)
                                 .values(status=QUEUED, handed_at=None))
                break
            count += len(rows)
            if len(ids) < BATCH:
                break
        return count

    def recover_lost(self, now: datetime) -> int:
        """Put back in the queue the handed-over rows whose message Redis no longer has,
        or that have waited longer than the visibility timeout."""
        from rq.job import Job as RQJob

        grace_cutoff = now - HANDOVER_GRACE
        with self.engine.connect() as conn:
            rows = conn.execute(select(_C.id, _C.handed_at).where(
                _C.status == ENQUEUED, _C.handed_at <= grace_cutoff)
                .order_by(_C.handed_at).limit(BATCH * 5)).all()
        if not rows:
            return 0
        with self.connection.pipeline(transaction=False) as pipe:
            for row in rows:
                pipe.exists(RQJob.key_for(self.message_id(row.id)))
            present = pipe.execute()
        self.redis.succeeded()
        expired = now - self.visibility
        lost = [row.id for row, there in zip(rows, present, strict=True)
                if not there or row.handed_at <= expired]
        if not lost:
            return 0
        with _write(self.engine) as conn:
            count = conn.execute(update(_T).where(_C.id.in_(lost), _C.status == ENQUEUED,
                                                  _C.handed_at <= grace_cutoff)
                                 .values(status=QUEUED, handed_at=None)).rowcount
        log.warning("%d job(s) handed to Redis were lost there (restart, flush or outage): "
                    "handing them over again", count)
        return count

    def sweep(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        return (self.recover_running(now) + self.recover_lost(now)
                + self.dispatch_due(now))

    # -- periodic
    def run_periodic(self, now: datetime | None = None) -> int:
        stamp = (now or utcnow()).isoformat()
        count = 0
        for name, every, _fn in periodic_jobs(self.app):
            key = f"fulian:periodic:{self.queue.name}:{name}"
            if self.connection.set(key, stamp, nx=True, ex=every):
                self.queue.enqueue(_run_periodic, args=(name,), description=f"periodic {name}",
                                   result_ttl=0, failure_ttl=FAILURE_TTL)
                count += 1
        return count

    # -- the worker
    def run_worker(self, burst: bool = False) -> None:
        global _job_app
        previous, _job_app = _job_app, (os.getpid(), self.app)  # jobs run in this app
        main = threading.current_thread() is threading.main_thread()
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)
                    } if main else {}
        try:
            if burst:
                self._dispatcher_round(recover=True)
                self._new_worker(threading.Event()).work(burst=True)
            else:
                self._work_until_stopped(handlers)
        finally:
            _job_app = previous
            for sig, handler in handlers.items():  # rq.Worker installs its own
                signal.signal(sig, handler)

    def _new_worker(self, stopping: threading.Event) -> Any:
        from redis import Redis

        connection = Redis.from_url(self.url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS)
        return _worker_class()([self.queue.name], connection=connection, stopping=stopping)

    def _work_until_stopped(self, handlers: dict[int, Any]) -> None:
        """rq's worker in a loop: started again when it gives up (Redis gone at its start,
        or where it does not retry), until SIGTERM/SIGINT. The dispatcher runs beside it."""
        from redis.exceptions import RedisError

        stop = threading.Event()
        dispatcher = threading.Thread(target=self._dispatch_loop, args=(stop,), daemon=True,
                                      name="fulian-dispatcher")
        dispatcher.start()

        def listen() -> None:
            """Between two rq workers a signal just stops the loop (rq's own handlers,
            left installed by the last one, would raise StopRequested out here)."""
            for sig in handlers:
                signal.signal(sig, lambda _signum, _frame: stop.set())

        wait = POLL_SECONDS
        try:
            listen()
            while not stop.is_set():
                try:
                    self._new_worker(stop).work(burst=False)
                    wait = POLL_SECONDS
                except RedisError as exc:
                    self.redis.failed(exc)
                    wait = min(wait * 2, 30.0)
                finally:
                    listen()
                stop.wait(wait)
        finally:
            stop.set()
            dispatcher.join(30)

    def _dispatcher_round(self, recover: bool) -> None:
        now = utcnow()
        if recover:
            self.recover_running(now)
            self.recover_lost(now)
        self.dispatch_due(now)
        self.run_periodic(now)

    def _dispatch_loop(self, stop: threading.Event) -> None:
        from redis.exceptions import RedisError

        last_recovery = float("-inf")
        while True:
            recover = time.monotonic() - last_recovery >= RECOVER_SECONDS
            try:
                self._dispatcher_round(recover)
                if recover:
                    last_recovery = time.monotonic()
                self.redis.succeeded()
                self.database.succeeded()
            except RedisError as exc:
                self.redis.failed(exc)
            except SQLAlchemyError as exc:
                self.database.failed(exc)
            except Exception:
                log.exception("job dispatcher failed")
            if stop.wait(POLL_SECONDS):
                return


_worker_classes: list[type] = []


def _worker_class() -> type:
    """rq's ``SimpleWorker`` (jobs run in this process: no fork, no app per job) that
    tells our loop when it was asked to stop and retries Redis every few seconds."""
    if not _worker_classes:
        from rq import SimpleWorker
        from rq.utils import now as rq_now

        class Worker(SimpleWorker):  # type: ignore[misc]
            max_connection_wait_time = 5.0

            def __init__(self, *args: Any, stopping: threading.Event | None = None,
                         **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.stopping = stopping or threading.Event()

            def subscribe(self) -> None:
                """rq's command channel, with a listener thread that wakes every
                second (rq's sleeps up to 60 s): stopping closes the channel, which
                waited for that thread and held a stopping worker up to a minute."""
                self.log.info("Worker %s: subscribing to channel %s", self.name,
                              self.pubsub_channel_name)
                self.pubsub = self.connection.pubsub()
                self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
                self.pubsub_thread = self.pubsub.run_in_thread(
                    sleep_time=1, daemon=True,
                    exception_handler=self._pubsub_exception_handler)

            def dequeue_job_and_maintain_ttl(self, timeout: int | None,
                                             max_idle_time: int | None = None) -> Any:
                """Wait for a job in rounds of :data:`STOP_CHECK_SECONDS`, looking at a
                stop request between them (rq's own wait only ends with a job)."""
                while not self._stop_requested:
                    if self.stopping.is_set():  # asked before rq's own handlers were in
                        self._stop_requested = True
                        break
                    result = super().dequeue_job_and_maintain_ttl(
                        timeout, STOP_CHECK_SECONDS if timeout is not None else None)
                    if result is not None or timeout is None:  # a job, or a burst
                        return result
                return None  # rq's loop then ends

            def request_stop(self, signum: int, frame: Any) -> None:
                """Warm shutdown: the job in progress finishes, then the loop ends. rq's
                own handler raises ``StopRequested`` when it thinks the worker idle,
                right out of whatever code the signal interrupted; code that catches
                exceptions there (a job's, a Redis call's) swallowed it and the worker
                never stopped. Here the request is only noted, and the loop sees it
                after the job, or within :data:`STOP_CHECK_SECONDS` when idle. A second signal
                stops at once (rq's cold shutdown)."""
                self.stopping.set()
                self._stop_requested = True
                self._shutdown_requested_date = rq_now()
                self.handle_warm_shutdown_request()
                signal.signal(signal.SIGINT, self.request_force_stop)
                signal.signal(signal.SIGTERM, self.request_force_stop)

        _worker_classes.append(Worker)
    return _worker_classes[0]


_job_app: tuple[int, Flask] | None = None


def _worker_app() -> Flask:
    """The app rq jobs run in: ``fulian worker``'s own, or one built once per process
    from the environment (a plain ``rq worker``)."""
    global _job_app
    if _job_app is None or _job_app[0] != os.getpid():
        from . import create_app

        _job_app = (os.getpid(), create_app())
    return _job_app[1]


def _run_record(job_id: int) -> None:
    """rq entry point: run row ``job_id`` of the jobs table (claimed first, so a duplicate
    or stale message does nothing)."""
    app = _worker_app()
    get_backend(app).run_row(job_id)


def _run(path: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """rq entry point of the messages written before jobs were rows (migration c0012):
    those still in Redis at the upgrade run once more through here."""
    _execute(_worker_app(), path, args, kwargs)


def _run_periodic(name: str) -> None:
    """rq entry point of a periodic job, looked up by name (the core's or an enabled
    plugin's)."""
    app = _worker_app()
    for job_name, _every, fn in periodic_jobs(app):
        if job_name == name:
            with app.app_context():
                fn()
            return
    log.info("periodic job %s is no longer offered by an enabled plugin", name)
