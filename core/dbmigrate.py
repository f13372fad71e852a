"""Schema migrations for core and every installed plugin, in one Alembic history.

The core owns the branch labelled ``core``; each plugin ships its own branch in
``<plugin package>/migrations/versions`` whose first revision has ``branch_labels =
("<plugin>",)`` and ``depends_on = "<core revision>"``. We point Alembic at all of those
folders and always upgrade to ``heads``, so installing a plugin (enabled or not) is
enough for ``fulian db upgrade`` to create its tables.
"""

from __future__ import annotations

import io
import os
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import flask_migrate
from flask import Flask, current_app

from .extensions import migrate

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


def upgrade(revision: str = "heads") -> None:
    flask_migrate.upgrade(revision=revision)


def capture(fn: Any, *args: Any, **kwargs: Any) -> str:
    """Run an Alembic command that prints, returning what it printed."""
    buf = io.StringIO()
    with redirect_stdout(buf):
        fn(*args, **kwargs)
    return buf.getvalue()


def current() -> str:
    return capture(flask_migrate.current)


def history() -> str:
    return capture(flask_migrate.history)
