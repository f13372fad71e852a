"""Punch cards (次卡): N visits of a set of services, sold in advance, with an expiry.

A booking of a covered service reserves one use of the customer's card that expires
first (``fulian_booking_event`` "created"); completing the booking consumes it — the
card's price is then earned use by use (deferred revenue of the selling store becomes
revenue of the serving store, with a settlement pair when they differ); a cancellation
or decline releases it, a no-show forfeits it. While a use is reserved, the booking's
quote carries a "paid by punch card" adjustment, so its order is settled at zero.
Visits a card still has when it expires will never be given: :func:`expire_cards`
recognises their share of the price as the selling store's revenue (breakage), so
deferred revenue only ever holds what customers can still use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import marshmallow as ma
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from core.sdk import NotFound, RuleViolation, ValidationFailed, db, utcnow, write_transaction
from core.sdk.models import Booking, Order, Service, Store
from core.sdk.services import ledger, orders
from core.sdk.services import validation as v

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


def sell(customer_id: int, store_id: int, product_id: int, *,
         before_commit: Callable[[PunchCard], None] | None = None) -> PunchCard:
    """Sell a card for cash at a store: the money is deferred revenue of that store.
    ``before_commit`` runs inside the transaction (e.g. to store an idempotent reply)."""
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
        if before_commit is not None:
            before_commit(card)
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
        if event in RELEASE:
            _release(use)
            return
        card = session.get(PunchCard, use.card_id)
        use.updated_at = utcnow()
        use.status = "consumed"
        done = session.scalar(select(db.func.count()).select_from(PunchUse).where(
            PunchUse.card_id == card.id, PunchUse.status == "consumed")) or 0
        # earn the price use by use; the last use takes the rounding remainder
        value = _earned_share(card, done) - _earned_share(card, done - 1)
        if value:
            legs = [(f"store:{card.store_id}:deferred", value),
                    (f"store:{booking.store_id}:revenue", -value)]
            if booking.store_id != card.store_id:
                legs += [(f"store:{booking.store_id}:due_from", value),
                         (f"store:{card.store_id}:due_to", -value)]
            ledger.post("punch_use", legs, reference=f"punch-card:{card.id}",
                        idempotency_key=f"punch-use:{use.id}")


def _earned_share(card: PunchCard, visits: int) -> int:
    """What the first ``visits`` consumed uses earn of the card's price; each use earns
    the difference, so the rounding remainder goes to the last one."""
    return card.price * visits // card.uses_total


def expire_cards(now: datetime | None = None) -> int:
    """Break the unused visits of expired cards; returns how many cards it touched.

    Each card is settled in its own transaction by a conditional update of
    ``uses_left``, so overlapping sweeps (two workers) break a visit once. Visits still
    reserved by a booking are left to that booking: a later release gives the visit
    back to the expired card, and the next sweep breaks it then. What a card breaks is
    its price less what its consumed and reserved visits earn, less what it broke
    before, so consumption and breakage together always add up to the price."""
    now = now or utcnow()
    touched = 0
    for card_id, left in db.session.execute(select(PunchCard.id, PunchCard.uses_left).where(
            PunchCard.expires_at <= now, PunchCard.uses_left > 0)).all():
        with write_transaction() as session:
            taken = session.execute(update(PunchCard).where(
                PunchCard.id == card_id, PunchCard.uses_left == left
            ).values(uses_left=0)).rowcount
            if not taken:
                continue
            card = session.get(PunchCard, card_id, populate_existing=True)
            kept = session.scalar(select(db.func.count()).select_from(PunchUse).where(
                PunchUse.card_id == card_id,
                PunchUse.status.in_(("reserved", "consumed")))) or 0
            value = card.price - _earned_share(card, kept) - card.broken
            if value > 0:
                card.broken += value
                session.flush()
                ledger.post("punch_expiry", [(f"store:{card.store_id}:deferred", value),
                                             (f"store:{card.store_id}:revenue", -value)],
                            reference=f"punch-card:{card.id}",
                            idempotency_key=f"punch-expiry:{card.id}:{card.broken}")
            touched += 1
    return touched


def is_expired(card: PunchCard, now: datetime | None = None) -> bool:
    return card.expires_at <= (now or utcnow())


def is_live(card: PunchCard, now: datetime | None = None) -> bool:
    """A card that can still be booked against: visits left and not expired."""
    return card.uses_left > 0 and not is_expired(card, now)


def _release(use: PunchUse) -> bool:
    """Give a reserved use back to its card (inside the caller's write transaction);
    False when it was no longer reserved (released or consumed meanwhile)."""
    session = db.session
    taken = session.execute(update(PunchUse).where(
        PunchUse.id == use.id, PunchUse.status == "reserved"
    ).values(status="released", updated_at=utcnow())).rowcount
    if taken:
        session.execute(update(PunchCard).where(PunchCard.id == use.card_id)
                        .values(uses_left=PunchCard.uses_left + 1))
    session.expire(use)
    return bool(taken)


def reserved_use(booking_id: int | None) -> PunchUse | None:
    if booking_id is None:
        return None
    return db.session.scalars(select(PunchUse).where(PunchUse.booking_id == booking_id,
                                                     PunchUse.status == "reserved")).first()


def opt_out(order_id: int) -> Order:
    """Pay for this visit instead of using a punch-card visit: the reserved use goes back
    to the card and the order is priced again (an adjustment with its source, so the
    receipt says so), both in one transaction."""
    order = orders.get_order(order_id)
    use = reserved_use(order.booking_id)
    if use is None:
        raise RuleViolation(_l("This visit does not use a punch card."))
    covered = sum(line.amount for line in order.lines if line.kind == "booking")

    def give_back(_order: Order) -> None:
        if not _release(use):
            raise RuleViolation(_l("This visit does not use a punch card."))

    return orders.add_adjustment(order_id, "wallet", gettext("Punch card not used"),
                                 covered, before_commit=give_back)


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


# --- set-up of punch card products (back-office pages and the API share these) ----------

class ProductSchema(ma.Schema):
    """A punch card product's fields; the API's ``PunchProductIn`` and the set-up page
    load with it."""

    name = ma.fields.String(required=True, validate=[
        v.not_blank, ma.validate.Length(min=1, max=120)])
    service_ids = ma.fields.List(
        ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=2**31 - 1)),
        required=True, validate=ma.validate.Length(
            min=1, max=50, error=str(_l("Choose at least one service."))))
    uses = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(
        min=1, max=1000, error=str(_l("Between 1 and 1000 visits."))))
    price = v.MinorUnits(required=True)
    validity_days = ma.fields.Integer(load_default=365, strict=True, validate=ma.validate.Range(
        min=1, max=3650, error=str(_l("Between 1 and 3650 days."))))


def products(include_retired: bool = False) -> list[PunchProduct]:
    """Products on sale (and retired ones when asked), on-sale first."""
    query = select(PunchProduct).order_by(PunchProduct.active.desc(), PunchProduct.price,
                                          PunchProduct.id)
    if not include_retired:
        query = query.where(PunchProduct.active.is_(True))
    return list(db.session.scalars(query))


def find_product(product_id: int) -> PunchProduct:
    """A product on sale or retired (set-up edits both)."""
    product = db.session.get(PunchProduct, product_id)
    if product is None:
        raise NotFound(_l("No such punch card."))
    return product


def _known_services(service_ids: list[int]) -> list[int]:
    known = set(db.session.scalars(select(Service.id).where(Service.id.in_(service_ids))))
    if known != set(service_ids):
        raise ValidationFailed(_l("The input is not valid."), field_errors={
            "service_ids": [gettext("Unknown service.")]})
    return sorted(known)


def create_product(data: dict[str, Any]) -> PunchProduct:
    """A new product from unvalidated input (page form or API body)."""
    values = v.load(ProductSchema(), data)
    ids = _known_services(values["service_ids"])
    return add_product(values["name"].strip(), ids, values["uses"], values["price"],
                       values["validity_days"])


def update_product(product_id: int, data: dict[str, Any]) -> PunchProduct:
    """Change a product. Cards already sold keep their uses, price and expiry (copied
    onto the card when sold); a visit is covered by the product's services now."""
    values = v.load(ProductSchema(), {k: x for k, x in data.items() if x is not None},
                    partial=True)
    if not values:
        raise ValidationFailed(_l("Nothing to change: give at least one new value."))
    with write_transaction():
        product = find_product(product_id)
        if "service_ids" in values:
            values["service_ids"] = _known_services(values["service_ids"])
        for key, value in values.items():
            setattr(product, key, value.strip() if key == "name" else value)
    return product


def set_product_active(product_id: int, active: bool) -> PunchProduct:
    """Retire a product (no longer sold; cards sold keep working) or sell it again."""
    with write_transaction():
        product = find_product(product_id)
        product.active = bool(active)
    return product
