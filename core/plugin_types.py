"""The shapes of what plugins hand back to the core through hooks, as types.

Hooks return plain dicts and duck-typed objects (that keeps a plugin free of base
classes it does not need), so the contract is written down here: ``TypedDict``s for the
dicts and ``Protocol``s for the objects. A plugin annotates its implementations with
them (``core.sdk.types``) and a type checker holds it to the contract; the core checks
the protocols at run time where it picks plugins' objects up (``isinstance`` on a
``runtime_checkable`` protocol checks the members are there, not their signatures).
Payment and SMS providers are base classes instead (:class:`core.finance.providers.
PaymentProvider`, :class:`core.sms.SmsProvider`): their lifecycles have defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NotRequired, Protocol, TypedDict, runtime_checkable

if TYPE_CHECKING:
    from markupsafe import Markup

    from .models import Order, Payment

#: a ledger leg: (account code such as ``customer:12:principal``, signed minor units;
#: positive = debit)
Leg = tuple[str, int]


class MenuItem(TypedDict):
    """An entry of a face's menu (``fulian_menu_items``): ``endpoint`` (a Flask
    endpoint, filtered by what the user may open) or ``url``."""

    label: str
    endpoint: NotRequired[str]
    url: NotRequired[str]
    order: NotRequired[int]
    icon: NotRequired[str]


class Section(TypedDict):
    """A block a plugin adds to a page: customer sections, checkout sections,
    dashboard widgets. ``html`` is inserted as is (``Markup``: escape user data)."""

    key: str
    title: str
    html: Markup
    order: NotRequired[int]


class PriceAdjustment(TypedDict):
    """A change of a quote's total (``fulian_price_adjustments``): signed minor units
    (a discount is negative), applied in ``order``, recorded with its ``source``."""

    source: str
    label: str
    amount: int
    order: int


@runtime_checkable
class AccountTender(Protocol):
    """A way to pay from an account the brand keeps for the customer
    (``fulian_account_tenders``; see its docstring for the legs' rules)."""

    code: str
    label: Any  # a translated (possibly lazy) string

    def legs(self, order: Order, amount: int) -> list[Leg]:
        """Legs paying ``amount`` of ``order``, all but the store's revenue credit."""
        ...

    def refund_legs(self, order: Order, payment: Payment, amount: int) -> list[Leg]:
        """Legs taking ``amount`` of ``payment`` back, all but the store's refunds debit."""
        ...


@runtime_checkable
class TenderWithBalance(AccountTender, Protocol):
    """A tender that can say how much the order's customer can pay with it now;
    checkout pages offer only such tenders, and only with a positive amount."""

    def available(self, order: Order) -> int:
        ...
