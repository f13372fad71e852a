"""The merchant back office (B端)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from . import (  # noqa: E402,F401 - views register on bp
    bookings,
    customers,
    dashboard,
    payments,
    platform,
    plugin_settings,
    roster,
    setup,
)
