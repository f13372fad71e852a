"""Field types and small schemas shared by the resource endpoints."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from ... import validation as v
from ...errors import ValidationFailed
from ...org.hours import DAYS, format_hours, parse_hours
from ..common import one_of_body


class ClockTime(ma.fields.String):
    """A local wall-clock time ``HH:MM`` (``24:00`` closes at midnight), loaded as minutes
    since midnight and dumped back as ``HH:MM``."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"description": "local time HH:MM (00:00-24:00)", "example": "09:30",
                    "pattern": v.valid_clock.regex.pattern, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        text = super()._deserialize(value, attr, data, **kwargs)
        v.valid_clock(text)
        hours, minutes = text.split(":")
        return int(hours) * 60 + int(minutes)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if value is None:
            return None
        return f"{int(value) // 60:02d}:{int(value) % 60:02d}"


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class WeekInterval(ma.Schema):
    weekday = ma.fields.Integer(required=True, strict=True,
                                validate=ma.validate.Range(min=0, max=6),
                                metadata={"description": "0 = Monday ... 6 = Sunday"})
    start = ClockTime(required=True)
    end = ClockTime(required=True)


class WeekIn(ma.Schema):
    """A weekly pattern, either as text or as a list of intervals (exactly one)."""

    text = ma.fields.String(validate=ma.validate.Length(max=1000), metadata={
        "description": 'e.g. "mon-fri 09:00-12:00,13:00-21:00; sat 10:00-18:00"'})
    intervals = ma.fields.List(ma.fields.Nested(WeekInterval),
                               validate=ma.validate.Length(max=100))

    @ma.validates_schema
    def _one_form(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if ("text" in data) == ("intervals" in data):
            raise ma.ValidationError(gettext("Give either text or intervals."),
                                     field_name="text")


class WeekText(ma.Schema):
    text = ma.fields.String(required=True, validate=ma.validate.Length(max=1000),
                            metadata={"description": WeekIn._declared_fields["text"]
                                      .metadata["description"]})


class WeekIntervals(ma.Schema):
    intervals = ma.fields.List(ma.fields.Nested(WeekInterval), required=True,
                               validate=ma.validate.Length(max=100))


WEEK_BODY = one_of_body(WeekText=WeekText, WeekIntervals=WeekIntervals)


class WeekOut(ma.Schema):
    text = ma.fields.String(metadata={"description": "the same hours as text"})
    intervals = ma.fields.List(ma.fields.Nested(WeekInterval))


def week_rows(data: dict[str, Any]) -> tuple[str, list[tuple[int, int, int]]]:
    """Validate a :class:`WeekIn` body: its text form and ``(weekday, start, end)`` rows.
    Errors name the field the caller sent (``text`` or ``intervals``)."""
    field = "text" if "text" in data else "intervals"
    if field == "text":
        text = data["text"]
    else:
        text = "; ".join(f"{DAYS[i['weekday']]} {clock(i['start'])}-{clock(i['end'])}"
                         for i in data["intervals"])
    try:
        rows = parse_hours(text)
    except ValidationFailed as exc:
        messages = [m for msgs in exc.field_errors.values() for m in msgs] or [exc.message]
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={field: [exc.message, *messages]}) from exc
    return format_hours(rows), rows


def week_dict(rows: list[tuple[int, int, int]]) -> dict[str, Any]:
    rows = sorted(rows)
    return {"text": format_hours(rows),
            "intervals": [{"weekday": d, "start": a, "end": b} for d, a, b in rows]}
