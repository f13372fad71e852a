"""Back office: stores — list, open a store (brand admins), and a store's page with its
details, booking policy, weekly opening hours and dated exceptions (its managers).

Same services and rules as ``/api/v1/stores``: ``core.org.stores`` writes, the policy
layer decides; hours use the text form of ``PUT /api/v1/stores/{id}/hours``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _

from ...errors import FulianError, ValidationFailed
from ...models import Store
from ...org import stores as service
from ...org.hours import format_hours
from ...validation import TIMEZONES
from ..context import current_brand
from ..forms import Form
from . import bp
from .setup_common import (
    administered_store,
    administered_stores,
    clock,
    parse_clock,
    rename_fields,
    render,
    require_brand_admin,
    setup_page,
    status_of,
    to_int,
)

COMMON_ZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Macau", "Asia/Taipei",
                "Asia/Singapore", "Asia/Kuala_Lumpur", "Asia/Bangkok", "Asia/Tokyo",
                "Asia/Seoul", "Asia/Dubai", "Europe/London", "Europe/Paris",
                "America/New_York", "America/Los_Angeles", "Australia/Sydney")
POLICY_INTS = ("acceptance_timeout_min", "cancel_window_min", "reschedule_window_min",
               "slot_step_min", "min_notice_min", "horizon_days")


def timezone_options() -> list[tuple[str, str]]:
    """Common zones of the brand's markets first, then every other IANA zone."""
    common = [z for z in COMMON_ZONES if z in TIMEZONES]
    rest = [z for z in TIMEZONES if z not in common]  # the names the schema accepts
    return [(z, z.replace("_", " ")) for z in [*common, *rest]]


def hours_text(store: Store) -> str:
    return format_hours([(h.weekday, h.opens_min, h.closes_min) for h in store.opening_hours])


def _details_form(store: Store) -> Form:
    return Form({key: getattr(store, key) for key in ("name", "address", "phone", "status")})


def _policy_form(store: Store) -> Form:
    values: dict[str, Any] = {key: getattr(store, key) for key in POLICY_INTS}
    values["acceptance_required"] = store.acceptance_required
    values["acceptance_timeout_action"] = store.acceptance_timeout_action
    return Form(values)


def _store_page(store: Store, *, details: Form | None = None, policy_form: Form | None = None,
                hours: Form | None = None, holiday: Form | None = None) -> Any:
    holidays = sorted(store.holidays, key=lambda h: h.day)
    today = date.today()
    return render(
        "admin/stores_detail.html", status_of(details, policy_form, hours, holiday),
        store=store, details=details or _details_form(store),
        policy_form=policy_form or _policy_form(store),
        hours=hours or Form({"hours": hours_text(store)}),
        holiday=holiday or Form(),
        upcoming=[h for h in holidays if h.day >= today],
        past=[h for h in holidays if h.day < today],
        clock=clock, format_date=format_date,
        slot_options=[(str(n), _("%(n)d minutes", n=n)) for n in service.SLOT_STEPS],
    )


@bp.get("/stores")
@setup_page
def stores() -> Any:
    """The stores the user administers, with their status and opening hours."""
    rows = administered_stores()
    return render("admin/stores.html", stores=rows, hours_text=hours_text)


@bp.route("/stores/new", methods=["GET", "POST"])
@setup_page
def store_new() -> Any:
    """Open a store (owner and brand admins): code, name, time zone, address, phone."""
    require_brand_admin()
    brand = current_brand()
    form = Form({"timezone": (brand.timezone if brand is not None else None)
                 or "Asia/Shanghai", "hours": "mon-sun 10:00-21:00"})
    if request.method == "POST":
        form = Form.submitted()
        data = {k: form.get(k) for k in ("code", "name", "timezone", "address", "phone")}
        data = {k: val for k, val in data.items() if val or k in ("code", "name", "timezone")}
        try:
            store = service.create_store(data, hours=form.get("hours") or None)
        except FulianError as exc:
            form.fail(exc)
        else:
            flash(_("Store %(name)s opened.", name=store.name), "success")
            return redirect(url_for("admin.store", store_id=store.id))
    return render("admin/stores_new.html", status_of(form), form=form,
                  zones=timezone_options())


@bp.get("/stores/<id:store_id>")
@setup_page
def store(store_id: int) -> Any:
    """A store's settings page (its managers, owners and brand admins)."""
    return _store_page(administered_store(store_id))


@bp.post("/stores/<id:store_id>/details")
@setup_page
def store_details(store_id: int) -> Any:
    """Name, address, phone and status (code and time zone are fixed once opened)."""
    store = administered_store(store_id)
    form = Form.submitted()
    data = {k: form.get(k) for k in ("name", "address", "phone", "status")}
    try:
        service.update_store(store.id, data)
    except FulianError as exc:
        return _store_page(store, details=form.fail(exc))
    flash(_("Store details saved."), "success")
    return redirect(url_for("admin.store", store_id=store.id))


@bp.post("/stores/<id:store_id>/policy")
@setup_page
def store_policy(store_id: int) -> Any:
    """Booking policy: acceptance, windows, slot step, notice and horizon."""
    store = administered_store(store_id)
    form = Form.submitted()
    data: dict[str, Any] = {k: to_int(form.get(k)) for k in POLICY_INTS}
    missing = [k for k, val in data.items() if val is None]
    data["acceptance_required"] = form.get("acceptance_required") in ("1", "on", "true")
    form.values["acceptance_required"] = data["acceptance_required"]
    data["acceptance_timeout_action"] = form.get("acceptance_timeout_action") or None
    try:
        if missing:
            raise ValidationFailed(_("The input is not valid."), field_errors={
                k: [_("Missing data for required field.")] for k in missing})
        service.update_store(store.id, data)
    except FulianError as exc:
        return _store_page(store, policy_form=form.fail(exc))
    flash(_("Booking policy saved."), "success")
    return redirect(url_for("admin.store", store_id=store.id))


@bp.post("/stores/<id:store_id>/hours")
@setup_page
def store_hours(store_id: int) -> Any:
    """Weekly opening hours as text ("mon-fri 09:00-21:00; sat 10:00-18:00")."""
    store = administered_store(store_id)
    form = Form.submitted()
    text = form.get("hours")
    try:
        if not text:
            raise ValidationFailed(_("The input is not valid."), field_errors={"hours": [
                _("Give at least one opening interval; close the store with status "
                  "instead.")]})
        service.update_store(store.id, {}, hours=text)
    except FulianError as exc:
        return _store_page(store, hours=form.fail(exc))
    flash(_("Opening hours saved."), "success")
    return redirect(url_for("admin.store", store_id=store.id) + "#hours")


@bp.post("/stores/<id:store_id>/holidays")
@setup_page
def store_holiday_add(store_id: int) -> Any:
    """Close the store on a day, or give it special hours that day."""
    store = administered_store(store_id)
    form = Form.submitted()
    try:
        opens = parse_clock(form.get("opens"), "opens") if form.get("opens") else None
        closes = parse_clock(form.get("closes"), "closes") if form.get("closes") else None
        if not form.get("day"):
            raise ValidationFailed(_("The input is not valid."), field_errors={
                "day": [_("Missing data for required field.")]})
        try:
            service.set_holiday(store.id, {"day": form.get("day"),
                                           "name": form.get("name"),
                                           "opens_min": opens, "closes_min": closes})
        except ValidationFailed as exc:
            raise rename_fields(exc, {"opens_min": "opens", "closes_min": "closes"}) from exc
    except FulianError as exc:
        return _store_page(store, holiday=form.fail(exc))
    flash(_("Exception on %(day)s saved.", day=form.get("day")), "success")
    return redirect(url_for("admin.store", store_id=store.id) + "#holidays")


@bp.post("/stores/<id:store_id>/holidays/<string(length=10):day>/delete")
@setup_page
def store_holiday_delete(store_id: int, day: str) -> Any:
    """Remove the exception on a day (the weekly hours apply again)."""
    store = administered_store(store_id)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        abort(404)
    try:
        service.remove_holiday(store.id, when)
    except FulianError as exc:
        flash(str(exc.message), "error")
    else:
        flash(_("Exception on %(day)s removed.", day=day), "success")
    return redirect(url_for("admin.store", store_id=store.id) + "#holidays")
