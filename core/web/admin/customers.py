"""(stub: to be written)"""

from __future__ import annotations

from flask import render_template

from . import bp


@bp.get("/customers")
def customers(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="admin", title="customers")

