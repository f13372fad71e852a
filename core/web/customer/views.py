"""(stub: to be written)"""

from __future__ import annotations

from flask import render_template

from . import bp


@bp.get("/stores/<int:store_id>")
def store(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="customer", title="store")


@bp.get("/me/bookings")
def my_bookings(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="customer", title="my_bookings")

