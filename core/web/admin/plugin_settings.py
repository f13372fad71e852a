"""Back office: the settings page of each enabled plugin that declares a
``fulian_settings_schema`` — owners and brand admins only.

The page is drawn from the schema's fields (text, whole number, yes/no, a choice for a
``OneOf`` field; label and help from the field's metadata) and posts back to itself;
:func:`core.plugins.save_plugin_settings` validates with the same schema as the API
and stores the values (audited), and refusals show the form again with each field's
message. Disabled plugins and plugins without settings answer 404.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _

from ...errors import FulianError
from ...plugins import plugin_settings, plugins, save_plugin_settings
from ..forms import Form
from . import bp
from .setup_common import brand_page, render, status_of


def _choices(field: ma.fields.Field) -> list[tuple[str, str]] | None:
    for validator in field.validators:
        if isinstance(validator, ma.validate.OneOf):
            return [(str(value), str(label)) for value, label in validator.options()]
    return None


def form_fields(schema: ma.Schema) -> list[dict[str, Any]]:
    """What the template needs to draw each loadable field of ``schema``."""
    out = []
    for name, field in schema.load_fields.items():
        meta = field.metadata
        choices = _choices(field)
        if choices is not None:
            kind = "choice"
        elif isinstance(field, ma.fields.Boolean):
            kind = "boolean"
        elif isinstance(field, ma.fields.Integer):
            kind = "integer"
        else:
            kind = "text"
        out.append({"name": field.data_key or name, "kind": kind, "choices": choices,
                    "label": str(meta.get("label") or meta.get("title") or name),
                    "help": str(meta.get("description") or ""),
                    "required": field.required})
    return out


def _submitted(fields: list[dict[str, Any]]) -> tuple[Form, dict[str, Any]]:
    """The posted form and the data for the schema: an unticked box is ``False``; a
    blank number is left out (the schema's default, or its "required" message)."""
    form = Form.submitted()
    data: dict[str, Any] = {}
    for f in fields:
        name = f["name"]
        if f["kind"] == "boolean":
            data[name] = request.form.get(name) in ("1", "on", "true")
            form.values[name] = data[name]
        elif f["kind"] == "integer" and not form.get(name):
            continue
        elif name in form.values:
            data[name] = form.get(name)
    return form, data


def _as_form(values: dict[str, Any], schema: ma.Schema) -> dict[str, Any]:
    dumped = schema.dump(values)
    return {k: v if isinstance(v, bool) else ("" if v is None else str(v))
            for k, v in dumped.items()}


@bp.route("/plugins/<string(maxlength=64):name>/settings", methods=["GET", "POST"])
@brand_page
def plugin_settings_page(name: str) -> Any:
    """One plugin's settings, drawn from and validated by its schema."""
    reg = plugins()
    found = reg.settings_schema(name) if reg.is_enabled(name) else None
    if found is None:
        abort(404)
    section, schema = found
    fields = form_fields(schema)
    form = Form(_as_form(plugin_settings(name), schema))
    if request.method == "POST":
        form, data = _submitted(fields)
        try:
            save_plugin_settings(name, data)
        except FulianError as exc:
            form.fail(exc)
        else:
            flash(_("Settings of %(name)s saved.", name=reg.installed[name].meta.title),
                  "success")
            return redirect(url_for("admin.plugin_settings_page", name=name))
    return render("admin/plugin_settings.html", status_of(form), form=form, fields=fields,
                  section=section, plugin=reg.installed[name].meta)
