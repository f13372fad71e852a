"""Automatic, append-only audit trail of every write to an audited model.

Hooked into the ORM flush rather than sprinkled over services so that no write path can
forget it: any model with ``__audited__ = True`` gets a row per insert, update and delete
with the actor from :func:`acting_as` and the changed values before and after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

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
    entries: list[tuple[Any, AuditEntry]] = []
    for obj in list(session.new):
        if getattr(obj, "__audited__", False):
            entry = AuditEntry(actor_user_id=user_id, actor=label, action="create",
                               entity_type=obj.__tablename__, before=None)
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
                                   before=before, after=after))
    for obj in list(session.deleted):
        if getattr(obj, "__audited__", False):
            session.add(AuditEntry(actor_user_id=user_id, actor=label, action="delete",
                                   entity_type=obj.__tablename__, entity_id=_entity_id(obj),
                                   before=_snapshot(obj), after=None))
    if entries:
        session.info.setdefault("fulian_audit_new", []).extend(entries)


def _after_flush_postexec(session: Session, _ctx: Any) -> None:
    """New rows get their ids and defaults only at flush: fill the create entries then."""
    pending = session.info.pop("fulian_audit_new", [])
    for obj, entry in pending:
        entry.entity_id = _entity_id(obj)
        entry.after = _snapshot(obj)
        session.add(entry)


def install() -> None:
    """Register the listeners once per process (idempotent)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush_postexec", _after_flush_postexec)
