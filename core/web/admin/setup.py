"""(stub: to be written)"""

from __future__ import annotations

from flask import render_template

from . import bp


@bp.get("/stores")
def stores(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="admin", title="stores")


@bp.get("/services")
def services(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="admin", title="services")


@bp.get("/staff")
def staff(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="admin", title="staff")

