"""Where a payment's money goes, and where a refund takes it back from.

Cash goes to the store's ``cash`` account, an online provider's payments to its
``online`` account; an account tender of a plugin (stored value, points ...) gives its
own legs (:class:`core.plugin_types.AccountTender`). Orders (paying) and refunds
(paying back) both ask this module, which asks neither of them: the dependency runs one
way.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from ..errors import RuleViolation
from ..models import Order, Payment
from ..plugin_types import AccountTender, TenderWithBalance
from ..plugins import plugins
from . import ledger
from .providers import installed

#: cash and online payments: the store account that receives the money
TENDER_ACCOUNTS = {"cash": "cash"}
ONLINE_ACCOUNT = "online"


def store_purpose(provider: str) -> str | None:
    """The store account a payment by ``provider`` goes to (``cash``, ``online``), or
    None for an account tender."""
    if provider in TENDER_ACCOUNTS:
        return TENDER_ACCOUNTS[provider]
    return ONLINE_ACCOUNT if provider in installed() else None


def account_tenders() -> dict[str, AccountTender]:
    """Tenders of enabled plugins paid from customer accounts (``fulian_account_tenders``)
    that keep the contract (:class:`core.plugin_types.AccountTender`), by code; the
    first plugin to claim a code has it, and the core's own codes are never a plugin's."""
    found: dict[str, AccountTender] = {}
    for tender in plugins().call_flat("fulian_account_tenders"):
        if isinstance(tender, AccountTender) and isinstance(tender.code, str) \
                and tender.code not in TENDER_ACCOUNTS:
            found.setdefault(tender.code, tender)
    return found


def payable_from_accounts(order: Order) -> list[tuple[str, str, int]]:
    """``(code, label, amount)`` of each account tender the order's customer can pay
    with now (a positive amount): what checkout and the desk offer besides cash and
    online payment."""
    offered = []
    for code, tender in account_tenders().items():
        if isinstance(tender, TenderWithBalance):
            left = int(tender.available(order))
            if left > 0:
                offered.append((code, str(tender.label), left))
    return offered


def unavailable(provider: str) -> RuleViolation:
    """The refusal of a payment method this deployment does not offer (now)."""
    return RuleViolation(_l("The payment method %(code)s is not available.", code=provider))


def _checked(legs: list[tuple[str, int]], amount: int) -> list[tuple[str, int]]:
    if sum(a for _, a in legs) != amount:
        raise ledger.UnbalancedTransaction(f"tender legs {legs} do not make {amount}")
    return list(legs)


def payment_legs(order: Order, provider: str, amount: int) -> list[tuple[str, int]]:
    """The ledger legs paying ``amount`` of ``order`` by ``provider`` (all but the
    store's revenue credit, which the caller adds)."""
    purpose = store_purpose(provider)
    if purpose is not None:
        return [(f"store:{order.store_id}:{purpose}", amount)]
    tender = account_tenders().get(provider)
    if tender is None:
        raise unavailable(provider)
    return _checked(tender.legs(order, amount), amount)


def refund_legs(order: Order, payment: Payment, amount: int) -> list[tuple[str, int]]:
    """The ledger legs taking ``amount`` of ``payment`` back out of where it went (all
    but the store's refunds debit, which the caller adds)."""
    purpose = store_purpose(payment.provider)
    if purpose is not None:
        return [(f"store:{order.store_id}:{purpose}", -amount)]
    tender = account_tenders().get(payment.provider)
    if tender is None:  # the plugin was disabled since: refund it by hand
        raise unavailable(payment.provider)
    return _checked(tender.refund_legs(order, payment, amount), -amount)
