"""Punch cards (次卡): N visits of a set of services, sold in advance, with an expiry.

A booking of a covered service reserves one use of the customer's card that expires
first (``fulian_booking_event`` "created"); completing the booking consumes it — the
card's price is then earned use by use (deferred revenue of the selling store becomes
revenue of the serving store, with a settlement pair when they differ); a cancellation
or decline releases it, a no-show forfeits it. While a use is reserved, the booking's
quote carries a "paid by punch card" adjustment, so its order is settled at zero.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from core.db import utcnow, write_transaction
from core.errors import NotFound
from core.extensions import db
from core.finance import ledger
from core.models import Booking, Service, Store

from .models import PunchCard, PunchProduct, PunchUse

RELEASE = ("cancelled", "declined")
CONSUME = ("completed", "no_show")


def add_product(name: str, service_ids: list[int], uses: int, price: int,
                validity_days: int) -> PunchProduct:
    with write_transaction() as session:
        known = set(session.scalars(select(Service.id).where(Service.id.in_(service_ids))))
        if known != set(service_ids):
            raise NotFound(_l("Service not found."))
        product = PunchProduct(name=name, service_ids=sorted(known), uses=uses, price=price,
                               validity_days=validity_days)
        session.add(product)
    return product


def sell(customer_id: int, store_id: int, product_id: int) -> PunchCard:
    """Sell a card for cash at a store: the money is deferred revenue of that store."""
    with write_transaction() as session:
        product = session.get(PunchProduct, product_id)
        if product is None or not product.active:
            raise NotFound(_l("No such punch card."))
        if session.get(Store, store_id) is None:
            raise NotFound(_l("Store not found."))
        card = PunchCard(customer_id=customer_id, product_id=product.id, store_id=store_id,
                         uses_total=product.uses, uses_left=product.uses, price=product.price,
                         expires_at=utcnow() + timedelta(days=product.validity_days))
        session.add(card)
        session.flush()
        if product.price:
            ledger.post("card_sale", [(f"store:{store_id}:cash", product.price),
                                      (f"store:{store_id}:deferred", -product.price)],
                        reference=f"punch-card:{card.id}",
                        idempotency_key=f"punch-card-sale:{card.id}")
    return card


def cards_of(customer_id: int) -> list[PunchCard]:
    return list(db.session.scalars(select(PunchCard).where(
        PunchCard.customer_id == customer_id).order_by(PunchCard.expires_at)))


def reserve(booking: Booking) -> PunchUse | None:
    """Take a use of the first-expiring card that covers the booking (idempotent)."""
    with write_transaction() as session:
        if session.scalars(select(PunchUse).where(PunchUse.booking_id == booking.id)).first():
            return None
        for card in session.scalars(select(PunchCard).where(
                PunchCard.customer_id == booking.customer_id, PunchCard.uses_left > 0,
                PunchCard.expires_at > booking.start_at).order_by(PunchCard.expires_at)):
            product = session.get(PunchProduct, card.product_id)
            if booking.service_id not in (product.service_ids or []):
                continue
            taken = session.execute(update(PunchCard).where(
                PunchCard.id == card.id, PunchCard.uses_left > 0
            ).values(uses_left=PunchCard.uses_left - 1)).rowcount
            if taken:
                use = PunchUse(card_id=card.id, booking_id=booking.id)
                session.add(use)
                return use
    return None


def settle(booking: Booking, event: str) -> None:
    """Consume or release the booking's use when the booking ends."""
    with write_transaction() as session:
        use = session.scalars(select(PunchUse).where(PunchUse.booking_id == booking.id,
                                                     PunchUse.status == "reserved")).first()
        if use is None:
            return
        card = session.get(PunchCard, use.card_id)
        use.updated_at = utcnow()
        if event in RELEASE:
            use.status = "released"
            session.execute(update(PunchCard).where(PunchCard.id == card.id)
                            .values(uses_left=PunchCard.uses_left + 1))
            return
        use.status = "consumed"
        done = session.scalar(select(db.func.count()).select_from(PunchUse).where(
            PunchUse.card_id == card.id, PunchUse.status == "consumed")) or 0
        # earn the price use by use; the last use takes the rounding remainder
        value = card.price * done // card.uses_total - card.price * (done - 1) // \
            card.uses_total
        if value:
            legs = [(f"store:{card.store_id}:deferred", value),
                    (f"store:{booking.store_id}:revenue", -value)]
            if booking.store_id != card.store_id:
                legs += [(f"store:{booking.store_id}:due_from", value),
                         (f"store:{card.store_id}:due_to", -value)]
            ledger.post("punch_use", legs, reference=f"punch-card:{card.id}",
                        idempotency_key=f"punch-use:{use.id}")


def on_booking_event(booking: Booking, event: str) -> None:
    if event == "created":
        reserve(booking)
    elif event in RELEASE or event in CONSUME:
        settle(booking, event)


def adjustments(quote: Any) -> list[dict[str, Any]]:
    """A booking covered by a reserved or consumed use costs nothing more; before it is
    booked, a card of the customer's that covers the service says it will."""
    out = []
    for line in quote.lines:
        if line.kind != "booking":
            continue
        if line.ref_id is not None:
            covered = db.session.scalars(select(PunchUse.id).where(
                PunchUse.booking_id == line.ref_id,
                PunchUse.status.in_(("reserved", "consumed")))).first() is not None
        else:
            covered = _covering_card(quote.customer, line.service_id) is not None
        if covered:
            out.append({"source": "wallet", "order": 10, "amount": -line.amount,
                        "label": gettext("Paid by punch card")})
    return out


def _covering_card(customer: Any, service_id: int | None) -> PunchCard | None:
    if customer is None or service_id is None:
        return None
    for card in db.session.scalars(select(PunchCard).where(
            PunchCard.customer_id == customer.id, PunchCard.uses_left > 0,
            PunchCard.expires_at > utcnow()).order_by(PunchCard.expires_at)):
        product = db.session.get(PunchProduct, card.product_id)
        if service_id in (product.service_ids or []):
            return card
    return None
