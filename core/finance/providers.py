"""Online payment providers: the lifecycle every provider implements, and which ones
this deployment offers.

Modelled on pretix's ``BasePaymentProvider``: the core owns the money (orders, the
ledger, replay-safe notifications, refunds, polling) and a provider only speaks to its
payment service. A plugin returns instances of :class:`PaymentProvider` subclasses from
``fulian_payment_providers``; the core then drives each payment through:

1. **start** — the pending :class:`~core.models.Payment` is committed first; then
   :meth:`PaymentProvider.start` asks the provider for a way to pay (a page to redirect
   to, a QR code to show, parameters for WeChat's JS bridge or a mini-program). It runs
   outside any database transaction because it may call the provider over the network,
   and its answer is kept on the payment so that reloading the page does not create a
   second prepay order.
2. **verify** — :meth:`PaymentProvider.verify` checks a notification's signature and
   turns it into a :class:`Notice`; :mod:`core.finance.callbacks` adds what no client
   library does reliably (a ±5 minute freshness window, a nonce never seen before, the
   amount) and settles at most once; :meth:`PaymentProvider.acknowledge` is the answer
   the provider expects.
3. **query** — a notification can be lost; :mod:`core.finance.polling` asks
   :meth:`PaymentProvider.query` about payments still pending and settles them the same
   way.
4. **refund** — a refund is a row first (money reserved on the order), submitted to the
   provider after commit (:meth:`PaymentProvider.refund`); it completes when the
   provider says so, synchronously, by notification, or by :meth:`query_refund`.
5. **statement** — the provider's own list of a day's transactions, for reconciliation.

Demo and test deployments also offer the built-in ``sandbox`` provider; production never
does (see :mod:`core.config`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from flask import current_app, has_request_context, request, url_for
from flask_babel import lazy_gettext as _l

from ..config import is_production
from ..errors import FulianError, NotFound
from ..plugins import plugins

#: Payment channels a provider may support; the pay page picks one per device.
CHANNELS = ("native", "h5", "jsapi", "page", "wap")


class ProviderError(FulianError):
    """The provider refused or could not be reached; the customer may try again."""

    status = 502


@dataclass(frozen=True)
class Notice:
    """What a provider says about one payment (``kind="payment"``, ``ref`` = our
    ``Payment.external_ref``) or one refund (``kind="refund"``, ``ref`` = our
    ``Refund.external_ref``). ``status`` is ``succeeded``, ``failed`` or ``pending``.
    Notifications carry the signed ``timestamp`` (Unix seconds) and ``nonce``; answers
    to a query have neither."""

    kind: str
    ref: str
    amount: int
    status: str
    timestamp: int | None = None
    nonce: str | None = None
    provider_txn_id: str | None = None


@dataclass(frozen=True)
class PayContext:
    """Where and how the customer is paying, for :meth:`PaymentProvider.start`."""

    channel: str | None
    notify_url: str
    return_url: str
    client_ip: str = ""
    user_agent: str = ""
    #: the payer's WeChat openid (JSAPI and mini-programs)
    openid: str | None = None
    description: str = ""
    #: when the provider must stop accepting this payment (a deposit hold ends sooner
    #: than a provider's usual window: money must not arrive for a released slot)
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Checkout:
    """How the customer pays: go to ``redirect_url``; or scan ``qr_text`` shown on our
    page; or hand ``params`` to a JS bridge / mini-program. Stored as JSON on the
    payment (:meth:`as_dict`)."""

    channel: str
    redirect_url: str | None = None
    qr_text: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "redirect_url": self.redirect_url,
                "qr_text": self.qr_text, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkout:
        return cls(channel=str(data.get("channel") or ""),
                   redirect_url=data.get("redirect_url"), qr_text=data.get("qr_text"),
                   params=dict(data.get("params") or {}))


@dataclass(frozen=True)
class RefundResult:
    """The provider's answer about a refund: ``succeeded``, ``pending`` (it will tell
    us later) or ``failed`` (with ``reason``). ``unknown`` from :meth:`query_refund`
    means the provider never received it, so it is submitted again."""

    status: str
    provider_ref: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class StatementLine:
    """One line of a provider's statement of a day: a payment or a refund."""

    kind: str  # "payment" | "refund"
    ref: str  # our reference
    provider_txn_id: str
    amount: int  # minor units, positive
    fee: int = 0  # the provider's fee, minor units


class PaymentProvider:
    """Base class of online payment providers. Subclasses set :attr:`code` and
    :attr:`label` and implement :meth:`start`, :meth:`verify`, :meth:`query`,
    :meth:`refund` and :meth:`query_refund`; :meth:`statement` is optional.

    Every method may raise :class:`ProviderError` (translated message) when the
    provider cannot be reached or refuses; :meth:`verify` raises
    :class:`core.finance.callbacks.CallbackRejected` for anything it cannot trust.
    """

    code: str = ""
    label: Any = ""
    #: channels this provider supports, in order of preference
    channels: tuple[str, ...] = ()
    #: origins the customer's browser is sent to (allowed by the CSP's form-action)
    origins: tuple[str, ...] = ()
    #: refunds complete inside our own transaction, without calling anybody (sandbox)
    instant_refunds: bool = False
    #: longest reference the provider accepts (WeChat Pay: 32 characters)
    max_reference: int = 32

    # -- configuration --------------------------------------------------------------
    def readiness(self) -> list[Any]:
        """Translated problems that keep this provider from working (missing merchant
        id, key file, certificate ...). Empty when ready. Must be cheap: the checkout
        asks it on every page."""
        return []

    # -- references -----------------------------------------------------------------
    def new_reference(self) -> str:
        """A fresh, unguessable reference for a payment (the provider's
        ``out_trade_no``)."""
        return ("fp" + secrets.token_hex(15))[: self.max_reference]

    def new_refund_reference(self) -> str:
        return ("fr" + secrets.token_hex(15))[: self.max_reference]

    def choose_channel(self, user_agent: str, wanted: str | None = None,
                       payer: str | None = None) -> str:
        """The channel for this device: ``wanted`` if supported, else the first one
        that fits (phones get mobile channels, desktops a QR code or a web page).
        ``payer`` is the payer's id at the provider when known (a WeChat openid)."""
        if wanted in self.channels:
            return wanted
        mobile = any(word in user_agent for word in ("Mobile", "Android", "iPhone"))
        for channel in self.channels:
            if channel in ("h5", "wap") and mobile:
                return channel
            if channel in ("native", "page") and not mobile:
                return channel
        return self.channels[0] if self.channels else ""

    # -- lifecycle ------------------------------------------------------------------
    def start(self, payment: Any, context: PayContext) -> Checkout:
        raise NotImplementedError

    def verify(self, body: bytes, headers: Any) -> Notice:
        raise NotImplementedError

    def acknowledge(self, outcome: str) -> tuple[str, int, str]:
        """``(body, status, mimetype)`` answering a notification that was processed
        (``settled``, ``failed``, ``refunded``, ``duplicate``...)."""
        import json

        return json.dumps({"result": outcome}), 200, "application/json"

    def query(self, payment: Any) -> Notice | None:
        """The payment's state at the provider; ``None`` if it cannot tell."""
        return None

    def close(self, payment: Any) -> None:
        """Tell the provider to stop accepting a payment we gave up on (best effort;
        the default does nothing)."""

    def refund(self, refund: Any, payment: Any) -> RefundResult:
        raise NotImplementedError

    def query_refund(self, refund: Any, payment: Any) -> RefundResult:
        return RefundResult("pending")

    def statement(self, day: date) -> list[StatementLine]:
        raise NotImplementedError(f"{self.code} offers no statement")


#: the core's own providers, offered outside production only, by code: the sandbox
#: registers itself when :mod:`core.finance.sandbox` is imported (by the app factory), so
#: that this module, which everything paying imports, imports no provider
_BUILTIN: dict[str, type[PaymentProvider]] = {}
P = TypeVar("P", bound=type[PaymentProvider])


def register_builtin(cls: P) -> P:
    """Class decorator: a provider of the core itself (demo and test deployments)."""
    _BUILTIN[cls.code] = cls
    return cls


def _builtin() -> dict[str, PaymentProvider]:
    if is_production(current_app.config):
        return {}
    return {code: cls() for code, cls in _BUILTIN.items()}


def installed() -> dict[str, PaymentProvider]:
    """Every provider of this deployment, ready or not: the sandbox outside production,
    then the enabled plugins' providers."""
    found: dict[str, PaymentProvider] = _builtin()
    for provider in plugins().call_flat("fulian_payment_providers"):
        code = getattr(provider, "code", None)
        if isinstance(code, str) and code and hasattr(provider, "verify"):
            found.setdefault(code, provider)
    return found


def providers() -> dict[str, PaymentProvider]:
    """The online providers customers can pay with now: installed and ready."""
    return {code: p for code, p in installed().items() if not p.readiness()}


def provider(code: str) -> PaymentProvider:
    """A provider by code, ready or not (a notification or a refund of a provider whose
    configuration broke since must still be recognised)."""
    found = installed().get(code)
    if found is None:
        raise NotFound(_l("Unknown payment method %(code)s.", code=code))
    return found


def online_available() -> bool:
    """Whether customers can pay anything online (else: pay at the store)."""
    return bool(providers())


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute URL of ours that a provider's servers or pages can reach:
    ``FULIAN_PUBLIC_URL`` when set (required in production), else this request's host.
    Works in jobs too (a refund submitted after commit has no request)."""
    base = current_app.config.get("FULIAN_PUBLIC_URL")
    if has_request_context():
        path = url_for(endpoint, **values)
        return (base or request.url_root.rstrip("/")) + path
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return (base or "http://localhost") + path


def notify_url(code: str) -> str:
    return external_url("orders.notify", provider=code)
