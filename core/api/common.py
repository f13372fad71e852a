"""Pieces every API module shares: who is calling, problem helpers, bounded ids."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

import marshmallow as ma
from flask import g, request
from flask_babel import lazy_gettext as _l
from werkzeug.routing import BaseConverter, IntegerConverter

from .. import validation as v
from ..audit import acting_as
from ..auth.tokens import AuthenticationFailed, user_for_token
from ..errors import FulianError, NotFound
from ..models import User

MAX_ID = 2**31 - 1
#: the header of every money- or booking-creating call, for ``@blp.doc(parameters=...)``
#: (1-128 printable characters, not only spaces: what ``idempotency.check_key`` takes;
#: header values are Latin-1, whose printable characters are listed)
_KEY_CHAR = "\\x20-\\x7e\\xa1-\\xac\\xae-\\xff"
IDEMPOTENCY_DOC = [{"in": "header", "name": "Idempotency-Key", "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 128,
                               "pattern": f"^[{_KEY_CHAR}]*[^\\x00-\\x20\\x7f-\\xa0\\xad"
                                          f"\\u0100-\\uffff][{_KEY_CHAR}]*$"},
                    "description": "retries with the same key and body replay the response"}]
#: who may call an operation, as published in its ``security``. The document's default
#: is :data:`LOGIN`; an operation says otherwise with ``@blp.doc(**PUBLIC)`` (no bearer
#: token: the caller proves itself another way, or there is nothing private) or
#: ``@blp.doc(**OPTIONAL_LOGIN)`` (anyone; a logged-in caller may see more).
#: :mod:`core.armour` answers 401 to anonymous calls of LOGIN operations before their
#: bodies are read, so the document and the server agree on who gets 401.
LOGIN = [{"bearer": []}]
PUBLIC: dict[str, Any] = {"security": []}
OPTIONAL_LOGIN: dict[str, Any] = {"security": [{}, {"bearer": []}]}
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


def needs_login(view: Any) -> bool:
    """Whether the API operation served by ``view`` requires a bearer token: its
    published ``security`` (from ``@blp.doc``, else the document's :data:`LOGIN`) has no
    empty requirement. Views that are not operations of the document (the document
    itself, the docs page) have no ``_apidoc`` and need nothing."""
    doc = getattr(view, "_apidoc", None)
    if doc is None:
        return False
    security = doc.get("manual_doc", {}).get("security", LOGIN)
    return bool(security) and {} not in security


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


class Rejected:
    """A path segment that broke its converter's rule: :mod:`core.armour` answers 422
    naming the parameter before the view runs (the router cannot: it knows only match
    or 404, and a malformed date is not "not found")."""

    def __init__(self, value: str, messages: list[Any]) -> None:
        self.value = value
        self.messages = messages


class CheckedConverter(BaseConverter):
    """A path parameter whose rule is published in the OpenAPI document (:meth:`schema`)
    and checked at the edge: any segment routes, a bad one arrives as :class:`Rejected`."""

    regex = r"[^/]{1,200}"
    pattern = ""
    max_length = 200

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": self.pattern, "minLength": 1,
                "maxLength": self.max_length}

    def to_python(self, value: str) -> Any:
        if len(value) > self.max_length or not re.fullmatch(
                self.pattern.removeprefix("^").removesuffix("$"), value):
            return Rejected(value, self.messages(value))
        return self.convert(value)

    def messages(self, value: str) -> list[Any]:
        raise NotImplementedError

    def convert(self, value: str) -> Any:
        return value


class WeekConverter(CheckedConverter):
    """``<week:week>``: an ISO week ``2026-W49`` of the years 1970-2200; week 53 only in
    the years that have one (listed in the pattern, so the document says it exactly)."""

    pattern = v.WEEK_PATTERN
    max_length = 8

    def messages(self, value: str) -> list[Any]:
        return [_l("Not a valid ISO week: %(text)s (use e.g. 2026-W49).", text=value)]


class DayConverter(CheckedConverter):
    """``<day:day>``: a date ``YYYY-MM-DD`` of the years 1970-2200, given to the view as a
    :class:`datetime.date`."""

    pattern = v.DAY_PATTERN
    max_length = 10

    def schema(self) -> dict[str, Any]:
        return {**super().schema(), "format": "date", "minLength": 10}

    def to_python(self, value: str) -> Any:
        try:
            day = date.fromisoformat(value) \
                if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value) else None
        except ValueError:  # 2030-02-30
            day = None
        if day is None:
            return Rejected(value, [_l("Not a valid date.")])
        if not v.FIRST_YEAR <= day.year <= v.LAST_YEAR:
            return Rejected(value, [_l("Give a date between 1970 and 2200.")])
        return day

    def to_url(self, value: Any) -> str:
        return value.isoformat() if isinstance(value, date) else str(value)


class TagConverter(CheckedConverter):
    """``<tag:tag>``: a customer tag (:data:`core.validation.TAG_PATTERN`), stripped."""

    pattern = v.TAG_PATTERN
    max_length = v.TAG_MAX

    def messages(self, value: str) -> list[Any]:
        if len(value) > self.max_length:
            return [_l("At most %(n)d characters.", n=self.max_length)]
        return [_l("Use printable characters other than '/', not only spaces.")]

    def convert(self, value: str) -> str:
        return value.strip()


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
