"""The pricing pipeline: base prices, then the enabled plugins' adjustments.

Plugins contribute through ``fulian_price_adjustments(quote)`` (member discount, coupon,
level surcharge, ...). Adjustments are applied in a defined order — by their ``order``,
then by source name — and each is recorded with its source and the amount actually
applied, so a receipt explains the total. A discount never takes the total below zero:
it is capped at what remains, and the cap is what gets recorded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..plugins import plugins

log = logging.getLogger(__name__)


@dataclass
class QuoteLine:
    kind: str
    description: str
    unit_price: int
    quantity: int = 1
    ref_id: int | None = None
    #: for a booking line: the service (plugins price by it before the booking exists)
    service_id: int | None = None

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


@dataclass
class Adjustment:
    source: str
    label: str
    amount: int
    order: int = 100


@dataclass
class Quote:
    store: Any
    customer: Any
    currency: str
    lines: list[QuoteLine]
    adjustments: list[Adjustment] = field(default_factory=list)

    @property
    def subtotal(self) -> int:
        return sum(line.amount for line in self.lines)

    @property
    def total(self) -> int:
        return self.subtotal + sum(a.amount for a in self.adjustments)


def _valid(raw: Any) -> Adjustment | None:
    if not isinstance(raw, dict):
        return None
    amount, order = raw.get("amount"), raw.get("order", 100)
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        return None
    if isinstance(order, bool) or not isinstance(order, int):
        return None
    return Adjustment(source=str(raw.get("source") or "plugin")[:60],
                      label=str(raw.get("label") or "")[:200], amount=amount, order=order)


def build_quote(store: Any, customer: Any, lines: list[QuoteLine], currency: str) -> Quote:
    """Price ``lines`` for ``customer`` at ``store``, with every enabled plugin's say."""
    quote = Quote(store=store, customer=customer, currency=currency, lines=list(lines))
    proposed = []
    for raw in plugins().call_flat("fulian_price_adjustments", quote=quote):
        adjustment = _valid(raw)
        if adjustment is None:
            log.warning("ignoring malformed price adjustment %r", raw)
            continue
        proposed.append(adjustment)
    running = quote.subtotal
    for adjustment in sorted(proposed, key=lambda a: (a.order, a.source)):
        adjustment.amount = max(adjustment.amount, -running)
        if adjustment.amount:
            running += adjustment.amount
            quote.adjustments.append(adjustment)
    return quote
