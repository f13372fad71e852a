"""The API kit: what a plugin's flask-smorest blueprint builds on.

Operations are documented with ``@blp.doc(**PUBLIC)`` / ``@blp.doc(**OPTIONAL_LOGIN)``
when they are not for logged-in callers only (the default), and with
``@blp.doc(parameters=IDEMPOTENCY_DOC)`` when they create money or bookings; those run
their effect through :func:`idempotent` and answer with :func:`json_reply`. Views
that write are ``@audited``. Errors of :mod:`core.sdk` become problem+json replies.
"""

from __future__ import annotations

from ..api.common import (
    IDEMPOTENCY_DOC,
    LOGIN,
    OPTIONAL_LOGIN,
    PUBLIC,
    Forbidden,
    Id,
    audited,
    current_user,
    not_found,
    one_of_body,
    require_user,
)
from ..auth import policy
from ..idempotency import idempotent, json_reply
from ..validation import Change, Day, Flag, Instant, MinorUnits, phone_field

__all__ = [
    # who may call an operation, as published in its ``security``; the retry header
    "LOGIN", "PUBLIC", "OPTIONAL_LOGIN", "IDEMPOTENCY_DOC",
    # the caller: the bearer token's user (or None), or 401; what they may do
    "current_user", "require_user", "policy",
    # problems: 403, and "<what> not found." as 404
    "Forbidden", "not_found",
    # writes: attributed to the caller in the audit log; run once per Idempotency-Key
    "audited", "idempotent", "json_reply",
    # schema fields: database ids, amounts in minor units, days, aware instants, strict
    # booleans, phones; ``Change`` for PATCH bodies; a body of one of several shapes
    "Id", "MinorUnits", "Day", "Instant", "Flag", "phone_field", "Change", "one_of_body",
]
