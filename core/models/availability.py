"""Versions of a store's availability, by UTC date: what lets every app process cache
availability and still see each write at once (:mod:`core.scheduling.cache`).

A row is bumped (set to a new random number) by every write that changes a store's
working or busy time on that date; the row dated :data:`STORE_WIDE` by writes that change
the whole store (its staff, templates, opening hours, time zone). A missing row reads as
version 0. Rows are derived data: never audited, deleted with their store.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db

#: the date of the store-wide row (no day of a real booking is this old)
STORE_WIDE = date(1, 1, 1)


class AvailabilityVersion(db.Model):
    __tablename__ = "availability_versions"

    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"),
                                          primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
