"""``Idempotency-Key`` for money- and booking-creating requests.

The first response to (scope, key) is stored in the same transaction as the effect it
describes, so "effect happened" and "response remembered" cannot disagree. A retry with
the same body replays the stored response byte for byte; the same key with another body
is refused (422). Under concurrency the losers of the race block on the winner's unique
row (PostgreSQL) or on the write lock (SQLite), then replay its response.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..errors import ValidationFailed
from ..extensions import db
from ..models import IdempotencyRecord

MAX_KEY = 128


class KeyReused(ValidationFailed):
    status = 422


def request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ValidationFailed(_l("The Idempotency-Key header must be 1-128 printable "
                                  "characters."),
                               field_errors={"Idempotency-Key": [_l("Invalid value.")]})
    return key


def lookup(scope: str, key: str, digest: str) -> IdempotencyRecord | None:
    """The stored response for this key, or None; KeyReused if the body differs."""
    record = db.session.scalars(select(IdempotencyRecord).where(
        IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)).first()
    if record is not None and record.request_hash != digest:
        raise KeyReused(_l("This Idempotency-Key was already used for a different request."),
                        field_errors={"Idempotency-Key": [_l("Use a new key for a new "
                                                             "request.")]})
    return record


def replay(record: IdempotencyRecord) -> Response:
    """The stored response, byte for byte, marked as a replay."""
    resp = Response(record.body, status=record.status, mimetype=record.content_type)
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def remember(scope: str, key: str, digest: str, status: int, body: str,
             content_type: str = "application/json") -> None:
    """Store the response inside the caller's (effect's) transaction."""
    db.session.add(IdempotencyRecord(scope=scope, key=key, request_hash=digest, status=status,
                                     body=body, content_type=content_type))
