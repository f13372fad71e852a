"""Template context shared by every page: brand, theme tokens, slots, menus, money.

Every template (core, theme or plugin) can rely on these names:

``brand``
    The :class:`core.models.BrandSettings` row (id=1) or ``None`` before ``fulian init``;
    read once per request and kept in :data:`flask.g`.
``theme``
    Design tokens of the active theme chain with the brand's own colours and logo on top
    (:func:`core.theming.tokens`); ``on_primary`` follows a brand's primary colour so
    that header text stays readable.
``slot(name, **ctx)``
    HTML fragments of the enabled plugins for a named slot.
``menu_items(face)`` / ``menu_url(item)``
    Plugin menu entries for ``"customer"``, ``"staff"`` or ``"admin"``, and the URL of one
    (``None`` when its endpoint is not mounted yet).
``locale`` / ``lang_url(code)``
    The current locale (``"zh_CN"`` or ``"en"``) and the current URL switched to another.
``theme_asset(filename)``
    URL of a file in the theme chain's ``static/`` folders.
``group_services(rows)``
    ``(category name or None, [services])`` groups in display order, uncategorised last.

Filters: ``money`` (integer minor units → localised currency), ``phone`` (a stored E.164
number in the national format of the brand's country, international otherwise) and
``css_value`` (a token made safe to print inside a ``<style>`` block).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from babel.numbers import get_currency_precision
from flask import Flask, current_app, g, has_request_context, request, url_for
from flask_babel import format_currency, get_locale
from markupsafe import Markup
from werkzeug.routing import BuildError

from .. import phones, theming
from ..finance.orders import tender_label
from ..i18n import normalise

_MISSING = object()
# Anything that could end a declaration, open a block, or leave the <style> element.
_CSS_UNSAFE = re.compile(r"[;{}<>\\\n\r]|/\*|\*/|url\s*\(|expression\s*\(", re.I)


def current_brand() -> Any | None:
    """The brand settings row, fetched at most once per request (``None`` if absent)."""
    cached = g.get("fulian_brand", _MISSING)
    if cached is not _MISSING:
        return cached
    from ..extensions import db
    from ..models import BrandSettings

    try:
        brand = db.session.get(BrandSettings, 1)
    except Exception:  # before the first migration: render without a brand
        db.session.rollback()
        brand = None
    g.fulian_brand = brand
    return brand


def current_locale() -> str:
    return normalise(str(get_locale())) or "zh_CN"


def money(amount: int | None, currency: str | None = None) -> str:
    """Format integer minor units (fen, cents; yen have none) in the current locale."""
    if amount is None:
        return ""
    if not currency:
        brand = current_brand()
        currency = (brand.currency if brand is not None else None) or "CNY"
    precision = get_currency_precision(currency)
    value = Decimal(int(amount)).scaleb(-precision)
    return format_currency(value, currency)


def css_value(value: Any, fallback: str = "") -> Markup:
    """A token value safe inside a CSS declaration, or ``fallback`` when it is not.

    ``<style>`` is raw text in HTML (entities are not decoded there), so the value is
    vetted here instead of escaped: no ``<`` to close the element, nothing that ends the
    declaration or pulls in a URL.
    """
    text = str(value if value is not None else "").strip()
    if not text or _CSS_UNSAFE.search(text):
        text = fallback
    return Markup(text)  # vetted above; the fallback is written by the template author


def _luminance(hex_colour: str) -> float | None:
    """WCAG relative luminance of ``#rgb`` / ``#rrggbb`` (``None`` for anything else)."""
    value = hex_colour.strip().lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    if not re.fullmatch(r"[0-9a-fA-F]{6}", value):
        return None
    channels = [int(value[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g_, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g_ + 0.0722 * b


def readable_on(background: str, light: str = "#ffffff", dark: str = "#111827") -> str | None:
    """The one of ``light``/``dark`` with the better contrast on ``background``."""
    bg, lo, hi = _luminance(background), _luminance(dark), _luminance(light)
    if bg is None or lo is None or hi is None:
        return None
    return light if (hi + 0.05) / (bg + 0.05) >= (bg + 0.05) / (lo + 0.05) else dark


def page_tokens(app: Flask, brand: Any | None) -> dict[str, Any]:
    """Theme tokens for templates; text on a brand's own primary colour stays readable."""
    tokens = theming.tokens(app, brand)
    if brand is not None and brand.primary_color:
        on_primary = readable_on(brand.primary_color)
        if on_primary:
            tokens["on_primary"] = on_primary
    return tokens


def lang_url(code: str) -> str:
    """The current URL with ``?lang=code`` (other query arguments are kept)."""
    if not has_request_context():
        return "?" + urlencode({"lang": code})
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    args.append(("lang", code))
    return request.script_root + request.path + "?" + urlencode(args)


def theme_asset(filename: str) -> str:
    """URL of a theme static file; the theme name busts caches when the theme changes."""
    return url_for("theme_static", filename=filename, v=theming.active_theme_name())


def menu_url(item: dict[str, Any]) -> str | None:
    if item.get("url"):
        return str(item["url"])
    endpoint = item.get("endpoint")
    if not endpoint:
        return None
    try:
        return url_for(endpoint, **item.get("values", {}))
    except BuildError:  # the plugin was enabled after start-up: routes mount on restart
        return None


def group_services(rows: Any) -> list[tuple[str | None, list[Any]]]:
    """Group ``(Service, category_name)`` rows, keeping order; uncategorised go last."""
    groups: dict[str | None, list[Any]] = {}
    for service, category in rows:
        groups.setdefault(category, []).append(service)
    ordered = [(name, items) for name, items in groups.items() if name is not None]
    if None in groups:
        ordered.append((None, groups[None]))
    return ordered


def init_app(app: Flask) -> None:
    registry = app.extensions["fulian_plugins"]

    def slot(name: str, **ctx: Any) -> Markup:
        return registry.slot(name, **ctx)

    def menu_items(face: str) -> list[dict[str, Any]]:
        return registry.menu_items(face, g.get("user"))

    @app.context_processor
    def _fulian_context() -> dict[str, Any]:
        brand = current_brand()
        return {
            "brand": brand,
            "theme": page_tokens(current_app, brand),
            "slot": slot,
            "menu_items": menu_items,
            "menu_url": menu_url,
            "locale": current_locale(),
            "lang_url": lang_url,
            "theme_asset": theme_asset,
            "group_services": group_services,
            "tender_label": tender_label,
        }

    app.add_template_filter(money, "money")
    app.add_template_filter(phones.display, "phone")
    app.add_template_filter(css_value, "css_value")
