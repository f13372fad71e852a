"""The wallet on the customer's own pages: redeem points at checkout, and the full
statement of the stored-value card.

The checkout section is offered through ``fulian_checkout_sections``; its form posts
here, to the plugin's own route, which redeems through the same :func:`points.redeem` as
``POST /api/v1/wallet/orders/{id}/redeem-points`` and returns to the checkout page. The
statement is what ``GET /api/v1/wallet/customers/{id}`` gives the customer.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from core.auth import policy
from core.errors import FulianError
from core.extensions import db
from core.finance import orders
from core.models import Booking, BrandSettings, Order
from core.web.context import money
from core.web.session import customer_only, page_user

from . import points, service

bp = Blueprint("wallet_customer", __name__, url_prefix="/me/wallet",
               template_folder="templates")
KINDS = {"top_up": _l("Top-up"), "payment": _l("Payment"), "refund": _l("Refund"),
         "card_refund": _l("Card refund"), "reversal": _l("Correction")}


def section(order: Order) -> dict[str, Any] | None:
    """How many points the customer has, what they are worth here, and a form."""
    owned = points.balance(order.customer_id) if order.customer_id else 0
    value = points.point_value()
    usable = min(owned, orders.due(order) // value) if value else 0
    if usable <= 0 or order.booking_id is None:
        return None
    html = Markup(
        '<p>{have}</p><form method="post" action="{action}" class="inline-form">'
        '<input type="hidden" name="csrf_token" value="{csrf}">'
        '<label for="w-points">{label}</label>'
        '<input id="w-points" name="points" type="number" inputmode="numeric" min="1" '
        'max="{usable}" value="{usable}" required>'
        '<button class="button button-outline" type="submit">{button}</button></form>'
    ).format(have=gettext("You have %(points)d points, worth up to %(value)s on this "
                          "booking.", points=owned,
                          value=money(usable * value, order.currency)),
             action=url_for("wallet_customer.redeem", order_id=order.id),
             csrf=generate_csrf(), usable=usable, label=gettext("Points to use"),
             button=gettext("Use points"))
    return {"key": "points", "title": gettext("Points"), "html": html, "order": 10}


@bp.post("/orders/<int:order_id>/points")
@customer_only
def redeem(order_id: int) -> Any:
    """Redeem points on the caller's own open order, then back to its checkout."""
    order = db.session.get(Order, order_id)
    if order is None or policy.order_relation(page_user(), order) != "customer" or \
            order.booking_id is None:
        abort(404)
    booking = db.session.get(Booking, order.booking_id)
    back = url_for("customer.checkout", code=booking.code)
    raw = request.form.get("points", "")
    if not raw.isdigit() or not 0 < int(raw) <= 10_000_000:
        flash(gettext("Give a whole number of points."), "error")
        return redirect(back)
    try:
        points.redeem(order.id, int(raw))
    except FulianError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(back)
    flash(gettext("%(points)d points redeemed", points=int(raw)), "success")
    return redirect(back)


@bp.get("/statement")
@customer_only
def statement() -> Any:
    """Every movement of the caller's stored value, newest first, with the balance after
    each, in the brand's time zone."""
    customer = policy.customer_of(page_user())
    if customer is None:
        abort(404)
    brand = db.session.get(BrandSettings, 1)
    tz = ZoneInfo((brand.timezone if brand else None) or "Asia/Shanghai")
    rows = [{**r, "at": r["at"].astimezone(tz), "label": KINDS.get(r["kind"], r["kind"])}
            for r in service.statement(customer.id, limit=500)]
    return render_template("wallet/customer_statement.html", rows=rows,
                           balances=service.balances(customer.id))
