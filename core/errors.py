"""Domain errors: what went wrong in words a user can act on, already translatable.

Services raise these; the web layer turns them into problem+json and the CLI into one
line on stderr with a non-zero exit. Anything else escaping is a bug.
"""

from __future__ import annotations

from typing import Any


class FulianError(Exception):
    """Base of errors that are the caller's to fix. ``message`` may be a lazy string."""

    status = 400

    def __init__(self, message: Any, *, field_errors: dict[str, list[Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}

    def __str__(self) -> str:
        return str(self.message)


class ValidationFailed(FulianError):
    """Input failed validation; ``field_errors`` maps field names to messages."""

    status = 422

    def __str__(self) -> str:
        if not self.field_errors:
            return str(self.message)
        parts = [f"{field}: {_flatten(msgs)}" for field, msgs in self.field_errors.items()]
        return f"{self.message} ({'; '.join(parts)})"


class NotFound(FulianError):
    status = 404


class Conflict(FulianError):
    status = 409


class TooManyRequests(FulianError):
    """Asked too often (429). ``retry_after`` is how many seconds to wait: the API sends
    it as ``Retry-After``, pages say it in words."""

    status = 429

    def __init__(self, message: Any, *, retry_after: int,
                 field_errors: dict[str, list[Any]] | None = None):
        super().__init__(message, field_errors=field_errors)
        self.retry_after = max(1, int(retry_after))


class RuleViolation(Conflict):
    """Well-formed input that the business rules refuse (e.g. a staff member who does
    not perform the service). 409, not 422: the request is valid, the state says no."""


def _flatten(messages: Any) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in messages.items())
    if isinstance(messages, list | tuple):
        return " ".join(_flatten(m) for m in messages)
    return str(messages)
