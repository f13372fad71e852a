"""The versioned JSON API under ``/api/v1`` (flask-smorest + marshmallow).

Errors are RFC 9457 problem documents (see :mod:`core.web.errors`), not flask-smorest's
own format; the OpenAPI document is served at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import http
from typing import Any

import marshmallow as ma
from apispec import APISpec, BasePlugin
from flask import Flask, current_app, json, render_template
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from ..validation import Change

PROBLEM = "application/problem+json"


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every error response of this API is shaped."""

    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict(metadata={"description": "Field name -> list of messages"})


class RulesPlugin(BasePlugin):
    """Publishes rules that marshmallow's fields do not carry into the document:

    * a PATCH body (:class:`core.validation.Change`) needs a field: ``minProperties: 1``;
    * a body whose fields are all optional may be left out (it reads as ``{}``), so its
      ``requestBody`` is not ``required`` (unless it needs a field, as a PATCH does);
    * text never holds NUL (:mod:`core.armour` refuses it: no database column takes it):
      a free-text string without a pattern, format or enum of its own gets
      :data:`NO_NUL` as its pattern.
    """

    def init_spec(self, spec: APISpec) -> None:
        super().init_spec(spec)
        self.spec = spec

    def schema_helper(self, name: str, definition: dict[str, Any], **kwargs: Any
                      ) -> dict[str, Any] | None:
        schema = kwargs.get("schema")
        cls = schema if isinstance(schema, type) else type(schema)
        if issubclass(cls, Change):
            return {"minProperties": 1}
        return None

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        schemas = self.spec.components.schemas
        for operation in (operations or {}).values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not body:
                continue
            for content in body.get("content", {}).values():
                ref = content.get("schema", {}).get("$ref", "")
                component = schemas.get(ref.rsplit("/", 1)[-1]) if ref else None
                if component is not None and not component.get("required") \
                        and not component.get("minProperties"):
                    body["required"] = False


#: the pattern of free text: anything but NUL
NO_NUL = "^[^\\u0000]*$"


def _text_without_nul(self: Any, field: ma.fields.Field, ret: dict[str, Any],
                      **_kwargs: Any) -> dict[str, Any]:
    """apispec attribute function: :data:`NO_NUL` on strings that say nothing else."""
    if isinstance(field, ma.fields.String) and not ret.keys() & {"pattern", "format", "enum"}:
        return {"pattern": NO_NUL}
    return {}


class FulianApi(Api):
    """flask-smorest's Api with problem+json errors and plugin-aware documentation."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._plugin_parts: dict[str, tuple[set[str], set[str]]] = {}
        super().__init__(*args, **kwargs)

    def register_plugin_blueprint(self, blp: Any, plugin: str) -> None:
        """Document a plugin's resources; they leave the document while it is disabled
        (the app mounts blueprints at start-up and 404s them once disabled)."""
        def parts() -> tuple[set[str], set[str]]:
            doc = self.spec.to_dict()
            return set(doc.get("paths", {})), {t["name"] for t in doc.get("tags", [])}

        paths, tags = parts()
        self.register_blueprint(blp)
        new_paths, new_tags = parts()
        mine = self._plugin_parts.setdefault(plugin, (set(), set()))
        mine[0].update(new_paths - paths)
        mine[1].update(new_tags - tags)

    def _openapi_json(self) -> Any:
        doc = self.spec.to_dict()
        registry = current_app.extensions["fulian_plugins"]
        for plugin, (paths, tags) in self._plugin_parts.items():
            if not registry.is_enabled(plugin):
                for path in paths:
                    doc["paths"].pop(path, None)
                doc["tags"] = [t for t in doc.get("tags", []) if t["name"] not in tags]
        return current_app.response_class(json.dumps(doc, indent=2),
                                          mimetype="application/json")

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
    from .common import (
        LOGIN,
        CheckedConverter,
        DayConverter,
        IdConverter,
        TagConverter,
        WeekConverter,
        register_one_of_shapes,
    )

    api = FulianApi(app, spec_kwargs={
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": LOGIN,
        "extra_plugins": [RulesPlugin()],
    })
    from . import auth, availability, bookings, calendar, orders, plugins, rosters, webhooks
    from .resources import audit, catalog, customers, me, staff, stores

    api.ma_plugin.converter.add_attribute_function(_text_without_nul)
    app.url_map.converters.update(id=IdConverter, week=WeekConverter, day=DayConverter,
                                  tag=TagConverter)
    api.register_converter(CheckedConverter, lambda converter: converter.schema())
    register_one_of_shapes(api)
    for module in (auth, availability, bookings, calendar, orders, rosters, webhooks,
                   me, stores, catalog, staff, customers, audit, plugins):
        api.register_blueprint(module.blp)
    app.extensions["fulian_api"] = api

    @app.get("/api/docs")
    def api_docs() -> str:
        """Interactive API viewer, served from our own static files (no CDN)."""
        return render_template("api_docs.html")

    return api
