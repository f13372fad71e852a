"""Rate limits on the endpoints attackers hammer: login, SMS codes, booking creation.

One Flask-Limiter per app (state must not leak between app instances), counting in
Redis when ``FULIAN_REDIS_URL`` is set (shared by all workers) and in memory in the
embedded mode. Limits are attached to endpoints by name after the blueprints are
registered, so the API modules stay free of limiter plumbing. A 429 is a problem+json
with ``Retry-After``.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

#: endpoint -> limits (per client IP unless a key function is given below)
LIMITS: dict[str, str] = {
    "auth.create_token": "20 per minute; 200 per hour",
    "auth.sms_code": "5 per minute; 30 per hour",
    "bookings.create": "120 per minute",
    "account.login": "20 per minute; 200 per hour",
    "account.customer_login": "10 per minute; 60 per hour",
}


def _sms_phone() -> str:
    data = request.get_json(silent=True)
    phone = data.get("phone") if isinstance(data, dict) else request.form.get("phone")
    return f"phone:{phone}" if isinstance(phone, str) else get_remote_address()


#: extra per-subject limits: endpoint -> (limits, key function)
PER_SUBJECT = {
    "auth.sms_code": ("1 per 30 seconds; 10 per day", _sms_phone),
}


def init_app(app: Flask) -> Limiter:
    redis_url = app.config.get("FULIAN_REDIS_URL")
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "fulian")
    limiter = Limiter(get_remote_address, app=app, default_limits=[])
    for endpoint, spec in LIMITS.items():
        view = app.view_functions.get(endpoint)
        if view is None:
            continue
        wrapped = limiter.limit(spec)(view)
        extra = PER_SUBJECT.get(endpoint)
        if extra is not None:
            wrapped = limiter.limit(extra[0], key_func=extra[1])(wrapped)
        app.view_functions[endpoint] = wrapped
    app.extensions["fulian_limiter"] = limiter
    return limiter
