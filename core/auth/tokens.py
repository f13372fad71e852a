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


def login(login_id: str, password: str) -> User:
    """The active user with this email/phone and password, else AuthenticationFailed.

    The same message for an unknown user and a wrong password, and a hash is verified
    either way, so the response does not reveal which accounts exist.
    """
    user = db.session.scalars(select(User).where(
        (User.email == login_id.strip().lower()) | (User.phone == login_id.strip())
    )).first()
    ok = verify_password(user.password_hash if user else _dummy_hash(), password)
    if user is None or not ok or not user.is_active:
        raise AuthenticationFailed(_l("Wrong login or password."))
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
