"""The jobs facade: in-process backend (SQLite and PostgreSQL) and rq on a real redis-server.

Apps use the shared ``db_url`` fixture (tests/conftest.py), so every test runs on SQLite
and, when ``FULIAN_TEST_PG_URL`` is set (scripts/test), on PostgreSQL. The rq tests start
their own throw-away redis-server per test process.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import IntegrityError

import core
from core import jobs
from core.db import write_transaction
from core.extensions import db
from core.models import JobRecord, PluginState
from core.plugins import PluginMeta, hookimpl
from tests.conftest import PG_ADMIN_URL, new_pg_database
from tests.core import jobs_fixtures as fx
from tests.core.private_redis import PrivateRedis, available

_TEMPLATES: dict[str, str] = {}  # backend -> migrated SQLite file / PostgreSQL database


def _settings(folder: Path, db_url: str, **config: Any) -> dict[str, Any]:
    return {"INSTANCE_PATH": str(folder / "instance"), "SQLALCHEMY_DATABASE_URI": db_url,
            "FULIAN_JOBS_THREAD": False, "FULIAN_REDIS_URL": None, **config}


def _migrate_into(db_url: str) -> None:
    """Give the empty database ``db_url`` the migrated schema: migrated once per backend
    and process, then copied (a file, or a PostgreSQL template), which keeps this module
    fast."""
    from core import dbmigrate

    backend = "postgresql" if db_url.startswith("postgresql") else "sqlite"
    if backend not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="jobs-template-"))
        if backend == "sqlite":
            url = f"sqlite:///{folder / 'template.db'}"
            _TEMPLATES[backend] = str(folder / "template.db")
        else:
            assert PG_ADMIN_URL
            url, drop = new_pg_database(PG_ADMIN_URL)
            atexit.register(drop)
            _TEMPLATES[backend] = url.rsplit("/", 1)[1]
        template = core.create_app(_settings(folder, url))
        with template.app_context():
            dbmigrate.upgrade()
            db.engine.dispose()
    if backend == "sqlite":
        target = db_url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm"):
            if Path(_TEMPLATES[backend] + suffix).exists():
                shutil.copyfile(_TEMPLATES[backend] + suffix, target + suffix)
        return
    assert PG_ADMIN_URL
    name = db_url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_TEMPLATES[backend]}"'))
    finally:
        admin.dispose()


def _make_app(tmp_path: Path, db_url: str, *, migrate: bool = True, extra_plugins: Any = (),
              **config: Any) -> Any:
    if migrate:
        _migrate_into(db_url)
    return core.create_app(_settings(tmp_path, db_url, **config), extra_plugins=extra_plugins)


@pytest.fixture
def app(tmp_path: Path, db_url: str) -> Any:
    app = _make_app(tmp_path, db_url)
    yield app
    jobs.stop_worker_thread(app)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def out(tmp_path: Path) -> str:
    return str(tmp_path / "out.jsonl")


def _rows(app: Any) -> list[JobRecord]:
    with app.app_context():
        rows = db.session.scalars(select(JobRecord).order_by(JobRecord.id)).all()
        db.session.expunge_all()
        return list(rows)


def _later(**delta: float) -> datetime:
    return datetime.now(UTC) + timedelta(**delta)


# ------------------------------------------------------------------ in-process backend


def test_embedded_default_is_in_process(app: Any) -> None:
    assert isinstance(app.extensions["fulian_jobs"], jobs.InProcessBackend)


def test_immediate_job_is_persisted_then_run_by_run_pending(app: Any, out: str) -> None:
    with app.app_context():
        jobs.enqueue(fx.record, out, 1, "two", flag=True)
    [row] = _rows(app)
    assert row.status == "queued"
    assert row.func == f"{fx.__name__}:record"
    assert (row.args, row.kwargs) == ([out, 1, "two"], {"flag": True})
    assert fx.lines(out) == []

    assert jobs.run_pending(app) == 1
    assert fx.lines(out) == [{"values": [1, "two"], "named": {"flag": True}}]
    [row] = _rows(app)
    assert (row.status, row.attempts, row.last_error) == ("done", 1, None)
    assert row.finished_at is not None
    assert jobs.run_pending(app) == 0  # done jobs are not run again


def test_job_runs_inside_an_app_context(app: Any, out: str) -> None:
    with app.app_context():
        jobs.enqueue(f"{fx.__name__}:record_app", out)  # a dotted path works too
    jobs.run_pending(app)
    assert fx.lines(out) == [{"instance": app.config["INSTANCE_PATH"]}]


def test_delayed_job_waits_for_its_time(app: Any, out: str) -> None:
    with app.app_context():
        jobs.enqueue(fx.record, out, "delay", delay=timedelta(hours=1))
        jobs.enqueue(fx.record, out, "at", at=_later(hours=3))
    assert jobs.run_pending(app) == 0
    assert jobs.run_pending(app, now=_later(minutes=59)) == 0
    assert fx.lines(out) == []

    assert jobs.run_pending(app, now=_later(hours=2)) == 1
    assert [e["values"] for e in fx.lines(out)] == [["delay"]]
    assert jobs.run_pending(app, now=_later(hours=4)) == 1
    assert [e["values"] for e in fx.lines(out)] == [["delay"], ["at"]]


def test_at_is_stored_in_utc_and_must_be_aware(app: Any, out: str) -> None:
    shanghai = datetime(2030, 1, 2, 9, 30, tzinfo=timedelta_zone(8))
    with app.app_context():
        jobs.enqueue(fx.record, out, at=shanghai)
        with pytest.raises(ValueError, match="aware"):
            jobs.enqueue(fx.record, out, at=datetime(2030, 1, 2, 9, 30))
        with pytest.raises(ValueError, match="either"):
            jobs.enqueue(fx.record, out, at=shanghai, delay=timedelta(1))
    [row] = _rows(app)
    assert row.run_at == datetime(2030, 1, 2, 1, 30, tzinfo=UTC)


def timedelta_zone(hours: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours))


def test_delayed_job_survives_a_restart(tmp_path: Path, db_url: str, out: str) -> None:
    first = _make_app(tmp_path, db_url)
    with first.app_context():
        jobs.enqueue(fx.record, out, "tomorrow", delay=timedelta(days=1))
        db.engine.dispose()
    del first

    second = _make_app(tmp_path, db_url, migrate=False)  # same instance folder and database
    try:
        assert jobs.run_pending(second) == 0
        assert jobs.run_pending(second, now=_later(days=1, minutes=1)) == 1
        assert [e["values"] for e in fx.lines(out)] == [["tomorrow"]]
        assert _rows(second)[0].status == "done"
    finally:
        with second.app_context():
            db.engine.dispose()


def test_enqueue_in_a_rolled_back_transaction_leaves_no_job(app: Any, out: str) -> None:
    with app.app_context():
        db.session.add(PluginState(name="x", enabled=True))
        db.session.flush()
        jobs.enqueue(fx.record, out, "never")
        db.session.rollback()

        with pytest.raises(RuntimeError), write_transaction() as session:
            session.add(PluginState(name="y", enabled=True))
            jobs.enqueue(fx.record, out, "never either")
            raise RuntimeError("service failed")

        db.session.commit()  # a later commit must not resurrect discarded jobs
    assert _rows(app) == []
    assert jobs.run_pending(app, now=_later(days=1)) == 0
    assert fx.lines(out) == []


def test_enqueue_in_a_closed_session_leaves_no_job(app: Any, out: str) -> None:
    with app.app_context():
        db.session.scalars(select(PluginState)).all()  # autobegins a transaction
        jobs.enqueue(fx.record, out, "dropped")
    # The app context ended and closed the session without commit.
    assert _rows(app) == []


def test_enqueue_in_a_committed_transaction_is_dispatched_after_commit(
    app: Any, out: str
) -> None:
    def count_jobs() -> int:  # own connection, like another process would see it
        with db.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(JobRecord))

    with app.app_context():
        with write_transaction() as session:
            session.add(PluginState(name="x", enabled=True))
            jobs.enqueue(fx.record, out, "after commit")
            session.flush()
            assert count_jobs() == 0
            assert session.info[jobs.PENDING_KEY]
        assert count_jobs() == 1
        assert jobs.PENDING_KEY not in db.session.info

    assert jobs.run_pending(app) == 1
    assert [e["values"] for e in fx.lines(out)] == [["after commit"]]


def test_savepoint_rollback_discards_only_its_jobs(app: Any, out: str) -> None:
    with app.app_context():
        with write_transaction() as session:
            jobs.enqueue(fx.record, out, "outer")
            savepoint = session.begin_nested()
            jobs.enqueue(fx.record, out, "inner, rolled back")
            savepoint.rollback()
            with session.begin_nested():
                jobs.enqueue(fx.record, out, "inner, released")
            assert len(_rows(app)) == 0  # a released savepoint is not a commit
    assert sorted(r.args[1] for r in _rows(app)) == ["inner, released", "outer"]


def test_enqueue_from_an_after_commit_hook_is_not_lost(app: Any, out: str) -> None:
    with app.app_context():
        session = db.session()

        def notify(_session: Any) -> None:
            jobs.enqueue(fx.record, out, "from hook")

        event.listen(session, "after_commit", notify, once=True)
        with write_transaction():
            session.add(PluginState(name="x", enabled=True))
    assert [r.args[1] for r in _rows(app)] == ["from hook"]


def test_failing_job_is_retried_with_backoff_then_marked_failed(app: Any, out: str) -> None:
    with app.app_context():
        jobs.enqueue(fx.fail, out, max_attempts=3)
    start = datetime.now(UTC)

    assert jobs.run_pending(app) == 1
    [row] = _rows(app)
    assert (row.status, row.attempts) == ("queued", 1)
    assert "RuntimeError: boom" in row.last_error
    assert start + timedelta(seconds=1) < row.run_at <= _later(seconds=2)  # 2**1 s
    assert jobs.run_pending(app) == 0  # backing off

    assert jobs.run_pending(app, now=_later(seconds=3)) == 1
    [row] = _rows(app)
    assert (row.status, row.attempts) == ("queued", 2)
    assert row.run_at > _later(seconds=5)  # 2**2 s after the simulated time

    assert jobs.run_pending(app, now=_later(minutes=1)) == 1
    [row] = _rows(app)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.last_error.startswith("Traceback")
    assert "RuntimeError: boom" in row.last_error
    assert row.finished_at is not None
    assert jobs.run_pending(app, now=_later(days=1)) == 0
    assert fx.lines(out) == ["attempt"] * 3


def test_job_succeeding_on_retry_is_done(app: Any, out: str) -> None:
    with app.app_context():
        jobs.enqueue(fx.fail_once, out)
    jobs.run_pending(app)
    jobs.run_pending(app, now=_later(seconds=3))
    [row] = _rows(app)
    assert (row.status, row.attempts) == ("done", 2)


def test_single_attempt_job_fails_at_once(app: Any, out: str) -> None:
    with app.app_context():
        jobs.enqueue(fx.fail, out, max_attempts=1)
    jobs.run_pending(app)
    assert _rows(app)[0].status == "failed"


@pytest.mark.parametrize("bad_args, bad_kwargs", [
    ((object(),), {}),
    ((), {"when": datetime.now(UTC)}),
    ((math.nan,), {}),
    (({1, 2},), {}),
])
def test_non_json_arguments_are_rejected(
    app: Any, out: str, bad_args: tuple[Any, ...], bad_kwargs: dict[str, Any]
) -> None:
    with app.app_context(), pytest.raises(ValueError, match="JSON"):
        jobs.enqueue(fx.record, out, *bad_args, **bad_kwargs)
    assert _rows(app) == []


def test_functions_must_be_importable_by_name(app: Any, out: str) -> None:
    def local(path: str) -> None:
        pass

    with app.app_context():
        bound = PeriodicPlugin(out).fulian_periodic_jobs
        for bad in (local, lambda: None, bound, "no.such.module:func", f"{fx.__name__}:missing"):
            with pytest.raises(ValueError):
                jobs.enqueue(bad, out)
        with pytest.raises(ValueError, match="max_attempts"):
            jobs.enqueue(fx.record, out, max_attempts=0)
    assert _rows(app) == []


def test_jobs_enqueued_by_jobs_run_in_the_same_run_pending(app: Any, out: str) -> None:
    with app.app_context():
        jobs.enqueue(fx.enqueue_child, out)
    assert jobs.run_pending(app) == 2
    assert fx.lines(out) == ["parent", {"values": ["child"], "named": {}}]


def test_a_claimed_job_is_not_run_twice(app: Any, out: str) -> None:
    with app.app_context():
        jobs.enqueue(fx.record, out, "once")
    backend = app.extensions["fulian_jobs"]
    [row] = _rows(app)
    assert backend.run_row(row.id) is True
    assert backend.run_row(row.id) is False  # the conditional UPDATE matched nothing
    assert len(fx.lines(out)) == 1


def test_only_the_current_claim_records_the_outcome(app: Any, out: str) -> None:
    """A runner presumed dead (its claim was taken over) finishing late changes nothing."""
    with app.app_context():
        jobs.enqueue(fx.claim_taken_over_meanwhile, out)
    [row] = _rows(app)
    assert app.extensions["fulian_jobs"].run_row(row.id) is True
    [row] = _rows(app)
    assert (row.status, row.attempts) == ("running", 2)  # the second claim's, untouched


def test_stale_running_job_is_requeued(app: Any, out: str) -> None:
    with app.app_context():
        jobs.enqueue(fx.record, out, "again")
        with write_transaction() as session:  # claimed two hours ago by a runner that died
            row = session.scalars(select(JobRecord)).one()
            row.status, row.attempts, row.started_at = "running", 1, _later(hours=-2)
    assert jobs.run_pending(app) == 1
    [row] = _rows(app)
    assert (row.status, row.attempts) == ("done", 2)
    assert "stopped" in row.last_error


def test_a_stale_job_on_its_last_attempt_fails(app: Any, out: str) -> None:
    with app.app_context():
        jobs.enqueue(fx.record, out, "never", max_attempts=1)
        with write_transaction() as session:
            row = session.scalars(select(JobRecord)).one()
            row.status, row.attempts, row.started_at = "running", 1, _later(hours=-2)
    assert jobs.sweep(app) == 1
    [row] = _rows(app)
    assert (row.status, row.attempts) == ("failed", 1) and row.finished_at is not None
    assert fx.lines(out) == []


def test_a_job_running_within_the_visibility_timeout_is_left_alone(
    app: Any, out: str
) -> None:
    with app.app_context():
        jobs.enqueue(fx.record, out, "busy")
        with write_transaction() as session:
            row = session.scalars(select(JobRecord)).one()
            row.status, row.attempts, row.started_at = "running", 1, _later(minutes=-59)
    assert jobs.sweep(app) == 0
    assert jobs.run_pending(app) == 0
    assert _rows(app)[0].status == "running"


def test_rows_handed_to_a_redis_no_longer_used_run_in_process(app: Any, out: str) -> None:
    with app.app_context():
        jobs.enqueue(fx.record, out, "was on rq")
        with write_transaction() as session:
            row = session.scalars(select(JobRecord)).one()
            row.status, row.handed_at = "enqueued", _later(minutes=-1)
    assert jobs.sweep(app) == 1
    assert jobs.run_pending(app) == 1
    assert [e["values"] for e in fx.lines(out)] == [["was on rq"]]


def test_jobs_of_one_transaction_are_written_by_one_statement(app: Any, out: str) -> None:
    statements: list[str] = []
    with app.app_context():
        def log_insert(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
            if sql.lstrip().upper().startswith("INSERT INTO JOBS"):
                statements.append(sql)

        event.listen(db.engine, "before_cursor_execute", log_insert)
        try:
            with write_transaction() as session:
                session.add(PluginState(name="x", enabled=True))
                for n in range(5):
                    jobs.enqueue(fx.record, out, n, delay=timedelta(minutes=n))
        finally:
            event.remove(db.engine, "before_cursor_execute", log_insert)
    assert len(statements) == 1
    assert [r.args[1] for r in _rows(app)] == [0, 1, 2, 3, 4]


def test_a_failed_commit_writes_neither_the_change_nor_its_jobs(app: Any, out: str) -> None:
    with app.app_context():
        with write_transaction() as session:
            session.add(PluginState(name="taken", enabled=True))
        with pytest.raises(IntegrityError), write_transaction() as session:
            session.add(PluginState(name="taken", enabled=False))  # fails at the flush
            jobs.enqueue(fx.record, out, "never")
    assert _rows(app) == []


def test_finished_jobs_are_purged_after_the_keep_days(app: Any, out: str) -> None:
    with app.app_context():
        for tag in ("old done", "old failed", "new done", "old queued"):
            jobs.enqueue(fx.record, out, tag)
        with write_transaction() as session:
            rows = session.scalars(select(JobRecord).order_by(JobRecord.id)).all()
            for row, status, age in zip(rows, ("done", "failed", "done", "queued"),
                                        (20, 20, 1, 20), strict=True):
                row.status, row.run_at = status, _later(days=-age)
                row.finished_at = None if status == "queued" else _later(days=-age)
        assert jobs.purge_finished() == 2
    assert [r.args[1] for r in _rows(app)] == ["new done", "old queued"]


def test_run_worker_burst_runs_pending_jobs(app: Any, out: str) -> None:
    with app.app_context():
        jobs.enqueue(fx.record, out, "burst")
    jobs.run_worker(app, burst=True)
    assert _rows(app)[0].status == "done"


def test_foreground_worker_polls_until_stopped(tmp_path: Path, db_url: str, out: str) -> None:
    app = _make_app(tmp_path, db_url, FULIAN_JOBS_THREAD=True)
    backend = app.extensions["fulian_jobs"]
    runner = threading.Thread(target=jobs.run_worker, args=(app,), daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while not backend._foreground and time.monotonic() < deadline:
            time.sleep(0.01)
        with app.app_context():
            jobs.enqueue(fx.record, out, "foreground")
        assert backend._thread is None  # the foreground worker is the runner here
        while not fx.lines(out) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fx.lines(out) == [{"values": ["foreground"], "named": {}}]
    finally:
        jobs.stop_worker_thread(app)
        runner.join(10)
        with app.app_context():
            db.engine.dispose()
    assert not runner.is_alive()


def test_worker_thread_runs_jobs_soon_after_enqueue(
    tmp_path: Path, db_url: str, out: str
) -> None:
    app = _make_app(tmp_path, db_url, FULIAN_JOBS_THREAD=True)
    try:
        with app.app_context():
            jobs.enqueue(fx.record, out, "threaded")
        deadline = time.monotonic() + 10
        while not fx.lines(out) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fx.lines(out) == [{"values": ["threaded"], "named": {}}]
        assert app.extensions["fulian_jobs"]._thread.daemon
    finally:
        jobs.stop_worker_thread(app)
        with app.app_context():
            db.engine.dispose()


def test_worker_thread_is_off_when_configured_off(app: Any, out: str) -> None:
    assert jobs.start_worker_thread(app) is False
    with app.app_context():
        jobs.enqueue(fx.record, out, "x")
    assert app.extensions["fulian_jobs"]._thread is None


class PeriodicPlugin:
    meta = PluginMeta(name="periodic_test", title="Periodic test", version="1.0")

    def __init__(self, path: str):
        self.path = path

    @hookimpl
    def fulian_periodic_jobs(self) -> list[tuple[str, int, Any]]:
        return [("tick", 60, lambda: fx.record(self.path, "tick")), ("broken", 0, None)]


def test_periodic_jobs_of_enabled_plugins_run_when_due(
    tmp_path: Path, db_url: str, out: str
) -> None:
    app = _make_app(tmp_path, db_url, extra_plugins=[PeriodicPlugin(out)])
    try:
        def of_plugins() -> list[Any]:
            return [j for j in jobs.periodic_jobs(app) if not j[0].startswith("core.")]

        core = {n: every for n, every, _fn in jobs.periodic_jobs(app)}
        assert core == {"core.poll_payments": 60, "core.licence_clock": 3600,
                        "core.expire_holds": 300, "core.resend_webhooks": 60,
                        "core.purge_jobs": 3600}
        assert of_plugins() == []  # installed but not enabled
        with app.app_context():
            app.extensions["fulian_plugins"].set_enabled("periodic_test", True)
        [(name, every, fn)] = of_plugins()
        assert (name, every, callable(fn)) == ("tick", 60, True)

        now = datetime.now(UTC)
        assert jobs.run_periodic(app, now=now) == 1 + len(core)
        assert jobs.run_periodic(app, now=now + timedelta(seconds=30)) == 0
        # the tick and the core's every-minute jobs are due again
        assert jobs.run_periodic(app, now=now + timedelta(seconds=61)) == 3
        assert [e["values"] for e in fx.lines(out)] == [["tick"], ["tick"]]
    finally:
        with app.app_context():
            db.engine.dispose()


# --------------------------------------------------------------------------- rq backend


@pytest.fixture(scope="session")
def redis_server_url() -> Any:
    """A private redis-server for this test process (xdist-safe: free port, no files)."""
    if not available():
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    server = PrivateRedis().start()
    yield server.url
    server.stop()


def _rq_app(tmp_path: Path, db_url: str, redis_url: str, **config: Any) -> Any:
    queue = f"test-{uuid.uuid4().hex}"
    return _make_app(tmp_path, db_url, FULIAN_REDIS_URL=redis_url, FULIAN_RQ_QUEUE=queue,
                     **config)


@pytest.fixture
def rq_app(tmp_path: Path, db_url: str, redis_server_url: str) -> Any:
    app = _rq_app(tmp_path, db_url, redis_server_url)
    yield app
    with app.app_context():
        db.engine.dispose()


def _statuses(app: Any) -> list[str]:
    return [r.status for r in _rows(app)]


@pytest.mark.redis
def test_rq_jobs_are_rows_handed_over_after_commit(rq_app: Any, out: str) -> None:
    backend = rq_app.extensions["fulian_jobs"]
    assert isinstance(backend, jobs.RQBackend)
    with rq_app.app_context():
        jobs.enqueue(fx.record_app, out)
        jobs.enqueue(fx.record, out, "rq", n=1)
    assert backend.queue.count == 2
    assert _statuses(rq_app) == ["enqueued", "enqueued"]  # in the table, and handed over
    assert backend.queue.job_ids == [backend.message_id(r.id) for r in _rows(rq_app)]

    jobs.run_worker(rq_app, burst=True)
    assert fx.lines(out) == [
        {"instance": rq_app.config["INSTANCE_PATH"]},
        {"values": ["rq"], "named": {"n": 1}},
    ]
    assert backend.queue.count == 0
    assert [(r.status, r.attempts) for r in _rows(rq_app)] == [("done", 1), ("done", 1)]
    with pytest.raises(RuntimeError):
        jobs.run_pending(rq_app)


@pytest.mark.redis
def test_rq_jobs_run_in_the_workers_own_app_without_forking(rq_app: Any, out: str) -> None:
    with rq_app.app_context():
        for _ in range(3):
            jobs.enqueue(fx.record_pid, out)
    jobs.run_worker(rq_app, burst=True)
    seen = fx.lines(out)
    assert seen == [{"pid": os.getpid(), "app": id(rq_app)}] * 3  # SimpleWorker, one app


@pytest.mark.redis
def test_rq_enqueue_waits_for_commit(rq_app: Any, out: str) -> None:
    queue = rq_app.extensions["fulian_jobs"].queue
    with rq_app.app_context():
        with pytest.raises(RuntimeError), write_transaction():
            jobs.enqueue(fx.record, out, "rolled back")
            raise RuntimeError
        assert queue.count == 0
        with write_transaction() as session:
            session.add(PluginState(name="x", enabled=True))
            jobs.enqueue(fx.record, out, "committed")
            assert queue.count == 0
        assert queue.count == 1
    assert len(_rows(rq_app)) == 1
    jobs.run_worker(rq_app, burst=True)
    assert [e["values"] for e in fx.lines(out)] == [["committed"]]


@pytest.mark.redis
def test_rq_delayed_jobs_wait_in_the_table_until_due(rq_app: Any, out: str) -> None:
    queue = rq_app.extensions["fulian_jobs"].queue
    with rq_app.app_context():
        jobs.enqueue(fx.record, out, "due", at=_later(seconds=-1))
        jobs.enqueue(fx.record, out, "later", delay=timedelta(hours=1))
    assert queue.count == 0 and _statuses(rq_app) == ["queued", "queued"]

    jobs.run_worker(rq_app, burst=True)  # the dispatcher hands over what is due first
    assert [e["values"] for e in fx.lines(out)] == [["due"]]
    assert _statuses(rq_app) == ["done", "queued"]

    assert jobs.sweep(rq_app, now=_later(hours=1, seconds=1)) == 1
    jobs.run_worker(rq_app, burst=True)
    assert [e["values"] for e in fx.lines(out)] == [["due"], ["later"]]


@pytest.mark.redis
def test_rq_failing_job_is_retried_then_failed(rq_app: Any, out: str) -> None:
    with rq_app.app_context():
        jobs.enqueue(fx.fail, out, max_attempts=2)
        jobs.enqueue(fx.fail, out, max_attempts=1)
    jobs.run_worker(rq_app, burst=True)
    assert fx.lines(out) == ["attempt", "attempt"]
    retry, single = _rows(rq_app)
    assert (retry.status, retry.attempts) == ("queued", 1)  # back off 2**1 s, in the table
    assert retry.run_at > retry.started_at + timedelta(seconds=1)
    assert (single.status, single.attempts) == ("failed", 1)
    assert "RuntimeError: boom" in single.last_error

    jobs.run_worker(rq_app, burst=True)  # not due yet
    assert fx.lines(out) == ["attempt"] * 2
    assert jobs.sweep(rq_app, now=_later(seconds=3)) == 1
    jobs.run_worker(rq_app, burst=True)
    assert fx.lines(out) == ["attempt"] * 3
    assert [(r.status, r.attempts) for r in _rows(rq_app)] == [("failed", 2), ("failed", 1)]


@pytest.mark.redis
def test_rq_duplicate_messages_run_a_job_once(rq_app: Any, out: str) -> None:
    backend = rq_app.extensions["fulian_jobs"]
    with rq_app.app_context():
        jobs.enqueue(fx.record, out, "once")
    [row] = _rows(rq_app)
    assert backend._push([(row.id, row.func)])  # a second message for the same row
    jobs.run_worker(rq_app, burst=True)
    assert len(fx.lines(out)) == 1


@pytest.mark.redis
def test_rq_a_message_waiting_past_the_visibility_timeout_is_sent_again(
    rq_app: Any, out: str
) -> None:
    backend = rq_app.extensions["fulian_jobs"]
    with rq_app.app_context():
        jobs.enqueue(fx.record, out, "slow queue")
    assert jobs.sweep(rq_app, now=_later(minutes=59)) == 0  # still in Redis: wait
    assert jobs.sweep(rq_app, now=_later(minutes=61)) == 2  # put back, handed over
    assert backend.queue.count == 2  # the old message and the new one
    jobs.run_worker(rq_app, burst=True)
    assert len(fx.lines(out)) == 1 and _statuses(rq_app) == ["done"]


@pytest.mark.redis
def test_rq_a_job_of_a_worker_that_died_runs_again(rq_app: Any, out: str) -> None:
    with rq_app.app_context():
        jobs.enqueue(fx.record, out, "again")
        with write_transaction() as session:  # claimed, then its worker was killed
            row = session.scalars(select(JobRecord)).one()
            row.status, row.attempts, row.started_at = "running", 1, _later(seconds=-1)
    assert jobs.sweep(rq_app) == 0  # within the visibility timeout it may still be running
    assert jobs.sweep(rq_app, now=_later(hours=1, seconds=1)) == 2  # recovered, handed over
    jobs.run_worker(rq_app, burst=True)
    [row] = _rows(rq_app)
    assert (row.status, row.attempts) == ("done", 2) and "stopped" in row.last_error


@pytest.mark.redis
def test_rq_periodic_jobs_are_enqueued_once_per_period(
    tmp_path: Path, db_url: str, redis_server_url: str, out: str
) -> None:
    app = _rq_app(tmp_path, db_url, redis_server_url, extra_plugins=[PeriodicPlugin(out)])
    try:
        with app.app_context():
            app.extensions["fulian_plugins"].set_enabled("periodic_test", True)
        queue = app.extensions["fulian_jobs"].queue
        names = {n for n, _every, _fn in jobs.periodic_jobs(app)}
        assert jobs.run_periodic(app) == len(names) == 6  # the tick and the core's five
        assert jobs.run_periodic(app) == 0  # another worker, or the next second: already done
        assert queue.count == 6
        assert {(j.func_name, j.args) for j in queue.get_jobs()} == {
            ("core.jobs._run_periodic", (name,)) for name in names}
    finally:
        with app.app_context():
            db.engine.dispose()
