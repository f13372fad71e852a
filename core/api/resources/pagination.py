"""Page-numbered lists, described in the response body.

Every list endpoint takes ``page`` (1..10000, default 1) and ``per_page`` (1..100,
default 20) in the query string and answers ``{"items": [...], "page", "per_page",
"total"}``. (Not flask-smorest's ``X-Pagination`` header: fuzzers and some proxies drop
or reject it, and clients read bodies more readily than headers.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import marshmallow as ma
from sqlalchemy import Select, func, select

from ...extensions import db

MAX_PAGE = 10_000
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20

_PAGE_SCHEMAS: dict[str, type[ma.Schema]] = {}


class PageQuery(ma.Schema):
    """Base of every list endpoint's query schema (subclass it to add filters)."""

    page = ma.fields.Integer(
        load_default=1, validate=ma.validate.Range(min=1, max=MAX_PAGE),
        metadata={"description": f"1-based page number (at most {MAX_PAGE})"})
    per_page = ma.fields.Integer(
        load_default=DEFAULT_PER_PAGE, validate=ma.validate.Range(min=1, max=MAX_PER_PAGE),
        metadata={"description": f"items per page (1..{MAX_PER_PAGE})"})


def page_schema(item: type[ma.Schema], name: str | None = None) -> type[ma.Schema]:
    """The schema of one page of ``item`` (cached, so each is one OpenAPI component)."""
    name = name or f"{item.__name__.removesuffix('Schema').removesuffix('Out')}Page"
    if name not in _PAGE_SCHEMAS:
        _PAGE_SCHEMAS[name] = type(name, (ma.Schema,), {
            "items": ma.fields.List(ma.fields.Nested(item)),
            "page": ma.fields.Integer(),
            "per_page": ma.fields.Integer(),
            "total": ma.fields.Integer(metadata={"description": "items on all pages"}),
            "__doc__": f"One page of {item.__name__.removesuffix('Out')} items.",
        })
    return _PAGE_SCHEMAS[name]


def paginate(query: Select[Any], args: dict[str, Any],
             dump: Callable[[list[Any]], Iterable[Any]] | None = None) -> dict[str, Any]:
    """Run ``query`` for one page: an SQL ``count(*)`` of the whole result, then the rows
    with ``LIMIT``/``OFFSET``. ``query`` must be ordered deterministically (end with a
    unique column). ``dump`` turns the page's rows into items (all at once, so it can load
    related rows in one query)."""
    page, per_page = args["page"], args["per_page"]
    total = db.session.scalar(select(func.count()).select_from(
        query.order_by(None).subquery())) or 0
    rows: list[Any] = []
    if (page - 1) * per_page < total:
        rows = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    items = list(dump(rows)) if dump is not None else rows
    return {"items": items, "page": page, "per_page": per_page, "total": total}
