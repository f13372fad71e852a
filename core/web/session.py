"""Who is logged in to the pages, and the guards every page view uses.

Pages use Flask's signed session cookie (HttpOnly, SameSite=Lax, Secure in production)
with CSRF tokens on every form; the API uses bearer tokens and never reads the cookie,
so the two do not mix. The cookie holds only a random session id: the server-side
``web_sessions`` row (:mod:`core.auth.sessions`) decides whether it is still good, so
logging out, an idle timeout, the absolute lifetime, a password change, a removed role
or a deactivated account end it for every copy of the cookie.

This replaces the password-hash fingerprint the cookie used to carry: every writer of a
password calls :func:`core.auth.sessions.end_all`, which also revokes API tokens, which
a fingerprint in the cookie never could.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, g, redirect, request, session, url_for

from ..audit import acting_as, client_ip
from ..auth import policy
from ..auth import sessions as web_sessions
from ..extensions import db
from ..models import StaffProfile, User

F = TypeVar("F", bound=Callable[..., Any])
#: the cookie key of the random session id
SESSION_KEY = "sid"


def log_in(user: User, method: str = "password") -> None:
    """Start a page session for ``user`` (audited as a ``login`` by ``method``).

    The cookie session is cleared first: whatever an attacker planted in it before the
    login (session fixation) does not survive, and a fresh random id is issued."""
    session.clear()
    session_id = web_sessions.start(user, method, ip=client_ip(),
                                    user_agent=request.user_agent.string)
    session.permanent = True  # expires with the absolute lifetime (PERMANENT_SESSION_LIFETIME)
    session[SESSION_KEY] = session_id
    g.pop("page_user", None)


def log_out() -> None:
    """End this page session on the server (audited as a ``logout``) and clear the
    cookie: a copy of the cookie taken before is worthless afterwards."""
    session_id = session.get(SESSION_KEY)
    if isinstance(session_id, str) and session_id:
        web_sessions.end(session_id, "logout")
    session.clear()
    g.pop("page_user", None)


def page_user() -> User | None:
    """The logged-in user of this request, or None (cached in ``g``)."""
    if "page_user" in g:
        return g.page_user
    user = None
    session_id = session.get(SESSION_KEY)
    if isinstance(session_id, str) and session_id:
        user = web_sessions.resume(session_id, current_app.config)
        if user is None:  # ended or expired: drop the dead id from the cookie
            session.pop(SESSION_KEY, None)
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
