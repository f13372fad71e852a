"""The web kit: what a plugin's pages (back office and member centre) build on.

Page views are guarded (``@back_office``, ``@customer_only``, ``@staff_only``; set-up
pages ``@setup_page`` / ``@brand_page``), read the logged-in user with
:func:`page_user`, check rights through :mod:`policy` (the same layer the API uses),
read posted forms with :class:`Form`, and protect money-moving forms with one-time
tokens (``once.new_token`` / ``once.valid`` / ``once.done`` / ``once.remember``).
Templates render with ``face="admin"`` or ``face="customer"`` and the core's layouts.
"""

from __future__ import annotations

from ..auth import policy
from ..web import once
from ..web.admin.ops_common import fmt_date, fmt_datetime, fmt_time
from ..web.admin.setup_common import (
    administered_store,
    administered_stores,
    brand_page,
    format_major,
    parse_money,
    render,
    require_brand_admin,
    setup_page,
    status_of,
    to_int,
)
from ..web.context import current_brand, money
from ..web.forms import Form, optional_int
from ..web.session import back_office, customer_only, page_user, staff_only

__all__ = [
    # who is looking, and the guards of page views
    "page_user", "back_office", "staff_only", "customer_only", "policy",
    # forms: posted values and field errors; a positive id typed or posted, else None
    "Form", "optional_int",
    # one-time tokens of forms that move money (a module: new_token, valid, done, remember)
    "once",
    # formatting in the reader's locale: amounts in minor units, dates, instants
    "money", "fmt_date", "fmt_datetime", "fmt_time", "current_brand",
    # set-up pages: guards, the store(s) administered, render with the admin layout
    # (status 422 when a form failed), typed numbers and amounts in major units
    "setup_page", "brand_page", "require_brand_admin", "administered_stores",
    "administered_store", "render", "status_of", "to_int", "parse_money", "format_major",
]
