"""The core models a plugin may read and reference (foreign keys, joins, relationships).

Plugins read these; they never write them directly: bookings change through
:mod:`core.sdk.services` ``bookings``, money through ``orders`` and ``ledger``. Tables of
the platform's own machinery (sessions, tokens, licences, plugin states, jobs, audit)
are not part of the SDK.
"""

from __future__ import annotations

from ..models import (
    ACTIVE_STATUSES,
    BOOKING_STATUSES,
    ORDER_STATUSES,
    Booking,
    BrandSettings,
    Customer,
    CustomerTag,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Order,
    OrderAdjustment,
    OrderLine,
    Payment,
    Refund,
    Service,
    ServiceCategory,
    StaffProfile,
    Store,
    User,
)

__all__ = [
    # the brand and its stores, services and people
    "BrandSettings", "Store", "Service", "ServiceCategory", "StaffProfile", "User",
    "Customer", "CustomerTag",
    # bookings and their statuses
    "Booking", "BOOKING_STATUSES", "ACTIVE_STATUSES",
    # money: orders and their lines, adjustments, payments, refunds; the ledger
    "Order", "ORDER_STATUSES", "OrderLine", "OrderAdjustment", "Payment", "Refund",
    "LedgerAccount", "LedgerEntry", "LedgerTransaction",
]
