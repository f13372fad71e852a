"""Outgoing SMS: the provider contract, the development provider and the outbox.

Chinese SMS services (Aliyun, Tencent Cloud) send only pre-approved templates filled
with parameters, not free text, so a message is an :class:`OutgoingSms` with a
``purpose`` (which the provider maps to its template id), the ``params`` and the text in
the recipient's language (what the ``dev`` provider shows, and what providers that take
free text send). Plugins contribute providers through ``fulian_sms_providers``;
``FULIAN_SMS_PROVIDER`` picks one.

:func:`send` calls the provider outside any database transaction (it goes over the
network) and records every message in ``sms_outbox`` with the provider's answer. Secret
parameters (login codes) are stored and logged in clear only by the ``dev`` provider,
which exists only in demo and test deployments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l

from .config import is_production
from .db import write_transaction
from .errors import FulianError
from .models import SmsMessage

log = logging.getLogger(__name__)
MASK = "******"


class SmsError(FulianError):
    """The message could not be sent; the user may try again later. ``detail`` is the
    provider's own reason, for the outbox and the log (never shown to the user)."""

    status = 503

    def __init__(self, message: Any, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class OutgoingSms:
    """One message: to ``phone`` (E.164) for ``purpose`` with template ``params``;
    ``text`` is the whole message in the recipient's language; ``secret`` names the
    params that must never be stored or logged in clear (a login code)."""

    phone: str
    purpose: str
    params: dict[str, str]
    text: str
    secret: tuple[str, ...] = field(default_factory=tuple)

    def masked_text(self) -> str:
        text = self.text
        for name in self.secret:
            value = self.params.get(name)
            if value:
                text = text.replace(value, MASK)
        return text


@dataclass(frozen=True)
class SmsReceipt:
    """The provider accepted the message: its id there, for support."""

    provider_ref: str | None = None


class SmsProvider:
    """Base class of SMS providers. Subclasses set :attr:`code` and :attr:`label` and
    implement :meth:`send`, raising :class:`SmsError` (translated, the provider's reason
    in ``detail``) when the provider refuses or cannot be reached."""

    code: str = ""
    label: Any = ""

    def readiness(self) -> list[Any]:
        """Translated problems that keep this provider from sending (missing keys,
        sign name, template for a purpose ...); empty when ready."""
        return []

    def send(self, message: OutgoingSms) -> SmsReceipt:
        raise NotImplementedError


class DevSmsProvider(SmsProvider):
    """Development provider (demo and test only): logs the text and keeps it in
    ``sms_outbox``, where the demo shows it; nothing leaves the machine."""

    code = "dev"
    label = _l("Development (shown in the log)")

    def send(self, message: OutgoingSms) -> SmsReceipt:
        log.warning("SMS to %s: %s", message.phone, message.text)
        return SmsReceipt()


def providers() -> dict[str, SmsProvider]:
    """SMS providers of this deployment: ``dev`` outside production, then the enabled
    plugins'."""
    found: dict[str, SmsProvider] = {}
    if not is_production(current_app.config):
        found[DevSmsProvider.code] = DevSmsProvider()
    for provider in current_app.extensions["fulian_plugins"].call_flat("fulian_sms_providers"):
        code = getattr(provider, "code", None)
        if isinstance(code, str) and code and hasattr(provider, "send"):
            found.setdefault(code, provider)
    return found


def provider() -> SmsProvider:
    """The provider ``FULIAN_SMS_PROVIDER`` names, ready to send."""
    wanted = current_app.config.get("FULIAN_SMS_PROVIDER")
    found = providers().get(wanted or "")
    if found is None or found.readiness():
        log.error("SMS provider %r is not available or not configured", wanted)
        raise SmsError(_l("Text messages cannot be sent at the moment; please try again "
                          "later or ask the store."))
    return found


def send(message: OutgoingSms) -> SmsMessage:
    """Send ``message`` (outside any transaction) and record it in the outbox; raises
    :class:`SmsError` when it could not be sent (the failure is recorded too)."""
    chosen = provider()
    clear = chosen.code == DevSmsProvider.code
    row = SmsMessage(phone=message.phone, provider=chosen.code, purpose=message.purpose,
                     text=(message.text if clear else message.masked_text())[:500])
    error: SmsError | None = None
    try:
        receipt = chosen.send(message)
        row.status, row.provider_ref = "sent", receipt.provider_ref
    except SmsError as exc:
        error = exc
        row.status, row.error = "failed", str(exc.detail or exc.message)[:200]
        log.error("SMS %s to %s failed: %s", message.purpose, message.phone[-4:], row.error)
    with write_transaction() as session:
        session.add(row)
    if error is not None:
        raise error
    return row
