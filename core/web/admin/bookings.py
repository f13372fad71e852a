"""(stub: to be written)"""

from __future__ import annotations

from flask import render_template

from . import bp


@bp.get("/bookings")
def bookings(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="admin", title="bookings")


@bp.get("/calendar")
def calendar(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="admin", title="calendar")


@bp.get("/bookings/new")
def new_booking(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="admin", title="new_booking")

