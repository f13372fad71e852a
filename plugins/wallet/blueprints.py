"""The wallet's page blueprints, defined once so that every module with pages can add
its routes to them (no module imports another one at its bottom to register routes).

``admin`` (``/admin/wallet``): the desk (:mod:`.pages`), the set-up pages
(:mod:`.pages_setup`) and the desk's checkout actions (:mod:`.checkout`); it serves the
plugin's templates and static files. ``customer`` (``/me/wallet``): the member centre's
statement, top-up and checkout actions (:mod:`.checkout`). The API has its own
blueprint in :mod:`.api`.
"""

from __future__ import annotations

from flask import Blueprint

admin = Blueprint("wallet_admin", __name__, url_prefix="/admin/wallet",
                  template_folder="templates", static_folder="static",
                  static_url_path="/static")
customer = Blueprint("wallet_customer", __name__, url_prefix="/me/wallet",
                     template_folder="templates")
