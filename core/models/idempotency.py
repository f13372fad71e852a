"""Idempotency keys: a request's claim on its key, then the reply replayed to retries.

A row is inserted as ``running`` (with a random ``claim`` token) *before* the effect
runs, in its own short transaction, so concurrent requests with one key see each other
at once; the effect's own transaction turns it ``done`` with the reply. See
:mod:`core.idempotency` for the protocol.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import UTCDateTime, utcnow
from ..extensions import db

RUNNING = "running"
DONE = "done"


class IdempotencyRecord(db.Model):
    """One key of one caller for one operation: claimed while its effect runs, then
    the first reply, replayed verbatim."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(120))
    #: who sent the key (``user:<id>``); keys are theirs alone. Empty for rows that
    #: carry the caller in ``scope`` (one-time form tokens, older rows).
    caller: Mapped[str] = mapped_column(String(64), default="", server_default="")
    key: Mapped[str] = mapped_column(String(128))
    #: fingerprint of method, path, caller and body: another request with the key is 422
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(8), default=DONE, server_default=DONE)
    #: the running claimant's random token: only it may finish or release the claim
    claim: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[int | None] = mapped_column(SmallInteger)
    body: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: when the current claimant took the key: a claim older than the stale timeout
    #: belongs to a process that died, and may be taken over
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("scope", "caller", "key", name="uq_idempotency_keys_scope_caller_key"),
        CheckConstraint(f"state IN ('{RUNNING}', '{DONE}')", name="state"),
        CheckConstraint(f"state = '{RUNNING}' OR (status IS NOT NULL AND body IS NOT NULL "
                        "AND content_type IS NOT NULL)", name="done_has_reply"),
    )
