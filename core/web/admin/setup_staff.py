"""Back office: staff — the people of the user's stores, adding someone, and a person's
page: profile, services they perform, weekly availability per store, time-off.

Same rules and services as ``/api/v1/staff``: ``core.org.staff`` writes profiles,
``core.scheduling.schedules`` writes availability and time-off; a person is changed by
the managers of one of their stores (owners and brand admins everywhere). Availability
uses the text form of ``PUT /api/v1/staff/{id}/availability``.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, request, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from ... import phones
from ...auth import policy
from ...db import utcnow
from ...errors import Conflict, FulianError, ValidationFailed
from ...extensions import db
from ...models import Service, StaffProfile, Store, TimeOff, User
from ...models import WeeklyAvailability as Weekly
from ...org import staff as service
from ...org.hours import format_hours
from ...scheduling import schedules
from ..forms import Form, optional_int
from ..session import page_user
from . import bp
from .setup_common import (
    administered_stores,
    render,
    setup_page,
    status_of,
    to_int,
)

_SPLIT = re.compile(r"[,，、;；\n]+")


# ------------------------------------------------------------------------ helpers


def _store_ids() -> set[int] | None:
    return policy.admin_store_ids(page_user())


def _member(staff_id: int) -> StaffProfile:
    """The person if the user administers one of their stores, else 404."""
    staff = db.session.get(StaffProfile, staff_id)
    if staff is None or not any(policy.administers(page_user(), s.id) for s in staff.stores):
        abort(404)
    return staff


def _visible_services() -> list[Service]:
    """Services the user may assign: every one for brand admins, else those offered at
    their stores."""
    query = select(Service).order_by(Service.id)
    ids = _store_ids()
    if ids is not None:
        from ...models import StoreServiceOffer

        query = query.where(Service.offers.any(StoreServiceOffer.store_id.in_(sorted(ids))))
    return list(db.session.scalars(query))


def _weekly_text(staff: StaffProfile, store: Store) -> str:
    rows = db.session.execute(select(Weekly.weekday, Weekly.start_min, Weekly.end_min).where(
        Weekly.staff_id == staff.id, Weekly.store_id == store.id)).all()
    return format_hours([tuple(r) for r in rows])  # type: ignore[misc]


def _tz(staff: StaffProfile) -> ZoneInfo:
    """The time zone of the person's first store the user administers."""
    for store in staff.stores:
        if policy.administers(page_user(), store.id):
            return ZoneInfo(store.timezone)
    return ZoneInfo(staff.stores[0].timezone if staff.stores else "Asia/Shanghai")


def _hours_to_minutes(text: str, field: str) -> Any:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = Decimal(text) * 60
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value != value.to_integral_value():
        raise ValidationFailed(_("The input is not valid."), field_errors={
            field: [_("Enter hours like 40 or 37.5.")]})
    return int(value)


def _pending_requests(ids: set[int] | None) -> list[tuple[TimeOff, StaffProfile]]:
    query = (select(TimeOff, StaffProfile).join(StaffProfile, StaffProfile.id == TimeOff.staff_id)
             .where(TimeOff.status == "requested").order_by(TimeOff.start_at))
    if ids is not None:
        query = query.where(StaffProfile.stores.any(Store.id.in_(sorted(ids) or [0])))
    return [(row, staff) for row, staff in db.session.execute(query).all()]


# -------------------------------------------------------------------------- views


@bp.get("/staff")
@setup_page
def staff() -> Any:
    """The people of the user's stores (optionally one store) and pending time-off."""
    stores = administered_stores()
    store_filter = optional_int(request.args.get("store"))
    shown = [s for s in stores if store_filter in (None, s.id)] or stores
    ids = [s.id for s in shown]
    rows = list(db.session.scalars(
        select(StaffProfile).where(StaffProfile.stores.any(Store.id.in_(ids or [0])))
        .order_by(StaffProfile.active.desc(), StaffProfile.id)
        .options(selectinload(StaffProfile.stores), selectinload(StaffProfile.services),
                 selectinload(StaffProfile.user))))
    return render("admin/staff.html", people=rows, stores=stores, store_filter=store_filter,
                  pending=_pending_requests(set(ids)), format_datetime=format_datetime,
                  tz_of=_tz)


def _new_page(form: Form) -> Any:
    return render("admin/staff_new.html", status_of(form), form=form,
                  stores=administered_stores(), services=_visible_services())


@bp.route("/staff/new", methods=["GET", "POST"])
@setup_page
def staff_new() -> Any:
    """Add a person: their login (name, email/phone, initial password), the stores they
    work at and the services they perform."""
    stores = administered_stores()
    form = Form({"store_ids": [str(stores[0].id)] if len(stores) == 1 else [],
                 "service_ids": []})
    if request.method != "POST":
        return _new_page(form)
    form = Form.submitted(lists=("store_ids", "service_ids"))
    password = form.values.pop("password", "")
    try:
        mine = {s.id for s in stores}
        store_ids = list(dict.fromkeys(optional_int(i) for i in form.get("store_ids")))
        if not store_ids or any(i not in mine for i in store_ids):
            raise ValidationFailed(_("The input is not valid."), field_errors={
                "store_ids": [_("Tick at least one of your stores.")]})
        allowed = {s.id for s in _visible_services()}
        service_ids = list(dict.fromkeys(optional_int(i) for i in form.get("service_ids")))
        if any(i not in allowed for i in service_ids):
            raise ValidationFailed(_("The input is not valid."), field_errors={
                "service_ids": [_("Unknown service.")]})
        email = form.get("email") or None
        phone = form.get("phone") or None
        if not email and not phone:
            raise ValidationFailed(_("The input is not valid."), field_errors={
                "email": [_("Give an email or a phone.")]})
        if not password:
            raise ValidationFailed(_("The input is not valid."), field_errors={
                "password": [_("Give an initial password; they change it later.")]})
        conditions = []
        if email:
            conditions.append(User.email == email.lower())
        if phone:
            phone = phones.normalise(phone)  # E.164, as logins look it up
            conditions.append(User.phone == phone)
        existing = db.session.scalars(select(User.id).where(or_(*conditions))).first()
        if existing is not None and not policy.is_brand_admin(page_user()):
            # As in the API: attaching an existing account would show its contact
            # details to a store manager; only brand roles may do that.
            raise Conflict(_("A user with this email or phone already exists."),
                           field_errors={"email": [_("Already taken.")]})
        profile = {"title": form.get("title") or None}
        person = service.add_staff(
            {"name": form.get("name"), "email": email, "phone": phone,
             "password": password}, profile,
            stores=[str(i) for i in store_ids], services=[str(i) for i in service_ids])
    except FulianError as exc:
        return _new_page(form.fail(exc))
    flash(_("%(name)s added.", name=person.display_name), "success")
    return redirect(url_for("admin.staff_member", staff_id=person.id))


def _profile_form(staff: StaffProfile) -> Form:
    minutes = staff.max_minutes_week
    hours = minutes // 60 if minutes % 60 == 0 else minutes / 60
    return Form({"display_name": staff.display_name, "title": staff.title,
                 "level": staff.level, "bio": staff.bio,
                 "specialities": "、".join(staff.specialities or []),
                 "active": staff.active, "max_hours_week": hours,
                 "min_rest_days": staff.min_rest_days})


def _member_page(staff: StaffProfile, *, profile: Form | None = None,
                 services_form: Form | None = None, weekly: dict[int, Form] | None = None,
                 time_off: Form | None = None) -> Any:
    stores = [s for s in staff.stores if policy.administers(page_user(), s.id)]
    weekly = weekly or {}
    weekly_forms = {s.id: weekly.get(s.id) or Form({"hours": _weekly_text(staff, s)})
                    for s in stores}
    tz = _tz(staff)
    rows = list(db.session.scalars(select(TimeOff).where(TimeOff.staff_id == staff.id)
                                   .order_by(TimeOff.start_at.desc()).limit(30)))
    now = utcnow()
    requested = [r for r in rows if r.status == "requested"]
    upcoming = [r for r in rows if r.status != "requested" and r.end_at >= now]
    return render(
        "admin/staff_detail.html",
        status_of(profile, services_form, time_off, *weekly.values()),
        person=staff, stores=stores,
        profile=profile or _profile_form(staff),
        services_form=services_form or Form({"service_ids": [str(s.id)
                                                             for s in staff.services]}),
        services=_visible_services(), weekly=weekly_forms,
        time_off=time_off or Form(), requested=requested, upcoming=upcoming[:10],
        tz=tz, format_datetime=format_datetime,
    )


@bp.get("/staff/<id:staff_id>")
@setup_page
def staff_member(staff_id: int) -> Any:
    return _member_page(_member(staff_id))


@bp.post("/staff/<id:staff_id>/profile")
@setup_page
def staff_profile_save(staff_id: int) -> Any:
    """Name shown to customers, title, level, bio, specialities, active, limits."""
    staff = _member(staff_id)
    form = Form.submitted()
    form.values["active"] = form.get("active") in ("1", "on")
    try:
        specialities = [s.strip() for s in _SPLIT.split(form.get("specialities")) if s.strip()]
        data = {"display_name": form.get("display_name"), "title": form.get("title"),
                "level": form.get("level"), "bio": form.get("bio"),
                "specialities": specialities, "active": form.values["active"],
                "max_minutes_week": _hours_to_minutes(form.get("max_hours_week"),
                                                      "max_hours_week"),
                "min_rest_days": to_int(form.get("min_rest_days"))}
        try:
            service.update_staff(staff.id, data)
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message, field_errors={
                {"max_minutes_week": "max_hours_week"}.get(k, k): m
                for k, m in exc.field_errors.items()}) from exc
    except FulianError as exc:
        return _member_page(staff, profile=form.fail(exc))
    flash(_("Profile saved."), "success")
    return redirect(url_for("admin.staff_member", staff_id=staff.id))


@bp.post("/staff/<id:staff_id>/services")
@setup_page
def staff_services(staff_id: int) -> Any:
    """Replace the services the person performs. Services the user cannot see (offered
    only at other stores) are kept as they are."""
    staff = _member(staff_id)
    form = Form.submitted(lists=("service_ids",))
    visible = {s.id for s in _visible_services()}
    ticked = [i for i in (optional_int(v) for v in form.get("service_ids")) if i in visible]
    kept = [s.id for s in staff.services if s.id not in visible]
    try:
        service.set_staff_services(staff.id, [str(i) for i in [*kept, *ticked]])
    except FulianError as exc:
        return _member_page(staff, services_form=form.fail(exc))
    flash(_("Services saved."), "success")
    return redirect(url_for("admin.staff_member", staff_id=staff.id) + "#services")


@bp.post("/staff/<id:staff_id>/availability/<id:store_id>")
@setup_page
def staff_availability(staff_id: int, store_id: int) -> Any:
    """Replace the weekly availability at one store; empty = the store's opening hours."""
    staff = _member(staff_id)
    store = db.session.get(Store, store_id)
    if store is None or not policy.administers(page_user(), store.id) \
            or store.id not in {s.id for s in staff.stores}:
        abort(404)
    form = Form.submitted()
    try:
        schedules.set_weekly(staff.id, store.id, form.get("hours"))
    except FulianError as exc:
        return _member_page(staff, weekly={store.id: form.fail(exc)})
    flash(_("Availability at %(store)s saved.", store=store.name), "success")
    return redirect(url_for("admin.staff_member", staff_id=staff.id) + "#availability")


def _local(text: str, tz: ZoneInfo, field: str) -> datetime:
    try:
        naive = datetime.fromisoformat((text or "").strip())
    except ValueError:
        naive = None
    if naive is None or naive.tzinfo is not None or not 1970 <= naive.year <= 2200:
        raise ValidationFailed(_("The input is not valid."), field_errors={
            field: [_("Not a valid datetime.")]})
    return naive.replace(tzinfo=tz)


@bp.post("/staff/<id:staff_id>/time-off")
@setup_page
def staff_time_off_add(staff_id: int) -> Any:
    """Record time-off (approved, as a manager records it) in the store's time zone."""
    staff = _member(staff_id)
    form = Form.submitted()
    tz = _tz(staff)
    try:
        start = _local(form.get("start"), tz, "start")
        end = _local(form.get("end"), tz, "end")
        if end <= start:
            raise ValidationFailed(_("The input is not valid."), field_errors={
                "end": [_("The end must be after the start.")]})
        if (end - start).days > 366:
            raise ValidationFailed(_("The input is not valid."), field_errors={
                "end": [_("At most 366 days at a time.")]})
        schedules.add_time_off(staff.id, start, end, reason=form.get("reason"),
                               status="approved")
    except FulianError as exc:
        return _member_page(staff, time_off=form.fail(exc))
    flash(_("Time-off recorded."), "success")
    return redirect(url_for("admin.staff_member", staff_id=staff.id) + "#time-off")


@bp.post("/staff/<id:staff_id>/time-off/<id:time_off_id>/<any(approve,reject):action>")
@setup_page
def staff_time_off_decide(staff_id: int, time_off_id: int, action: str) -> Any:
    """Approve or reject requested time-off."""
    staff = _member(staff_id)
    row = db.session.get(TimeOff, time_off_id)
    if row is None or row.staff_id != staff.id:
        abort(404)
    try:
        schedules.decide_time_off(row.id, "approved" if action == "approve"
                                  else "rejected")
    except FulianError as exc:
        flash(str(exc.message), "error")
    else:
        flash(_("Time-off approved.") if action == "approve" else _("Time-off rejected."),
              "success")
    back = request.form.get("back")
    if back == "list":
        return redirect(url_for("admin.staff"))
    return redirect(url_for("admin.staff_member", staff_id=staff.id) + "#time-off")
