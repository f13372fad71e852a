"""The ``sandbox`` online payment provider, for the demo and tests only.

It never exists in production (:func:`core.finance.providers.installed`), because
anyone who reaches its page can "pay". It plays a real provider's part in the
redirect/notify cycle: starting a payment gives the customer a URL of the provider's
page (``/sandbox/pay/<ref>``, served by this app to the order's own customer or store);
paying there makes the "provider" send a signed, timestamped notification with a fresh
nonce — exactly what :func:`core.finance.callbacks.handle` verifies for any provider.
Refunds complete at once.
Body: JSON ``{"ref", "amount", "status": "succeeded"|"failed", "timestamp", "nonce"}``;
header ``X-Sandbox-Signature: hex(HMAC-SHA256(secret, body))``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l

from .callbacks import CallbackRejected
from .providers import (
    Checkout,
    Notice,
    PayContext,
    PaymentProvider,
    RefundResult,
    register_builtin,
)

SIGNATURE_HEADER = "X-Sandbox-Signature"


def _secret() -> bytes:
    configured = current_app.config.get("FULIAN_SANDBOX_SECRET")
    if configured:
        return str(configured).encode()
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"fulian-sandbox-provider", hashlib.sha256).digest()


def sign(body: bytes) -> str:
    return hmac.new(_secret(), body, hashlib.sha256).hexdigest()


def notice_body(ref: str, amount: int, status: str = "succeeded", *,
                timestamp: int | None = None, nonce: str | None = None) -> bytes:
    """What the sandbox "provider" posts to the notify URL."""
    return json.dumps({"ref": ref, "amount": amount, "status": status,
                       "timestamp": int(time.time()) if timestamp is None else timestamp,
                       "nonce": nonce or secrets.token_hex(16)},
                      separators=(",", ":")).encode()


@register_builtin
class SandboxProvider(PaymentProvider):
    code = "sandbox"
    label = _l("Pay online (sandbox)")
    channels = ("page",)
    instant_refunds = True

    def new_reference(self) -> str:
        return "sbx_" + secrets.token_hex(12)

    def start(self, payment: Any, context: PayContext) -> Checkout:
        """The customer goes to the sandbox's own page."""
        return Checkout(channel="page",
                        redirect_url=url_for("sandbox.pay_page", ref=payment.external_ref))

    def verify(self, body: bytes, headers: Any) -> Notice:
        signature = headers.get(SIGNATURE_HEADER) or ""
        if not hmac.compare_digest(sign(body).encode(), signature.strip().encode(
                "ascii", "replace")):
            raise CallbackRejected("bad signature")
        try:
            data = json.loads(body)
            notice = Notice(kind="payment", ref=str(data["ref"]), amount=data["amount"],
                            status=str(data["status"]), timestamp=data["timestamp"],
                            nonce=str(data["nonce"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRejected("malformed notification") from exc
        if not isinstance(notice.amount, int) or isinstance(notice.amount, bool) or \
                not isinstance(notice.timestamp, int) or not notice.nonce or \
                notice.status not in ("succeeded", "failed"):
            raise CallbackRejected("malformed notification")
        return notice

    def refund(self, refund: Any, payment: Any) -> RefundResult:
        return RefundResult("succeeded")
