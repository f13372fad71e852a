"""Customer login by phone number and a one-time SMS code.

Codes are 6 digits, stored only as an HMAC (keyed with the deployment's secret), valid
for 5 minutes, good for one login and at most 5 guesses; asking for a new code voids
the old ones. The message goes out through the deployment's SMS provider
(:mod:`core.sms`: a plugin such as Tencent Cloud SMS; the ``dev`` provider of demo and
test deployments only shows it in the log and the ``sms_outbox``), after the code is
committed; the outbox keeps no plain code outside demo and test.
The first successful login creates the customer's account and customer record.

Numbers are normalised to E.164 (:mod:`core.phones`) before they key anything, and each
number gets at most :data:`CODE_LIMITS` codes, counted in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, text, update

from .. import phones
from .. import sms as channel
from ..crm.customers import find_or_create
from ..db import utcnow, write_transaction
from ..errors import RuleViolation, TooManyRequests
from ..models import RoleAssignment, SmsCode, User
from .tokens import AuthenticationFailed

log = logging.getLogger(__name__)
CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5
#: codes per phone number: (window, at most this many codes in it)
CODE_LIMITS = ((timedelta(seconds=60), 1), (timedelta(hours=1), 5), (timedelta(days=1), 10))


def _digest(phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def normalise_phone(phone: str) -> str:
    """The phone as E.164 (codes, customers and logins are keyed by it, so "138 0013
    8000" and "+8613800138000" are one person); 422 for a number that cannot exist."""
    return phones.normalise(phone)


class TooManyCodes(TooManyRequests):
    """Codes asked for one phone too often (429 with ``retry_after``)."""


def _wait_before_next_code(session: Any, phone: str, now: datetime) -> int:
    """Seconds until ``phone`` may get another code under :data:`CODE_LIMITS` (0: now).

    Counted from the ``sms_codes`` rows, in the database: the limit holds across app
    servers and when Redis (the per-IP limiter's store) is down. The answer is the same
    whether or not an account has this number."""
    longest = max(window for window, _ in CODE_LIMITS)
    most = max(count for _, count in CODE_LIMITS)
    sent = list(session.scalars(
        select(SmsCode.created_at).where(SmsCode.phone == phone,
                                         SmsCode.created_at > now - longest)
        .order_by(SmsCode.created_at.desc()).limit(most)))
    wait = 0.0
    for window, count in CODE_LIMITS:
        if len(sent) >= count and sent[count - 1] > now - window:
            wait = max(wait, (sent[count - 1] + window - now).total_seconds())
    return int(math.ceil(wait))


def _too_many(wait: int) -> Any:
    if wait <= 90:
        return _l("Too many codes for this number; ask again in %(seconds)d seconds.",
                  seconds=wait)
    return _l("Too many codes for this number; ask again in %(minutes)d minutes.",
              minutes=math.ceil(wait / 60))


def _serialise_per_phone(session: Any, phone: str) -> None:
    """Make concurrent requests for one phone count one after the other. SQLite writers
    are serialised already (``BEGIN IMMEDIATE``); PostgreSQL takes a transaction-scoped
    advisory lock on the number (a row lock cannot lock rows that do not exist yet)."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"sms:{phone}".encode()).digest()[:8], "big",
                             signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def request_code(phone: str, *, now: datetime | None = None) -> int:
    """Send a new code; returns its lifetime in seconds.

    At most one code a minute, five an hour and ten a day per number
    (:data:`CODE_LIMITS`), else :class:`TooManyCodes` (429) saying when to ask again:
    SMS cost money and flooding someone's phone is a nuisance. Any valid number gets a
    code, so the answer does not reveal whether an account exists."""
    phone = normalise_phone(phone)
    code = f"{secrets.randbelow(10**6):06d}"
    if not current_app.config.get("FULIAN_SMS_LOGIN", True):
        raise RuleViolation(_l("Logging in by text message is not offered here; please "
                               "ask the store."))
    now = now or utcnow()
    channel.provider()  # no SMS provider: say so before counting a code against the limit
    with write_transaction() as session:
        _serialise_per_phone(session, phone)
        wait = _wait_before_next_code(session, phone, now)
        if wait:
            message = _too_many(wait)
            raise TooManyCodes(message, retry_after=wait, field_errors={"phone": [message]})
        session.execute(update(SmsCode).where(SmsCode.phone == phone,
                                              SmsCode.consumed_at.is_(None))
                        .values(consumed_at=now))
        row = SmsCode(phone=phone, code_hash=_digest(phone, code), created_at=now,
                      expires_at=now + CODE_TTL)
        session.add(row)
    minutes = str(int(CODE_TTL.total_seconds() // 60))
    try:  # after commit: the provider is called over the network, never inside a lock
        channel.send(channel.OutgoingSms(
            phone=phone, purpose="login_code", params={"code": code, "minutes": minutes},
            text=gettext("Your login code is %(code)s (valid for %(minutes)s minutes).",
                         code=code, minutes=minutes), secret=("code",)))
    except channel.SmsError:
        with write_transaction() as session:  # a code nobody received is no code
            session.execute(update(SmsCode).where(SmsCode.id == row.id)
                            .values(consumed_at=now))
        raise
    return int(CODE_TTL.total_seconds())


def login_with_code(phone: str, code: str, *, now: datetime | None = None) -> User:
    """The customer's user for a correct, fresh code; creates it on first login."""
    phone = normalise_phone(phone)
    wrong = AuthenticationFailed(_l("The code is wrong or expired; request a new one."))
    now = now or utcnow()
    with write_transaction() as session:
        row = session.scalars(select(SmsCode).where(
            SmsCode.phone == phone, SmsCode.consumed_at.is_(None))
            .order_by(SmsCode.id.desc()).limit(1)).first()
        if row is None or row.expires_at <= now or row.attempts >= MAX_ATTEMPTS:
            raise wrong
        if not hmac.compare_digest(row.code_hash, _digest(phone, code.strip())):
            row.attempts += 1
            session.commit()  # the failed attempt must count even though we raise
            raise wrong
        row.consumed_at = now
        user = session.scalars(select(User).where(User.phone == phone)).first()
        if user is None:
            user = User(phone=phone, name="")
            session.add(user)
            session.flush()
        if not any(r.role == "customer" for r in user.roles):
            user.roles.append(RoleAssignment(role="customer", store_id=None))
        customer = find_or_create(phone, user.name, "online")
        if customer.user_id is None:
            customer.user_id = user.id
    return user
