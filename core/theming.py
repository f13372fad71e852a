"""Themes: brand tokens plus template and static overrides with fallback.

A theme is a folder with ``theme.toml`` (``name``, optional ``extends`` and a ``[tokens]``
table: colours, logo, fonts), an optional ``templates/`` and ``static/``. A theme only
overrides what it needs: templates are looked up in the active theme, then the themes it
extends, then ``default``, then the core and plugin template folders. Brand settings
(name, logo, colours) override theme tokens, so an owner can rebrand without a new theme.
The active theme is brand data, so switching it takes effect on the next request.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, abort, g, has_app_context, send_from_directory
from flask_babel import lazy_gettext as _l
from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, TemplateNotFound

import themes as bundled_themes

from .errors import NotFound, ValidationFailed

CORE_TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_THEME = "default"


@dataclass(frozen=True)
class Theme:
    name: str
    path: Path
    title: str
    extends: str | None
    tokens: dict[str, Any] = field(default_factory=dict)


def theme_dirs(app: Flask) -> list[Path]:
    """Where themes are found: bundled, ``FULIAN_THEMES_PATH``, ``<instance>/themes``."""
    dirs = [Path(bundled_themes.__file__).resolve().parent]
    extra = app.config.get("FULIAN_THEMES_PATH")
    if extra:
        dirs.extend(Path(p) for p in str(extra).split(":") if p)
    dirs.append(Path(app.config["INSTANCE_PATH"]) / "themes")
    return dirs


def available_themes(app: Flask) -> dict[str, Theme]:
    """All themes by name; later folders win, so an instance theme can replace a bundled one.

    Read at most once per request (pages ask several times while rendering).
    """
    if has_app_context() and "fulian_themes" in g:
        return g.fulian_themes
    found = _scan(app)
    if has_app_context():
        g.fulian_themes = found
    return found


def _scan(app: Flask) -> dict[str, Theme]:
    found: dict[str, Theme] = {}
    for folder in theme_dirs(app):
        if not folder.is_dir():
            continue
        for toml in sorted(folder.glob("*/theme.toml")):
            try:
                data = tomllib.loads(toml.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                continue  # a broken theme is skipped, never fatal
            name = toml.parent.name
            found[name] = Theme(
                name=name, path=toml.parent, title=str(data.get("name", name)),
                extends=data.get("extends") or None, tokens=dict(data.get("tokens", {})),
            )
    return found


def theme_chain(app: Flask, name: str) -> list[Theme]:
    """The theme, the themes it extends, and finally ``default`` (no cycles)."""
    themes = available_themes(app)
    chain: list[Theme] = []
    current: str | None = name if name in themes else DEFAULT_THEME
    while current and current in themes and all(t.name != current for t in chain):
        chain.append(themes[current])
        current = themes[current].extends
    if all(t.name != DEFAULT_THEME for t in chain) and DEFAULT_THEME in themes:
        chain.append(themes[DEFAULT_THEME])
    return chain


def active_theme_name() -> str:
    if not has_app_context():
        return DEFAULT_THEME
    cached = g.get("fulian_theme")
    if cached:
        return cached
    from .extensions import db
    from .models import BrandSettings

    try:
        brand = db.session.get(BrandSettings, 1)
        name = brand.theme if brand else DEFAULT_THEME
    except Exception:  # before migrations: fall back to the default look
        db.session.rollback()
        name = DEFAULT_THEME
    g.fulian_theme = name
    return name


def tokens(app: Flask, brand: Any | None) -> dict[str, Any]:
    """Design tokens: theme chain defaults, then the brand's own settings on top."""
    merged: dict[str, Any] = {}
    for theme in reversed(theme_chain(app, active_theme_name())):
        merged.update(theme.tokens)
    if brand is not None:
        if brand.primary_color:
            merged["primary"] = brand.primary_color
        if brand.accent_color:
            merged["accent"] = brand.accent_color
        if brand.logo_url:
            merged["logo_url"] = brand.logo_url
        merged["brand_name"] = brand.name
    return merged


class ThemeLoader(BaseLoader):
    """Resolve templates in the active theme chain at render time."""

    def __init__(self, app: Flask):
        self.app = app

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Any]:
        name = active_theme_name()
        for theme in theme_chain(self.app, name):
            path = theme.path / "templates" / template
            if path.is_file():
                mtime = path.stat().st_mtime
                source = path.read_text(encoding="utf-8")

                def uptodate(path: Path = path, mtime: float = mtime, name: str = name) -> bool:
                    try:
                        return active_theme_name() == name and path.stat().st_mtime == mtime
                    except OSError:
                        return False

                return source, str(path), uptodate
        raise TemplateNotFound(template)


class _ThemeSensitive(FileSystemLoader):
    """Core/plugin templates must be re-resolved when the theme changes, in case the new
    theme overrides one of them."""

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        name = active_theme_name()
        return source, filename, lambda: active_theme_name() == name and uptodate()


def init_app(app: Flask) -> None:
    # Lets the loaders' uptodate() see a theme switch; set in config too, because
    # ``flask run`` (debug) resets jinja's auto_reload from this setting.
    app.config["TEMPLATES_AUTO_RELOAD"] = True
    app.jinja_env.auto_reload = True
    app.jinja_loader = None
    app.jinja_env.loader = ChoiceLoader([
        ThemeLoader(app),
        _ThemeSensitive([str(CORE_TEMPLATES)]),
    ])

    @app.get("/theme/<path:filename>")
    def theme_static(filename: str):  # noqa: ANN202
        for theme in theme_chain(app, active_theme_name()):
            folder = theme.path / "static"
            if (folder / filename).is_file():
                return send_from_directory(folder, filename, max_age=3600)
        abort(404)


def add_template_folders(app: Flask, folders: list[str]) -> None:
    """Let plugins' template folders serve as a last fallback (after core templates)."""
    loader = app.jinja_env.loader
    if isinstance(loader, ChoiceLoader) and folders:
        loader.loaders.append(_ThemeSensitive(folders))


def use_theme(app: Flask, name: str) -> Theme:
    """Make ``name`` the brand's theme (CLI ``fulian theme use``)."""
    from .db import write_transaction
    from .models import BrandSettings

    themes = available_themes(app)
    if name not in themes:
        raise NotFound(_l("No theme named %(name)s. Available: %(names)s.",
                          name=name, names=", ".join(sorted(themes))))
    with write_transaction() as session:
        brand = session.get(BrandSettings, 1)
        if brand is None:
            raise ValidationFailed(_l("The deployment is not initialised; run fulian init."))
        brand.theme = name
    g.pop("fulian_theme", None)
    g.pop("fulian_themes", None)
    return themes[name]
