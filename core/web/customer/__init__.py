"""The customer face (C端): browse, book, my bookings, member centre."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("customer", __name__)

from . import views  # noqa: E402,F401 - views register on bp
