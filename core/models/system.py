"""Platform bookkeeping: audit log, plugin enablement, licences, persisted jobs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import UTCDateTime, utcnow
from ..extensions import db


class AuditEntry(db.Model):
    """Append-only record of a write: who did what to which entity, before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(16))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: the client address of the request that wrote the entry (None outside requests)
    ip: Mapped[str | None] = mapped_column(String(45))


class PluginState(db.Model):
    """Per-deployment enablement of an installed plugin (data, not code)."""

    __tablename__ = "plugin_states"
    __audited__ = True

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PluginSettings(db.Model):
    """A plugin's settings in this deployment, as validated by its
    ``fulian_settings_schema`` (read them with :func:`core.plugins.plugin_settings`)."""

    __tablename__ = "plugin_settings"
    __audited__ = True

    plugin: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InstalledLicense(db.Model):
    """A signed licence document as installed; the newest row is in force."""

    __tablename__ = "licenses"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document: Mapped[str] = mapped_column(Text)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the latest day this deployment has seen while checking licences: turning the
    #: clock back does not revive an expired licence (the latest of all rows counts,
    #: so installing the same licence again does not reset it either)
    clock_seen: Mapped[date | None] = mapped_column(Date)


class JobRecord(db.Model):
    """A job: the outbox row committed with the change that asked for it (core.jobs).

    The table is the source of truth for work to do with either runner; rq only carries
    "run row N" messages. ``status``: ``queued`` (waits for ``run_at``), ``enqueued``
    (handed to rq at ``handed_at``), ``running`` (claimed at ``started_at``; ``attempts``
    counts the claims), ``done`` or ``failed``.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        # what runners ask for: due queued rows, and rows handed over or running
        db.Index("ix_jobs_status_run_at", "status", "run_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    func: Mapped[str] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(JSON, default=list)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
