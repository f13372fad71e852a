"""Error responses: problem+json (RFC 9457) for the API, themed pages for people.

No traceback ever reaches a user: unexpected exceptions are logged and answered with a
translated 500. Domain errors (:class:`core.errors.FulianError`) carry their own status
and field errors.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from ..errors import FulianError, _flatten

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


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
        500: _("Internal error"),
    }


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
