"""Staff: public profiles, private details for their managers, and their schedules
(weekly availability per store, dated overrides, time-off with approval).

Anyone sees the public profile of active staff working at an active store. Contact
details, the calendar feed token and working-time limits are shown only to the person
themselves and to those who manage one of their stores. Store managers (and brand
roles) add and change staff of their stores and their schedules; staff may request
time-off for themselves, which their managers approve or reject.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import marshmallow as ma
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from ... import phones
from ... import validation as v
from ...auth import policy
from ...auth.policy import StaffVisibility
from ...errors import Conflict, NotFound, RuleViolation, ValidationFailed
from ...extensions import db
from ...models import AvailabilityOverride, Service, StaffProfile, Store, TimeOff, User
from ...models import WeeklyAvailability as Weekly
from ...org import staff as service
from ...scheduling import schedules
from ..common import OPTIONAL_LOGIN, Forbidden, Id, audited, current_user, not_found, require_user
from .fields import WEEK_BODY, ClockTime, WeekIn, WeekOut, week_dict, week_rows
from .pagination import PageQuery, page_schema, paginate
from .stores import visible_store

blp = Blueprint("staff", __name__, url_prefix="/api/v1/staff",
                description="Staff profiles, availability, overrides and time-off")
MAX_TIME_OFF = timedelta(days=366)


class StaffOut(ma.Schema):
    id = ma.fields.Integer()
    display_name = ma.fields.String()
    title = ma.fields.String()
    level = ma.fields.String()
    bio = ma.fields.String()
    photo_url = ma.fields.String(allow_none=True)
    specialities = ma.fields.List(ma.fields.String())
    active = ma.fields.Boolean()
    store_ids = ma.fields.List(ma.fields.Integer())
    service_ids = ma.fields.List(ma.fields.Integer())
    user_id = ma.fields.Integer(metadata={"description": "private: the person and their "
                                                         "stores' managers only"})
    email = ma.fields.String(allow_none=True, metadata={"description": "private"})
    phone = ma.fields.String(allow_none=True, metadata={"description": "private"})
    calendar_token = ma.fields.String(metadata={
        "description": "secret of /api/v1/calendar/staff/<token>.ics: the person and the "
                       "managers (not front desks) of their stores only"})
    max_minutes_week = ma.fields.Integer(metadata={"description": "private"})
    min_rest_days = ma.fields.Integer(metadata={"description": "private"})


class StaffQuery(PageQuery):
    store_id = Id(strict=False)
    service_id = Id(strict=False)


class _ProfileFields(ma.Schema):
    title = ma.fields.String(validate=v.length(120))
    level = ma.fields.String(validate=v.length(40))
    bio = ma.fields.String(validate=v.length(4000))
    photo_url = ma.fields.String(allow_none=True, validate=v.length(500))
    specialities = ma.fields.List(ma.fields.String(validate=[v.not_blank, v.length(40)]),
                                  validate=ma.validate.Length(max=20))


class StaffIn(_ProfileFields):
    name = ma.fields.String(required=True, validate=[v.not_blank, v.length(120)])
    email = ma.fields.Email(load_default=None, allow_none=True, validate=v.length(254))
    phone = v.phone_field(load_default=None, allow_none=True)
    password = ma.fields.String(load_default=None, allow_none=True,
                                validate=ma.validate.Length(max=256),
                                metadata={"description": "initial password of a new login"})
    store_ids = ma.fields.List(Id(), required=True, validate=ma.validate.Length(min=1, max=50))
    service_ids = ma.fields.List(Id(), load_default=list,
                                 validate=ma.validate.Length(max=500))


class StaffUpdate(v.Change, _ProfileFields):
    display_name = ma.fields.String(validate=[v.not_blank, v.length(120)])
    active = v.Flag()
    max_minutes_week = ma.fields.Integer(strict=True,
                                         validate=ma.validate.Range(min=0, max=10080))
    min_rest_days = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=7))


class ServicesIn(ma.Schema):
    service_ids = ma.fields.List(Id(), required=True, validate=ma.validate.Length(max=500))


class StoreArg(ma.Schema):
    store_id = Id(strict=False, required=True)


class AvailabilityOut(WeekOut):
    staff_id = ma.fields.Integer()
    store_id = ma.fields.Integer()


class DayInterval(ma.Schema):
    start = ClockTime(required=True)
    end = ClockTime(required=True)

    @ma.validates_schema
    def _order(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["start"] >= data["end"]:
            raise ma.ValidationError(gettext("The end must be after the start."),
                                     field_name="end")


class OverrideIn(ma.Schema):
    store_id = Id(required=True)
    day = v.Day(required=True)
    intervals = ma.fields.List(ma.fields.Nested(DayInterval), required=True,
                               validate=ma.validate.Length(max=10), metadata={
                                   "description": "the day's working hours; [] = day off"})

    @ma.validates_schema
    def _no_overlap(self, data: dict[str, Any], **_kwargs: Any) -> None:
        spans = sorted((i["start"], i["end"]) for i in data.get("intervals") or [])
        if any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False)):
            raise ma.ValidationError(gettext("Intervals of one day must not overlap."),
                                     field_name="intervals")


class OverrideOut(ma.Schema):
    staff_id = ma.fields.Integer()
    store_id = ma.fields.Integer()
    day = ma.fields.Date()
    available = ma.fields.Boolean()
    intervals = ma.fields.List(ma.fields.Nested(DayInterval))


class TimeOffIn(ma.Schema):
    start_at = v.Instant(required=True)
    end_at = v.Instant(required=True)
    reason = ma.fields.String(load_default="", validate=v.length(200))

    @ma.validates_schema(skip_on_field_errors=True)
    def _span(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data["end_at"] <= data["start_at"]:
            raise ma.ValidationError(gettext("The end must be after the start."),
                                     field_name="end_at")
        if data["end_at"] - data["start_at"] > MAX_TIME_OFF:
            raise ma.ValidationError(gettext("At most 366 days at a time."),
                                     field_name="end_at")


class TimeOffOut(ma.Schema):
    id = ma.fields.Integer()
    staff_id = ma.fields.Integer()
    start_at = ma.fields.AwareDateTime(format="iso")
    end_at = ma.fields.AwareDateTime(format="iso")
    reason = ma.fields.String()
    status = ma.fields.String(metadata={"description": "requested, approved or rejected"})
    created_at = ma.fields.AwareDateTime(format="iso")


class TimeOffQuery(PageQuery):
    status = ma.fields.String(validate=ma.validate.OneOf(
        ("requested", "approved", "rejected")))


# ------------------------------------------------------------------------- helpers




def _dump(scope: StaffVisibility, staff: StaffProfile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": staff.id, "display_name": staff.display_name, "title": staff.title,
        "level": staff.level, "bio": staff.bio, "photo_url": staff.photo_url,
        "specialities": list(staff.specialities or []), "active": staff.active,
        "store_ids": [s.id for s in staff.stores if scope.store_seen(s)],
        "service_ids": [s.id for s in staff.services],
    }
    if scope.private(staff):
        out.update({"user_id": staff.user_id, "email": staff.user.email,
                    "phone": staff.user.phone, "max_minutes_week": staff.max_minutes_week,
                    "min_rest_days": staff.min_rest_days})
        if scope.secret(staff):
            out["calendar_token"] = staff.calendar_token
    return out


def _visible(scope: StaffVisibility, staff_id: int) -> StaffProfile:
    staff = db.session.get(StaffProfile, staff_id)
    if staff is None or not scope.visible(staff):
        raise not_found(_l("Staff member"))
    return staff


def _private(scope: StaffVisibility, staff_id: int) -> StaffProfile:
    """For reads of schedules: the person themselves or their stores' managers."""
    staff = db.session.get(StaffProfile, staff_id)
    if staff is None or not scope.private(staff):
        raise not_found(_l("Staff member"))
    return staff


def _administered(staff_id: int) -> tuple[StaffVisibility, StaffProfile]:
    """For changes to a profile: a manager of one of the person's stores."""
    scope = StaffVisibility(require_user())
    staff = _visible(scope, staff_id)
    if not any(policy.administers(scope.user, s.id) for s in staff.stores):
        raise Forbidden(_l("Only the managers of this person's stores may do this."))
    return scope, staff


def _schedule_target(staff_id: int, store_id: int, *, write: bool
                     ) -> tuple[StaffVisibility, StaffProfile, Store]:
    scope = StaffVisibility(require_user())
    staff = _visible(scope, staff_id) if write else _private(scope, staff_id)
    store = visible_store(scope.user, store_id)
    if write and not policy.administers(scope.user, store.id):
        raise Forbidden(_l("Only the store's managers may change schedules."))
    if not write and not (staff.user_id == scope.user.id
                          or policy.can_manage_store(scope.user, store.id)):
        raise not_found(_l("Staff member"))
    if store.id not in {s.id for s in staff.stores}:
        # The request is well formed; what it names does not go together (state, not
        # shape): a schedule there does not exist to read (404), nor may be set (409).
        message = _l("%(staff)s does not work at this store.", staff=staff.display_name)
        error = RuleViolation if write else NotFound
        raise error(message, field_errors={"store_id": [message]})
    return scope, staff, store


def _check_ids(model: Any, ids: list[int], field: str) -> None:
    found = set(db.session.scalars(select(model.id).where(model.id.in_(ids)))) if ids else set()
    missing = [i for i in ids if i not in found]
    if missing:
        raise _unknown(field, missing[0])


def _unknown(field: str, missing: int) -> NotFound:
    """A body names something that does not exist: 404 on that field (the body is well
    formed, the database does not have it)."""
    message = _l("Unknown id %(id)s.", id=missing)
    return NotFound(message, field_errors={field: [message]})


def _time_off_dict(row: TimeOff) -> dict[str, Any]:
    return {"id": row.id, "staff_id": row.staff_id, "start_at": row.start_at,
            "end_at": row.end_at, "reason": row.reason, "status": row.status,
            "created_at": row.created_at}


# ------------------------------------------------------------------------ profiles


@blp.get("")
@blp.doc(**OPTIONAL_LOGIN)
@blp.arguments(StaffQuery, location="query")
@blp.response(200, page_schema(StaffOut))
def list_staff(args: dict[str, Any]) -> dict[str, Any]:
    """Staff, by id: public profiles of active staff at active stores; managers also see
    inactive staff of their stores and private fields."""
    scope = StaffVisibility(current_user())
    query = (select(StaffProfile).where(scope.clause()).order_by(StaffProfile.id)
             .options(selectinload(StaffProfile.stores), selectinload(StaffProfile.services),
                      selectinload(StaffProfile.user)))
    if args.get("store_id") is not None:
        store = visible_store(scope.user, args.get("store_id"))
        query = query.where(StaffProfile.stores.any(Store.id == store.id))
    if args.get("service_id") is not None:
        query = query.where(StaffProfile.services.any(Service.id == args.get("service_id")))
    return paginate(query, args, lambda rows: [_dump(scope, s) for s in rows])


@blp.get("/<id:staff_id>")
@blp.doc(**OPTIONAL_LOGIN)
@blp.response(200, StaffOut)
def read_staff(staff_id: int) -> dict[str, Any]:
    """A staff profile (private fields for the person and their stores' managers)."""
    scope = StaffVisibility(current_user())
    return _dump(scope, _visible(scope, staff_id))


@blp.post("")
@blp.arguments(StaffIn)
@blp.response(201, StaffOut)
@audited
def create_staff(data: dict[str, Any]) -> dict[str, Any]:
    """Add a staff member at stores the caller manages: creates the login (unless the
    email/phone already has one), the staff role and the profile. A phone that cannot
    exist in its country's numbering plan is 422 on ``phone``."""
    scope = StaffVisibility(require_user())
    store_ids = list(dict.fromkeys(data.pop("store_ids")))
    stores = {s.id: s for s in db.session.scalars(select(Store).where(Store.id.in_(store_ids)))}
    for store_id in store_ids:
        store = stores.get(store_id)
        if store is None or not scope.store_seen(store):
            raise _unknown("store_ids", store_id)
        if not policy.administers(scope.user, store_id):
            raise Forbidden(_l("You may add staff only to stores you manage."))
    service_ids = list(dict.fromkeys(data.pop("service_ids")))
    _check_ids(Service, service_ids, "service_ids")
    user_data = {k: data.pop(k) for k in ("name", "email", "phone", "password")}
    if not user_data["email"] and not user_data["phone"]:
        raise ValidationFailed(_l("The input is not valid."), field_errors={
            "email": [_l("Give an email or a phone.")]})
    conditions = []
    if user_data["email"]:
        conditions.append(User.email == user_data["email"].lower())
    if user_data["phone"]:
        user_data["phone"] = phones.normalise(user_data["phone"])  # 422 if impossible
        conditions.append(User.phone == user_data["phone"])
    existing = db.session.scalars(select(User.id).where(or_(*conditions))).first()
    if existing is not None and not policy.is_brand_admin(scope.user):
        # Attaching an existing account (maybe a customer's) would show its contact
        # details to the caller: only brand roles may do that.
        raise Conflict(_l("A user with this email or phone already exists."),
                       field_errors={"email": [_l("Already taken.")]})
    staff = service.add_staff(user_data, data, stores=[str(i) for i in store_ids],
                              services=[str(i) for i in service_ids])
    return _dump(scope, service.get_staff_profile(staff.id))


@blp.patch("/<id:staff_id>")
@blp.arguments(StaffUpdate)
@blp.response(200, StaffOut)
@audited
def update_staff(data: dict[str, Any], staff_id: int) -> dict[str, Any]:
    """Change a profile (managers of one of the person's stores)."""
    scope, staff = _administered(staff_id)
    return _dump(scope, service.update_staff(staff.id, data))


@blp.put("/<id:staff_id>/services")
@blp.arguments(ServicesIn)
@blp.response(200, StaffOut)
@audited
def set_services(data: dict[str, Any], staff_id: int) -> dict[str, Any]:
    """Replace the services the person performs (managers of one of their stores)."""
    scope, staff = _administered(staff_id)
    ids = list(dict.fromkeys(data["service_ids"]))
    _check_ids(Service, ids, "service_ids")
    return _dump(scope, service.set_staff_services(staff.id, [str(i) for i in ids]))


# ------------------------------------------------------------------------ schedules


def _weekly(staff: StaffProfile, store: Store) -> dict[str, Any]:
    rows = db.session.execute(select(Weekly.weekday, Weekly.start_min, Weekly.end_min).where(
        Weekly.staff_id == staff.id, Weekly.store_id == store.id)).all()
    return {"staff_id": staff.id, "store_id": store.id,
            **week_dict([tuple(r) for r in rows])}


@blp.get("/<id:staff_id>/availability")
@blp.arguments(StoreArg, location="query")
@blp.response(200, AvailabilityOut)
def read_availability(args: dict[str, Any], staff_id: int) -> dict[str, Any]:
    """The person's weekly availability template at a store (themselves and the store's
    managers). Empty when they have none (then the store's opening hours apply)."""
    _, staff, store = _schedule_target(staff_id, args["store_id"], write=False)
    return _weekly(staff, store)


@blp.put("/<id:staff_id>/availability")
@blp.arguments(StoreArg, location="query")
@blp.arguments(WeekIn)
@blp.doc(**WEEK_BODY)
@blp.response(200, AvailabilityOut)
@audited
def replace_availability(args: dict[str, Any], data: dict[str, Any], staff_id: int
                         ) -> dict[str, Any]:
    """Replace the weekly template at a store (the store's managers). Same forms as store
    hours; ``{"text": ""}`` or ``{"intervals": []}`` removes the template. 422 when the
    text does not parse or intervals are out of order."""
    _, staff, store = _schedule_target(staff_id, args["store_id"], write=True)
    text, _rows = week_rows(data)
    schedules.set_weekly(staff.id, store.id, text)
    return _weekly(staff, store)


@blp.post("/<id:staff_id>/overrides")
@blp.arguments(OverrideIn)
@blp.response(200, OverrideOut)
@audited
def set_override(data: dict[str, Any], staff_id: int) -> dict[str, Any]:
    """Replace one day's availability at a store (the store's managers); an empty list
    of intervals marks the day off. 422 when an interval ends before it starts or
    intervals overlap."""
    _, staff, store = _schedule_target(staff_id, data["store_id"], write=True)
    intervals = [(i["start"], i["end"]) for i in data["intervals"]]
    schedules.set_override(staff.id, store.id, data["day"], intervals)
    rows = db.session.scalars(select(AvailabilityOverride).where(
        AvailabilityOverride.staff_id == staff.id, AvailabilityOverride.store_id == store.id,
        AvailabilityOverride.day == data["day"], AvailabilityOverride.available.is_(True)
    ).order_by(AvailabilityOverride.start_min)).all()
    return {"staff_id": staff.id, "store_id": store.id, "day": data["day"],
            "available": bool(rows),
            "intervals": [{"start": r.start_min, "end": r.end_min} for r in rows]}


@blp.get("/<id:staff_id>/time-off")
@blp.arguments(TimeOffQuery, location="query")
@blp.response(200, page_schema(TimeOffOut))
def list_time_off(args: dict[str, Any], staff_id: int) -> dict[str, Any]:
    """The person's time-off, latest start first (themselves and their stores'
    managers)."""
    scope = StaffVisibility(require_user())
    staff = _private(scope, staff_id)
    query = (select(TimeOff).where(TimeOff.staff_id == staff.id)
             .order_by(TimeOff.start_at.desc(), TimeOff.id.desc()))
    if args.get("status"):
        query = query.where(TimeOff.status == args.get("status"))
    return paginate(query, args, lambda rows: [_time_off_dict(r) for r in rows])


@blp.post("/<id:staff_id>/time-off")
@blp.arguments(TimeOffIn)
@blp.response(201, TimeOffOut)
@audited
def add_time_off(data: dict[str, Any], staff_id: int) -> dict[str, Any]:
    """Time away. Managers of the person's stores record it approved; the person
    themselves request it (status ``requested``) for a manager to approve. 422 when
    ``end_at`` is not after ``start_at`` or the span exceeds 366 days."""
    scope = StaffVisibility(require_user())
    staff = _visible(scope, staff_id)
    if any(policy.administers(scope.user, s.id) for s in staff.stores):
        status = "approved"
    elif staff.user_id == scope.user.id:
        status = "requested"
    else:
        raise Forbidden(_l("Only the person or their managers may record time-off."))
    row = schedules.add_time_off(staff.id, data["start_at"], data["end_at"],
                                 reason=data["reason"].strip(), status=status)
    return _time_off_dict(row)


@blp.post("/<id:staff_id>/time-off/<id:time_off_id>/<any(approve,reject):action>")
@blp.response(200, TimeOffOut)
@audited
def decide_time_off(staff_id: int, time_off_id: int, action: str) -> dict[str, Any]:
    """Approve or reject requested time-off (managers of the person's stores); 409 if it
    was already decided."""
    scope = StaffVisibility(require_user())
    staff = _private(scope, staff_id)
    row = db.session.get(TimeOff, time_off_id)
    if row is None or row.staff_id != staff.id:
        raise not_found(_l("Time-off"))
    if not any(policy.administers(scope.user, s.id) for s in staff.stores):
        raise Forbidden(_l("Only the managers of this person's stores may do this."))
    decided = schedules.decide_time_off(row.id, "approved" if action == "approve"
                                        else "rejected")
    return _time_off_dict(decided)
