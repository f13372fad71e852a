"""Input validation shared by CLI, API and pages: marshmallow schemas, translated errors.

marshmallow's built-in messages are English constants; we pass every message through
gettext when raising so that field errors come out in the caller's language. The
constants themselves are listed below so that extraction puts them in our catalogues.
"""

from __future__ import annotations

import re
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
not_blank = rule(rf"^[{_BLANK}]*[^{_BLANK}]", _l("Must not be empty."))
valid_phone = rule(PHONE_PATTERN, _l("Not a valid phone number."))
valid_color = rule(COLOR_RE.pattern, _l("Use a colour like #0f766e."))
valid_code = rule(CODE_RE.pattern, _l("Use 1-40 lowercase letters, digits, '-' or '_', "
                                       "starting with a letter or digit."))
valid_currency = rule(CURRENCY_RE.pattern,
                       _l("Use a three-letter ISO currency code such as CNY."))
valid_clock = rule(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
                    _l("Use a time like 09:30 (00:00 to 24:00)."))


def percent() -> ma.validate.Validator:
    return ma.validate.Range(min=0, max=100, error=str(_l("Between 0 and 100 percent.")))


def length(max_len: int) -> ma.validate.Validator:
    return ma.validate.Length(max=max_len, error=str(_l("At most %(n)d characters.", n=max_len)))


# IANA zone names, published as the field's ``enum``.
valid_timezone = ma.validate.OneOf(
    sorted(available_timezones()),
    error=str(_l("Unknown time zone; use an IANA name such as Asia/Shanghai.")))


class MinorUnits(ma.fields.Integer):
    """Money in minor units: integral values only (NOTES trap 4: ``Integer`` turns
    2.589e-42 into 0, and ``strict`` refuses 3.0). Accepts ints, integral floats and
    digit strings; refuses bools, fractions and negatives. The bounds are published."""

    MAX = 10**13

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"minimum": 0, "maximum": self.MAX, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ma.ValidationError(gettext("Not a valid amount in minor units."))
        if isinstance(value, float):
            if not value.is_integer():
                raise ma.ValidationError(gettext("Amounts are whole minor units (fen/cents)."))
            value = int(value)
        if isinstance(value, str):
            if not re.fullmatch(r"-?\d{1,15}", value.strip()):
                raise ma.ValidationError(gettext("Amounts are whole minor units (fen/cents)."))
            value = int(value.strip())
        if not isinstance(value, int):
            raise ma.ValidationError(gettext("Not a valid amount in minor units."))
        if value < 0:
            raise ma.ValidationError(gettext("Amounts may not be negative."))
        if value > self.MAX:
            raise ma.ValidationError(gettext("The amount is too large."))
        return value


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
