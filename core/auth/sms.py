"""Customer login by phone number and a one-time SMS code.

Codes are 6 digits, stored only as an HMAC (keyed with the deployment's secret), valid
for 5 minutes, good for one login and at most 5 guesses; asking for a new code voids
the old ones. The message goes out through an SMS provider: plugins contribute
providers (``fulian_sms_providers``); the built-in ``dev`` provider writes the message to
the log and to the ``sms_outbox`` table, which the demo can show, and sends nothing.
The first successful login creates the customer's account and customer record.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from .. import validation as v
from ..crm.customers import find_or_create
from ..db import utcnow, write_transaction
from ..errors import FulianError, ValidationFailed
from ..extensions import db
from ..models import RoleAssignment, SmsCode, SmsMessage, User
from .tokens import AuthenticationFailed

log = logging.getLogger(__name__)
CODE_TTL = timedelta(minutes=5)
MAX_ATTEMPTS = 5


class DevSmsProvider:
    """Development provider: logs the text and keeps it in ``sms_outbox``."""

    code = "dev"

    def send(self, phone: str, text: str) -> None:
        log.warning("SMS to %s: %s", phone, text)
        db.session.add(SmsMessage(phone=phone, text=text, provider=self.code))


def _provider() -> Any:
    wanted = current_app.config.get("FULIAN_SMS_PROVIDER", "dev")
    providers = [DevSmsProvider(), *current_app.extensions["fulian_plugins"].call_flat(
        "fulian_sms_providers")]
    for provider in providers:
        if getattr(provider, "code", None) == wanted:
            return provider
    raise FulianError(_l("The SMS provider %(code)s is not available.", code=wanted))


def _digest(phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def normalise_phone(phone: str) -> str:
    try:
        v.valid_phone(phone)
    except Exception as exc:
        raise ValidationFailed(_l("Not a valid phone number."),
                               field_errors={"phone": [_l("Not a valid phone number.")]}
                               ) from exc
    return phone.replace(" ", "").replace("-", "")


def request_code(phone: str) -> int:
    """Send a new code; returns its lifetime in seconds."""
    phone = normalise_phone(phone)
    code = f"{secrets.randbelow(10**6):06d}"
    now = utcnow()
    provider = _provider()
    with write_transaction() as session:
        session.execute(update(SmsCode).where(SmsCode.phone == phone,
                                              SmsCode.consumed_at.is_(None))
                        .values(consumed_at=now))
        session.add(SmsCode(phone=phone, code_hash=_digest(phone, code), created_at=now,
                            expires_at=now + CODE_TTL))
        provider.send(phone, gettext("Your login code is %(code)s (valid for 5 minutes).",
                                     code=code))
    return int(CODE_TTL.total_seconds())


def login_with_code(phone: str, code: str) -> User:
    """The customer's user for a correct, fresh code; creates it on first login."""
    phone = normalise_phone(phone)
    wrong = AuthenticationFailed(_l("The code is wrong or expired; request a new one."))
    now = utcnow()
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
