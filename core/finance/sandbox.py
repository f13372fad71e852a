"""The ``sandbox`` online payment provider, for the demo and tests.

It plays a real provider's part in the redirect/notify cycle: starting a payment gives
the customer a URL of the provider's page (``/sandbox/pay/<ref>``, served by this app);
paying there makes the "provider" send a signed, timestamped notification with a fresh
nonce — exactly what :func:`core.finance.callbacks.handle` verifies for any provider.
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

from .callbacks import CallbackRejected, Notice

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


class SandboxProvider:
    code = "sandbox"
    label = _l("Pay online (sandbox)")

    def new_reference(self) -> str:
        return "sbx_" + secrets.token_hex(12)

    def start(self, payment: Any) -> str:
        """Where the customer goes to pay."""
        return url_for("sandbox.pay_page", ref=payment.external_ref)

    def verify(self, body: bytes, headers: Any) -> Notice:
        signature = headers.get(SIGNATURE_HEADER) or ""
        if not hmac.compare_digest(sign(body).encode(), signature.strip().encode(
                "ascii", "replace")):
            raise CallbackRejected("bad signature")
        try:
            data = json.loads(body)
            notice = Notice(ref=str(data["ref"]), amount=data["amount"],
                            status=str(data["status"]), timestamp=data["timestamp"],
                            nonce=str(data["nonce"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRejected("malformed notification") from exc
        if not isinstance(notice.amount, int) or isinstance(notice.amount, bool) or \
                not isinstance(notice.timestamp, int) or not notice.nonce:
            raise CallbackRejected("malformed notification")
        return notice
