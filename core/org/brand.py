"""The brand row: created once by ``fulian init``, edited by owners."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from .. import phones
from .. import validation as v
from ..db import write_transaction
from ..errors import NotFound
from ..extensions import db
from ..models import BrandSettings


class BrandSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=[v.not_blank, v.length(120)])
    default_locale = ma.fields.String(validate=ma.validate.OneOf(["zh_CN", "en"]))
    currency = ma.fields.String(validate=v.valid_currency)
    timezone = ma.fields.String(validate=v.valid_timezone)
    primary_color = ma.fields.String(allow_none=True, validate=v.valid_color)
    accent_color = ma.fields.String(allow_none=True, validate=v.valid_color)
    logo_url = ma.fields.String(allow_none=True, validate=v.length(500))
    #: where national phone numbers belong (ISO 3166 alpha-2 with a numbering plan)
    country = ma.fields.String(validate=ma.validate.OneOf(
        phones.supported_regions(),
        error=str(_l("Use a two-letter ISO country code such as CN."))))

    @ma.pre_load
    def _upper_country(self, data: dict[str, Any], **_kw: Any) -> dict[str, Any]:
        if isinstance(data.get("country"), str):
            data = {**data, "country": data["country"].strip().upper()}
        return data


def get_brand() -> BrandSettings:
    brand = db.session.get(BrandSettings, 1)
    if brand is None:
        raise NotFound(_l("The deployment is not initialised; run fulian init."))
    return brand


def ensure_brand(data: dict[str, Any]) -> tuple[BrandSettings, bool]:
    """Create the brand if missing (idempotent). Returns ``(brand, created)``."""
    existing = db.session.get(BrandSettings, 1)
    if existing is not None:
        return existing, False
    values = v.load(BrandSchema(), data)
    with write_transaction() as session:
        brand = BrandSettings(id=1, **values)
        session.add(brand)
    return brand, True


def update_brand(data: dict[str, Any]) -> BrandSettings:
    values = v.load(BrandSchema(), data, partial=True)
    with write_transaction() as session:
        brand = session.get(BrandSettings, 1)
        if brand is None:
            raise NotFound(_l("The deployment is not initialised; run fulian init."))
        for key, value in values.items():
            setattr(brand, key, value)
    return brand
