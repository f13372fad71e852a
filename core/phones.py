"""Phone numbers as identities: one canonical spelling (E.164) per number.

A customer, a login and an SMS rate limit are keyed by phone number, and the same
number reaches us as "138 0013 8000", "13800138000", "+86 138 0013 8000" or
"0086 13800138000". Compared as typed, those are four people: four customer records,
four logins, four rate-limit budgets. Every place where a phone becomes an identity or a
lookup key therefore goes through :func:`normalise`, which parses the number with
Google's libphonenumber (the ``phonenumbers`` package), refuses numbers that cannot
exist, and returns E.164 (``+8613800138000``).

A number written without a country code is read as a national number of the brand's
country (``BrandSettings.country``, ISO 3166 alpha-2, ``CN`` by default; ``fulian init
--country`` and the brand settings page set it). Changing the country later does not
change stored numbers: they are already international.

Pages show numbers with :func:`display` (the ``phone`` template filter): the national
format for the brand's own country ("138 0013 8000"), the international one otherwise.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import phonenumbers
from flask import has_app_context
from flask_babel import lazy_gettext as _l

from .errors import ValidationFailed

DEFAULT_REGION = "CN"
#: longer input is not a phone number, whatever it contains (and parsing stays cheap)
MAX_INPUT = 64
_SEPARATORS = re.compile(r"[\s\-().\u00a0\u3000]")


@cache
def supported_regions() -> tuple[str, ...]:
    """ISO 3166 alpha-2 codes libphonenumber has a numbering plan for, sorted."""
    return tuple(sorted(phonenumbers.SUPPORTED_REGIONS))


def is_supported_region(code: Any) -> bool:
    return isinstance(code, str) and code in phonenumbers.SUPPORTED_REGIONS


def region() -> str:
    """The brand's country, used to read numbers given without a country code.

    Falls back to ``CN`` outside an application or before ``fulian init``. The brand row
    is fetched through the session's identity map, so repeated calls cost nothing."""
    if not has_app_context():
        return DEFAULT_REGION
    from .extensions import db
    from .models import BrandSettings

    brand = db.session.get(BrandSettings, 1)
    code = getattr(brand, "country", None)
    return code if is_supported_region(code) else DEFAULT_REGION


def parse(raw: Any, country: str | None = None) -> phonenumbers.PhoneNumber | None:
    """The number ``raw`` denotes if it is a valid (assignable) number, else ``None``.

    ``00`` followed by a country code is accepted whatever the country's own
    international prefix is: it is how most of the world, China included, writes it."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > MAX_INPUT:
        return None
    country = country or region()
    compact = _SEPARATORS.sub("", text)
    candidates = [text]
    if compact.startswith("00") and len(compact) > 4:
        candidates.append("+" + compact[2:])
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, country)
        except phonenumbers.NumberParseException:
            continue
        # An extension makes an office line, not a personal identity.
        if number.extension is None and phonenumbers.is_valid_number(number):
            return number
    return None


def invalid(field: str = "phone", country: str | None = None) -> ValidationFailed:
    """The 422 for a number that cannot exist; the field error names the country in
    which numbers without a country code are read, so the desk knows what to fix."""
    country = country or region()
    return ValidationFailed(_l("Not a valid phone number."), field_errors={field: [_l(
        "Not a valid phone number: give a number of %(country)s or start with + and the "
        "country code.", country=country_name(country))]})


def normalise(raw: Any, country: str | None = None, *, field: str = "phone") -> str:
    """``raw`` as E.164 (``+8613800138000``); :class:`ValidationFailed` (422, with a
    field error on ``field``) for anything that is not a possible, valid number."""
    number = parse(raw, country)
    if number is None:
        raise invalid(field, country)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def lookup_key(raw: Any, country: str | None = None) -> str | None:
    """E.164 for a lookup that must not fail (a search box, a rate-limit key): ``None``
    when ``raw`` is not a valid number, so nothing matches."""
    number = parse(raw, country)
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display(value: Any, country: str | None = None) -> str:
    """A stored number as people read it: national format for the brand's country
    ("138 0013 8000"), international for others ("+1 202-555-0143"). Anything that does
    not parse (numbers stored before normalisation) is shown as stored."""
    if not value:
        return ""
    text = str(value)
    country = country or region()
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        return text
    if not phonenumbers.is_valid_number(number):
        return text
    same = phonenumbers.region_code_for_number(number) == country
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL if same
                                      else phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def search_fragments(text: str, country: str | None = None) -> list[str]:
    """Substrings to look for in stored E.164 numbers when someone searches for
    ``text``: the digits as typed without separators ("138 0013 8000" finds
    "+8613800138000"), without a national trunk prefix ("021 6431" → "216431"), and the
    whole number in E.164 when ``text`` is one. Empty when ``text`` has no digits."""
    compact = _SEPARATORS.sub("", text or "")
    if not re.fullmatch(r"\+?[0-9]+", compact):
        return []
    fragments = [compact]
    digits = compact.lstrip("+")
    if digits != compact:
        fragments.append(digits)
    if digits.startswith("0") and len(digits.lstrip("0")) >= 4:
        fragments.append(digits.lstrip("0"))
    full = lookup_key(text, country)
    if full:
        fragments.append(full)
    return list(dict.fromkeys(fragments))


def country_name(code: str) -> str:
    """The country's name in the current language (the code if Babel does not know
    it), for messages and the brand settings page."""
    from flask_babel import get_locale

    locale = get_locale()  # None outside a request
    return str(locale.territories.get(code, code)) if locale is not None else code


def country_choices() -> list[tuple[str, str]]:
    """``(code, "Name (code)")`` for every supported country, sorted by name in the
    current language."""
    rows = [(code, f"{country_name(code)} ({code})") for code in supported_regions()]
    return sorted(rows, key=lambda row: row[1])
