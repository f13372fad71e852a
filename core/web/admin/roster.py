"""Back office: the smart roster (排班) of a store's ISO week — a grid of people × days,
uncovered hours with their explanation, generate, adjust one shift, publish.

The same calls as ``/api/v1/stores/{id}/rosters/{week}``: ``rostering.generate``,
``rostering.set_shift`` and ``rostering.publish``, for the stores the user administers.
Every change is a plain POST form; dragging a shift to another day (JS) posts the same
form with ``move_from``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import flash, redirect, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select

from ...errors import FulianError, ValidationFailed
from ...extensions import db
from ...models import Roster, StaffProfile, Store
from ...scheduling import rostering
from ..forms import Form, optional_int
from . import bp
from .setup_common import (
    administered_store,
    administered_stores,
    clock,
    parse_clock,
    render,
    setup_page,
)


class NoStore(Exception):
    """No store to roster yet (a new brand): the pages send the user to open one."""


@bp.errorhandler(NoStore)
def _no_store(_exc: NoStore) -> Any:
    flash(_("Open a store first: rosters are planned per store."), "info")
    return redirect(url_for("admin.stores"))


def week_of(day: date) -> str:
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def _store_and_week(values: Any) -> tuple[Store, str, date]:
    """The store (one the user administers; 404 otherwise) and the ISO week asked for;
    defaults: the user's first store and the current week in its time zone."""
    store_id = optional_int(values.get("store"))
    if store_id is not None:
        store = administered_store(store_id)
    else:
        stores = administered_stores(include_closed=False) or administered_stores()
        if not stores:  # a brand without stores yet
            raise NoStore
        store = stores[0]
    week = (values.get("week") or "").strip()
    try:
        monday = rostering.parse_week(week)
    except ValidationFailed:
        today = datetime.now(ZoneInfo(store.timezone)).date()
        week, monday = week_of(today), rostering.parse_week(week_of(today))
    return store, week, monday


def _roster(store: Store, monday: date) -> Roster | None:
    return db.session.scalars(select(Roster).where(Roster.store_id == store.id,
                                                   Roster.week_start == monday)).first()


def _people(store: Store, roster: Roster | None) -> list[StaffProfile]:
    """Rows of the grid: active staff of the store, plus anyone with a shift that week."""
    people = [s for s in db.session.scalars(select(StaffProfile).order_by(StaffProfile.id))
              if store.id in {st.id for st in s.stores} and s.active]
    ids = {p.id for p in people}
    for shift in roster.shifts if roster else []:
        if shift.staff_id not in ids:
            person = db.session.get(StaffProfile, shift.staff_id)
            if person is not None:
                people.append(person)
                ids.add(person.id)
    return people


def _page(store: Store, week: str, monday: date, form: Form | None = None) -> Any:
    roster = _roster(store, monday)
    people = _people(store, roster)
    days = [monday + timedelta(days=i) for i in range(7)]
    shifts: dict[tuple[int, date], Any] = {}
    minutes: dict[int, int] = {}
    for shift in roster.shifts if roster else []:
        shifts[(shift.staff_id, shift.day)] = shift
        minutes[shift.staff_id] = minutes.get(shift.staff_id, 0) + shift.end_min - shift.start_min
    gaps = sorted(roster.gaps if roster else [], key=lambda g: (g["day"], g["start"]))
    gaps_by_day: dict[int, list[dict[str, Any]]] = {}
    for gap in gaps:
        gaps_by_day.setdefault(gap["day"], []).append(gap)
    today = datetime.now(ZoneInfo(store.timezone)).date()
    form = form or Form({"staff_id": str(people[0].id) if people else "",
                         "day": days[0].isoformat(), "start": "10:00", "end": "19:00"})
    return render(
        "admin/roster.html", 422 if not form.ok else 200,
        store=store, stores=administered_stores(), week=week, monday=monday, days=days,
        roster=roster, people=people, shifts=shifts, minutes=minutes, gaps=gaps,
        gaps_by_day=gaps_by_day, explain=rostering.explain_gap, clock=clock, form=form,
        today=today, format_date=format_date,
        staff_options=[(str(p.id), p.display_name) for p in people],
        day_options=[(d.isoformat(), format_date(d, "EEE M/d")) for d in days],
        prev_week=week_of(monday - timedelta(days=7)),
        next_week=week_of(monday + timedelta(days=7)),
        this_week=week_of(today),
    )


@bp.get("/roster")
@setup_page
def roster() -> Any:
    """The week grid of one store (``?store=<id>&week=YYYY-Www``)."""
    store, week, monday = _store_and_week(request.args)
    return _page(store, week, monday)


def _back(store: Store, week: str) -> Any:
    return redirect(url_for("admin.roster", store=store.id, week=week))


@bp.post("/roster/generate")
@setup_page
def roster_generate() -> Any:
    """(Re)generate the week from availability, opening hours and coverage rules."""
    store, week, _monday = _store_and_week(request.form)
    try:
        result = rostering.generate(store.id, week)
    except FulianError as exc:
        flash(str(exc.message), "error")
    else:
        if result.gaps:
            flash(_("Roster generated with %(n)d uncovered periods: see below.",
                    n=len(result.gaps)), "info")
        else:
            flash(_("Roster generated: every needed hour is covered."), "success")
    return _back(store, week)


@bp.post("/roster/publish")
@setup_page
def roster_publish() -> Any:
    """Publish: from now on availability follows this roster for the week."""
    store, week, monday = _store_and_week(request.form)
    roster = _roster(store, monday)
    if roster is None:
        flash(_("Generate the roster first."), "error")
        return _back(store, week)
    rostering.publish(roster)
    flash(_("Roster published: online booking now follows it for this week."), "success")
    return _back(store, week)


@bp.post("/roster/shift")
@setup_page
def roster_shift() -> Any:
    """Set one person's shift on a day, or remove it (``remove``); with ``move_from`` the
    shift on that day is removed once the new one is set (drag and drop)."""
    store, week, monday = _store_and_week(request.form)
    form = Form.submitted()
    roster = _roster(store, monday)
    try:
        if roster is None:
            raise ValidationFailed(_("Generate the roster first."))
        staff_id = optional_int(form.get("staff_id"))
        if staff_id is None:
            raise ValidationFailed(_("The input is not valid."), field_errors={
                "staff_id": [_("Missing data for required field.")]})
        try:
            day = date.fromisoformat(form.get("day"))
        except ValueError:
            raise ValidationFailed(_("The input is not valid."), field_errors={
                "day": [_("Not a valid date.")]}) from None
        remove = bool(form.get("remove"))
        start = end = None
        if not remove:
            start = parse_clock(form.get("start"), "start")
            end = parse_clock(form.get("end"), "end")
        try:
            rostering.set_shift(roster, staff_id, day, start, end)
        except ValidationFailed as exc:
            raise ValidationFailed(exc.message, field_errors={
                {"end_min": "end", "start_min": "start"}.get(k, k): m
                for k, m in exc.field_errors.items()}) from exc
        moved_from = form.get("move_from")
        if moved_from and moved_from != day.isoformat() and not remove:
            try:
                old = date.fromisoformat(moved_from)
            except ValueError:
                old = None
            if old is not None:
                rostering.set_shift(db.session.get(Roster, roster.id), staff_id, old,
                                    None, None)
    except FulianError as exc:
        return _page(store, week, monday, form.fail(exc))
    flash(_("Shift removed.") if form.get("remove") else _("Shift saved."), "success")
    return _back(store, week)
