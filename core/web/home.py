"""The public home page: the brand, its stores and published services.

It is what a newcomer sees after ``fulian demo``, so it is themed and translated like
every later page.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template
from sqlalchemy import select

from ..extensions import db
from ..models import BrandSettings, Service, ServiceCategory, Store

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> str:
    brand = db.session.get(BrandSettings, 1)
    stores = db.session.scalars(
        select(Store).where(Store.status == "active").order_by(Store.id)
    ).all()
    services = db.session.execute(
        select(Service, ServiceCategory.name)
        .outerjoin(ServiceCategory, Service.category_id == ServiceCategory.id)
        .where(Service.published.is_(True))
        .order_by(ServiceCategory.position, ServiceCategory.name, Service.id)
    ).all()
    return render_template("home.html", brand=brand, stores=stores, services=services)


@bp.get("/healthz")
def healthz():  # noqa: ANN201 - tiny probe for load balancers and the demo script
    db.session.execute(select(1))
    return jsonify(status="ok")
