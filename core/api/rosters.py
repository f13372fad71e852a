"""Smart rosters over the API: generate, read, adjust a shift, publish."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l
from flask_smorest import Blueprint

from .. import validation as v
from ..auth import policy
from ..extensions import db
from ..models import Roster, Store
from ..scheduling import rostering
from .common import Forbidden, Id, audited, not_found, require_user

blp = Blueprint("rosters", __name__, url_prefix="/api/v1/stores",
                description="Smart rosters (排班)")
WEEK = "<week:week>"


class ShiftSchema(ma.Schema):
    staff_id = ma.fields.Integer()
    day = ma.fields.Date()
    start_min = ma.fields.Integer()
    end_min = ma.fields.Integer()


class GapSchema(ma.Schema):
    day = ma.fields.Integer(metadata={"description": "0 = Monday"})
    start = ma.fields.Integer()
    end = ma.fields.Integer()
    required = ma.fields.Integer()
    scheduled = ma.fields.Integer()
    skill = ma.fields.Integer(allow_none=True)
    reasons = ma.fields.List(ma.fields.String())
    explanation = ma.fields.String()


class RosterSchema(ma.Schema):
    id = ma.fields.Integer()
    store_id = ma.fields.Integer()
    week_start = ma.fields.Date()
    status = ma.fields.String()
    shifts = ma.fields.List(ma.fields.Nested(ShiftSchema))
    gaps = ma.fields.List(ma.fields.Nested(GapSchema))


class GenerateIn(ma.Schema):
    publish = v.Flag(load_default=False)


class ShiftIn(ma.Schema):
    staff_id = Id(required=True)
    day = v.Day(required=True)
    start_min = ma.fields.Integer(load_default=None, allow_none=True,
                                  validate=ma.validate.Range(0, 1440),
                                  metadata={"description": "null removes the shift"})
    end_min = ma.fields.Integer(load_default=None, allow_none=True,
                                validate=ma.validate.Range(0, 1440))


def _store(store_id: int, *, write: bool = True) -> Store:
    """The store if the caller works with it: its front desk reads the roster (who is
    on today), its managers change it."""
    user = require_user()
    # Ids beyond the column's range cannot exist (and overflow the driver: a 500).
    store = db.session.get(Store, store_id)
    if store is None or not policy.can_manage_store(user, store_id):
        raise not_found(_l("Store"))
    if write and not policy.administers(user, store_id):
        raise Forbidden(_l("Only managers may change rosters."))
    return store


def _out(roster: Roster) -> dict[str, Any]:
    return {"id": roster.id, "store_id": roster.store_id, "week_start": roster.week_start,
            "status": roster.status,
            "shifts": [{"staff_id": s.staff_id, "day": s.day, "start_min": s.start_min,
                        "end_min": s.end_min} for s in roster.shifts],
            "gaps": [{**g, "explanation": rostering.explain_gap(g)} for g in roster.gaps]}


@blp.post(f"/<id:store_id>/rosters/{WEEK}/generate")
@blp.arguments(GenerateIn)
@blp.response(200, RosterSchema)
@audited
def generate(data: dict[str, Any], store_id: int, week: str) -> dict[str, Any]:
    """Generate the week's roster from availability, opening hours and coverage rules;
    uncovered hours come back as explained gaps."""
    store = _store(store_id)
    return _out(rostering.generate(store.id, week, publish=data["publish"]))


@blp.get(f"/<id:store_id>/rosters/{WEEK}")
@blp.response(200, RosterSchema)
def read(store_id: int, week: str) -> dict[str, Any]:
    """The week's roster with its explained gaps (managers and front desk)."""
    store = _store(store_id, write=False)
    return _out(rostering.get_roster(store.id, week))


@blp.put(f"/<id:store_id>/rosters/{WEEK}/shifts")
@blp.arguments(ShiftIn)
@blp.response(200, RosterSchema)
@audited
def adjust(data: dict[str, Any], store_id: int, week: str) -> dict[str, Any]:
    """Set or remove one person's shift on a day; gaps are re-explained."""
    store = _store(store_id)
    roster = rostering.get_roster(store.id, week)
    return _out(rostering.set_shift(roster, data["staff_id"], data["day"],
                                    data["start_min"], data["end_min"]))


@blp.post(f"/<id:store_id>/rosters/{WEEK}/publish")
@blp.response(200, RosterSchema)
@audited
def publish(store_id: int, week: str) -> dict[str, Any]:
    """Publish: from now on availability follows this roster for the week."""
    store = _store(store_id)
    return _out(rostering.publish(rostering.get_roster(store.id, week)))
