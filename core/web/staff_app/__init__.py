"""The staff app (员工端): today, bookings to accept, complete by code, schedule."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("staff_app", __name__, url_prefix="/staff")

from . import views  # noqa: E402,F401 - views register on bp
