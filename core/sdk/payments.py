"""The payment-provider contract (``fulian_payment_providers``).

A provider subclasses :class:`PaymentProvider`, answers with :class:`Checkout`,
:class:`Notice`, :class:`RefundResult` and :class:`StatementLine`, raises
:class:`ProviderError` when the gateway fails (the caller retries) and
:class:`CallbackRejected` for a notification it cannot trust. The core owns the money:
it applies notices to orders and the ledger.
"""

from __future__ import annotations

from ..finance.callbacks import CallbackRejected
from ..finance.providers import (
    Checkout,
    Notice,
    PayContext,
    PaymentProvider,
    ProviderError,
    RefundResult,
    StatementLine,
    notify_url,
    provider,
    providers,
)

__all__ = [
    # what a provider is and what it answers
    "PaymentProvider", "PayContext", "Checkout", "Notice", "RefundResult", "StatementLine",
    # how it fails: gateway trouble (retry) or an untrustworthy notification
    "ProviderError", "CallbackRejected",
    # the enabled providers by code, one of them, and the URL a gateway notifies
    "providers", "provider", "notify_url",
]
