"""The booking state machine, as data.

awaiting_deposit (an online booking whose deposit is unpaid: it holds the time for a
while) → pending or confirmed once the deposit is paid (``deposit_paid``, whose target
the store's acceptance policy decides; applied by :mod:`core.booking.holds`), or
cancelled when the hold runs out; pending (store requires staff acceptance) → confirmed →
completed | no_show; awaiting_deposit/pending/confirmed → cancelled; pending → declined.
The store may confirm a booking without its deposit (waived at the desk). Reschedule
keeps the booking id and status. Anything else is an illegal transition with a clear,
translated error.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..errors import Conflict

#: a target decided by the store: ``pending`` where bookings wait for a staff member's
#: acceptance, else ``confirmed`` (what a new booking becomes)
AS_BOOKED = "as booked"

#: action -> (statuses it may start from, status it leads to; "" keeps the status)
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "deposit_paid": (frozenset({"awaiting_deposit"}), AS_BOOKED),
    "confirm": (frozenset({"awaiting_deposit", "pending"}), "confirmed"),
    "decline": (frozenset({"pending"}), "declined"),
    "cancel": (frozenset({"awaiting_deposit", "pending", "confirmed"}), "cancelled"),
    "complete": (frozenset({"confirmed"}), "completed"),
    "no_show": (frozenset({"confirmed"}), "no_show"),
    "reschedule": (frozenset({"pending", "confirmed"}), ""),  # status unchanged
}

#: what people do to a booking (pages, API); ``deposit_paid`` is done by a payment
PEOPLE_ACTIONS = frozenset(TRANSITIONS) - {"deposit_paid"}

#: the event plugins receive after each action commits
EVENTS = {"confirm": "confirmed", "decline": "declined", "cancel": "cancelled",
          "complete": "completed", "no_show": "no_show", "reschedule": "rescheduled",
          "deposit_paid": "deposit_paid"}

STATUS_LABELS = {
    "awaiting_deposit": _l("awaiting deposit"), "pending": _l("pending"),
    "confirmed": _l("confirmed"), "completed": _l("completed"),
    "cancelled": _l("cancelled"), "declined": _l("declined"), "no_show": _l("no-show"),
}


class IllegalTransition(Conflict):
    """The booking's current status does not allow the action."""


def next_status(current: str, action: str, *, acceptance_required: bool = False) -> str:
    """The status after ``action``, or raise IllegalTransition (unknown action too);
    ``acceptance_required`` is the store's policy, for targets it decides."""
    if action not in TRANSITIONS:
        raise IllegalTransition(_l("Unknown booking action %(action)s.", action=action))
    sources, target = TRANSITIONS[action]
    if current not in sources:
        raise IllegalTransition(_l("A %(status)s booking cannot be %(action)s.",
                                   status=STATUS_LABELS.get(current, current),
                                   action=ACTION_PAST.get(action, action)))
    if target == AS_BOOKED:
        return "pending" if acceptance_required else "confirmed"
    return target or current


ACTION_PAST = {
    "deposit_paid": _l("released by its deposit"),
    "confirm": _l("confirmed"), "decline": _l("declined"), "cancel": _l("cancelled"),
    "complete": _l("completed"), "no_show": _l("marked as no-show"),
    "reschedule": _l("rescheduled"),
}
