"""fulian_periodic_jobs, through the in-process job runner."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core import jobs
from core.db import utcnow
from tests.core.hooks.helpers import calls


def test_hook_fulian_periodic_jobs(contract_app: Any) -> None:
    now = utcnow()
    jobs.run_periodic(contract_app, now=now)
    assert calls("tick") == [{}]  # ran once, in the app context
    jobs.run_periodic(contract_app, now=now + timedelta(seconds=30))
    assert len(calls("tick")) == 1  # every 60 s: not due yet
    jobs.run_periodic(contract_app, now=now + timedelta(seconds=61))
    assert len(calls("tick")) == 2
