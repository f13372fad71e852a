"""(stub: to be written)"""

from __future__ import annotations

from flask import render_template

from . import bp


@bp.get("/")
def today(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="staff", title="today")


@bp.get("/week")
def week(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="staff", title="week")


@bp.get("/complete")
def complete(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="staff", title="complete")


@bp.get("/performance")
def performance(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="staff", title="performance")


@bp.get("/schedule")
def schedule(**_kw):  # noqa: ANN201
    return render_template("_todo.html", face="staff", title="schedule")

