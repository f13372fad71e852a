"""Plugin settings (owner and brand admins only): the same validation and storage as
the back-office settings page, through :func:`core.plugins.save_plugin_settings`."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from ..auth import policy
from ..errors import NotFound
from ..plugins import plugin_settings, plugins, save_plugin_settings
from .common import Forbidden, audited, require_user

blp = Blueprint("plugins", __name__, url_prefix="/api/v1/plugins",
                description="Settings of enabled plugins")

NAME = "<string(minlength=1, maxlength=64):name>"


class SettingsOut(ma.Schema):
    plugin = ma.fields.String(metadata={"description": "the plugin's name"})
    section = ma.fields.String(metadata={"description": "the settings' title (translated)"})
    settings = ma.fields.Dict(metadata={
        "description": "every field of the plugin's settings schema, defaults filled in"})


class SettingsIn(ma.Schema):
    """The whole settings object; the plugin's own schema validates it (fields left
    out take their defaults, unknown fields are refused)."""

    class Meta:
        unknown = ma.INCLUDE


def _admin_schema(name: str) -> str:
    user = require_user()
    if not policy.is_brand_admin(user):
        raise Forbidden(_l("Only the brand owner and brand admins change plugin settings."))
    reg = plugins()
    found = reg.settings_schema(name) if reg.is_enabled(name) else None
    if found is None:
        raise NotFound(_l("No enabled plugin named %(name)s has settings.", name=name))
    return found[0]


@blp.get(f"/{NAME}/settings")
@blp.response(200, SettingsOut)
def get_settings(name: str) -> dict[str, Any]:
    """The settings of an enabled plugin that declares a settings schema."""
    section = _admin_schema(name)
    return {"plugin": name, "section": section, "settings": plugin_settings(name)}


@blp.put(f"/{NAME}/settings")
@blp.arguments(SettingsIn)
@blp.response(200, SettingsOut)
@audited
def put_settings(data: dict[str, Any], name: str) -> dict[str, Any]:
    """Replace the settings of an enabled plugin; 422 with a message per field when its
    schema refuses them (nothing is saved then)."""
    section = _admin_schema(name)
    saved = save_plugin_settings(name, data)
    return {"plugin": name, "section": section, "settings": saved}
