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

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.sdk import FulianError, ValidationFailed, db
from core.sdk.models import Booking, BrandSettings, Order, Store
from core.sdk.payments import providers
from core.sdk.services import QuoteLine, orders
from core.sdk.web import back_office, customer_only, money, once, page_user, policy

from . import blueprints, points, punch, service
from .models import PunchCard, PunchProduct

KINDS = {"top_up": _l("Top-up"), "payment": _l("Payment"), "refund": _l("Refund"),
         "card_refund": _l("Card refund"), "reversal": _l("Correction")}


#: per face: the role the viewer must have on the order, and the routes of its forms
FACES = {"customer": ("customer", "wallet_customer"), "admin": ("manager", "wallet_admin")}


def _form(action: str, body: Markup, button: str) -> Markup:
    return Markup(
        '<form method="post" action="{action}" class="inline-form">'
        '<input type="hidden" name="csrf_token" value="{csrf}">{body}'
        '<button class="button button-outline" type="submit">{button}</button></form>'
    ).format(action=action, csrf=generate_csrf(), body=body, button=button)


def sections(order: Order, face: str) -> list[dict[str, Any]]:
    """At checkout (the customer's, or the desk's on a booking's page): the punch-card
    visit this booking uses, with a way to pay instead; the customer's points and a form
    to use them on what is due."""
    if face not in FACES or order.booking_id is None or order.status not in ("open", "paid"):
        return []
    routes = FACES[face][1]
    found = []
    use = punch.reserved_use(order.booking_id)
    if use is not None and order.refunded == 0:
        card = db.session.get(PunchCard, use.card_id)
        product = db.session.get(PunchProduct, card.product_id)
        text = Markup("<p>{}</p>").format(gettext(
            "This visit uses %(card)s (%(left)d visits left after it).", card=product.name,
            left=card.uses_left))
        found.append({"key": "punch", "title": gettext("Punch card"), "order": 5,
                      "html": text + _form(url_for(f"{routes}.release", order_id=order.id),
                                           Markup(""), gettext("Pay for this visit instead"))})
    owned = points.balance(order.customer_id) if order.customer_id else 0
    value = points.point_value()
    usable = min(owned, orders.due(order) // value) if value else 0
    if usable > 0:
        field = Markup(
            '<label for="w-points">{label}</label><input id="w-points" name="points" '
            'type="number" inputmode="numeric" min="1" max="{usable}" value="{usable}" '
            'required>').format(label=gettext("Points to use"), usable=usable)
        have = Markup("<p>{}</p>").format(gettext(
            "%(points)d points, worth up to %(value)s on this booking.", points=owned,
            value=money(usable * value, order.currency)))
        found.append({"key": "points", "title": gettext("Points"), "order": 10,
                      "html": have + _form(url_for(f"{routes}.redeem", order_id=order.id),
                                           field, gettext("Use points"))})
    return found


def _act(order_id: int, face: str, effect: Any) -> Any:
    """Run one checkout action on an order the viewer may act on (404 otherwise) and go
    back to where it was offered, with the outcome as a message."""
    order = db.session.get(Order, order_id)
    if order is None or order.booking_id is None or \
            policy.order_relation(page_user(), order) != FACES[face][0]:
        abort(404)
    booking = db.session.get(Booking, order.booking_id)
    back = url_for("customer.checkout", code=booking.code) if face == "customer" \
        else url_for("admin.booking_detail", booking_id=booking.id)
    try:
        done = effect(order)
    except FulianError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(back)
    flash(done, "success")
    return redirect(back)


def _redeem(order: Order) -> str:
    raw = request.form.get("points", "")
    if not raw.isdigit() or not 0 < int(raw) <= 10_000_000:
        raise ValidationFailed(_l("Give a whole number of points."))
    points.redeem(order.id, int(raw))
    return gettext("%(points)d points redeemed", points=int(raw))


def _release(order: Order) -> str:
    punch.opt_out(order.id)
    return gettext("The visit stays on your punch card; this one is paid instead.")


@blueprints.customer.post("/orders/<int:order_id>/points")
@customer_only
def redeem(order_id: int) -> Any:
    """The customer redeems points on their own order."""
    return _act(order_id, "customer", _redeem)


@blueprints.customer.post("/orders/<int:order_id>/punch-release")
@customer_only
def release(order_id: int) -> Any:
    """The customer pays for this visit instead of using a punch-card visit."""
    return _act(order_id, "customer", _release)


@blueprints.admin.post("/orders/<int:order_id>/points", endpoint="redeem")
@back_office
def desk_redeem(order_id: int) -> Any:
    """The desk redeems the customer's points on a booking of its store."""
    return _act(order_id, "admin", _redeem)


@blueprints.admin.post("/orders/<int:order_id>/punch-release", endpoint="release")
@back_office
def desk_release(order_id: int) -> Any:
    """The desk charges this visit instead of using the customer's punch card."""
    return _act(order_id, "admin", _release)


@blueprints.customer.get("/statement")
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


TOP_UP_SCOPE = "web:wallet-top-up"


@blueprints.customer.route("/top-up", methods=["GET", "POST"])
@customer_only
def top_up() -> Any:
    """Buy stored value online: choose a plan and the store it is bought from (that
    store holds the money), pay with an online provider, and the card is credited when
    the provider's notification settles the order (:func:`service.deliver`)."""
    customer = policy.customer_of(page_user())
    if customer is None:
        abort(404)
    stores = list(db.session.scalars(select(Store).where(Store.status == "active")
                                     .order_by(Store.id)))
    plans = service.plans()
    online = providers()
    message, status = None, 200
    if request.method == "POST" and online:
        token = request.form.get("once", "")
        if not once.valid(token):
            abort(400)
        first = once.done(TOP_UP_SCOPE, token)
        if first:
            return redirect(first)
        plan = next((p for p in plans if str(p.id) == request.form.get("plan_id")), None)
        store = next((s for s in stores if str(s.id) == request.form.get("store_id")), None)
        code = request.form.get("provider") or next(iter(online))
        if plan is None or store is None or code not in online:
            message, status = gettext("Choose a plan, a store and how to pay."), 422
        else:
            order = orders.sell(store.id, customer.id, [QuoteLine(
                kind="top_up", description=plan.name, unit_price=plan.pay_amount,
                ref_id=plan.id)], user_id=page_user().id)
            ref = online[code].new_reference()
            try:  # the pay page asks the provider, after this commit
                orders.start_online(
                    order.id, code, plan.pay_amount, ref, user_id=page_user().id,
                    before_commit=lambda p: once.remember(
                        TOP_UP_SCOPE, token, url_for("pay.page", ref=ref)))
            except IntegrityError:  # the same form twice at once: the other one went on
                db.session.rollback()
            return redirect(once.done(TOP_UP_SCOPE, token) or url_for(".top_up"))
    return render_template("wallet/customer_top_up.html", plans=plans, stores=stores,
                           balances=service.balances(customer.id), once=once.new_token(),
                           message=message, home=service.home_store(customer.id),
                           providers=online), status
