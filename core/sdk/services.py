"""The core's public services: the only writers of bookings, orders and the ledger.

The service modules are re-exported as namespaces (``orders.sell(...)``,
``ledger.post(...)``); their public (non-underscore) functions and classes are the
contract. A plugin changes bookings and money only through them, inside their
transactions, so the core's invariants (the overlap guard, an append-only balanced
ledger) cannot be bypassed.
"""

from __future__ import annotations

from .. import phones, validation
from ..booking import service as bookings
from ..booking.draft import BookingDraft
from ..crm import customers
from ..finance import ledger, orders, pricing
from ..finance.ledger import InsufficientFunds
from ..finance.pricing import Quote, QuoteLine
from ..sms import MASK, OutgoingSms, SmsError, SmsProvider, SmsReceipt

__all__ = [
    # bookings: create, move through the lifecycle, read (``bookings.create_booking``,
    # ``bookings.transition``, ``bookings.get_booking`` ...)
    "bookings",
    # what ``fulian_validate_booking`` is shown of a booking about to be written
    "BookingDraft",
    # orders and pricing: sell, due, adjustments, online payments; the quote a
    # ``fulian_price_adjustments`` hook sees and the lines a sale is made of
    "orders", "pricing", "Quote", "QuoteLine",
    # the ledger: register a purpose, post balanced legs, read balances
    "ledger", "InsufficientFunds",
    # customers, found by phone; phones in E.164 (parse, normalise, lookup_key, display)
    "customers", "phones",
    # input validation: ``validation.load(schema, data)``, field rules (``not_blank``,
    # ``percent``, ``length``) and fields (``MinorUnits``, ``Day``, ``Instant``, ``Flag``)
    "validation",
    # SMS providers (``fulian_sms_providers``): the message, the receipt, the error
    "SmsProvider", "OutgoingSms", "SmsReceipt", "SmsError", "MASK",
]
