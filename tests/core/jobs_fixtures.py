"""Module-level job functions for tests/core/test_jobs.py.

Jobs are stored by dotted path and may run in another process (an rq work horse), so each
one reports by appending a JSON line to a file whose path it is given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import current_app


def _append(path: str, entry: Any) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def lines(path: str | Path) -> list[Any]:
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()]


def record(path: str, *values: Any, **named: Any) -> None:
    _append(path, {"values": list(values), "named": named})


def record_app(path: str) -> None:
    """Proves the job runs inside an app context."""
    _append(path, {"instance": current_app.config["INSTANCE_PATH"]})


def fail(path: str) -> None:
    _append(path, "attempt")
    raise RuntimeError("boom")


def fail_once(path: str) -> None:
    _append(path, "attempt")
    if len(lines(path)) < 2:
        raise RuntimeError("first attempt fails")


def enqueue_child(path: str) -> None:
    from core.jobs import enqueue

    _append(path, "parent")
    enqueue(record, path, "child")


def record_pid(path: str) -> None:
    """Proves where the job ran (the worker's own process, or a forked work horse)."""
    import os

    _append(path, {"pid": os.getpid(), "app": id(current_app._get_current_object())})


def claim_taken_over_meanwhile(path: str) -> None:
    """Plays a runner presumed dead: while it runs, the sweep gives its row to another
    runner (which claims it: a second attempt)."""
    from sqlalchemy import update

    from core.extensions import db
    from core.models import JobRecord

    _append(path, "ran")
    with db.engine.begin() as conn:
        conn.execute(update(JobRecord).where(JobRecord.status == "running")
                     .values(attempts=JobRecord.attempts + 1))


def slow(path: str, seconds: float) -> None:
    """A job that takes a while: says when it starts and when it ends."""
    import time

    _append(path, "started")
    time.sleep(seconds)
    _append(path, "finished")
