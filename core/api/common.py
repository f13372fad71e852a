"""Pieces every API module shares: who is calling, problem helpers, bounded ids."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import marshmallow as ma
from flask import g, request
from flask_babel import lazy_gettext as _l
from werkzeug.routing import IntegerConverter

from ..audit import acting_as
from ..auth.tokens import AuthenticationFailed, user_for_token
from ..errors import FulianError, NotFound
from ..models import User

MAX_ID = 2**31 - 1
#: the header of every money- or booking-creating call, for ``@blp.doc(parameters=...)``
IDEMPOTENCY_DOC = [{"in": "header", "name": "Idempotency-Key", "required": False,
                    "schema": {"type": "string", "maxLength": 128},
                    "description": "retries with the same key and body replay the response"}]
F = TypeVar("F", bound=Callable[..., Any])
ONE_OF_SHAPES: dict[str, type[ma.Schema]] = {}


def one_of_body(**shapes: type[ma.Schema]) -> dict[str, Any]:
    """Documentation of a request body that takes exactly one of several shapes (JSON
    Schema ``oneOf``), for ``@blp.doc``. The loading schema accepts the union and
    enforces "exactly one" itself; publishing the shapes lets clients and fuzzers tell a
    well-formed body from a malformed one. Shapes are registered as components by name."""
    ONE_OF_SHAPES.update(shapes)
    refs = [{"$ref": f"#/components/schemas/{name}"} for name in shapes]
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"oneOf": refs}}}}}


def register_one_of_shapes(api: Any) -> None:
    for name, schema in ONE_OF_SHAPES.items():
        api.spec.components.schema(name, schema=schema)


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


class IdConverter(IntegerConverter):
    """``<id:name>`` in routes: a database id (1..2**31-1). Anything else (0, huge values,
    thousands of digits) does not match the route, so it is a 404 rather than a 500; the
    OpenAPI document shows the bounds. Registered on the app by :func:`core.api.init_app`."""

    regex = r"\d{1,10}"

    def __init__(self, map: Any) -> None:
        super().__init__(map, min=1, max=MAX_ID)


def audited(view: F) -> F:
    """Attribute the writes of an API view to its caller in the audit log
    (``acting_as(user.id, "user:<id>")``); anonymous callers stay ``system``.
    Put it directly above the view function, below the flask-smorest decorators."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None:
            return view(*args, **kwargs)
        with acting_as(user.id, f"user:{user.id}"):
            return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
