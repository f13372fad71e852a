"""Who is logged in to the pages, and the guards every page view uses.

Pages use Flask's signed session cookie (HttpOnly, SameSite=Lax) with CSRF tokens on
every form; the API uses bearer tokens and never reads the cookie, so the two do not
mix. The session keeps the user id and a fingerprint of the password hash: changing the
password ends every page session of that user.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, g, redirect, request, session, url_for

from ..audit import acting_as
from ..auth import policy
from ..extensions import db
from ..models import StaffProfile, User

F = TypeVar("F", bound=Callable[..., Any])


def _fingerprint(user: User) -> str:
    return hashlib.sha256((user.password_hash or "-").encode()).hexdigest()[:16]


def log_in(user: User) -> None:
    session.clear()  # a new session id against fixation
    session.permanent = True
    session["uid"] = user.id
    session["fp"] = _fingerprint(user)


def log_out() -> None:
    session.clear()


def page_user() -> User | None:
    """The logged-in user of this request, or None (cached in ``g``)."""
    if "page_user" in g:
        return g.page_user
    user = None
    uid = session.get("uid")
    if isinstance(uid, int):
        found = db.session.get(User, uid)
        if found is not None and found.is_active and session.get("fp") == _fingerprint(found):
            user = found
    g.page_user = user
    g.user = user
    return user


def safe_next(default: str) -> str:
    """The ``next`` parameter if it stays on this site, else ``default``."""
    target = request.values.get("next") or ""
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc:
        return target
    return default


def staff_profile(user: User | None) -> StaffProfile | None:
    if user is None:
        return None
    return db.session.query(StaffProfile).filter_by(user_id=user.id).first()


def is_back_office_user(user: User | None) -> bool:
    """Brand roles, store managers and front desks use the back office."""
    return user is not None and policy.is_crm_user(user)


def _guard(allowed: Callable[[User], bool], login_endpoint: str) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = page_user()
            if user is None:
                return redirect(url_for(login_endpoint, next=request.full_path.rstrip("?")))
            if not allowed(user):
                abort(403)
            # Writes of a page are attributed to its user in the audit log, as the
            # API's @audited does for bearer tokens.
            with acting_as(user.id, f"user:{user.id}"):
                return view(*args, **kwargs)
        return wrapper  # type: ignore[return-value]
    return decorator


def back_office(view: F) -> F:
    """Pages of the merchant back office (brand roles, store managers, front desk)."""
    return _guard(is_back_office_user, "account.login")(view)


def staff_only(view: F) -> F:
    """Pages of the staff app (users with a staff profile)."""
    return _guard(lambda u: staff_profile(u) is not None, "account.login")(view)


def customer_only(view: F) -> F:
    """Pages of a logged-in customer (phone + SMS code)."""
    return _guard(lambda u: "customer" in policy.roles(u), "account.customer_login")(view)
