"""Pages in a real browser: the demo brand served by a live WSGI server in a thread,
driven by Playwright with Debian's Chromium (never a downloaded browser).

``site`` is one live server per test module on a fresh SQLite copy of the demo data
(plus a store manager per store and a front desk); ``page`` a new browser page per test;
``shot(page, name)`` saves full-page screenshots at 360 and 1280 px under the
git-ignored ``artifacts/screenshots/``. Pages are also tested without a browser through
``site.client()`` (Flask's test client on the same database).
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from core import create_app, dbmigrate, phones
from core.audit import acting_as
from core.db import write_transaction
from core.demo import DEMO_OWNER_EMAIL, DEMO_PASSWORD, load_demo
from core.extensions import db
from core.models import SmsCode, SmsMessage
from core.org.brand import ensure_brand
from core.org.users import create_user

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PEOPLE = {  # login -> password; roles and stores in _seed
    "owner": DEMO_OWNER_EMAIL, "mgr_xuhui": "mgr.xuhui@demo.fulian.local",
    "mgr_jingan": "mgr.jingan@demo.fulian.local", "desk_xuhui": "desk.xuhui@demo.fulian.local",
    "staff_linya": "linya@demo.fulian.local", "staff_wanglei": "wanglei@demo.fulian.local",
}
_TEMPLATE: dict[str, Path] = {}


def _seed_demo(app: Any) -> None:
    """The demo brand, its owner, a manager per store and a front desk."""
    with app.app_context(), acting_as(None, "test"):
        dbmigrate.upgrade()
        ensure_brand({"name": "Fulian", "default_locale": "zh_CN", "currency": "CNY",
                      "timezone": "Asia/Shanghai"})
        create_user({"name": "Owner", "email": DEMO_OWNER_EMAIL, "password": DEMO_PASSWORD},
                    role="owner")
        load_demo()
        for key, stores, role in (("mgr_xuhui", ["xuhui"], "store_manager"),
                                  ("mgr_jingan", ["jingan"], "store_manager"),
                                  ("desk_xuhui", ["xuhui"], "front_desk")):
            create_user({"name": key, "email": PEOPLE[key], "password": DEMO_PASSWORD},
                        role=role, stores=stores)
        db.session.remove()
        db.engine.dispose()


def _seed(folder: Path) -> Path:
    _seed_demo(create_app({"INSTANCE_PATH": str(folder / "instance"),
                           "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'demo.db'}",
                           "FULIAN_JOBS_THREAD": False}))
    return folder / "demo.db"


@dataclass
class Site:
    app: Any
    url: str
    folder: Path
    server: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    def client(self) -> Any:
        return self.app.test_client()

    def client_as(self, who: str) -> Any:
        """A test client logged in through the password form as one of PEOPLE."""
        client = self.app.test_client()
        resp = post_form(client, "/login", {"login": PEOPLE[who], "password": DEMO_PASSWORD})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return client

    def sms_code(self, phone: str) -> str:
        """The last code the development SMS provider sent to ``phone`` (any spelling);
        the next test may then ask this number for a code at once
        (:func:`allow_next_code`)."""
        return last_sms_code(self.app, phone)


def last_sms_code(app: Any, phone: str) -> str:
    """The last code sent to ``phone`` (stored in E.164), and the per-number code limit
    set aside for the next login of the same number."""
    with app.app_context():
        e164 = phones.normalise(phone)
        row = db.session.query(SmsMessage).filter(SmsMessage.phone == e164) \
            .order_by(SmsMessage.id.desc()).first()
        assert row is not None, phone
        code = re.search(r"\d{6}", row.text).group(0)
    allow_next_code(app, phone)
    return code


def allow_next_code(app: Any, phone: str) -> None:
    """Let ``phone`` get another code now: its earlier codes are moved back a day, past
    every window of the per-number limit (which counts them in the database). Tests log
    the same demo customer in many times; the limit itself is tested on its own."""
    with app.app_context():
        e164 = phones.normalise(phone)
        with write_transaction() as session:
            for row in session.scalars(select(SmsCode).where(SmsCode.phone == e164)):
                row.created_at -= timedelta(days=1, seconds=1)


def csrf_token(client: Any, url: str) -> str:
    """The CSRF token of the form on the page at ``url``."""
    html = client.get(url).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, f"no form with a CSRF token on {url}"
    return found.group(1)


def post_form(client: Any, url: str, data: dict[str, Any], page_url: str | None = None
              ) -> Any:
    """POST a form as a browser would: with the CSRF token of the page it is on."""
    token = csrf_token(client, page_url or url)
    return client.post(url, data={**data, "csrf_token": token})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if "db" not in _TEMPLATE:
        _TEMPLATE["db"] = _seed(tmp_path_factory.mktemp("demo-template"))
    folder = tmp_path_factory.mktemp("site")
    shutil.copyfile(_TEMPLATE["db"], folder / "demo.db")
    app = create_app({"INSTANCE_PATH": str(_TEMPLATE["db"].parent / "instance"),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'demo.db'}",
                      "FULIAN_JOBS_THREAD": False, "RATELIMIT_ENABLED": False})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(app, f"http://127.0.0.1:{server.server_port}", folder, server)
    server.shutdown()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="module")
def pg_site(tmp_path_factory: pytest.TempPathFactory, pg_admin_url: str) -> Iterator[Site]:
    """The demo brand on a fresh PostgreSQL database, for test-client page checks (the
    browser tests use SQLite; some SQL only PostgreSQL refuses)."""
    from tests.conftest import new_pg_database

    url, drop = new_pg_database(pg_admin_url)
    folder = tmp_path_factory.mktemp("pg-site")
    settings = {"INSTANCE_PATH": str(folder / "instance"), "SQLALCHEMY_DATABASE_URI": url,
                "FULIAN_JOBS_THREAD": False, "RATELIMIT_ENABLED": False}
    _seed_demo(create_app(settings))
    app = create_app(settings)
    yield Site(app, "", folder)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    drop()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(base_url=site.url, locale="zh-CN",
                                  viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def login(page: Any, who: str) -> None:
    """Log in through the password form as one of :data:`PEOPLE`."""
    page.goto("/login")
    page.fill("#f-login", PEOPLE[who])
    page.fill("#f-password", DEMO_PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def customer_login(page: Any, site: Site, phone: str, next_url: str = "") -> None:
    """Log in as a customer with phone and the SMS code (read from the dev outbox)."""
    page.goto("/me/login" + (f"?next={next_url}" if next_url else ""))
    page.fill("#f-phone", phone)
    page.click("form button[type=submit]")
    page.fill("#f-code", site.sms_code(phone))
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def shot(page: Any, name: str, widths: tuple[int, ...] = (360, 1280)) -> list[Path]:
    """Save full-page screenshots of the current page at each width."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    saved = []
    size = page.viewport_size or {"width": 1280, "height": 900}
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        path = ARTIFACTS / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)
        saved.append(path)
    page.set_viewport_size(size)
    return saved
