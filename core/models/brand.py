"""Brand settings: one row per deployment, the white-label identity."""

from __future__ import annotations

import uuid

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class BrandSettings(db.Model):
    """The deployment's brand. Exactly one row (id=1) exists after ``fulian init``.

    Colours and logo left empty fall back to the active theme's tokens.

    ``deployment_id`` identifies this install to the vendor: licences are issued for it.

    ``country`` (ISO 3166 alpha-2) is where phone numbers written without a country code
    belong: customers and logins are keyed by E.164 numbers (:mod:`core.phones`).
    """

    __tablename__ = "brand_settings"
    __audited__ = True

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    logo_url: Mapped[str | None] = mapped_column(String(500))
    primary_color: Mapped[str | None] = mapped_column(String(9))
    accent_color: Mapped[str | None] = mapped_column(String(9))
    default_locale: Mapped[str] = mapped_column(String(10), default="zh_CN")
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    country: Mapped[str] = mapped_column(String(2), default="CN")
    theme: Mapped[str] = mapped_column(String(64), default="default")
    deployment_id: Mapped[str] = mapped_column(
        String(36), default=lambda: str(uuid.uuid4()), unique=True
    )
