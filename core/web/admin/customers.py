"""Customers (CRM) in the back office: search, tag segments, one customer's record with
tags, notes and booking history, and adding a customer.

Customer records are brand-wide, as in the API (``/api/v1/customers``): every CRM user
(``policy.is_crm_user``, enforced by ``@back_office``) works with them, through the
same service functions (:mod:`core.crm.customers`). A store manager's or front desk's
view of the booking history is limited to their stores.
"""

from __future__ import annotations

from math import ceil
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ... import phones
from ...crm import customers as crm
from ...errors import FulianError, ValidationFailed
from ...extensions import db
from ...models import CUSTOMER_SOURCES, Booking, Customer, CustomerNote, CustomerTag, User
from ...plugins import plugins
from ..forms import Form
from ..session import back_office
from . import bp
from .ops_common import PER_PAGE, current, page_number, rows_for, store_scope

HISTORY_PER_PAGE = 20
SOURCE_LABELS = {"online": _l("Online"), "walk_in": _l("Walk-in"), "phone": _l("Phone"),
                 "import": _l("Import"), "referral": _l("Referral")}


def _sources() -> list[tuple[str, str]]:
    return [(s, str(SOURCE_LABELS.get(s, s))) for s in CUSTOMER_SOURCES]


def _segments() -> list[tuple[str, int]]:
    """Every tag with how many customers carry it, biggest first."""
    count = func.count(func.distinct(CustomerTag.customer_id))
    return [(tag, n) for tag, n in db.session.execute(
        select(CustomerTag.tag, count).group_by(CustomerTag.tag).order_by(count.desc(),
                                                                            CustomerTag.tag))]


@bp.get("/customers")
@back_office
def customers() -> Any:
    """Customers, newest first; search by phone or name, filter by tag (as the API)."""
    q = request.args.get("q", "").strip()[:100]
    tag = request.args.get("tag", "").strip()[:40]
    query = crm.search_customers(q or None, tag or None)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, ceil(total / PER_PAGE))
    page = min(page_number(), pages)
    found = list(db.session.scalars(query.options(selectinload(Customer.tags))
                                    .offset((page - 1) * PER_PAGE).limit(PER_PAGE)))
    args = {k: v for k, v in (("q", q), ("tag", tag)) if v}
    return render_template("admin/customers.html", face="admin", rows=found, q=q, tag=tag,
                           total=total, page=page, pages=pages, args=args,
                           segments=_segments(), sources=dict(_sources()))


@bp.route("/customers/new", methods=["GET", "POST"])
@back_office
def new_customer() -> Any:
    """Add a customer by phone (a known phone is refused with a link to its record)."""
    form = Form({"source": "walk_in", "phone": request.args.get("phone", "")})
    existing = None
    if request.method == "POST":
        form = Form.submitted()
        tags = [t.strip() for t in form.get("tags").split(",") if t.strip()]
        data = {"phone": form.get("phone"), "name": form.get("name"),
                "source": form.get("source") or "walk_in", "tags": tags}
        try:
            customer = crm.create_customer(data)
        except FulianError as exc:
            db.session.rollback()
            form.fail(exc)
            if "tags" in form.errors:
                form.errors["tags"] = [_("Each tag: 1 to 40 characters.")]
            phone = phones.lookup_key(form.get("phone"))  # any spelling of the number
            existing = db.session.scalars(select(Customer).where(
                Customer.phone == phone)).first() if phone else None
            return render_template("admin/customer_new.html", face="admin", form=form,
                                   sources=_sources(), existing=existing), 422
        flash(_("Customer added."), "success")
        return redirect(url_for("admin.customer_detail", customer_id=customer.id))
    return render_template("admin/customer_new.html", face="admin", form=form,
                           sources=_sources(), existing=existing)


def _customer_or_404(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        abort(404)
    return customer


def _page(customer: Customer, form: Form | None = None, status: int = 200) -> Any:
    user = current()
    form = form or Form()
    for key in ("phone", "name", "source"):
        form.values.setdefault(key, getattr(customer, key))
    if form.values.get("phone") == customer.phone:  # as people read it; saved as E.164
        form.values["phone"] = phones.display(customer.phone)
    scope = store_scope(Booking.store_id, user)
    query = select(Booking).where(Booking.customer_id == customer.id, scope)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(1, ceil(total / HISTORY_PER_PAGE))
    page = min(page_number(), pages)
    history = rows_for(list(db.session.scalars(
        query.order_by(Booking.start_at.desc(), Booking.id.desc())
        .offset((page - 1) * HISTORY_PER_PAGE).limit(HISTORY_PER_PAGE))))
    stats = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Booking.price), 0), func.max(Booking.start_at))
        .where(Booking.customer_id == customer.id, scope, Booking.status == "completed")
    ).one()
    notes = list(db.session.scalars(select(CustomerNote).where(
        CustomerNote.customer_id == customer.id).order_by(CustomerNote.id.desc())))
    ids = {n.author_id for n in notes if n.author_id}
    authors = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids)))
                   .all()) if ids else {}
    # what plugins know of the customer (stored value, cards, points...), as the desk sees it
    sections = sorted((s for s in plugins().call_flat("fulian_customer_sections",
                                                       customer=customer, face="admin") if s),
                      key=lambda s: s.get("order", 100))
    return render_template(
        "admin/customer.html", face="admin", customer=customer, form=form, history=history,
        sections=sections,
        total=total, page=page, pages=pages, args={"customer_id": customer.id},
        visits=stats[0], spent=stats[1], last_visit=stats[2], notes=notes, authors=authors,
        sources=_sources(), source_labels=dict(_sources())), status


@bp.get("/customers/<id:customer_id>")
@back_office
def customer_detail(customer_id: int) -> Any:
    """One customer: profile, tags, notes and their bookings at the user's stores."""
    return _page(_customer_or_404(customer_id))


def _write(customer_id: int, change: Any, done: str) -> Any:
    """Run one change through its service; on refusal re-render the page with 422."""
    user = current()
    customer = _customer_or_404(customer_id)
    form = Form.submitted()
    try:
        change(user, customer, form)
    except FulianError as exc:
        db.session.rollback()
        form.fail(exc)
        return _page(_customer_or_404(customer_id), form, 422)
    flash(done, "success")
    return redirect(url_for("admin.customer_detail", customer_id=customer_id))


@bp.post("/customers/<id:customer_id>")
@back_office
def customer_update(customer_id: int) -> Any:
    """Change name, phone or source (as ``PATCH /api/v1/customers/{id}``)."""
    def change(_user: User, customer: Customer, form: Form) -> None:
        crm.update_customer(customer.id, {"phone": form.get("phone"), "name": form.get("name"),
                                          "source": form.get("source") or customer.source})
    return _write(customer_id, change, _("Customer saved."))


def _valid_tag(tag: str) -> str:
    """The API's tag rule (not blank, at most 40 characters), as a field error."""
    tag = tag.strip()
    if not tag or len(tag) > 40:
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={"tag": [_l("Each tag: 1 to 40 characters.")]})
    return tag


@bp.post("/customers/<id:customer_id>/tags")
@back_office
def customer_tag_add(customer_id: int) -> Any:
    """Tag the customer (no change if already tagged)."""
    def change(_user: User, customer: Customer, form: Form) -> None:
        crm.add_customer_tag(customer.id, _valid_tag(form.get("tag")))
    return _write(customer_id, change, _("Tag added."))


@bp.post("/customers/<id:customer_id>/tags/remove")
@back_office
def customer_tag_remove(customer_id: int) -> Any:
    """Remove a tag (no change if the customer does not carry it)."""
    def change(_user: User, customer: Customer, form: Form) -> None:
        crm.remove_customer_tag(customer.id, _valid_tag(form.get("remove")))
    return _write(customer_id, change, _("Tag removed."))


@bp.post("/customers/<id:customer_id>/notes")
@back_office
def customer_note_add(customer_id: int) -> Any:
    """Add an internal note, signed with the user's name."""
    def change(user: User, customer: Customer, form: Form) -> None:
        crm.add_customer_note(customer.id, form.get("body"), author_id=user.id)
    return _write(customer_id, change, _("Note added."))
