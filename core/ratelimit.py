"""Rate limits on the endpoints attackers hammer: login, SMS codes, booking creation.

Every route that sends an SMS code (``POST /api/v1/auth/sms-code`` and the code step of
``/me/login``) is limited per client address and per phone number (E.164). The
per-phone limit is enforced again by the service in the database
(:func:`core.auth.sms.request_code`), so it holds across app servers and without Redis.

One Flask-Limiter per app (state must not leak between app instances), counting in
Redis when ``FULIAN_REDIS_URL`` is set (shared by all workers) and in memory in the
embedded mode. Limits are attached to endpoints by name after the blueprints are
registered, so the API modules stay free of limiter plumbing. A 429 is a problem+json
with ``Retry-After``.

**Redis down is not an error page** (NOTES trap 16): a limiter that raises when its
storage is unreachable turns every limited route — logins, SMS codes, bookings — into a
500. So Flask-Limiter's in-memory fallback is on (``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED``:
the same limits, counted per process while Redis is away, which still stops a flood) and
any other storage error is swallowed (``RATELIMIT_SWALLOW_ERRORS``: the request goes on
unlimited rather than failing). Flask-Limiter pings Redis again now and then (after 1, 2,
4 ... 32 seconds, then from 1 again) and goes back to it without a restart. Each switch
is logged once per process and outage, not per request, and counted
(:func:`storage_outages`). Short socket timeouts keep an unreachable (not refusing)
Redis from holding requests up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from . import phones
from .auth.sms import CODE_LIMITS

log = logging.getLogger(__name__)

#: seconds to connect to / hear from the limits' Redis before the fallback takes over
REDIS_TIMEOUT_SECONDS = 0.5

#: endpoint -> limits (per client IP unless a key function is given below)
LIMITS: dict[str, str] = {
    "auth.create_token": "20 per minute; 200 per hour",
    "auth.sms_code": "5 per minute; 30 per hour",
    "bookings.create": "120 per minute",
    "account.login": "20 per minute; 200 per hour",
    "account.customer_login": "10 per minute; 60 per hour",
}


def _sms_phone() -> str:
    """The number a code goes to, in E.164: "138 0013 8000" and "+8613800138000" share
    one budget. An invalid number (answered 422 anyway) counts as typed."""
    data = request.get_json(silent=True)
    phone = data.get("phone") if isinstance(data, dict) else request.form.get("phone")
    if not isinstance(phone, str):
        return get_remote_address()
    return f"phone:{phones.lookup_key(phone) or phone.strip()[:64]}"


def _not_sending_code() -> bool:
    """True unless this is the customer login page asking for a code (its other step,
    entering the code, has the page's own limit)."""
    if request.method != "POST":
        return True
    return bool(request.form.get("code")) or request.form.get("step") == "code"


def _limit_spec(limits: tuple[tuple[timedelta, int], ...]) -> str:
    return "; ".join(f"{count} per {int(window.total_seconds())} seconds"
                     for window, count in limits)


#: codes per phone, as the service counts them in the database (this copy keeps the load
#: off the database while Redis is up)
SMS_PER_PHONE = _limit_spec(CODE_LIMITS)
#: codes per client address, on every route that sends one
SMS_PER_CLIENT = "5 per minute; 30 per hour"

#: extra limits: endpoint -> [(limits, key function, exempt-when)]; key None = client IP
PER_SUBJECT: dict[str, list[tuple[str, Callable[[], str] | None,
                                  Callable[[], bool] | None]]] = {
    "auth.sms_code": [(SMS_PER_PHONE, _sms_phone, None)],
    "account.customer_login": [(SMS_PER_CLIENT, None, _not_sending_code),
                               (SMS_PER_PHONE, _sms_phone, _not_sending_code)],
}


_outages = 0
_outages_lock = threading.Lock()


def storage_outages() -> int:
    """How many times a limiter of this process lost its storage (Redis) so far."""
    return _outages


def storage_down(app: Flask) -> bool:
    """Whether ``app``'s limits are counted in process memory now because Redis is away."""
    limiter = app.extensions.get("fulian_limiter")
    return isinstance(limiter, _ReportingLimiter) and limiter._storage_dead


class _ReportingLimiter(Limiter):
    """A Limiter that says when it falls back to memory and when Redis is back.

    Flask-Limiter keeps that state in ``_storage_dead`` and sets it exactly on the two
    transitions; this property sees them, so the warning is written once per outage.
    """

    _fulian_dead = False

    @property
    def _storage_dead(self) -> bool:
        return self._fulian_dead

    @_storage_dead.setter
    def _storage_dead(self, dead: bool) -> None:
        global _outages
        was, self._fulian_dead = self._fulian_dead, bool(dead)
        if dead and not was:
            with _outages_lock:
                _outages += 1
            log.warning("rate-limit storage (Redis) unreachable: limits are counted in this "
                        "process's memory until it is back (outage %d of this process)",
                        _outages)
        elif was and not dead:
            log.warning("rate-limit storage (Redis) is reachable again: limits are shared "
                        "through it again")


def init_app(app: Flask) -> Limiter:
    redis_url = app.config.get("FULIAN_REDIS_URL")
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    if str(app.config["RATELIMIT_STORAGE_URI"]).startswith(("redis://", "rediss://")):
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_timeout": REDIS_TIMEOUT_SECONDS})
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "fulian")
    limiter = _ReportingLimiter(get_remote_address, app=app, default_limits=[])
    for endpoint, spec in LIMITS.items():
        view = app.view_functions.get(endpoint)
        if view is None:
            continue
        wrapped = limiter.limit(spec)(view)
        for extra, key_func, exempt_when in PER_SUBJECT.get(endpoint, []):
            wrapped = limiter.limit(extra, key_func=key_func, exempt_when=exempt_when)(wrapped)
        app.view_functions[endpoint] = wrapped
    app.extensions["fulian_limiter"] = limiter
    return limiter
