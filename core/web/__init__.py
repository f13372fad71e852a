"""Server-rendered pages of the three faces (customer, staff, admin).

Pages share the services and the policy layer (:mod:`core.auth.policy`) with the API.
Every form carries a CSRF token (Flask-WTF's CSRFProtect, checked for every
state-changing request outside ``/api/``, which uses bearer tokens instead).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect

from .menus import face_menu
from .session import page_user


def init_app(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life
    csrf = CSRFProtect(app)

    @app.before_request
    def _csrf() -> None:
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE") \
                and not request.path.startswith("/api/"):
            csrf.protect()

    @app.errorhandler(CSRFError)
    def _csrf_failed(_exc: CSRFError) -> Any:
        message = _("The form expired or was sent from elsewhere. Reload the page and try "
                    "again.")
        return render_template("errors/error.html", code=400, message=message), 400

    @app.context_processor
    def _page_context() -> dict[str, Any]:
        return {"current_user": page_user(), "face_menu": face_menu}

    from ..config import is_production
    from . import account, pay, sandbox
    from .admin import bp as admin_bp
    from .customer import bp as customer_bp
    from .staff_app import bp as staff_bp

    for bp in (account.bp, customer_bp, staff_bp, admin_bp, pay.bp):
        app.register_blueprint(bp)
    if not is_production(app.config):  # the sandbox's "provider site" does not exist
        app.register_blueprint(sandbox.bp)
