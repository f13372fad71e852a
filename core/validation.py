"""Input validation shared by CLI, API and pages: marshmallow schemas, translated errors.

marshmallow's built-in messages are English constants; we pass every message through
gettext when raising so that field errors come out in the caller's language. The
constants themselves are listed below so that extraction puts them in our catalogues.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from zoneinfo import available_timezones

import marshmallow as ma
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from .errors import ValidationFailed

# marshmallow's default messages, marked for extraction (translated at raise time).
_MARSHMALLOW_DEFAULTS = (
    _l("Missing data for required field."),
    _l("Field may not be null."),
    _l("Not a valid string."),
    _l("Not a valid integer."),
    _l("Not a valid boolean."),
    _l("Not a valid email address."),
    _l("Not a valid date."),
    _l("Not a valid list."),
    _l("Unknown field."),
    _l("Invalid input type."),
    _l("Invalid value."),
    _l("Not a valid datetime."),
    _l("Not a valid aware datetime."),
    _l("Must be greater than or equal to 1 and less than or equal to 2147483647."),
)

#: the shape of a phone number as people type it ("+86 138 0013 8000", "(202) 555-0143");
#: loose on purpose: :mod:`core.phones` checks the number against its numbering plan
PHONE_PATTERN = r"^\(?\+?[0-9][0-9 ().\-]{5,30}$"
PHONE_RE = re.compile(PHONE_PATTERN)
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")


def _translate(messages: Any, top: bool = True) -> Any:
    if isinstance(messages, dict):
        return {k: _as_list(_translate(v, False)) if top else _translate(v, False)
                for k, v in messages.items()}
    if isinstance(messages, list):
        return [_translate(m, False) for m in messages]
    return gettext(str(messages))


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list | dict) else [value]


def load(schema: ma.Schema, data: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Validate ``data`` with ``schema``; raise :class:`ValidationFailed` with field errors."""
    try:
        return schema.load(data, partial=partial)
    except ma.ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors=_translate(errors)) from exc


def rule(pattern: str, message: Any) -> ma.validate.Regexp:
    """A rule written as a regular expression so that it is published in the OpenAPI
    document as the field's ``pattern``: clients and fuzzers then know exactly what is
    accepted. Patterns start with ``^`` because marshmallow matches at the start while
    JSON Schema searches; the message is translated when :func:`load` raises."""
    return ma.validate.Regexp(pattern, error=str(message))


#: "blank" spelt out: Python's \s also matches \x1c-\x1f and \x85, JavaScript's (the
#: document's regex dialect) also \ufeff; the union keeps both readings identical
_BLANK = r"\s\x1c-\x1f\u0085\ufeff"
#: not only blanks, and (like all text: core.armour) no NUL
not_blank = rule(rf"^[{_BLANK}]*[^{_BLANK}\x00][^\x00]*$", _l("Must not be empty."))
valid_phone = rule(PHONE_PATTERN, _l("Not a valid phone number."))
valid_color = rule(COLOR_RE.pattern, _l("Use a colour like #0f766e."))
valid_code = rule(CODE_RE.pattern, _l("Use 1-40 lowercase letters, digits, '-' or '_', "
                                       "starting with a letter or digit."))
valid_currency = rule(CURRENCY_RE.pattern,
                       _l("Use a three-letter ISO currency code such as CNY."))
valid_clock = rule(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
                    _l("Use a time like 09:30 (00:00 to 24:00)."))
#: a customer tag: not blank, no control characters and no "/" (a tag is also a path
#: segment, ``/customers/{id}/tags/{tag}``); at most :data:`TAG_MAX` characters
TAG_MAX = 40
TAG_PATTERN = rf"^[^\x00-\x1f\x7f/]*[^{_BLANK}\x00-\x1f\x7f/][^\x00-\x1f\x7f/]*$"
valid_tag = rule(TAG_PATTERN, _l("Use printable characters other than '/', not only "
                                 "spaces."))


def percent() -> ma.validate.Validator:
    return ma.validate.Range(min=0, max=100, error=str(_l("Between 0 and 100 percent.")))


def length(max_len: int) -> ma.validate.Validator:
    return ma.validate.Length(max=max_len, error=str(_l("At most %(n)d characters.", n=max_len)))


#: the IANA areas of canonical ``Area/Location`` zone names (``Asia/Shanghai``)
_ZONE_AREAS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia",
               "Europe", "Indian", "Pacific")


def _curated_zones() -> list[str]:
    """The zones a store or brand may be in: canonical ``Area/Location`` names and UTC.
    ``available_timezones()`` also lists the host's ``localtime``, ``Factory`` (an
    "unset" marker), ``posixrules``, the ``posix/`` and ``right/`` trees (``right/``
    counts leap seconds) and legacy aliases such as ``PRC`` or ``US/Eastern``: none of
    them is a place a shop can be, and some change meaning from one server to another."""
    return sorted(z for z in available_timezones()
                  if z == "UTC" or z.split("/", 1)[0] in _ZONE_AREAS and "/" in z)


#: curated IANA zone names (:func:`_curated_zones`), published as the field's ``enum``
TIMEZONES = tuple(_curated_zones())
valid_timezone = ma.validate.OneOf(
    TIMEZONES, error=str(_l("Unknown time zone; use an IANA name such as Asia/Shanghai.")))


class MinorUnits(ma.fields.Integer):
    """Money in minor units (fen, cents), as a JSON integer and nothing else.

    NOTES trap 4: ``Integer`` turns 2.589e-42 into 0 and reads ``"100"`` as 100, so a
    client that sends money as text or as a float "works" until it sends 100.5. Only
    ints are taken (not bools, floats or strings: the document says ``integer`` and the
    API means it); text edges (forms, the CLI) convert with :func:`minor_units`.
    ``minimum=1`` is for amounts that must move money (payments, refunds, top-ups).
    The bounds are published."""

    MAX = 10**13

    def __init__(self, *, minimum: int = 0, **kwargs: Any) -> None:
        self.minimum = minimum
        # A Range validator of the caller may ask more; the document shows the stricter.
        given = kwargs.get("validate")
        ranges = [r.min for r in (given if isinstance(given, list | tuple) else [given])
                  if isinstance(r, ma.validate.Range) and r.min is not None]
        metadata = {"minimum": max([minimum, *ranges]), "maximum": self.MAX,
                    **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, float):
            raise ma.ValidationError(gettext("Amounts are whole minor units (fen/cents)."))
        if isinstance(value, bool) or not isinstance(value, int):
            raise ma.ValidationError(gettext("Not a valid amount in minor units."))
        return check_minor_units(value, self.minimum)


def check_minor_units(value: int, minimum: int = 0) -> int:
    if value < 0:
        raise ma.ValidationError(gettext("Amounts may not be negative."))
    if value < minimum:
        raise ma.ValidationError(gettext("The amount must be at least %(n)d.", n=minimum))
    if value > MinorUnits.MAX:
        raise ma.ValidationError(gettext("The amount is too large."))
    return value


def minor_units(text: str, field: str) -> int:
    """An amount typed as text (the CLI's ``--price 12800``) as integer minor units;
    :class:`ValidationFailed` on ``field`` for fractions, signs and letters."""
    try:
        if not re.fullmatch(r"-?\d{1,15}", text.strip()):
            raise ma.ValidationError(gettext("Amounts are whole minor units (fen/cents)."))
        return check_minor_units(int(text.strip()))
    except ma.ValidationError as exc:
        raise ValidationFailed(_l("The input is not valid."),
                               field_errors={field: exc.messages}) from exc


#: the years a salon has any use for: year 1 or 9999 (with an offset, or a day added)
#: overflow Python's dates, and PostgreSQL and SQLite would store them anyway
FIRST_YEAR, LAST_YEAR = 1970, 2200
#: the year range as the start of a pattern, published with every date and instant
YEARS_PATTERN = r"^(19[7-9][0-9]|2[01][0-9][0-9]|2200)-"
#: a date of those years, as the document publishes it (with the ``date`` format, which
#: rules out 31 February)
DAY_PATTERN = YEARS_PATTERN + r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
#: an instant of those years with its UTC offset, as the API reads it
INSTANT_PATTERN = (DAY_PATTERN[:-1] + r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
                   r"(\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")




def _week_pattern() -> str:
    """ISO weeks ``YYYY-Www`` of those years; week 53 exists only in some of them, which
    are listed, so that the pattern accepts exactly the weeks that exist."""
    long_years = "|".join(str(y) for y in range(FIRST_YEAR, LAST_YEAR + 1)
                          if date(y, 12, 28).isocalendar().week == 53)
    return (rf"^({YEARS_PATTERN[1:-1]}-W(0[1-9]|[1-4][0-9]|5[0-2])"
            rf"|({long_years})-W53)$")


WEEK_PATTERN = _week_pattern()


def _plausible_year(value: date) -> None:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ma.ValidationError(gettext("Give a date between 1970 and 2200."))


class Day(ma.fields.Date):
    """A calendar date (``YYYY-MM-DD``) in the years 1970-2200, published as a
    pattern next to the ``date`` format."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": DAY_PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(validate=_plausible_year, metadata=metadata, **kwargs)


class Instant(ma.fields.AwareDateTime):
    """An ISO 8601 instant with offset in the years 1970-2200 (see :class:`Day`)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"description": "ISO 8601 with offset", "pattern": INSTANT_PATTERN,
                    **kwargs.pop("metadata", {})}
        super().__init__(format="iso", validate=_plausible_year, metadata=metadata, **kwargs)


class Flag(ma.fields.Boolean):
    """A JSON boolean in a body: ``true`` or ``false`` only. marshmallow's ``Boolean``
    also takes 1, "yes", "on"..., which the document's ``boolean`` does not allow (query
    strings keep ``Boolean``: everything there is text)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):  # 0 == False, so a set lookup would take 0
            raise self.make_error("invalid", input=value)
        return value


class Change(ma.Schema):
    """Base of PATCH bodies: at least one field, published as ``minProperties: 1``
    (:class:`core.api.RulesPlugin`). An empty change is a client bug, not a no-op to
    answer 200 (and to audit)."""

    @ma.validates_schema
    def _something(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if not data:
            raise ma.ValidationError(gettext("Give at least one field to change."), "_schema")


#: what the document says about every phone field: the pattern is only the shape; whether
#: such a number exists depends on the numbering plan of its country (libphonenumber's
#: metadata), which no pattern can carry, so the service checks it (:mod:`core.phones`).
PHONE_DESCRIPTION = (
    "A phone number: E.164 (+8613800138000), 00 and the country code, or a national "
    "number of the brand's country (138 0013 8000). Stored and returned in E.164. A "
    "number that matches the pattern but cannot exist in its country's numbering plan "
    "is refused with 422 and an error on this field.")


def phone_field(**kwargs: Any) -> ma.fields.String:
    """A phone number whose rule is visible in the OpenAPI document: its shape as a
    pattern, the numbering-plan check in the description, an example that passes it."""
    metadata = {"description": PHONE_DESCRIPTION, "example": "+8613800138000",
                **kwargs.pop("metadata", {})}
    return ma.fields.String(validate=valid_phone, metadata=metadata, **kwargs)
