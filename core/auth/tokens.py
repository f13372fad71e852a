"""Bearer tokens for the API: random, stored hashed, expiring, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..db import utcnow, write_transaction
from ..errors import FulianError
from ..extensions import db
from ..models import ApiToken, User
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


class AccountLocked(AuthenticationFailed):
    status = 429


def login(login_id: str, password: str) -> User:
    """The active user with this email/phone and password, else AuthenticationFailed.

    The same message for an unknown user and a wrong password, and a hash is verified
    either way, so the response does not reveal which accounts exist. Five failures in
    a row lock the account for 15 minutes (on top of the per-IP rate limit).
    """
    now = utcnow()
    with write_transaction() as session:
        user = session.scalars(select(User).where(
            (User.email == login_id.strip().lower()) | (User.phone == login_id.strip())
        )).first()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            raise AccountLocked(_l("Too many failed logins; try again in %(minutes)d "
                                   "minutes.", minutes=max(
                                       1, int((user.locked_until - now).total_seconds() // 60)
                                       + 1)))
        ok = verify_password(user.password_hash if user else _dummy_hash(), password)
        if user is None or not ok or not user.is_active:
            if user is not None:
                user.failed_logins += 1
                if user.failed_logins >= MAX_FAILURES:
                    user.failed_logins = 0
                    user.locked_until = now + LOCKOUT
                session.commit()
            raise AuthenticationFailed(_l("Wrong login or password."))
        if user.failed_logins or user.locked_until:
            user.failed_logins = 0
            user.locked_until = None
    return user


def user_for_token(token: str) -> User | None:
    row = db.session.scalars(select(ApiToken).where(ApiToken.token_hash == _digest(token))
                             ).first()
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    user = db.session.get(User, row.user_id)
    return user if user is not None and user.is_active else None


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
