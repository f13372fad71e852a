"""Security headers on every response, and trusting (only) our own reverse proxy.

Why each header is there:

* ``Content-Security-Policy`` is the safety net for an XSS bug we have not found yet: no
  inline script runs at all (every script is a file of ours), styles come from our
  stylesheets or from a ``<style>`` element carrying this request's nonce
  (:func:`csp_nonce`; the theme's design tokens), nothing may frame us, and forms post
  only to us and to the pages of the online payment providers that are ready (the
  checkout form is answered with a redirect to the provider, and Chrome applies
  ``form-action`` to redirects too; see :func:`extra_form_origins`).
* ``X-Frame-Options``, ``X-Content-Type-Options``, ``Referrer-Policy``,
  ``Cross-Origin-Opener-Policy``: clickjacking, MIME sniffing, booking codes leaking
  through the Referer of external links, and cross-window access by opened pages.
* ``Permissions-Policy``: the staff app scans QR codes with the camera, nothing else may
  use it, and nobody needs geolocation or the microphone.
* ``Strict-Transport-Security`` only in production: a demo on ``http://localhost`` must
  not teach the browser to refuse plain HTTP for that host for a year.

JSON responses get the same headers (harmless there, and one rule is easier to check).
A header a view set itself is left alone, so one page can loosen or tighten its policy.

``FULIAN_TRUSTED_PROXIES`` (0 to 5, default 0) says how many reverse proxies stand in
front of the app. With 1 (one nginx), the client address, scheme, host and port are
taken from the ``X-Forwarded-*`` headers that proxy appends, so rate limits and the
audit trail see the real client and ``request.is_secure`` is true behind TLS
termination. With 0 the headers are ignored: otherwise any client could claim any
address and walk around the rate limits.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable

from flask import Flask, Response, current_app, g, has_app_context
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import is_production

__all__ = ["HSTS", "HEADERS", "content_security_policy", "csp_nonce", "extra_form_origins",
           "init_app"]

log = logging.getLogger(__name__)

NONCE_KEY = "fulian_csp_nonce"
HSTS = "max-age=31536000; includeSubDomains"
#: headers every response gets (unless the view set its own)
HEADERS: dict[str, str] = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(self), geolocation=(), microphone=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# A provider's origin goes into a header: anything but scheme://host[:port] (a wildcard
# first label allowed) could add directives, so it is dropped.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_ORIGIN = re.compile(rf"^https?://(?:\*\.)?{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?$",
                     re.IGNORECASE)


def csp_nonce() -> str:
    """This request's CSP nonce (made on first use, kept in :data:`flask.g`).

    Templates print it on the few ``<style>`` elements we write ourselves
    (``<style nonce="{{ csp_nonce() }}">``); the same value goes into the
    ``Content-Security-Policy`` header. A fresh one per request means a nonce seen in one
    page cannot be reused by injected markup in another.
    """
    nonce = g.get(NONCE_KEY)
    if nonce is None:
        nonce = secrets.token_urlsafe(18)
        setattr(g, NONCE_KEY, nonce)
    return nonce


def content_security_policy(nonce: str, form_origins: Iterable[str] = ()) -> str:
    """The ``Content-Security-Policy`` value for a response with ``nonce``.

    ``img-src`` allows ``https:`` because a brand may give its logo as an https URL;
    ``data:`` is used by stylesheets (Swagger UI's icons). Scripts and styles never run
    inline: no ``'unsafe-inline'``, no ``'unsafe-eval'``.
    """
    form_action = " ".join(["'self'", *form_origins])
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        f"style-src 'self' 'nonce-{nonce}'",
        "img-src 'self' data: https:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        f"form-action {form_action}",
    ])


def extra_form_origins(app: Flask) -> list[str]:
    """Origins of the online payment providers' pages that forms may be sent to.

    Each provider lists them in ``origins`` (e.g. ``("https://openapi.alipay.com",)``).
    Asked on every HTML response: the registry is cached per process and providers'
    ``readiness()`` must be cheap. A broken provider or registry costs the checkout its
    redirect, never the page: the error is logged and no extra origin is allowed.
    """
    def collect() -> list[str]:
        found: list[str] = []
        from .finance.providers import providers

        for provider in providers().values():
            for origin in getattr(provider, "origins", ()) or ():
                clean = origin.strip().rstrip("/") if isinstance(origin, str) else ""
                if not _ORIGIN.match(clean):
                    log.warning("ignoring the malformed origin %r of payment provider %r",
                                origin, getattr(provider, "code", provider))
                elif clean not in found:
                    found.append(clean)
        return found

    try:
        if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
            return collect()
        with app.app_context():
            return collect()
    except Exception:  # noqa: BLE001 - a header must never break the response
        log.warning("could not list the payment providers' origins for form-action",
                    exc_info=True)
        return []


def _add_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in HEADERS.items():
        headers.setdefault(name, value)
    if is_production(current_app.config):
        headers.setdefault("Strict-Transport-Security", HSTS)
    if "Content-Security-Policy" not in headers:
        # form-action matters only for documents: spare JSON and files the registry call
        origins = extra_form_origins(current_app._get_current_object()) \
            if response.mimetype == "text/html" else []  # type: ignore[attr-defined]
        headers["Content-Security-Policy"] = content_security_policy(csp_nonce(), origins)
    return response


def trusted_proxies(app: Flask) -> int:
    """``FULIAN_TRUSTED_PROXIES`` of ``app`` (0 when unset)."""
    return int(app.config.get("FULIAN_TRUSTED_PROXIES") or 0)


def init_app(app: Flask) -> None:
    """Add the headers to every response, offer ``csp_nonce()`` to templates, and
    believe ``X-Forwarded-*`` from as many proxies as ``FULIAN_TRUSTED_PROXIES`` says."""
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_add_headers)
    hops = trusted_proxies(app)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops,  # type: ignore[method-assign]
                                x_host=hops, x_port=hops)
