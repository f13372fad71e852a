"""Jobs facade (stub: replaced by the full in-process / rq implementation)."""

from flask import Flask


def init_app(app: Flask) -> None:
    app.extensions["fulian_jobs"] = None
