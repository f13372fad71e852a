"""The audit log: who changed what, when, with the values before and after (owner and
brand admins only)."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_babel import gettext
from flask_smorest import Blueprint
from sqlalchemy import select

from ... import validation as v
from ...models import AuditEntry
from ..common import Id, require_user
from .access import require_brand_admin
from .pagination import PageQuery, page_schema, paginate

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit",
                description="Audit log (owner and brand admins)")


class AuditQuery(PageQuery):
    entity_type = ma.fields.String(validate=ma.validate.Length(min=1, max=64),
                                   metadata={"description": "table name, e.g. stores"})
    entity_id = ma.fields.String(validate=ma.validate.Length(min=1, max=64))
    actor_user_id = Id(strict=False)
    since = v.Instant(metadata={
        "description": "entries at or after this instant (ISO 8601 with offset)"})
    until = v.Instant(metadata={
        "description": "entries before this instant"})

    @ma.validates_schema(skip_on_field_errors=True)
    def _range(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            raise ma.ValidationError(gettext("The end must be after the start."),
                                     field_name="until")


class AuditOut(ma.Schema):
    id = ma.fields.Integer()
    at = ma.fields.AwareDateTime(format="iso")
    actor_user_id = ma.fields.Integer(allow_none=True)
    actor = ma.fields.String(metadata={"description": "user:<id>, cli, system, ..."})
    action = ma.fields.String(metadata={
        "description": "create, update or delete; for entity type auth: login, "
                       "login_failed, logout, sms_code or sessions_ended"})
    entity_type = ma.fields.String()
    entity_id = ma.fields.String(allow_none=True)
    before = ma.fields.Dict(allow_none=True)
    after = ma.fields.Dict(allow_none=True)
    ip = ma.fields.String(allow_none=True, metadata={
        "description": "client address of the request that wrote it (null outside "
                       "requests)"})


@blp.get("")
@blp.arguments(AuditQuery, location="query")
@blp.response(200, page_schema(AuditOut, "AuditPage"))
def list_audit(args: dict[str, Any]) -> dict[str, Any]:
    """Audit entries, newest first, filtered by entity, actor and time (422 when
    ``until`` is not after ``since``)."""
    require_brand_admin(require_user())
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if args.get("entity_type"):
        query = query.where(AuditEntry.entity_type == args.get("entity_type"))
    if args.get("entity_id"):
        query = query.where(AuditEntry.entity_id == args.get("entity_id"))
    if args.get("actor_user_id") is not None:
        query = query.where(AuditEntry.actor_user_id == args.get("actor_user_id"))
    if args.get("since") is not None:
        query = query.where(AuditEntry.at >= args.get("since"))
    if args.get("until") is not None:
        query = query.where(AuditEntry.at < args.get("until"))
    return paginate(query, args)
