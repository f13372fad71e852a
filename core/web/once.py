"""One-time form tokens for pages that move money.

A payment form carries a random token; the service call that pays remembers it (in the
idempotency table, inside the payment's own transaction) with where the page went next.
The same form sent again — a double tap, a reload, the back button — leads there again
and pays nothing; sent twice at the same moment, the unique key lets one of them commit.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select

from .. import idempotency
from ..extensions import db
from ..models import IdempotencyRecord

TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_token() -> str:
    return secrets.token_urlsafe(18)


def valid(token: str) -> bool:
    return bool(TOKEN.fullmatch(token or ""))


def done(scope: str, token: str) -> str | None:
    """Where the first use of ``token`` led, or None if it was never used."""
    return db.session.scalars(select(IdempotencyRecord.body).where(
        IdempotencyRecord.scope == scope, IdempotencyRecord.key == token)).first()


def remember(scope: str, token: str, where: str) -> None:
    """Record the token's use inside the caller's write transaction."""
    idempotency.remember(scope, token, "", 303, where, "text/uri-list")
