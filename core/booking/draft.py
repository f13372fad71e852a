"""What a plugin is shown of a booking about to be written (``fulian_validate_booking``).

A frozen dataclass rather than a dict: the fields are named, typed and documented in one
place, a plugin cannot change the booking by mutating what it was shown, and a field
added later does not break an implementation that ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..models import Customer, Service, StaffProfile, Store


@dataclass(frozen=True)
class BookingDraft:
    """A booking the booking service is about to write, inside its transaction: the
    slot was checked free, the staff member chosen (also for "any staff")."""

    store: Store
    service: Service
    staff: StaffProfile
    #: the customer the booking is for (found or created by phone in this transaction)
    customer: Customer
    #: aware UTC instants of the visit itself (buffers not included)
    start_at: datetime
    end_at: datetime
    #: ``online`` (the customer), ``walk_in`` or ``phone`` (the store)
    source: str
    #: the customer's or the desk's note, as typed ("" when none)
    note: str = ""
