"""Background jobs: one facade (:func:`enqueue`), two backends.

Why it looks like this:

* **Two backends.** Production runs rq on Redis. The embedded default has no Redis, and rq
  has no server-free mode (NOTES trap 3: ``Queue(is_async=False)`` still needs a Redis
  connection, silently skips ``Retry`` and parks delayed jobs forever). So the embedded
  default gets a small in-process backend of its own; callers only ever see
  :func:`enqueue`, and ``FULIAN_REDIS_URL`` picks the backend.
* **Enqueue after commit.** A job enqueued while ``db.session`` is in a transaction is only
  remembered on the session and dispatched by its ``after_commit`` event; a rollback
  discards it. So a job never runs for a change that was rolled back (a confirmation SMS
  for a booking that was never written), and a worker never picks a job up before the rows
  it reads are visible. Outside a transaction :func:`enqueue` dispatches at once.
* **Persisted delayed jobs.** The in-process backend writes every job as a
  :class:`core.models.JobRecord` row in its own short write transaction, so a reminder
  scheduled for tomorrow survives a restart. Runners claim a row with a conditional
  ``UPDATE ... WHERE status = 'queued'``, so web processes and ``fulian worker`` may poll
  the same table without running a job twice. While a job runs, its ``run_at`` holds the
  claim time; a row left ``running`` for :data:`STALE_AFTER` (the process died) is retried.
* **Jobs are data.** A job is a dotted path (``"pkg.mod:func"``) plus JSON arguments, so
  another process (an rq worker, or this one after a restart) can import and run it. Jobs
  run in a fresh Flask app context and must commit their own writes.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
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
from sqlalchemy import Connection, Engine, event, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from .db import WRITE_OPTION, utcnow
from .extensions import db
from .models.system import JobRecord

__all__ = [
    "enqueue", "get_backend", "init_app", "periodic_jobs", "run_pending", "run_periodic",
    "run_worker", "start_worker_thread", "stop_worker_thread",
]

log = logging.getLogger(__name__)

EXTENSION = "fulian_jobs"
PENDING_KEY = "fulian_jobs_pending"
POLL_SECONDS = 1.0
STALE_AFTER = timedelta(hours=1)
STALE_CHECK_SECONDS = 60.0
MAX_ROUNDS = 100  # run_pending: rounds picking up jobs that became due while it ran

PeriodicJob = tuple[str, int, Callable[[], Any]]


@dataclass(frozen=True)
class Job:
    """A job ready to dispatch: dotted path, JSON-safe arguments, when and how often."""

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
    """Choose the backend: rq if ``FULIAN_REDIS_URL`` is set, else in-process."""
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
    """Run ``func(*args, **kwargs)`` in the background, in an app context.

    ``func`` is a module-level function or its path ``"pkg.mod:func"``; arguments must be
    JSON-serialisable (they are stored as JSON; tuples come back as lists). ``at`` (an
    aware datetime) or ``delay`` postpones the job. A failing job is retried with
    exponential backoff until it has run ``max_attempts`` times. Inside a ``db.session``
    transaction the job is dispatched only when that transaction commits. The names
    ``at``, ``delay`` and ``max_attempts`` cannot be passed on to the job. Needs an app
    context. Only ``db.session`` transactions are waited for: do not enqueue while holding
    a write transaction on a connection of your own (on SQLite the in-process backend
    would wait for your write lock).
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
        backend.dispatch(job)


def run_pending(app: Flask, now: datetime | None = None) -> int:
    """Run every due job of the in-process backend now; returns how many were run.

    ``now`` (aware) pretends it is a later time, for tests. Jobs that fail are counted too.
    """
    backend = get_backend(app)
    if not isinstance(backend, InProcessBackend):
        raise RuntimeError("run_pending is for the in-process backend; "
                           "use run_worker(app, burst=True) with rq")
    return backend.run_pending(now)


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


def _core_periodic() -> list[PeriodicJob]:
    """The core's own periodic work: asking payment providers what their lost
    notifications would have said (:mod:`core.finance.polling`), and remembering the
    latest day seen for licence checks."""
    from .finance import polling
    from .plugins import remember_licence_clock

    return [("core.poll_payments", 60, polling.poll),
            ("core.licence_clock", 3600, remember_licence_clock)]


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


# ---------------------------------------------------------------- after-commit logic


def _install_session_listeners() -> None:
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_soft_rollback)
        event.listen(Session, "after_transaction_end", _after_transaction_end)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint was released: its jobs wait for the outermost commit
    pending = session.info.pop(PENDING_KEY, None)
    for _owner, backend, job in pending or ():
        try:
            backend.dispatch(job)
        except Exception:  # the data is committed: failing the caller now helps nobody
            log.exception("could not dispatch job %s after commit; it is lost", job.func)


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
        dropped = session.info.pop(PENDING_KEY, None)
        if dropped:
            log.info("discarded %d job(s): their transaction did not commit", len(dropped))


# --------------------------------------------------------------- in-process backend


class InProcessBackend:
    """Jobs as ``jobs`` rows, run by a daemon thread, ``run_pending`` or ``fulian worker``."""

    def __init__(self, app: Flask):
        self.app = app
        self._engine: Engine | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._thread_pid: int | None = None
        self._lock = threading.Lock()
        self._last_periodic: dict[str, datetime] = {}
        self._last_stale_check = float("-inf")
        self._foreground = False

    # -- database
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self.app.app_context():
                self._engine = db.engine
        return self._engine

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A short write transaction on our own connection (``BEGIN IMMEDIATE`` on SQLite)."""
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    # -- enqueue
    def dispatch(self, job: Job) -> None:
        with self._write() as conn:
            conn.execute(insert(JobRecord.__table__).values(
                func=job.func, args=job.args, kwargs=job.kwargs,
                run_at=job.run_at or utcnow(), status="queued", attempts=0,
                max_attempts=job.max_attempts,
            ))
        self.ensure_thread()
        self._wake.set()

    # -- running
    def run_pending(self, now: datetime | None = None) -> int:
        self._requeue_stale()
        jobs = JobRecord.__table__.c
        seen: set[int] = set()
        count = 0
        for _ in range(MAX_ROUNDS):
            due_at = now or utcnow()
            with self.engine.connect() as conn:
                ids = [i for i in conn.scalars(
                    select(jobs.id).where(jobs.status == "queued", jobs.run_at <= due_at)
                    .order_by(jobs.run_at, jobs.id)
                ) if i not in seen]
            if not ids:
                break
            for job_id in ids:
                seen.add(job_id)
                count += self._run_one(job_id, now)
        return count

    def _run_one(self, job_id: int, now: datetime | None) -> bool:
        jobs = JobRecord.__table__.c
        with self._write() as conn:
            claimed = conn.execute(
                update(JobRecord.__table__)
                .where(jobs.id == job_id, jobs.status == "queued")
                .values(status="running", run_at=utcnow())
            ).rowcount
            if claimed != 1:
                return False  # another runner got it first
            row = conn.execute(
                select(jobs.func, jobs.args, jobs.kwargs, jobs.attempts, jobs.max_attempts)
                .where(jobs.id == job_id)
            ).one()
        attempts = row.attempts + 1
        try:
            _execute(self.app, row.func, row.args or [], row.kwargs or {})
        except Exception:
            error = traceback.format_exc()
            log.warning("job %s (%s) failed, attempt %d of %d", job_id, row.func, attempts,
                        row.max_attempts, exc_info=True)
            if attempts >= row.max_attempts:
                values: dict[str, Any] = {"status": "failed", "finished_at": utcnow()}
            else:
                retry_at = (now or utcnow()) + timedelta(seconds=backoff_seconds(attempts))
                values = {"status": "queued", "run_at": retry_at}
            values.update(attempts=attempts, last_error=error)
        else:
            values = {"status": "done", "attempts": attempts, "finished_at": utcnow()}
        with self._write() as conn:
            conn.execute(update(JobRecord.__table__)
                         .where(jobs.id == job_id, jobs.status == "running").values(**values))
        return True

    def _requeue_stale(self) -> None:
        """Give rows left ``running`` by a dead process another attempt (once a minute)."""
        if time.monotonic() - self._last_stale_check < STALE_CHECK_SECONDS:
            return
        self._last_stale_check = time.monotonic()
        jobs = JobRecord.__table__.c
        stale = (jobs.status == "running", jobs.run_at < utcnow() - STALE_AFTER)
        note = "the process running this job stopped before it finished"
        with self.engine.connect() as conn:
            if conn.scalar(select(jobs.id).where(*stale).limit(1)) is None:
                return
        with self._write() as conn:
            conn.execute(update(JobRecord.__table__)
                         .where(*stale, jobs.attempts + 1 >= jobs.max_attempts)
                         .values(status="failed", attempts=jobs.attempts + 1,
                                 last_error=note, finished_at=utcnow()))
            conn.execute(update(JobRecord.__table__).where(*stale)
                         .values(status="queued", attempts=jobs.attempts + 1,
                                 last_error=note, run_at=utcnow()))

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
            except SQLAlchemyError:
                log.warning("job runner could not reach the jobs table", exc_info=True)
            except Exception:
                log.exception("job runner failed")
            self._wake.wait(POLL_SECONDS)


# ------------------------------------------------------------------------ rq backend


class RQBackend:
    """Jobs on an rq queue; ``fulian worker`` runs ``rq.Worker`` with its scheduler."""

    def __init__(self, app: Flask, url: str, queue_name: str):
        from redis import Redis
        from rq import Queue

        self.app = app
        self.connection = Redis.from_url(url)
        self.queue = Queue(queue_name, connection=self.connection)

    def dispatch(self, job: Job) -> None:
        from rq import Retry

        options: dict[str, Any] = {
            "args": (job.func, job.args, job.kwargs),
            "description": job.func,
        }
        if job.max_attempts > 1:  # rq refuses Retry(max=0)
            intervals = [backoff_seconds(n) for n in range(1, job.max_attempts)]
            options["retry"] = Retry(max=job.max_attempts - 1, interval=intervals)
        if job.run_at is None:
            self.queue.enqueue(_run, **options)
        else:
            self.queue.enqueue_at(job.run_at, _run, **options)

    def run_periodic(self, now: datetime | None = None) -> int:
        stamp = (now or utcnow()).isoformat()
        count = 0
        for name, every, _fn in periodic_jobs(self.app):
            key = f"fulian:periodic:{self.queue.name}:{name}"
            if self.connection.set(key, stamp, nx=True, ex=every):
                self.queue.enqueue(_run_periodic, args=(name,), description=f"periodic {name}")
                count += 1
        return count

    def run_worker(self, burst: bool = False) -> None:
        from rq import Worker

        stop = threading.Event()
        if not burst:
            threading.Thread(target=self._periodic_loop, args=(stop,), daemon=True,
                             name="fulian-periodic").start()
        else:
            self._safe_periodic()
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            Worker([self.queue], connection=self.connection).work(
                burst=burst, with_scheduler=True)
        finally:
            stop.set()
            if threading.current_thread() is threading.main_thread():
                for sig, handler in handlers.items():  # rq.Worker installs its own
                    signal.signal(sig, handler)

    def _safe_periodic(self) -> None:
        try:
            self.run_periodic()
        except Exception:
            log.exception("could not enqueue periodic jobs")

    def _periodic_loop(self, stop: threading.Event) -> None:
        while not stop.wait(POLL_SECONDS):
            self._safe_periodic()


_job_app: tuple[int, Flask] | None = None


def _worker_app() -> Flask:
    """The app rq jobs run in: built once per process from the environment."""
    global _job_app
    if _job_app is None or _job_app[0] != os.getpid():  # rq forks a process per job
        from . import create_app

        _job_app = (os.getpid(), create_app())
    return _job_app[1]


def _run(path: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """rq entry point: run the job ``path`` inside an app built from the environment."""
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
