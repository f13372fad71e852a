"""Scopes the resource endpoints share, on top of :mod:`core.auth.policy`.

* *manage* (``policy.can_manage_store``): brand roles everywhere, store managers and
  front desks at their stores. Enough to see closed stores, unpublished offers, private
  staff fields, schedules, and the CRM.
* *administer* (:func:`administers`): brand roles everywhere, store managers at their
  stores. Needed to change a store's settings, its staff and their schedules.
* *brand* (:func:`require_brand_admin`): owner and brand_admin, for brand-wide things
  (new stores, the service catalogue, the audit log).

Callers answer 404 for what the user may not see and 403 for what they may see but not
change, so that existence does not leak.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, false, true

from ...auth import policy
from ...models import User
from ..common import Forbidden

ADMIN_ROLES = ("store_manager",)


def admin_store_ids(user: User | None) -> set[int] | None:
    """Stores whose settings, staff and schedules the user may change (None = all)."""
    if user is None:
        return set()
    if policy.is_brand_admin(user):
        return None
    return {r.store_id for r in user.roles if r.role in ADMIN_ROLES and r.store_id}


def administers(user: User | None, store_id: int) -> bool:
    ids = admin_store_ids(user)
    return ids is None or store_id in ids


def require_brand_admin(user: User) -> None:
    if not policy.is_brand_admin(user):
        raise Forbidden(_l("Only the owner or a brand administrator may do this."))


def in_scope(column: Any, ids: set[int] | None) -> ColumnElement[bool]:
    """SQL: ``column`` is one of ``ids`` (None = every value)."""
    if ids is None:
        return true()
    if not ids:
        return false()
    return column.in_(sorted(ids))


def is_crm_user(user: User | None) -> bool:
    """Brand roles, store managers and front desks work with customer records."""
    ids = policy.managed_store_ids(user)
    return ids is None or bool(ids)
