"""Template context shared by every page (stub; filled in by the themes work)."""

from flask import Flask


def init_app(app: Flask) -> None:
    pass
