"""A small brand for the resource endpoint tests, built through the real services.

Stores: ``north`` and ``south`` (active), ``east`` (closed). Services: ``cut`` (published,
offered at north) and ``secret`` (unpublished, offered at south). People (bearer tokens
in ``World.tokens``): ``owner``; ``mgr_n`` / ``desk_n`` (store manager / front desk of
north); ``mgr_s`` (store manager of south); ``ann`` (staff at north) and ``bob`` (staff
at south); ``bo`` (a customer with a login) and the customer ``cy`` (no login). Bo has
one booking at north and one at south.

Test modules declare ``world`` with :func:`world_fixture` (see there).
"""

from __future__ import annotations

import atexit
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from core import create_app, dbmigrate
from core.audit import acting_as
from core.auth.tokens import issue_token
from core.booking.service import create_booking
from core.catalog.services import add_service, set_published
from core.crm.customers import find_or_create
from core.db import write_transaction
from core.extensions import db
from core.models import Customer, RoleAssignment, User
from core.org.brand import ensure_brand
from core.org.staff import add_staff
from core.org.stores import create_store, update_store
from core.org.users import create_user
from tests.conftest import new_pg_database

BIG = 2**31  # one past the largest id
HUGE_PATHS = ("0", str(BIG), "9" * 40, "9" * 5000)


@dataclass
class World:
    app: Any
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, url: str, who: str | None = None, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return self.app.test_client().open(url, method=method, headers=headers, **kwargs)

    def get(self, url: str, who: str | None = None, **kwargs: Any) -> Any:
        return self.call("GET", url, who, **kwargs)

    def post(self, url: str, who: str | None = None, **kwargs: Any) -> Any:
        return self.call("POST", url, who, **kwargs)

    def put(self, url: str, who: str | None = None, **kwargs: Any) -> Any:
        return self.call("PUT", url, who, **kwargs)

    def patch(self, url: str, who: str | None = None, **kwargs: Any) -> Any:
        return self.call("PATCH", url, who, **kwargs)

    def delete(self, url: str, who: str | None = None, **kwargs: Any) -> Any:
        return self.call("DELETE", url, who, **kwargs)

    def count(self, model: Any) -> int:
        with self.app.app_context():
            return db.session.query(model).count()

    def row(self, model: Any, ident: Any) -> Any:
        with self.app.app_context():
            obj = db.session.get(model, ident)
            if obj is not None:
                db.session.expunge(obj)
            return obj


def _user(name: str, role: str | None = None, stores: list[str] | None = None) -> User:
    return create_user({"name": name, "email": f"{name}@example.com"}, role=role, stores=stores)


def build_world(app: Any) -> World:
    world = World(app)
    ids = world.ids
    with app.app_context(), acting_as(None, "test"):
        stores = {}
        for code in ("north", "south", "east"):
            stores[code] = create_store({"code": code, "name": f"Store {code}",
                                         "timezone": "Asia/Shanghai",
                                         "address": f"{code} road 1"},
                                        hours="mon-sun 09:00-21:00")
            ids[code] = stores[code].id
        update_store("east", {"status": "closed"})
        cut = add_service({"name": "Cut", "duration_min": 60, "price": 12800},
                          category="Hair", stores=["north"])
        secret = add_service({"name": "Secret", "duration_min": 30, "price": 5000},
                             category="Hair", stores=["south"])
        ids["cut"], ids["secret"] = cut.id, secret.id
        ids["hair"] = cut.category_id
        people = {
            "owner": _user("owner", "owner"),
            "mgr_n": _user("mgr_n", "store_manager", ["north"]),
            "desk_n": _user("desk_n", "front_desk", ["north"]),
            "mgr_s": _user("mgr_s", "store_manager", ["south"]),
        }
        ann = add_staff({"name": "Ann", "email": "ann@example.com", "phone": "13700000001"},
                        {"title": "Stylist", "bio": "Cuts"}, stores=["north"],
                        services=[str(cut.id)])
        bob = add_staff({"name": "Bob", "email": "bob@example.com"}, {"title": "Therapist"},
                        stores=["south"], services=[str(secret.id)])
        ids["ann"], ids["bob"] = ann.id, bob.id
        people["ann"] = db.session.get(User, ann.user_id)
        people["bob"] = db.session.get(User, bob.user_id)
        with write_transaction() as session:
            bo = find_or_create("13800000001", "Bo", tags=["vip"])
            cy = find_or_create("13800000002", "Cy")
            session.flush()
            ids["bo_customer"], ids["cy"] = bo.id, cy.id
            login = User(name="Bo", phone="+8613800000001")  # stored in E.164
            login.roles.append(RoleAssignment(role="customer", store_id=None))
            session.add(login)
            session.flush()
            session.get(Customer, bo.id).user_id = login.id
        people["bo"] = db.session.get(User, login.id)
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(hour=3, minute=0, second=0,
                                                                    microsecond=0)
        bo = db.session.get(Customer, ids["bo_customer"])
        ids["booking_n"] = create_booking(store=stores["north"], service=cut, customer=bo,
                                          start_at=tomorrow, staff=ann, source="phone").id
        ids["booking_s"] = create_booking(store=stores["south"], service=secret, customer=bo,
                                          start_at=tomorrow, staff=bob, source="phone").id
        set_published(secret.id, False)
        for name, user in people.items():
            ids[f"user_{name}"] = user.id
            world.tokens[name] = issue_token(user)[0]
    return world


def errors_of(resp: Any) -> dict[str, Any]:
    """The field errors of a 422 problem document."""
    assert resp.status_code == 422, (resp.status_code, resp.get_data(as_text=True))
    assert resp.mimetype == "application/problem+json"
    return resp.json.get("errors") or {}


# --- the world as a fixture: seeded once per backend and process, copied per test -------

BACKENDS = ["sqlite", "postgresql"]
_TEMPLATES: dict[str, tuple[str, dict[str, int], dict[str, str]]] = {}


def _app(folder: Path, url: str, keys: dict[str, Path]) -> Any:
    return create_app({
        "INSTANCE_PATH": str(folder / "instance"), "SQLALCHEMY_DATABASE_URI": url,
        "FULIAN_JOBS_THREAD": False, "FULIAN_LICENSE_PUBLIC_KEYS": [str(keys["public"])],
        "TESTING": True,
    })


def _dispose(app: Any) -> None:
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _seed(folder: Path, url: str, keys: dict[str, Path]) -> World:
    app = _app(folder, url, keys)
    with app.app_context():
        dbmigrate.upgrade()
        ensure_brand({"name": "Test Brand", "default_locale": "en", "currency": "CNY",
                      "timezone": "Asia/Shanghai"})
    app.extensions["fulian_plugins"].refresh()
    world = build_world(app)
    _dispose(app)
    return world


def world_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """Body of a ``world`` fixture parametrised over :data:`BACKENDS`: a fresh database
    holding the world of :func:`build_world`, copied from a template (seeding once per
    backend and process keeps the suite fast), and an app on it."""
    backend = request.param
    keys = request.getfixturevalue("vendor_keys")
    if backend == "sqlite":
        if backend not in _TEMPLATES:
            folder = request.getfixturevalue("tmp_path_factory").mktemp("world")
            seeded = _seed(folder, f"sqlite:///{folder / 'template.db'}", keys)
            _TEMPLATES[backend] = (str(folder / "template.db"), seeded.ids, seeded.tokens)
        source = _TEMPLATES[backend][0]
        for suffix in ("", "-wal", "-shm"):
            if Path(source + suffix).exists():
                shutil.copyfile(source + suffix, tmp_path / f"fulian.db{suffix}")
        url = f"sqlite:///{tmp_path / 'fulian.db'}"
        drop = None
    else:
        admin_url = request.getfixturevalue("pg_admin_url")
        if backend not in _TEMPLATES:
            template_url, drop_template = new_pg_database(admin_url)
            atexit.register(drop_template)
            seeded = _seed(request.getfixturevalue("tmp_path_factory").mktemp("world"),
                           template_url, keys)
            _TEMPLATES[backend] = (template_url.rsplit("/", 1)[1], seeded.ids, seeded.tokens)
        name = f"t_{uuid.uuid4().hex[:16]}"
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{_TEMPLATES[backend][0]}"'))
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"

        def drop() -> None:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            engine.dispose()

    app = _app(tmp_path, url, keys)
    _, ids, tokens = _TEMPLATES[backend]
    try:
        yield World(app, dict(ids), dict(tokens))
    finally:
        _dispose(app)
        if drop is not None:
            drop()
