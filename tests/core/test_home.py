"""The public home page: stores, published services, money, empty states, plugin slots."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import render_template
from markupsafe import Markup

from core.plugins import PluginMeta, hookimpl


def _make_app(tmp_path: Path, extra_plugins: tuple = (), **brand: Any) -> Any:
    from core import create_app, dbmigrate, i18n
    from core.extensions import db
    from core.models import BrandSettings

    i18n.compile_catalogues([i18n.CORE_TRANSLATIONS])
    app = create_app({"INSTANCE_PATH": str(tmp_path), "FULIAN_JOBS_THREAD": False,
                      "TESTING": True}, extra_plugins=extra_plugins)
    with app.app_context():
        dbmigrate.upgrade()
        if brand.pop("create", True):
            values = {"name": "Silk Hair 丝域", "default_locale": "zh_CN", "currency": "CNY",
                      "timezone": "Asia/Shanghai", "theme": "default", **brand}
            db.session.add(BrandSettings(id=1, **values))
            db.session.commit()
    return app


def _seed(app: Any) -> None:
    from core.extensions import db
    from core.models import Service, ServiceCategory, Store

    with app.app_context():
        hair = ServiceCategory(name="Hair 美发", position=1)
        care = ServiceCategory(name="Care 护理", position=2)
        db.session.add_all([
            hair, care,
            Store(code="xuhui", name="Xuhui Flagship", address="88 Hengshan Rd",
                  phone="021 6433 8899", timezone="Asia/Shanghai"),
            Store(code="jingan", name="Jing'an Temple", address="1601 West Nanjing Rd",
                  timezone="Asia/Shanghai"),
            Store(code="pudong", name="Pudong Closed", timezone="Asia/Shanghai",
                  status="closed"),
        ])
        db.session.flush()
        db.session.add_all([
            Service(name="Signature Cut", duration_min=60, price=12800, category_id=hair.id,
                    description="One-to-one styling"),
            Service(name="Scalp Ritual", duration_min=90, price=39800, category_id=care.id),
            Service(name="Wash & Blow-dry", duration_min=30, price=6800),
            Service(name="Secret Service", duration_min=30, price=100, published=False),
        ])
        db.session.commit()


def _dispose(app: Any) -> None:
    from core.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    app = _make_app(tmp_path)
    _seed(app)
    yield app
    _dispose(app)


@pytest.fixture
def empty_app(tmp_path: Path) -> Iterator[Any]:
    app = _make_app(tmp_path)
    yield app
    _dispose(app)


def _page(app: Any, path: str = "/", **headers: str) -> str:
    response = app.test_client().get(path, headers=headers)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_lists_active_stores_and_published_services(app: Any) -> None:
    html = _page(app, "/?lang=en")
    assert "Xuhui Flagship" in html and "Jing&#39;an Temple" in html
    assert "88 Hengshan Rd" in html and "021 6433 8899" in html
    assert 'href="tel:02164338899"' in html
    assert "Pudong Closed" not in html
    assert "Signature Cut" in html and "Scalp Ritual" in html
    assert "Wash &amp; Blow-dry" in html
    assert "One-to-one styling" in html
    assert "Secret Service" not in html
    assert "60 min" in html and "90 min" in html


def test_services_grouped_by_category_with_uncategorised_last(app: Any) -> None:
    html = _page(app, "/?lang=en")
    hair, care, other = html.index("Hair 美发"), html.index("Care 护理"), html.index(">Other<")
    assert hair < html.index("Signature Cut") < care < html.index("Scalp Ritual")
    assert care < other < html.index("Wash &amp; Blow-dry")


def test_money_formatted_per_locale(app: Any) -> None:
    zh = _page(app)
    assert "¥128.00" in zh and "CN¥" not in zh and "¥398.00" in zh
    en = _page(app, "/?lang=en")
    assert "CN¥128.00" in en and "CN¥68.00" in en


def test_money_filter_uses_currency_precision(app: Any) -> None:
    from core.web.context import money

    with app.test_request_context("/?lang=en"):
        assert money(12800) == "CN¥128.00"  # brand currency
        assert money(12345, "USD") == "$123.45"
        assert money(1500, "JPY") == "¥1,500"  # yen have no minor unit
        assert money(1234, "KWD") == "KWD1.234"  # three decimals
        assert money(0) == "CN¥0.00"
        assert money(None) == ""
    with app.test_request_context("/?lang=zh_CN"):
        assert money(123456789) == "¥1,234,567.89"


def test_empty_states_say_what_to_do_next(empty_app: Any) -> None:
    en = _page(empty_app, "/?lang=en")
    assert "No stores yet." in en and "fulian store create --code" in en
    assert "fulian demo" in en
    assert "No services yet." in en and "fulian service add" in en
    zh = _page(empty_app, "/?lang=zh_CN")
    assert "还没有门店。" in zh and "还没有服务项目。" in zh and "fulian store create" in zh


def test_page_renders_before_the_brand_exists(tmp_path: Path) -> None:
    app = _make_app(tmp_path, create=False)
    try:
        html = _page(app, "/?lang=en")
        assert "<title>Fulian</title>" in html and "No stores yet." in html
    finally:
        _dispose(app)


def test_layout_basics(app: Any) -> None:
    html = _page(app)
    assert html.startswith("<!doctype html>")
    assert '<html lang="zh-CN">' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<link rel="stylesheet" href="/static/css/fulian.css">' in html
    assert "<title>Silk Hair 丝域</title>" in html
    assert 'class="brand-name">Silk Hair 丝域<' in html
    assert 'href="/?lang=en"' in html and 'href="/?lang=zh_CN"' in html
    assert "http://" not in html and "https://" not in html  # no CDN, no external fonts
    css = app.test_client().get("/static/css/fulian.css")
    assert css.status_code == 200 and b"--primary" in css.data
    assert b"@import" not in css.data and b"url(http" not in css.data


def test_user_data_is_escaped(tmp_path: Path) -> None:
    from core.extensions import db
    from core.models import Store

    app = _make_app(tmp_path, name="<script>alert(1)</script>")
    try:
        with app.app_context():
            db.session.add(Store(code="x", name="<b>Evil</b>", timezone="Asia/Shanghai"))
            db.session.commit()
        html = _page(app)
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<b>Evil</b>" not in html and "&lt;b&gt;Evil&lt;/b&gt;" in html
    finally:
        _dispose(app)


def test_error_templates_render_translated(app: Any) -> None:
    app.register_error_handler(404, lambda e: (render_template("errors/404.html"), 404))
    client = app.test_client()
    response = client.get("/nowhere?lang=en")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "Page not found" in html and "Back to the home page" in html
    assert 'class="brand-name">Silk Hair 丝域<' in html  # the brand layout
    assert "页面不存在" in client.get("/nowhere?lang=zh_CN").get_data(as_text=True)
    with app.test_request_context("/?lang=en"):
        assert "Something went wrong" in render_template("errors/500.html")


class SlotPlugin:
    """A tiny plugin filling every core slot of the home page."""

    meta = PluginMeta(name="slotty", title="Slot test", version="1.0")

    @hookimpl
    def fulian_template_slot(self, name: str, context: dict[str, Any]) -> Any:
        if name == "home.after_services":
            return Markup("<p id='slotty-after'>{} services</p>").format(
                len(context["services"]))
        if name == "home.hero":
            return Markup("<p id='slotty-hero'>%s</p>") % context["brand"].name
        if name == "head":
            return Markup("<meta name='slotty' content='1'>")
        if name == "body.end":
            return "<script src='/slotty.js'></script>"
        return None

    @hookimpl
    def fulian_menu_items(self, face: str, user: Any) -> list[dict[str, Any]]:
        if face != "customer":
            return []
        return [{"label": "Gift cards", "url": "/gift-cards", "order": 5},
                {"label": "Not mounted", "endpoint": "slotty.index"}]


def test_plugin_slots_and_menu_render_only_when_enabled(tmp_path: Path) -> None:
    from core.extensions import db
    from core.models import PluginState

    app = _make_app(tmp_path, extra_plugins=(SlotPlugin(),))
    _seed(app)
    try:
        html = _page(app, "/?lang=en")
        assert "slotty" not in html and "Gift cards" not in html  # installed, not enabled

        with app.app_context():
            db.session.add(PluginState(name="slotty", enabled=True))
            db.session.commit()
        app.extensions["fulian_plugins"].refresh()
        html = _page(app, "/?lang=en")
        assert "<p id='slotty-hero'>Silk Hair 丝域</p>" in html
        assert "<p id='slotty-after'>3 services</p>" in html
        assert html.index("Wash &amp; Blow-dry") < html.index("slotty-after")
        head, body = html.split("</head>")
        assert "<meta name='slotty' content='1'>" in head
        assert body.rstrip().endswith("<script src='/slotty.js'></script>\n</body>\n</html>")
        assert '<a href="/gift-cards">Gift cards</a>' in html
        assert "Not mounted" not in html  # endpoint not registered: left out, no error
    finally:
        _dispose(app)
