"""Types for annotating a plugin's hook implementations: what the core hands to plugins
and the shapes of what plugins hand back (:mod:`core.plugin_types`).

A type checker then holds an implementation to the contract, e.g.
``def fulian_menu_items(face: str, user: User | None) -> list[MenuItem]``.
"""

from __future__ import annotations

from ..booking.draft import BookingDraft
from ..finance.pricing import Quote, QuoteLine
from ..plugin_types import (
    AccountTender,
    Leg,
    MenuItem,
    PriceAdjustment,
    Section,
    TenderWithBalance,
)

__all__ = [
    # handed to plugins: the booking about to be written, the quote being priced
    "BookingDraft", "Quote", "QuoteLine",
    # handed back: menu entries, page sections and dashboard widgets, price adjustments
    "MenuItem", "Section", "PriceAdjustment",
    # account tenders (``fulian_account_tenders``) and their ledger legs
    "AccountTender", "TenderWithBalance", "Leg",
]
