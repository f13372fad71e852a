"""Bearer tokens for the API: random, stored hashed, expiring, revocable; and password
login, with failures counted per login identifier (``auth_failures``) so that the
lockout treats unknown and known e-mails and phones alike."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, case, delete, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload

from .. import phones
from ..db import UTCDateTime, utcnow, write_transaction
from ..errors import FulianError
from ..extensions import db
from ..models import ApiToken, AuthFailure, User
from .passwords import hash_password, verify_password

TOKEN_TTL = timedelta(hours=12)


class AuthenticationFailed(FulianError):
    status = 401


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, ttl: timedelta = TOKEN_TTL) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires = utcnow() + ttl
    with write_transaction() as session:
        session.add(ApiToken(user_id=user.id, token_hash=_digest(token), expires_at=expires))
    return token, expires


MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
#: failures further apart than this do not add up
FAILURE_WINDOW = timedelta(minutes=15)


class AccountLocked(AuthenticationFailed):
    """Too many failed logins for one login identifier (429, with ``retry_after``)."""

    status = 429

    def __init__(self, message: Any, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


def login_key(login_id: str) -> str:
    """The identifier a login counts failures against: the lower-case e-mail, or the
    E.164 phone (so "138 0013 8000" and "+8613800138000" share one counter), or the
    lower-case text for anything else (unknown ids are counted too)."""
    text = login_id.strip()
    if "@" not in text:
        phone = phones.lookup_key(text)
        if phone is not None:
            return phone
    return text.lower()


def _failure_hash(key: str) -> str:
    secret = str(current_app.config.get("SECRET_KEY") or "").encode()
    return hmac.new(secret, f"login:{key}".encode(), hashlib.sha256).hexdigest()


def find_login_user(login_id: str) -> User | None:
    """The user an e-mail or phone (in any spelling) names, active or not."""
    key = login_key(login_id)
    return db.session.scalars(select(User).where(
        (User.email == key) | (User.phone == key))).first()


def _locked(until: datetime, now: datetime) -> AccountLocked:
    seconds = max(1, int((until - now).total_seconds()))
    return AccountLocked(_l("Too many failed logins; try again in %(minutes)d minutes.",
                            minutes=max(1, (seconds + 59) // 60)), retry_after=seconds)


def _count_failure(session: Any, key_hash: str, now: datetime) -> None:
    """Add one failure (an upsert: two concurrent failures both count) and lock once
    the limit is reached; expired counters of other identifiers are swept on the way."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    at = literal(now, AuthFailure.__table__.c.window_start.type)
    fresh = AuthFailure.window_start > now - FAILURE_WINDOW
    stmt = insert(AuthFailure).values(key_hash=key_hash, failures=1, window_start=now)
    session.execute(stmt.on_conflict_do_update(index_elements=["key_hash"], set_={
        "failures": case((fresh, AuthFailure.failures + 1), else_=1),
        "window_start": case((fresh, AuthFailure.window_start), else_=at),
    }))
    row = session.get(AuthFailure, key_hash, populate_existing=True)
    if row is not None and row.failures >= MAX_FAILURES:
        row.failures = 0
        row.window_start = now
        row.locked_until = now + LOCKOUT
    session.execute(delete(AuthFailure).where(
        AuthFailure.window_start < now - max(FAILURE_WINDOW, LOCKOUT) - timedelta(days=1),
        AuthFailure.key_hash != key_hash))


def login(login_id: str, password: str, *, now: datetime | None = None) -> User:
    """The active user with this email/phone and password, else AuthenticationFailed.

    Nothing in the answer tells whether the account exists: the same message for an
    unknown user and a wrong password, a hash verified either way (equal timing), and
    failures counted per identifier whether or not an account has it — five in a row
    lock that identifier for 15 minutes with the same 429 for everyone (on top of the
    per-IP rate limit). Phones match in any spelling (:mod:`core.phones`).
    """
    now = now or utcnow()
    key_hash = _failure_hash(login_key(login_id))
    with write_transaction() as session:
        record = session.get(AuthFailure, key_hash)
        if record is not None and record.locked_until is not None \
                and record.locked_until > now:
            raise _locked(record.locked_until, now)
        user = find_login_user(login_id)
        ok = verify_password(user.password_hash if user and user.password_hash
                             else _dummy_hash(), password)
        if user is None or not user.password_hash or not ok or not user.is_active:
            _count_failure(session, key_hash, now)
            session.commit()  # the failure must count even though we raise
            raise AuthenticationFailed(_l("Wrong login or password."))
        if record is not None:
            session.delete(record)
    return user


def user_for_token(token: str) -> User | None:
    """The active user of a live token, with their roles, in one statement (every API
    request asks this first)."""
    return db.session.scalars(_token_user(), {"digest": _digest(token), "now": utcnow()}
                              ).unique().first()


@cache
def _token_user() -> Any:
    """:func:`user_for_token`'s statement, built once per process."""
    return (select(User).join(ApiToken, ApiToken.user_id == User.id)
            .options(joinedload(User.roles))
            .where(ApiToken.token_hash == bindparam("digest"),
                   ApiToken.revoked_at.is_(None),
                   ApiToken.expires_at > bindparam("now", type_=UTCDateTime),
                   User.is_active.is_(True)))


def revoke(token: str) -> bool:
    with write_transaction() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(token))
                              ).first()
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = utcnow()
    return True


_dummy: list[str] = []


def _dummy_hash() -> str:
    """A real hash to verify against for unknown users (equal timing)."""
    if not _dummy:
        _dummy.append(hash_password(secrets.token_hex(16)))
    return _dummy[0]
