"""API-side helpers for the scopes decided in :mod:`core.auth.policy`.

* *manage* (``policy.can_manage_store``): brand roles everywhere, store managers and
  front desks at their stores. Enough to see closed stores, unpublished offers, private
  staff fields, schedules, and the CRM.
* *administer* (``policy.administers``): brand roles everywhere, store managers at their
  stores. Needed to change a store's settings, its staff and their schedules.
* *brand* (:func:`require_brand_admin`): owner and brand_admin, for brand-wide things
  (new stores, the service catalogue, the audit log).

Callers answer 404 for what the user may not see and 403 for what they may see but not
change, so that existence does not leak.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ...auth import policy
from ...auth.policy import in_scope  # noqa: F401 - re-exported for the resources
from ...models import User
from ..common import Forbidden


def require_brand_admin(user: User) -> None:
    if not policy.is_brand_admin(user):
        raise Forbidden(_l("Only the owner or a brand administrator may do this."))


