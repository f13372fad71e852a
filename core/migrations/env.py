"""Alembic environment: runs inside the Flask app (Flask-Migrate) on its engine, or on
``FULIAN_MIGRATION_DATABASE_URL`` (the tables' owner) when that is set."""

from __future__ import annotations

from alembic import context
from flask import current_app

from core.dbmigrate import migration_engine, migration_url
from core.extensions import db

config = context.config


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render our column types as plain SQLAlchemy ones: migrations must not import app
    code that may change later."""
    from core.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=migration_url(current_app.config),
        target_metadata=db.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with migration_engine() as connectable, connectable.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations recreate tables; with foreign keys enforced SQLite would
            # refuse to drop a referenced table. The pragma only works outside a
            # transaction, so it goes straight to the driver connection.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(
            connection=connection,
            target_metadata=db.metadata,
            **{"render_as_batch": connection.dialect.name == "sqlite", "compare_type": True,
               "render_item": render_item,
               **current_app.extensions["migrate"].configure_args},
        )
        try:
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
