"""Browsing pages of the customer face: a store, a service, a staff member's profile.

Public (no login): they show exactly what the API shows anonymous callers — active
stores, published services, public staff profiles — and 404 otherwise.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import render_template

from ...catalog.services import price_at
from . import bp, helpers


@bp.context_processor
def _customer_context() -> dict[str, Any]:
    """Date and avatar helpers for the customer templates only."""
    return {"day_label": helpers.day_label, "full_day": helpers.full_day,
            "clock": helpers.clock, "initials": helpers.initials,
            "store_tz": lambda store: ZoneInfo(store.timezone)}


@bp.get("/stores/<int:store_id>")
def store(store_id: int) -> str:
    """A store: contacts, opening hours, closures, its services and its team."""
    shop = helpers.store_or_404(store_id)
    services = helpers.offered_services(shop)
    team = helpers.public_staff(store_id=shop.id)
    return render_template("customer/store.html", store=shop, services=services, team=team,
                           hours=helpers.opening_hours(shop),
                           holidays=helpers.upcoming_holidays(shop))


@bp.get("/services/<int:service_id>")
def service(service_id: int) -> str:
    """A service: picture, description, duration, price, who performs it and where."""
    svc = helpers.service_or_404(service_id)
    stores = helpers.stores_offering(svc)
    store_ids = {s.id for s, _price in stores}
    team = [p for p in helpers.public_staff(service_id=svc.id)
            if any(s.id in store_ids for s in p.stores)]
    prices = sorted({price for _s, price in stores}) or [svc.price]
    return render_template("customer/service.html", service=svc, stores=stores, team=team,
                           prices=prices)


@bp.get("/staff/<int:staff_id>")
def staff(staff_id: int) -> str:
    """A staff member's public profile and the services they perform."""
    person = helpers.staff_or_404(staff_id)
    stores = [s for s in person.stores if s.status == "active"]
    store_ids = {s.id for s in stores}
    services = [svc for svc in person.services if svc.published
                and any(o.store_id in store_ids for o in svc.offers)]
    lowest = {svc.id: min(price_at(svc, o.store_id) for o in svc.offers
                          if o.store_id in store_ids) for svc in services}
    return render_template("customer/staff.html", person=person, stores=stores,
                           services=services, lowest=lowest)


from . import booking, checkout, me  # noqa: E402,F401 - more views on the same blueprint
