"""Input armour at the edge: nothing a client can send reaches a view as a 500.

Python and the databases have limits that validation inside a view comes too late for
(NOTES trap 18): ``json.loads`` of ~1,100 nested arrays raises ``RecursionError``, an
integer literal of 4,301+ digits raises ``ValueError``, PostgreSQL refuses ``\\x00`` in
text, a lone UTF-16 surrogate cannot be encoded to UTF-8. So every request is checked
before its view runs, in this order, and answered with a problem document (a themed
page outside ``/api/``) naming the first thing wrong:

1. **size** - a body larger than ``FULIAN_MAX_BODY_BYTES`` (Flask's
   ``MAX_CONTENT_LENGTH``, 1 MiB by default) is 413: at once from its Content-Length,
   or as soon as a chunked body grows past it while it is read;
2. **who** - an anonymous call of an API operation whose published ``security`` needs
   a login is 401 before anything else is read (:func:`core.api.common.needs_login`):
   a stranger learns nothing from validation messages, and the document says exactly
   who gets 401;
3. **path parameters** against their published patterns (``{week}``, ``{day}``,
   ``{tag}``: :class:`core.api.common.CheckedConverter`): 422 naming the parameter;
4. **the JSON body**, parsed by ``app.json`` (:class:`GuardedJSONProvider`): nesting
   deeper than :data:`MAX_DEPTH`, a number longer than :data:`MAX_NUMBER_CHARS`,
   ``NaN``/``Infinity`` or malformed JSON are 400 with a detail;
5. **text no database stores** - NUL and lone surrogates anywhere in the JSON body, a
   form, the query string or a path parameter: 422 naming the field (its JSON path such
   as ``customer.name`` or ``tags[2]``, or the parameter's name); NUL in a header: 400.

A view that reads its body raw and verifies it itself (a payment provider's signed
notification, :func:`raw_body`) skips 4 and 5 for its body: it answers what cannot be
trusted as the provider expects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import RequestEntityTooLarge

from .errors import FulianError, ValidationFailed

#: deepest nesting of arrays and objects in a request body (ours need 3)
MAX_DEPTH = 32
#: longest number literal in a request body (ids have 10 digits, money at most 14)
MAX_NUMBER_CHARS = 100
#: what no text column takes: NUL, and UTF-16 surrogates (only ever alone in a ``str``)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# A JSON string literal (escapes included), removed before brackets are counted.
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"', re.S)
_BRACKETS = re.compile(r"[^\[\]{}]+")
_BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
F = TypeVar("F", bound=Callable[..., Any])


class BadRequest(FulianError):
    """A request that cannot be read at all (400), with a detail saying why."""

    status = 400


class TooLarge(FulianError):
    """A body over the configured limit (413)."""

    status = 413


class BodyRejected(ValueError):
    """The JSON loader refused a document it could parse only at a cost (too deep, a
    huge number) or not faithfully (NaN). A ``ValueError`` like every JSON error, so
    callers that catch malformed JSON catch this too."""


def _number(kind: type) -> Any:
    def parse(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            raise BodyRejected(gettext("A number in the body is longer than %(n)d "
                                       "characters.", n=MAX_NUMBER_CHARS))
        return kind(text)
    return parse


def _constant(name: str) -> Any:
    raise BodyRejected(gettext("%(name)s is not a JSON number.", name=name))


def _too_deep(text: str) -> bool:
    """Whether arrays and objects nest deeper than :data:`MAX_DEPTH` (strings, where
    brackets mean nothing, are removed first). A linear scan, run before the parser
    recurses; bodies with few brackets skip it."""
    brackets = _BRACKETS.sub("", _JSON_STRING.sub("", text)) if text.count("[") + \
        text.count("{") > MAX_DEPTH else ""
    depth = 0
    for char in brackets:
        depth += 1 if char in "[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


class GuardedJSONProvider(DefaultJSONProvider):
    """``app.json`` with limits for what clients send: :data:`MAX_DEPTH`,
    :data:`MAX_NUMBER_CHARS`, no ``NaN``/``Infinity``. Every JSON body the app reads
    (``request.get_json()``, :func:`check_request`) goes through it."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        text = s if isinstance(s, str) else s.decode(json.detect_encoding(s), "surrogatepass")
        if _too_deep(text):
            raise BodyRejected(gettext("The body nests arrays and objects more than %(n)d "
                                       "levels deep.", n=MAX_DEPTH))
        kwargs.setdefault("parse_int", _number(int))
        kwargs.setdefault("parse_float", _number(float))
        kwargs.setdefault("parse_constant", _constant)
        return json.loads(text, **kwargs)


def _unstorable(value: Any, path: str, found: dict[str, list[Any]]) -> None:
    """Collect the JSON paths of keys and strings holding NUL or a lone surrogate."""
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            found[path or "_schema"] = [_l("Text may not contain NUL characters or lone "
                                           "UTF-16 surrogates.")]
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _UNSTORABLE.search(key):
                where = f"{path}.{key!a}" if path else ascii(key)
                found[where] = [_l("Names may not contain NUL characters or lone UTF-16 "
                                   "surrogates.")]
            _unstorable(item, where, found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _unstorable(item, f"{path}[{i}]", found)


def _fields(values: Any, found: dict[str, list[Any]]) -> None:
    """Query or form fields (a MultiDict): an error per field name, however many values
    it repeats."""
    for name, items in values.lists():
        _unstorable({name: items[0] if len(items) == 1 else items}, "", found)


def _json_body() -> Any:
    """The request's JSON body parsed by ``app.json`` (413/400 as problems)."""
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge as exc:  # a chunked body grew past the limit
        raise _too_large() from exc
    if not data.strip():
        return None
    try:
        return current_app.json.loads(data)
    except BodyRejected as exc:
        raise BadRequest(str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(gettext("The body is not valid JSON (line %(line)d, column "
                                 "%(column)d).", line=exc.lineno, column=exc.colno)) from exc
    except ValueError as exc:  # bytes that are no Unicode text
        raise BadRequest(gettext("The body is not valid JSON.")) from exc


def _too_large() -> TooLarge:
    return TooLarge(_l("The body is larger than %(n)d bytes.",
                       n=current_app.config["MAX_CONTENT_LENGTH"]))


def _form() -> Any:
    """The form fields (413 past the limit). An urlencoded body is cached first, so
    that a view can still read it raw after this."""
    try:
        if request.mimetype == "application/x-www-form-urlencoded":
            request.get_data(cache=True)
        return request.form
    except RequestEntityTooLarge as exc:
        raise _too_large() from exc


def raw_body(view: F) -> F:
    """Mark a view that reads its body raw and verifies it itself (a payment provider's
    signed notification): its body is not parsed here, so whatever is wrong with it is
    answered as the provider expects (401: not trusted). Size, path and query checks
    still apply. Put it directly above the function."""
    view._fulian_raw_body = True  # type: ignore[attr-defined]
    return view


def check_request() -> None:
    """Run the checks of this module's docstring, in order; raise the first failure."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and (request.content_length or 0) > limit:
        raise _too_large()
    if request.routing_exception is not None:  # 404 or 405: nothing will read the input
        return
    if request.path.startswith("/api/") and request.method != "OPTIONS":
        from .api.common import needs_login, require_user

        if needs_login(current_app.view_functions[request.endpoint]):
            require_user()
    for name, value in request.headers.items():
        if "\x00" in value:
            raise BadRequest(gettext("The %(name)s header contains a NUL character.",
                                     name=name))
    found: dict[str, list[Any]] = {}
    _check_path(found)
    if found:
        raise ValidationFailed(_l("The input is not valid."), field_errors=found)
    _fields(request.args, found)
    view = current_app.view_functions[request.endpoint]
    if request.method in _BODY_METHODS and not getattr(view, "_fulian_raw_body", False):
        if request.is_json:
            _unstorable(_json_body(), "", found)
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            _fields(_form(), found)
    if found:
        raise ValidationFailed(_l("The input is not valid."), field_errors=found)


def _check_path(found: dict[str, list[Any]]) -> None:
    from .api.common import Rejected

    for name, value in (request.view_args or {}).items():
        if isinstance(value, Rejected):
            found[name] = value.messages
        else:
            _unstorable(value, name, found)


def init_app(app: Flask) -> None:
    """Install the JSON provider and the checks. Call it after the plugins' blueprints
    are mounted: a disabled plugin's routes must stay 404, not become 401."""
    app.json = GuardedJSONProvider(app)
    app.before_request(check_request)
