"""Fulian core: the minimal platform every plugin builds on.

``create_app`` is the only way to get an application; it knows nothing about any
particular plugin and finds them through entry points (see :mod:`core.plugins`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Flask, abort, request
from flask_smorest import Blueprint as SmorestBlueprint

from . import (  # noqa: F401 (dbmigrate registers Alembic config)
    armour,
    audit,
    dbmigrate,
    i18n,
    jobs,
    ratelimit,
    security,
    theming,
)
from .config import load_config
from .db import configure_engine
from .extensions import db, migrate
from .plugins import PluginRegistry, remember_licence_clock

CORE_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = CORE_DIR / "migrations"


def create_app(config: dict[str, Any] | None = None, extra_plugins: Iterable[Any] = ()) -> Flask:
    """Build a Fulian application.

    ``config`` overrides settings from the environment (see :mod:`core.config`);
    ``extra_plugins`` registers plugin objects that are not installed through entry
    points (used by tests to prove the contract).
    """
    settings = load_config(config)
    app = Flask(
        __name__,
        instance_path=settings["INSTANCE_PATH"],
        static_folder=str(CORE_DIR / "static"),
        static_url_path="/static",
    )
    app.config.update(settings)

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    audit.install()

    registry = PluginRegistry(app, extra_plugins)
    app.extensions["fulian_plugins"] = registry
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)

    with app.app_context():
        remember_licence_clock()
        enabled = registry.enabled()
        translation_dirs = registry.call_flat("fulian_translation_dirs")
    i18n.init_app(app, translation_dirs)
    theming.init_app(app)
    jobs.init_app(app)

    from . import api, web
    from .finance import sandbox  # noqa: F401 (registers the built-in sandbox provider)
    from .web import context, errors, home

    context.init_app(app)
    api.init_app(app)
    errors.init_app(app)
    _register_plugin_blueprints(app, registry, enabled)
    armour.init_app(app)  # after the plugins' 404 for disabled ones, before everything
    app.register_blueprint(home.bp)
    web.init_app(app)
    ratelimit.init_app(app)
    security.init_app(app)
    return app


def _register_plugin_blueprints(app: Flask, registry: PluginRegistry,
                                enabled: frozenset[str]) -> None:
    """Mount blueprints of plugins enabled at start-up and 404 them once disabled."""
    owners: dict[str, str] = {}
    with app.app_context():
        for name in sorted(enabled):
            plugin = registry.installed[name]
            others = [p.module for n, p in registry.installed.items() if n != name]
            caller = registry.pm.subset_hook_caller("fulian_register_blueprints", others)
            for result in caller(app=app):
                for bp in result or []:
                    if isinstance(bp, SmorestBlueprint):  # documented in /api/v1/openapi.json
                        app.extensions["fulian_api"].register_plugin_blueprint(bp, name)
                    else:
                        app.register_blueprint(bp)
                    owners[bp.name] = name
                    plugin.blueprints.append(bp.name)
                    if bp.template_folder:  # themes replace Flask's loader: add it back
                        theming.add_template_folders(
                            app, [str(Path(bp.root_path) / bp.template_folder)])

    @app.before_request
    def _hide_disabled_plugins() -> None:
        owner = owners.get((request.blueprint or "").split(".")[0])
        if owner and not registry.is_enabled(owner):
            abort(404)
