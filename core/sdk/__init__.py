"""The plugin SDK: the only part of ``core`` a plugin may import.

Like datasette's and pretix's plugin APIs, this package is a contract that bundled and
third-party plugins build on: a name it exports keeps its meaning, and leaves only after
a deprecation. Everything else in ``core`` is private and may change without notice, so
the core can be reorganised behind the SDK. A plugin imports from ``core.sdk`` and its
submodules only (``tests/core/test_sdk_boundaries.py`` enforces it for the plugins in
this repository); the hooks it implements are documented in :mod:`core.hookspecs`.

=======================  ================================================================
``core.sdk``             hook marker, plugin metadata and settings, errors, database,
                         time, jobs
``core.sdk.models``      the core models a plugin may read and reference
``core.sdk.services``    bookings, orders and pricing, ledger, customers, phones,
                         validation, SMS provider types
``core.sdk.payments``    the payment-provider contract
``core.sdk.web``         page guards, forms, once-tokens, formatting, set-up pages, policy
``core.sdk.api``         API kit: callers, problems, ids, idempotency, schema fields
=======================  ================================================================

The submodules only re-export: each name's documentation is on its home module.
"""

from __future__ import annotations

from ..config import is_production
from ..db import UTCDateTime, utcnow, write_transaction
from ..errors import (
    Conflict,
    FulianError,
    NotFound,
    RuleViolation,
    TooManyRequests,
    ValidationFailed,
)
from ..extensions import db
from ..hookspecs import hookimpl
from ..jobs import enqueue
from ..plugins import PluginMeta, plugin_settings

__all__ = [
    # the plugin itself: mark hook implementations, describe the plugin (``meta``), read
    # its settings in this deployment (``fulian_settings_schema``, defaults filled in)
    "hookimpl", "PluginMeta", "plugin_settings",
    # errors a plugin raises (and catches): translated messages, mapped to HTTP statuses
    "FulianError", "ValidationFailed", "NotFound", "Conflict", "RuleViolation",
    "TooManyRequests",
    # the database: flask-sqlalchemy handle (models subclass ``db.Model``), one write
    # transaction per unit of work, aware UTC instants
    "db", "write_transaction", "utcnow", "UTCDateTime",
    # the deployment: production or demo/test (``is_production(current_app.config)``)
    "is_production",
    # background jobs, committed with the change that caused them
    "enqueue",
]
