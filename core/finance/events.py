"""What the money side announces, for the parts of the core that react to it.

Bookings depend on money (a booking has an order, a deposit, fees), never the reverse:
finance does not import ``core.booking``. Where a payment matters to a booking — a
deposit paid releases a held booking; a held booking limits how long an online payment
may stay open — finance sends one of these signals (blinker, as Flask's own signals)
and the booking side, which imports finance anyway, connects its receivers when it is
imported. Receivers run in the sender's transaction.
"""

from __future__ import annotations

from datetime import datetime

from blinker import Namespace

from ..models import Order

_signals = Namespace()

#: a payment of ``order`` settled (inside its transaction, after the ledger posting and
#: the order's status); receivers may write in the same transaction
payment_settled = _signals.signal("payment-settled")

#: asked before an online payment of ``order`` is started: receivers return the latest
#: instant it may still be paid (aware UTC), or None when they have no limit
payment_deadline = _signals.signal("payment-deadline")


def deadline_of(order: Order) -> datetime | None:
    """The earliest limit any receiver of :data:`payment_deadline` puts on ``order``."""
    limits = [value for _receiver, value in payment_deadline.send(order) if value is not None]
    return min(limits, default=None)
