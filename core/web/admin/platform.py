"""(stub: to be written)"""

from __future__ import annotations

from flask import render_template

from . import bp


@bp.get("/plugins")
def plugins(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="admin", title="plugins")


@bp.get("/brand")
def brand(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="admin", title="brand")

