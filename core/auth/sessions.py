"""Page sessions kept on the server, and ending everything a user holds.

A signed cookie cannot be withdrawn: whoever copied it could use it until it expires.
So the cookie carries only a random session id, and a ``web_sessions`` row (keyed by the
id's SHA-256) decides whether it still counts: not ended, used within the idle timeout
(``FULIAN_SESSION_IDLE_MINUTES``) and younger than the absolute lifetime
(``FULIAN_SESSION_MAX_HOURS``). Logging out ends the row, so a copy of the cookie taken
before is worthless.

:func:`end_all` is the one way to cut a user off: it ends every page session and
revokes every API token of theirs. Changing the password, removing a role, deactivating
the account and "log out everywhere" call it, so none of them can forget one kind of
credential. ``utcnow`` is looked up on this module, so tests move time by patching it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from ..audit import mask_login, record_event
from ..db import WRITE_OPTION, utcnow, write_transaction
from ..extensions import db
from ..models import ApiToken, User, WebSession
from .tokens import AccountLocked, find_login_user

#: ``last_seen_at`` is written at most this often: no write per page view
TOUCH_EVERY = timedelta(minutes=1)
IDLE_DEFAULT_MINUTES = 120
MAX_DEFAULT_HOURS = 168


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def idle_timeout(config: Any) -> timedelta:
    """How long a page session may go unused (``FULIAN_SESSION_IDLE_MINUTES``): a
    browser left open at the front desk must not stay logged in for days."""
    return timedelta(minutes=int(config.get("FULIAN_SESSION_IDLE_MINUTES")
                                 or IDLE_DEFAULT_MINUTES))


def max_lifetime(config: Any) -> timedelta:
    """How long a page session may last at all (``FULIAN_SESSION_MAX_HOURS``): even a
    busy session proves the password again now and then."""
    return timedelta(hours=int(config.get("FULIAN_SESSION_MAX_HOURS") or MAX_DEFAULT_HOURS))


def start(user: User, method: str, *, ip: str | None = None,
          user_agent: str | None = None) -> str:
    """Open a page session for ``user`` and audit the login in the same transaction (a
    login is on record exactly when it took effect). Returns the random session id for
    the cookie; only its hash is stored."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    with write_transaction() as session:
        session.add(WebSession(user_id=user.id, token_hash=_digest(session_id),
                               created_at=now, last_seen_at=now, ip=ip,
                               user_agent=(user_agent or "")[:255] or None))
        record_event("login", user.id, {"channel": "web", "method": method},
                     actor=(user.id, f"user:{user.id}"))
    return session_id


def _write_now(statement: Any) -> None:
    """Run a small UPDATE in its own transaction, unless the request is inside a write
    transaction already: committing it halfway would be far worse than a late
    ``last_seen_at`` (the next request writes it)."""
    session = db.session()
    if session.in_transaction() and \
            session.connection().get_execution_options().get(WRITE_OPTION):
        return
    with write_transaction() as tx:
        tx.execute(statement)


def resume(session_id: str, config: Any) -> User | None:
    """The active user of a live page session, or None.

    A session idle for longer than the timeout or older than the absolute lifetime is
    ended on the spot (reason ``idle`` or ``expired``); a live one has ``last_seen_at``
    moved on at most once per :data:`TOUCH_EVERY`.
    """
    row = db.session.scalars(select(WebSession).where(
        WebSession.token_hash == _digest(session_id))).first()
    if row is None or row.ended_at is not None:
        return None
    now: datetime = utcnow()
    row_id, user_id, last_seen = row.id, row.user_id, row.last_seen_at
    reason = ("expired" if now - row.created_at > max_lifetime(config)
              else "idle" if now - last_seen > idle_timeout(config) else None)
    if reason is not None:
        _write_now(update(WebSession).where(WebSession.id == row_id,
                                            WebSession.ended_at.is_(None))
                   .values(ended_at=now, end_reason=reason))
        return None
    if now - last_seen >= TOUCH_EVERY:
        _write_now(update(WebSession).where(WebSession.id == row_id)
                   .values(last_seen_at=now))
    user = db.session.get(User, user_id)
    return user if user is not None and user.is_active else None


def end(session_id: str, reason: str = "logout") -> int | None:
    """End one page session (logging out); audits the logout. Returns its user's id, or
    None when the session did not exist or had ended already."""
    now = utcnow()
    with write_transaction() as session:
        row = session.scalars(select(WebSession).where(
            WebSession.token_hash == _digest(session_id),
            WebSession.ended_at.is_(None))).first()
        if row is None:
            return None
        row.ended_at, row.end_reason = now, reason
        user_id = row.user_id
        record_event("logout", user_id, {"channel": "web"},
                     actor=(user_id, f"user:{user_id}"))
    return user_id


def end_all(user_id: int, reason: str) -> dict[str, int]:
    """End every page session and revoke every API token of a user, inside the
    caller's transaction (so it happens exactly when the change that calls for it is
    committed), and audit it as ``sessions_ended``. Returns how many of each ended.

    Called on password change, role removal, deactivation and "log out everywhere":
    whoever held a credential of the old state must prove themselves again.
    """
    now = utcnow()
    session = db.session
    web = session.execute(
        update(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason).execution_options(synchronize_session=False)
    ).rowcount
    api = session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)
    ).rowcount
    counts = {"web_sessions": int(web or 0), "api_tokens": int(api or 0)}
    record_event("sessions_ended", user_id, {"reason": reason, **counts})
    return counts


def audit_failed_login(channel: str, method: str, login: str | None,
                       error: Exception) -> None:
    """Audit a refused login in its own transaction: the login's transaction rolled
    back, and a series of failures is exactly what the audit log must show. The
    identifier is masked; the password or code is never passed here. ``entity_id`` is
    the account the identifier names, when one does, so failures against one account
    can be listed."""
    text = (login or "").strip()
    user = find_login_user(text) if text else None
    user_id = user.id if user is not None else None
    record_event("login_failed", user_id,
                 {"channel": channel, "method": method, "login": mask_login(text),
                  "reason": "locked" if isinstance(error, AccountLocked) else "refused"},
                 commit=True)


def audit_sms_code(channel: str, phone: str) -> None:
    """Audit that a login code was sent (to a masked phone): code requests are how an
    attacker probes or floods numbers."""
    record_event("sms_code", None, {"channel": channel, "phone": mask_login(phone)},
                 commit=True)


def audit_api_login(user: User, method: str) -> None:
    """Audit an API login (a bearer token issued) as the user who logged in."""
    record_event("login", user.id, {"channel": "api", "method": method},
                 actor=(user.id, f"user:{user.id}"), commit=True)
