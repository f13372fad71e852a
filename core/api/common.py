"""Pieces every API module shares: who is calling, problem helpers, bounded ids."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g, request
from flask_babel import lazy_gettext as _l

from ..auth.tokens import AuthenticationFailed, user_for_token
from ..errors import FulianError, NotFound
from ..models import User

MAX_ID = 2**31 - 1


class Forbidden(FulianError):
    status = 403


def current_user() -> User | None:
    """The user of the bearer token (or None); cached for the request."""
    if "api_user" in g:
        return g.api_user
    user = None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        user = user_for_token(header[7:].strip())
        if user is None:
            raise AuthenticationFailed(_l("The token is invalid, expired or revoked."))
    g.api_user = user
    g.user = user
    return user


def require_user() -> User:
    user = current_user()
    if user is None:
        raise AuthenticationFailed(_l("Log in first: send Authorization: Bearer <token>."))
    return user


def not_found(what: Any) -> NotFound:
    return NotFound(_l("%(what)s not found.", what=what))


def Id(*, strict: bool = True, **kwargs: Any) -> ma.fields.Integer:  # noqa: N802
    """A database id: a positive 31-bit integer (huge ids caused 500s under fuzzing).
    Use ``strict=False`` for query strings, where every value arrives as text."""
    return ma.fields.Integer(strict=strict, validate=ma.validate.Range(min=1, max=MAX_ID),
                             **kwargs)
