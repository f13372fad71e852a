"""One place that answers "may this user see or do this?" for API and pages.

Brand roles (owner, brand_admin) reach every store; store roles reach the stores they
were granted; staff reach their own bookings; customers their own data. Views ask here
and answer 404 for what the caller may not see, so existence does not leak.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from ..extensions import db
from ..models import BRAND_ROLES, Booking, Customer, Order, StaffProfile, Store, User

STORE_ROLES = ("store_manager", "front_desk")
#: store roles that may change a store's settings, staff, schedules and rosters
ADMIN_ROLES = ("store_manager",)


def roles(user: User | None) -> set[str]:
    return {r.role for r in user.roles} if user else set()


def is_brand_admin(user: User | None) -> bool:
    return bool(roles(user) & set(BRAND_ROLES))


def managed_store_ids(user: User | None) -> set[int] | None:
    """Stores the user manages (front desk or above); ``None`` means every store."""
    if user is None:
        return set()
    if is_brand_admin(user):
        return None
    return {r.store_id for r in user.roles if r.role in STORE_ROLES and r.store_id}


def can_manage_store(user: User | None, store_id: int) -> bool:
    ids = managed_store_ids(user)
    return ids is None or store_id in ids


def admin_store_ids(user: User | None) -> set[int] | None:
    """Stores whose settings, staff and schedules the user may change (None = all)."""
    if user is None:
        return set()
    if is_brand_admin(user):
        return None
    return {r.store_id for r in user.roles if r.role in ADMIN_ROLES and r.store_id}


def administers(user: User | None, store_id: int) -> bool:
    ids = admin_store_ids(user)
    return ids is None or store_id in ids


def in_scope(column: Any, ids: set[int] | None) -> ColumnElement[bool]:
    """SQL: ``column`` is one of ``ids`` (None = every value, as the functions above
    answer for brand roles)."""
    if ids is None:
        return true()
    if not ids:
        return false()
    return column.in_(sorted(ids))


def stores_of(user: User | None, *, administered: bool = False,
              active_only: bool = False) -> list[Store]:
    """The stores a user works with (or administers), by id — what every page's store
    picker and list offers."""
    ids = admin_store_ids(user) if administered else managed_store_ids(user)
    query = select(Store).where(in_scope(Store.id, ids)).order_by(Store.id)
    if active_only:
        query = query.where(Store.status == "active")
    return list(db.session.scalars(query))


def is_crm_user(user: User | None) -> bool:
    """Brand roles, store managers and front desks work with customer records."""
    ids = managed_store_ids(user)
    return ids is None or bool(ids)


def staff_profile(user: User | None) -> StaffProfile | None:
    if user is None:
        return None
    return db.session.scalars(select(StaffProfile).where(StaffProfile.user_id == user.id)
                              ).first()


def customer_of(user: User | None) -> Customer | None:
    if user is None:
        return None
    return db.session.scalars(select(Customer).where(Customer.user_id == user.id)).first()


def booking_relation(user: User | None, booking: Booking) -> str | None:
    """How the user relates to a booking: ``manager``, ``staff``, ``customer`` or None."""
    if user is None:
        return None
    if can_manage_store(user, booking.store_id):
        return "manager"
    staff = staff_profile(user)
    if staff is not None and staff.id == booking.staff_id:
        return "staff"
    customer = customer_of(user)
    if customer is not None and customer.id == booking.customer_id:
        return "customer"
    return None


def order_relation(user: User | None, order: Order) -> str | None:
    """How the user relates to an order: as for its booking (the store, the staff member
    who serves it, the customer), or the store / the customer for an order without one."""
    if user is None:
        return None
    if order.booking_id is not None:
        booking = db.session.get(Booking, order.booking_id)
        if booking is not None:
            return booking_relation(user, booking)
    if can_manage_store(user, order.store_id):
        return "manager"
    customer = customer_of(user)
    if customer is not None and customer.id == order.customer_id:
        return "customer"
    return None


class StaffVisibility:
    """What a user may see of staff profiles (API and pages), computed once per
    request: public profiles of active people at active stores; private fields for the
    person and their stores' managers; secrets (calendar feed) for the person and the
    people who administer their stores."""

    def __init__(self, user: User | None) -> None:
        self.user = user
        self.managed = managed_store_ids(user) if user is not None else set()

    def manages_any(self, staff: StaffProfile) -> bool:
        return self.managed is None or any(s.id in self.managed for s in staff.stores)

    def private(self, staff: StaffProfile) -> bool:
        if self.user is None:
            return False
        return staff.user_id == self.user.id or self.manages_any(staff)

    def secret(self, staff: StaffProfile) -> bool:
        if self.user is None:
            return False
        return staff.user_id == self.user.id or any(administers(self.user, s.id)
                                                    for s in staff.stores)

    def visible(self, staff: StaffProfile) -> bool:
        return self.private(staff) or (staff.active and any(s.status == "active"
                                                           for s in staff.stores))

    def store_seen(self, store: Store) -> bool:
        return store.status == "active" or self.managed is None or store.id in self.managed

    def clause(self) -> Any:
        if self.managed is None:
            return true()
        public = and_(StaffProfile.active.is_(True),
                      StaffProfile.stores.any(Store.status == "active"))
        parts = [public, StaffProfile.stores.any(in_scope(Store.id, self.managed))]
        if self.user is not None:
            parts.append(StaffProfile.user_id == self.user.id)
        return or_(*parts)
