"""Orders and the money around them: quote, order for a booking, payments, refunds.

Every function that moves money posts to the ledger in the same transaction as the
order change, with an idempotency key derived from the payment or refund row, so a
retry can never move money twice. Over-payment and over-refund are refused by atomic
conditional updates of the order's running totals, which also holds when two desks
press "pay" at the same moment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from ..catalog.services import price_at
from ..db import utcnow, write_transaction
from ..errors import NotFound, RuleViolation, ValidationFailed
from ..extensions import db
from ..models import (
    Booking,
    BrandSettings,
    Customer,
    Order,
    OrderAdjustment,
    OrderLine,
    Payment,
    Refund,
    Service,
    Store,
)
from ..plugins import plugins
from . import events, ledger, rates, refunds, tenders
from .pricing import Quote, QuoteLine, build_quote
from .providers import installed, providers


def _currency() -> str:
    brand = db.session.get(BrandSettings, 1)
    return (brand.currency if brand else None) or "CNY"


def quote_for_service(store: Any, service: Any, customer: Any) -> Quote:
    """What booking ``service`` at ``store`` would cost ``customer``, explained."""
    return booking_quote(store, service, customer, price_at(service, store.id), _currency())


def tender_label(code: str) -> str:
    """How a payment method is called on receipts: cash, an online provider's or an
    account tender's own label."""
    if code == "cash":
        return str(_l("Cash"))
    found = installed().get(code) or tenders.account_tenders().get(code)
    return str(getattr(found, "label", code)) if found is not None else code


def get_order(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        raise NotFound(_l("Order not found."))
    return order


def booking_quote(store: Store, service: Service, customer: Customer | None, price: int,
                  currency: str, booking_id: int | None = None) -> Quote:
    """The priced quote of one booking (its price is fixed when booked); plugins see the
    booking's id on the line once it exists."""
    line = QuoteLine(kind="booking", description=service.name, unit_price=price,
                     ref_id=booking_id, service_id=service.id)
    return build_quote(store, customer, [line], currency)


def record_order(booking: Booking, quote: Quote, deposit: int,
                 user_id: int | None = None) -> Order:
    """Write the booking's order from its quote, inside the caller's write transaction."""
    order = Order(store_id=booking.store_id, customer_id=booking.customer_id,
                  booking_id=booking.id, currency=booking.currency,
                  subtotal=quote.subtotal, total=quote.total, deposit=deposit,
                  created_by=user_id)
    order.lines = [OrderLine(kind=li.kind, ref_id=booking.id if li.kind == "booking"
                             else li.ref_id, description=li.description,
                             quantity=li.quantity, unit_price=li.unit_price, amount=li.amount)
                   for li in quote.lines]
    order.adjustments = [OrderAdjustment(position=i, source=a.source, label=a.label,
                                         amount=a.amount)
                         for i, a in enumerate(quote.adjustments)]
    if order.total == 0:
        order.status = "paid"
    db.session.add(order)
    db.session.flush()
    return order


def sell(store_id: int, customer_id: int | None, lines: list[QuoteLine], *,
         user_id: int | None = None) -> Order:
    """An order for things that are not bookings (stored value bought online, ...), at
    their own prices: no member discount applies to buying credit. What it sold is
    delivered when it is paid (``fulian_order_paid``)."""
    with write_transaction() as session:
        if session.get(Store, store_id) is None:
            raise NotFound(_l("Store not found."))
        order = Order(store_id=store_id, customer_id=customer_id, currency=_currency(),
                      subtotal=sum(li.amount for li in lines),
                      total=sum(li.amount for li in lines), created_by=user_id)
        order.lines = [OrderLine(kind=li.kind, ref_id=li.ref_id, description=li.description,
                                 quantity=li.quantity, unit_price=li.unit_price,
                                 amount=li.amount) for li in lines]
        session.add(order)
    return order


#: line kinds a plain refund cannot take back: they were delivered as credit the customer
#: holds (stored value is refunded by refunding the card)
NOT_REFUNDABLE = {"top_up"}


def order_of(booking_id: int) -> Order | None:
    return db.session.scalars(select(Order).where(
        Order.booking_id == booking_id, Order.status != "cancelled")).first()


def order_for_booking(booking: Booking, user_id: int | None = None) -> Order:
    """The booking's order, created from a fresh quote on first use (one per booking)."""
    existing = order_of(booking.id)
    if existing is not None:
        return existing
    with write_transaction() as session:
        booking = session.get(Booking, booking.id)
        again = order_of(booking.id)
        if again is not None:
            return again
        service = session.get(Service, booking.service_id)
        store = session.get(Store, booking.store_id)
        quote = booking_quote(store, service, session.get(Customer, booking.customer_id),
                              booking.price, booking.currency, booking.id)
        order = record_order(booking, quote, rates.deposit_for(service, store, quote.total),
                             user_id)
    return order


def due(order: Order) -> int:
    """What is still to pay on an open order: the total less what was paid and not
    refunded (a refund of a settled order is not a new debt)."""
    if order.status != "open":
        return 0
    return max(0, order.total - (order.paid - order.refunded))


def add_adjustment(order_id: int, source: str, label: str, amount: int,
                   before_commit: Callable[[Order], None] | None = None) -> Order:
    """Add a priced adjustment to an order after it was quoted (e.g. a customer
    redeeming points at checkout), recorded with its source like the pipeline's. A
    discount needs an open order and never takes the total below zero nor below what was
    already paid; a charge (a card visit paid instead) may open a settled order again."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"amount": [_l("Give a positive amount.")]})
    with write_transaction() as session:
        order = get_order(order_id)
        if order.status == "paid" and amount > 0 and order.refunded == 0:
            order.status = "open"
        order = _open_order(order_id)
        if order.total + amount < order.paid - order.refunded:
            raise RuleViolation(_l("That is more than the %(due)s still due.",
                                   due=due(order)))
        order.adjustments.append(OrderAdjustment(position=len(order.adjustments),
                                                 source=source[:60], label=label[:200],
                                                 amount=amount))
        order.total += amount
        if due(order) == 0:
            order.status = "paid"
        session.flush()
        if before_commit is not None:
            before_commit(order)
    return order


def _commission(amount: int) -> int:
    """The platform's fee on a payment (basis points, FULIAN_COMMISSION_BPS; 0 = off)."""
    bps = int(current_app.config.get("FULIAN_COMMISSION_BPS", 0) or 0)
    return amount * bps // 10_000


def _check_amount(amount: Any) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"amount": [_l("Give a positive amount.")]})


def _open_order(order_id: int) -> Order:
    order = get_order(order_id)
    if order.status != "open":
        raise RuleViolation(_l("This order is %(status)s; it takes no payment.",
                               status=order.status))
    return order


def settle(payment: Payment) -> None:
    """Count a payment towards its order and post it to the ledger (inside the caller's
    write transaction). The conditional update refuses paying more than is due, also
    when two payments race."""
    session = db.session
    order = session.get(Order, payment.order_id)
    taken = session.execute(update(Order).where(
        Order.id == order.id, Order.status == "open",
        Order.paid - Order.refunded + payment.amount <= Order.total
    ).values(paid=Order.paid + payment.amount)).rowcount
    if not taken:
        raise RuleViolation(_l("That is more than the %(due)s still due.", due=due(order)))
    amount = payment.amount
    legs = [*tenders.payment_legs(order, payment.provider, amount),
            (f"store:{order.store_id}:revenue", -amount)]
    fee = _commission(amount)
    if fee:
        legs += [(f"store:{order.store_id}:commission_expense", fee),
                 ("platform:0:commission", -fee)]
    txn = ledger.post("payment", legs, reference=f"order:{order.id}",
                      idempotency_key=f"payment:{payment.id}", currency=order.currency)
    payment.ledger_txn_id = txn.id
    payment.status = "succeeded"
    payment.settled_at = utcnow()
    session.expire(order)
    if due(order) == 0:
        order.status = "paid"
        session.flush()
        plugins().call("fulian_order_paid", order=order)
    session.flush()
    events.payment_settled.send(order)


def pay(order_id: int, provider: str, amount: int, *, user_id: int | None = None,
        before_commit: Callable[[Payment], None] | None = None) -> Payment:
    """Record a payment that settles at once: cash at the store, or a plugin's account
    tender (stored value, ...).
    ``before_commit`` runs inside the transaction (e.g. to store an idempotent reply)."""
    _check_amount(amount)
    with write_transaction() as session:
        order = _open_order(order_id)
        if provider not in tenders.TENDER_ACCOUNTS and provider not in tenders.account_tenders():
            raise tenders.unavailable(provider)  # online payments settle by notification
        payment = Payment(order_id=order.id, provider=provider, amount=amount,
                          status="pending", recorded_by=user_id)
        session.add(payment)
        session.flush()
        settle(payment)
        if before_commit is not None:
            before_commit(payment)
    return payment


def start_online(order_id: int, provider: str, amount: int, external_ref: str, *,
                 user_id: int | None = None, channel: str | None = None,
                 payer: str | None = None,
                 before_commit: Callable[[Payment], None] | None = None) -> Payment:
    """A pending online payment; it settles when the provider's verified callback says
    so (:mod:`core.finance.callbacks`). The provider is asked how to pay after this
    commits (:func:`core.finance.online.begin`)."""
    _check_amount(amount)
    with write_transaction() as session:
        order = _open_order(order_id)
        if provider not in providers():  # installed, enabled and configured
            raise tenders.unavailable(provider)
        if amount > due(order):
            raise RuleViolation(_l("That is more than the %(due)s still due.",
                                   due=due(order)))
        payment = Payment(order_id=order.id, provider=provider, amount=amount,
                          status="pending", external_ref=external_ref, recorded_by=user_id,
                          channel=channel, payer=payer)
        session.add(payment)
        session.flush()
        if before_commit is not None:
            before_commit(payment)
    return payment


def refund(order_id: int, amount: int, reason: str = "", *, user_id: int | None = None,
           before_commit: Callable[[list[Refund]], None] | None = None) -> list[Refund]:
    """Refund up to what was paid, back to the original tenders (newest payment first)."""
    _check_amount(amount)
    with write_transaction():
        rows = refund_within(get_order(order_id), amount, reason, user_id=user_id)
        if before_commit is not None:
            before_commit(rows)
    return rows


def refund_within(order: Order, amount: int, reason: str, *, user_id: int | None = None
                  ) -> list[Refund]:
    """:func:`refund` inside the caller's write transaction (e.g. a cancellation)."""
    session = db.session
    if any(line.kind in NOT_REFUNDABLE for line in order.lines):
        raise RuleViolation(_l("Stored value is refunded by refunding the card."))
    taken = session.execute(update(Order).where(
        Order.id == order.id, Order.refunded + amount <= Order.paid
    ).values(refunded=Order.refunded + amount)).rowcount
    if not taken:
        raise RuleViolation(_l("At most %(left)s can still be refunded.",
                               left=order.paid - order.refunded))
    made: list[Refund] = []
    left = amount
    for payment in sorted(order.payments, key=lambda p: p.id, reverse=True):
        share = min(left, payment.amount - payment.refunded)
        if payment.status != "succeeded" or share <= 0:
            continue
        left -= share
        if tenders.store_purpose(payment.provider) == tenders.ONLINE_ACCOUNT and \
                not installed()[payment.provider].instant_refunds:
            made.append(refunds.open_online(order, payment, share, reason, user_id))
        else:
            made.append(_refund_now(order, payment, share, reason, user_id))
        if left == 0:
            break
    session.expire(order)
    if order.refunded == order.paid and order.paid > 0 and order.status == "paid":
        order.status = "refunded"
    session.flush()
    return made


def _refund_now(order: Order, payment: Payment, share: int, reason: str,
                user_id: int | None) -> Refund:
    """A refund that completes in this transaction: cash, accounts, the sandbox."""
    row = Refund(order_id=order.id, payment_id=payment.id, amount=share,
                 reason=reason[:200], created_by=user_id, status="succeeded",
                 settled_at=utcnow())
    db.session.add(row)
    db.session.flush()
    txn = ledger.post("refund", [(f"store:{order.store_id}:refunds", share),
                                 *tenders.refund_legs(order, payment, share)],
                      reference=f"order:{order.id}", idempotency_key=f"refund:{row.id}",
                      currency=order.currency)
    row.ledger_txn_id = txn.id
    payment.refunded += share
    return row
