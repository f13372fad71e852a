"""Menus of the staff app and the back office: the core's entries plus the enabled
plugins' (``fulian_menu_items``), filtered by what the user may open."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.routing import BuildError

from ..auth import policy
from ..plugins import plugins
from .session import page_user

# (endpoint, label, order, who may see it: "all", "admin" (store managers and up),
#  "brand" (owner, brand admins))
ADMIN_MENU = [
    ("admin.dashboard", _l("Today"), 10, "all"),
    ("admin.bookings", _l("Bookings"), 20, "all"),
    ("admin.calendar", _l("Calendar"), 25, "all"),
    ("admin.new_booking", _l("New booking"), 27, "all"),
    ("admin.customers", _l("Customers"), 30, "all"),
    ("admin.stores", _l("Stores"), 40, "admin"),
    ("admin.services", _l("Services"), 50, "admin"),
    ("admin.staff", _l("Staff"), 60, "admin"),
    ("admin.roster", _l("Roster"), 70, "admin"),
    ("admin.plugins", _l("Plugins"), 90, "brand"),
    ("admin.brand", _l("Brand"), 95, "brand"),
]
STAFF_MENU = [
    ("staff_app.today", _l("Today"), 10, "all"),
    ("staff_app.week", _l("This week"), 20, "all"),
    ("staff_app.complete", _l("Scan code"), 30, "all"),
    ("staff_app.performance", _l("Performance"), 40, "all"),
    ("staff_app.schedule", _l("Availability"), 50, "all"),
]


def _allowed(user: Any, who: str) -> bool:
    if who == "brand":
        return policy.is_brand_admin(user)
    if who == "admin":
        ids = policy.admin_store_ids(user)
        return ids is None or bool(ids)
    return True


def face_menu(face: str) -> list[dict[str, Any]]:
    user = page_user()
    entries = []
    for endpoint, label, order, who in (ADMIN_MENU if face == "admin" else STAFF_MENU):
        if _allowed(user, who):
            entries.append({"label": str(label), "endpoint": endpoint, "order": order})
    entries.extend(plugins().menu_items(face, user))
    items = []
    for entry in sorted(entries, key=lambda e: e.get("order", 100)):
        try:
            url = entry.get("url") or url_for(entry["endpoint"])
        except BuildError:
            continue
        items.append({"label": entry["label"], "url": url,
                      "active": request.endpoint == entry.get("endpoint")})
    return items
