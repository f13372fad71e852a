"""Schema migrations for core and every installed plugin, in one Alembic history.

The core owns the branch labelled ``core``; each plugin ships its own branch in
``<plugin package>/migrations/versions`` whose first revision has ``branch_labels =
("<plugin>",)`` and ``depends_on = "<core revision>"``. We point Alembic at all of those
folders and always upgrade to ``heads``, so installing a plugin (enabled or not) is
enough for ``fulian db upgrade`` to create its tables.

Migrations may run as another login than the app: ``FULIAN_MIGRATION_DATABASE_URL`` (the
tables' owner; default ``FULIAN_DATABASE_URL``). When the two name different PostgreSQL
users, every upgrade ends by granting the app's login what it needs on every table,
new ones included (:mod:`core.dbroles`), so the app never owns what it must not alter.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flask_migrate
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import Engine, create_engine

from . import dbroles
from .db import configure_engine
from .extensions import db, migrate

CORE_VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"


def version_locations(app: Flask) -> list[str]:
    registry = app.extensions["fulian_plugins"]
    dirs = [str(CORE_VERSIONS)]
    for plugin in registry.installed.values():
        module_file = getattr(plugin.module, "__file__", None)
        if not module_file:
            continue
        folder = Path(module_file).resolve().parent / "migrations" / "versions"
        if folder.is_dir():
            dirs.append(str(folder))
    return dirs


@migrate.configure
def _configure(config: Any) -> Any:
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(version_locations(current_app)))
    return config


def migration_url(config: Any) -> str:
    """The URL migrations run on: ``FULIAN_MIGRATION_DATABASE_URL``, else the app's."""
    return config.get("FULIAN_MIGRATION_DATABASE_URL") or config["SQLALCHEMY_DATABASE_URI"]


def app_role(config: Any) -> str | None:
    """The app's PostgreSQL login when migrations log in as another user (the owner),
    i.e. the role to grant to after each upgrade; None when both are one login."""
    app_login = dbroles.login_of(config["SQLALCHEMY_DATABASE_URI"])
    owner = dbroles.login_of(migration_url(config))
    return app_login if app_login and owner and app_login != owner else None


@contextmanager
def migration_engine() -> Iterator[Engine]:
    """The app's engine, or one on the migration URL for the time of one command (the
    owner's password then stays out of the app's pool)."""
    url = migration_url(current_app.config)
    if url == current_app.config["SQLALCHEMY_DATABASE_URI"]:
        yield db.engine
        return
    engine = create_engine(url, pool_pre_ping=True)
    configure_engine(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade(revision: str = "heads") -> dbroles.GrantReport | None:
    """Migrate as the owner; then, if the app logs in as another role, grant it what it
    needs (returned, for the command to print)."""
    flask_migrate.upgrade(revision=revision)
    role = app_role(current_app.config)
    return grant_app_role(role) if role else None


def grant_app_role(role: str) -> dbroles.GrantReport:
    """Grant ``role`` the app's privileges on every table, as the migration login."""
    with migration_engine() as engine, engine.begin() as conn:
        if conn.dialect.name != "postgresql":
            raise dbroles.RoleNotGrantable(_("Database roles exist on PostgreSQL only."))
        return dbroles.grant_app_role(conn, role)


def current() -> list[str]:
    """Revisions applied to the database (one per branch head)."""
    with db.engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    script = _script()
    out = []
    for rev in heads:
        sc = script.get_revision(rev)
        head = " (head)" if sc is not None and sc.is_head else ""
        out.append(f"{rev}{head}")
    return out


def history() -> list[str]:
    """Every known revision, newest first, with its branch and message."""
    lines = []
    for sc in _script().walk_revisions():
        labels = ",".join(sorted(sc.branch_labels)) if sc.branch_labels else ""
        lines.append(f"{sc.down_revision or '<base>'} -> {sc.revision}"
                     f"{' (' + labels + ')' if labels else ''}: {sc.doc}")
    return lines


def _script() -> ScriptDirectory:
    config = current_app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config)


def pending() -> bool:
    """Whether the database lacks migrations the installed code has (``fulian db
    upgrade`` not run after an upgrade or a plugin install). Revisions the code does not
    know (a plugin uninstalled since) are left out; :func:`unknown` lists them."""
    script = _script()
    known = [rev for rev in _applied() if _known(script, rev)]
    reached = {sc.revision for sc in script.iterate_revisions(known, "base")} \
        if known else set()
    return not set(script.get_heads()) <= reached


def unknown() -> list[str]:
    """Applied revisions this code does not know: a plugin whose tables are in the
    database was uninstalled, or the code is older than the database."""
    script = _script()
    return [rev for rev in _applied() if not _known(script, rev)]


def _applied() -> tuple[str, ...]:
    with db.engine.connect() as conn:
        return tuple(MigrationContext.configure(conn).get_current_heads())


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises its own ResolutionError family for unknown ids
        return False
