"""Error responses: problem+json (RFC 9457) for the API, themed pages for people.

No traceback ever reaches a user: unexpected exceptions are logged and answered with a
translated 500. Domain errors (:class:`core.errors.FulianError`) carry their own status
and field errors. A database that cannot be reached (stopped, restarting, its pool
exhausted, SQLite locked past its busy timeout) is 503 with ``Retry-After``: the request
may succeed as it is a moment later, which 500 does not say. The pool pings connections
before use (``pool_pre_ping``), so the first request after the database is back gets a
fresh connection; nothing needs a restart.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, json, render_template, request
from flask_babel import gettext as _
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from ..errors import FulianError, _flatten

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"
#: seconds a client should wait before retrying while the database is unreachable
DATABASE_RETRY_AFTER = 5


def wants_problem() -> bool:
    return request.path.startswith("/api/")


def problem(status: int, title: str, detail: str | None = None,
            errors: dict[str, Any] | None = None, type_: str | None = None) -> Response:
    body: dict[str, Any] = {
        "type": type_ or f"https://fulian.dev/problems/{status}",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = _jsonable(errors)
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _titles() -> dict[int, str]:
    return {
        400: _("Bad request"), 401: _("Authentication required"), 403: _("Forbidden"),
        404: _("Not found"), 405: _("Method not allowed"), 409: _("Conflict"),
        413: _("Request too large"), 415: _("Unsupported media type"),
        422: _("The input is not valid."), 429: _("Too many requests"),
        500: _("Internal error"), 503: _("Service unavailable"),
    }


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be used right now (rather than that a
    statement was wrong): a failed or lost connection, the pool's wait timing out, a
    lock or shutdown (SQLAlchemy's ``OperationalError``, ``InterfaceError``, any DBAPI
    error that invalidated its connection, psycopg's own ``OperationalError``)."""
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated)
    try:
        import psycopg
    except ImportError:  # SQLite-only installs need no PostgreSQL driver
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def _unavailable(exc: BaseException) -> Any:
    # One line, no traceback: the cause is outside the app, and a flood of tracebacks
    # while the database restarts would hide real bugs.
    log.warning("database unavailable on %s %s: %s: %s", request.method, request.path,
                type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER)}
    message = _("The service is briefly unavailable. Please try again in a moment.")
    if wants_problem():
        resp = problem(503, _titles()[503], detail=message)
        resp.headers.update(headers)
        return resp
    # The page must not ask the database again (who is logged in, the brand).
    g.page_user = g.user = g.fulian_brand = None
    return render_template("errors/error.html", code=503, message=message), 503, headers


def init_app(app: Flask) -> None:
    @app.errorhandler(FulianError)
    def _domain(exc: FulianError) -> Any:
        # A 429 says when to come back (TooManyRequests, AccountLocked carry retry_after).
        headers = {"Retry-After": str(getattr(exc, "retry_after", None) or 60)} \
            if exc.status == 429 else {}
        if wants_problem():
            resp = problem(exc.status, _titles().get(exc.status, str(exc.message)),
                           detail=str(exc.message), errors=exc.field_errors)
            resp.headers.update(headers)
            return resp
        message = str(exc.message)
        if exc.field_errors:
            message = f"{message} ({_flatten(exc.field_errors)})"
        return render_template("errors/error.html", code=exc.status, message=message), \
            exc.status, headers

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        if wants_problem():
            data = getattr(exc, "data", None) or {}
            messages = data.get("messages") if isinstance(data, dict) else None
            errors = _flatten_webargs(messages) if messages else None
            resp = problem(status, _titles().get(status, exc.name), errors=errors)
            # Keep protocol headers such as Allow (405) and Retry-After (429).
            for name, value in exc.get_headers():
                if name.lower() != "content-type":
                    resp.headers[name] = value
            if status == 429 and "Retry-After" not in resp.headers:
                resp.headers["Retry-After"] = "60"
            return resp
        if status == 404:
            return render_template("errors/404.html"), 404
        return render_template("errors/error.html", code=status,
                               message=_titles().get(status, exc.name)), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if database_unreachable(exc):
            return _unavailable(exc)
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_problem():
            return problem(500, _titles()[500],
                           detail=_("Something went wrong on our side; it has been logged."))
        return render_template("errors/500.html"), 500


def _flatten_webargs(messages: Any) -> dict[str, Any]:
    """webargs nests errors by location (json/query/...); callers want field names."""
    from ..validation import _translate

    if not isinstance(messages, dict):
        return {"_schema": _translate(messages, False)}
    out: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            out.update(fields)
        else:
            out[location] = fields
    return _translate(out)
