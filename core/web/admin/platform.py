"""Back office: plugins (enable/disable under the licence in force) and brand settings
(name, logo, colours, language, country of phone numbers, theme) — owners and brand
admins only.

Plugins go through the registry exactly as ``fulian plugins enable|disable`` does
(``registry.set_enabled``: paid plugins need a licence naming them, data is kept when
disabling). Brand settings are saved with ``core.org.brand.update_brand`` and the theme
with ``core.theming.use_theme`` like ``fulian theme use``; layouts read both on every
request, so the next page shows the new look.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _

from ... import phones, theming
from ...errors import FulianError, ValidationFailed
from ...extensions import db
from ...models import PluginState
from ...org.brand import get_brand, update_brand
from ...plugins import plugins as registry
from ..forms import Form
from . import bp
from .setup_common import brand_page, render, status_of

LOCALES = (("zh_CN", "简体中文"), ("en", "English"))


# ------------------------------------------------------------------------ plugins


def _plugin_rows() -> list[dict[str, Any]]:
    reg = registry()
    status = reg.license_status()
    enabled = reg.enabled()
    with_settings = set(reg.with_settings())
    rows = []
    for name, plugin in sorted(reg.installed.items()):
        state = db.session.get(PluginState, name)
        meta = plugin.meta
        rows.append({
            "name": name, "title": meta.title, "description": meta.description,
            "version": meta.version, "paid": meta.paid, "requires": meta.requires,
            "enabled": name in enabled, "wanted": bool(state and state.enabled),
            "licensed": (not meta.paid) or status.covers(name),
            "distribution": plugin.distribution,
            "compatible": plugin.compatible, "core": meta.core,
            "has_settings": name in with_settings,
        })
    return rows


@bp.get("/plugins")
@brand_page
def plugins() -> Any:
    """Installed plugins, their state and the licence in force."""
    status = registry().license_status()
    return render("admin/plugins.html", rows=_plugin_rows(), licence=status,
                  format_date=format_date)


@bp.post("/plugins/<string(maxlength=100):name>/<any(enable,disable):action>")
@brand_page
def plugin_toggle(name: str, action: str) -> Any:
    """Switch a plugin on or off; refusals (licence, requirements) are shown as the
    registry words them."""
    reg = registry()
    if name not in reg.installed:
        abort(404)
    try:
        reg.set_enabled(name, action == "enable")
    except FulianError as exc:
        flash(str(exc.message), "error")
    else:
        title = reg.installed[name].meta.title
        if action == "enable":
            flash(_("Plugin %(name)s enabled. Restart the app servers to mount its pages.",
                    name=title), "success")
        else:
            flash(_("Plugin %(name)s disabled; its data is kept.", name=title), "success")
    return redirect(url_for("admin.plugins"))


# -------------------------------------------------------------------------- brand


def _brand_form() -> Form:
    brand = get_brand()
    return Form({"name": brand.name, "logo_url": brand.logo_url or "",
                 "primary_color": brand.primary_color or "",
                 "accent_color": brand.accent_color or "",
                 "default_locale": brand.default_locale, "theme": brand.theme,
                 "country": brand.country})


def _theme_defaults() -> dict[str, dict[str, str]]:
    out = {}
    for name in theming.available_themes(current_app):
        merged: dict[str, Any] = {}
        for theme in reversed(theming.theme_chain(current_app, name)):
            merged.update(theme.tokens)
        out[name] = {"primary": str(merged.get("primary", "#0f766e")),
                     "accent": str(merged.get("accent", "#f59e0b"))}
    return out


@bp.route("/brand", methods=["GET", "POST"])
@brand_page
def brand() -> Any:
    """The brand's name, logo, colours, default language and theme."""
    form = _brand_form()
    themes = theming.available_themes(current_app)
    if request.method == "POST":
        form = Form.submitted()
        try:
            data: dict[str, Any] = {"name": form.get("name"),
                                    "default_locale": form.get("default_locale") or None,
                                    "country": form.get("country") or None}
            logo = form.get("logo_url")
            if logo and not logo.startswith(("https://", "http://", "/")):
                raise ValidationFailed(_("The input is not valid."), field_errors={
                    "logo_url": [_("Use a web address starting with https:// or /.")]})
            data["logo_url"] = logo or None
            for key in ("primary_color", "accent_color"):
                use_theme = form.get(f"{key}_theme") in ("1", "on")
                data[key] = None if use_theme else (form.get(key).lower() or None)
            theme = form.get("theme")
            if theme not in themes:
                raise ValidationFailed(_("The input is not valid."), field_errors={
                    "theme": [_("Invalid value.")]})
            data = {k: v for k, v in data.items() if v is not None
                    or k in ("logo_url", "primary_color", "accent_color")}
            update_brand(data)
            if theme != get_brand().theme:
                theming.use_theme(current_app, theme)
        except FulianError as exc:
            form.fail(exc)
        else:
            flash(_("Brand settings saved: every page now uses them."), "success")
            return redirect(url_for("admin.brand"))
    defaults = _theme_defaults()
    current = defaults.get(form.get("theme")) or {"primary": "#0f766e", "accent": "#f59e0b"}
    return render("admin/brand.html", status_of(form), form=form, locales=LOCALES,
                  countries=phones.country_choices(),
                  themes=sorted(themes.values(), key=lambda t: t.name), defaults=defaults,
                  current=current)
