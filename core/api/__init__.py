"""The versioned JSON API under ``/api/v1`` (flask-smorest + marshmallow).

Errors are RFC 9457 problem documents (see :mod:`core.web.errors`), not flask-smorest's
own format; the OpenAPI document is served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import http
from typing import Any

import marshmallow as ma
from flask import Flask, render_template
from flask_smorest import Api
from flask_smorest.utils import prepare_response

PROBLEM = "application/problem+json"


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every error response of this API is shaped."""

    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict(metadata={"description": "Field name -> list of messages"})


class FulianApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        """Error handling is the app's (problem+json for /api, pages elsewhere)."""

    def _register_responses(self) -> None:
        """Document error responses as ``application/problem+json``, as they are sent."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not 100 <= status < 200 and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
                prepare_response(response, self.spec, PROBLEM)
            else:
                prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Error (RFC 9457 problem details)",
                   "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


def init_app(app: Flask) -> FulianApi:
    app.config.setdefault("API_TITLE", "Fulian API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api/v1")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = FulianApi(app, spec_kwargs={
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    })
    from . import auth, availability, bookings, calendar, rosters, webhooks
    from .common import IdConverter
    from .resources import audit, catalog, customers, me, staff, stores

    app.url_map.converters["id"] = IdConverter
    auth.register_schemas(api)
    for module in (auth, availability, bookings, calendar, rosters, webhooks,
                   me, stores, catalog, staff, customers, audit):
        api.register_blueprint(module.blp)
    app.extensions["fulian_api"] = api

    @app.get("/api/docs")
    def api_docs() -> str:
        """Interactive API viewer, served from our own static files (no CDN)."""
        return render_template("api_docs.html")

    return api
