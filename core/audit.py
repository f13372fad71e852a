"""Automatic, append-only audit trail of every write to an audited model.

Hooked into the ORM flush rather than sprinkled over services so that no write path can
forget it: any model with ``__audited__ = True`` gets a row per insert, update and delete
with the actor from :func:`acting_as` and the changed values before and after.

Identity events (logins, failed logins, logouts, SMS codes, sessions ended) change no
audited model, so they are written explicitly with :func:`record_event` as rows of
entity type ``auth``. Every entry written while a request is handled records the client
address (``request.remote_addr``, which a trusted proxy fix may have rewritten): a
stolen password shows up as logins from an unknown address.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from typing import Any

from flask import has_request_context, request
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from .db import write_transaction
from .extensions import db
from .models.system import AuditEntry

_actor: ContextVar[tuple[int | None, str]] = ContextVar("fulian_actor", default=(None, "system"))


@contextmanager
def acting_as(user_id: int | None, label: str) -> Iterator[None]:
    """Attribute writes inside the block to ``label`` (e.g. ``cli``, ``user:3``)."""
    token = _actor.set((user_id, label))
    try:
        yield
    finally:
        _actor.reset(token)


def current_actor() -> tuple[int | None, str]:
    return _actor.get()


def client_ip() -> str | None:
    """The address of the client of the current request, or None outside requests
    (CLI, jobs). Read per call so that a proxy fix applied to the WSGI environ counts."""
    if not has_request_context():
        return None
    return (request.remote_addr or "")[:45] or None


#: the ``action`` of identity events (entity type ``auth``)
AUTH_EVENTS = ("login", "login_failed", "logout", "sms_code", "sessions_ended")


def record_event(action: str, user_id: int | None = None,
                 details: dict[str, Any] | None = None, *,
                 actor: tuple[int | None, str] | None = None,
                 commit: bool = False) -> AuditEntry:
    """Audit an identity event: ``entity_type`` is ``auth``, ``entity_id`` the user it
    concerns (if known), ``after`` the details (never a password or a code: callers pass
    identifiers through :func:`mask_login`).

    ``actor`` defaults to the current one; a login names the user who logged in, since
    nobody was acting before. By default the entry joins the caller's transaction (so it
    stands or falls with what it records); ``commit=True`` writes it in its own short
    transaction, for events whose own transaction rolled back, as a failed login's does.
    """
    if action not in AUTH_EVENTS:
        raise ValueError(f"unknown identity event {action!r}")
    actor_id, label = actor or current_actor()
    entry = AuditEntry(actor_user_id=actor_id, actor=label, action=action,
                       entity_type="auth",
                       entity_id=None if user_id is None else str(user_id),
                       before=None, after=_plain(details or {}), ip=client_ip())
    if commit:
        with write_transaction() as session:
            session.add(entry)
    else:
        db.session.add(entry)
    return entry


def record_created(obj: Any) -> None:
    """Audit a row of an audited model that was inserted with a statement rather than a
    flush (an ``INSERT ... ON CONFLICT`` that the flush listener cannot see), as the
    listener would have: action ``create`` with the row's values."""
    if not getattr(obj, "__audited__", False):
        return
    user_id, label = current_actor()
    entry = AuditEntry(actor_user_id=user_id, actor=label, action="create",
                       entity_type=obj.__tablename__, before=None, ip=client_ip())
    # Filled in and added with the entries of the next flush, so that one INSERT writes
    # them all (a booking that also created its customer: one audit statement).
    db.session.info.setdefault("fulian_audit_new", []).append((obj, entry))


def mask_login(login: str | None) -> str:
    """An identifier as much as an auditor needs and no more: the first letter of an
    e-mail's local part with its domain (``a***@example.com``), the last four digits of
    a phone (``***1234``), nothing of anything else. What was typed may be a password in
    the wrong box, so never more."""
    text = (login or "").strip()
    if "@" in text:
        local, _at, domain = text.rpartition("@")
        return f"{local[:1]}***@{domain[:100]}"
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 4 and all(ch.isdigit() or ch in "+-() " for ch in text):
        return f"***{digits[-4:]}"
    return "***" if text else ""  # neither shape: perhaps a password in the wrong box


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _columns(obj: Any) -> list[str]:
    excluded = set(getattr(obj, "__audit_exclude__", ()))
    return [c.key for c in inspect(obj).mapper.column_attrs if c.key not in excluded]


def _snapshot(obj: Any) -> dict[str, Any]:
    return {k: _plain(getattr(obj, k)) for k in _columns(obj)}


def _entity_id(obj: Any) -> str | None:
    ident = inspect(obj).identity
    if ident is None:
        return None
    return ",".join(str(i) for i in ident)


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    user_id, label = current_actor()
    ip = client_ip()
    entries: list[tuple[Any, AuditEntry]] = []
    for obj in list(session.new):
        if getattr(obj, "__audited__", False):
            entry = AuditEntry(actor_user_id=user_id, actor=label, action="create",
                               entity_type=obj.__tablename__, before=None, ip=ip)
            entries.append((obj, entry))
    for obj in list(session.dirty):
        if not getattr(obj, "__audited__", False) or not session.is_modified(obj):
            continue
        state = inspect(obj)
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for key in _columns(obj):
            hist = state.attrs[key].history
            if hist.has_changes():
                before[key] = _plain(hist.deleted[0]) if hist.deleted else None
                after[key] = _plain(hist.added[0]) if hist.added else None
        if after:
            session.add(AuditEntry(actor_user_id=user_id, actor=label, action="update",
                                   entity_type=obj.__tablename__, entity_id=_entity_id(obj),
                                   before=before, after=after, ip=ip))
    for obj in list(session.deleted):
        if getattr(obj, "__audited__", False):
            session.add(AuditEntry(actor_user_id=user_id, actor=label, action="delete",
                                   entity_type=obj.__tablename__, entity_id=_entity_id(obj),
                                   before=_snapshot(obj), after=None, ip=ip))
    if entries:
        session.info.setdefault("fulian_audit_new", []).extend(entries)


def _after_flush_postexec(session: Session, _ctx: Any) -> None:
    """New rows get their ids and defaults only at flush: fill the create entries then."""
    pending = session.info.pop("fulian_audit_new", [])
    for obj, entry in pending:
        entry.entity_id = _entity_id(obj)
        entry.after = _snapshot(obj)
        session.add(entry)


def _before_commit(session: Session) -> None:
    """Entries of rows inserted by a statement (:func:`record_created`) with no flush
    after them: added now, so the commit's flush writes them."""
    _after_flush_postexec(session, None)


def _after_rollback(session: Session) -> None:
    session.info.pop("fulian_audit_new", None)  # nothing of a rolled-back write remains


def install() -> None:
    """Register the listeners once per process (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush_postexec", _after_flush_postexec)
        event.listen(Session, "before_commit", _before_commit)
        event.listen(Session, "after_rollback", _after_rollback)
