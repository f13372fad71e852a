"""A store's money rates for one service: deposit, late-cancellation and no-show
percents (the service may override the store's).

Read when a booking is priced (the deposit) and when it ends unserved (the fees); a
module of its own so that orders and fees both read it without importing each other.
"""

from __future__ import annotations

from ..models import Service, Store


def percent(service: Service, store: Store, name: str) -> int:
    """The policy percent ``name`` for a service at a store (service overrides store)."""
    own = getattr(service, name)
    return int(own if own is not None else getattr(store, name))


def deposit_for(service: Service, store: Store, total: int) -> int:
    return total * percent(service, store, "deposit_percent") // 100
