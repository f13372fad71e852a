"""Themes: template overrides with fallback to core, theme static files, tokens, switching."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import theming

CORE_TEMPLATES = Path(theming.__file__).resolve().parent / "templates"


def _make_app(tmp_path: Path, theme: str = "default", **brand: Any) -> Any:
    from core import create_app, dbmigrate, i18n
    from core.extensions import db
    from core.models import BrandSettings, Service, Store

    i18n.compile_catalogues([i18n.CORE_TRANSLATIONS])
    app = create_app({"INSTANCE_PATH": str(tmp_path), "FULIAN_JOBS_THREAD": False,
                      "TESTING": True})
    with app.app_context():
        dbmigrate.upgrade()
        db.session.add(BrandSettings(id=1, name="Jade Spa 青玉", default_locale="en",
                                     currency="CNY", timezone="Asia/Shanghai", theme=theme,
                                     **brand))
        db.session.add(Store(code="xuhui", name="Xuhui Garden", address="8 Hengshan Rd",
                             timezone="Asia/Shanghai"))
        db.session.add(Service(name="Jade Stone Massage", duration_min=90, price=58800))
        db.session.commit()
    return app


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Any]:
    from core.extensions import db

    apps: list[Any] = []

    def factory(theme: str = "default", **brand: Any) -> Any:
        app = _make_app(tmp_path / f"i{len(apps)}", theme, **brand)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app()


def _page(app: Any, path: str = "/") -> str:
    response = app.test_client().get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _css_var(html: str, name: str) -> str:
    match = re.search(rf"--{name}: ([^;]*);", html)
    assert match, name
    return match.group(1)


def test_default_theme_uses_core_templates(app: Any) -> None:
    html = _page(app)
    assert '<section class="hero"' in html and "jade-banner" not in html
    assert "/theme/" not in html  # the default theme adds no stylesheet or logo
    assert _css_var(html, "primary") == "#0f766e"
    assert _css_var(html, "font").startswith('"PingFang SC"')  # quotes survive in <style>
    assert "Xuhui Garden" in html and "Jade Stone Massage" in html


def test_jade_overrides_the_home_hero_only(make_app: Any) -> None:
    html = _page(make_app("jade"))
    # the jade home page ...
    assert 'class="jade-banner"' in html and "Book your ritual" in html
    assert '<section class="hero"' not in html
    # ... inside the core layout, with the core listing
    assert 'class="skip-link"' in html and 'class="lang-switch"' in html
    assert "Xuhui Garden" in html and "Jade Stone Massage" in html and "CN¥588.00" in html
    assert '<link rel="stylesheet" href="/theme/jade.css?v=jade">' in html
    assert 'src="/theme/logo.svg?v=jade"' in html
    assert _css_var(html, "primary") == "#1f4d3a"
    assert "Songti SC" in _css_var(html, "font")


def test_template_lookup_falls_back_to_core(make_app: Any) -> None:
    app = make_app("jade")
    with app.test_request_context("/"):
        env = app.jinja_env
        assert Path(env.get_template("home.html").filename).parts[-3:] == (
            "jade", "templates", "home.html")
        assert Path(env.get_template("base.html").filename) == CORE_TEMPLATES / "base.html"
        assert Path(env.get_template("errors/404.html").filename) == (
            CORE_TEMPLATES / "errors" / "404.html")


def test_theme_static_files_follow_the_active_theme(make_app: Any) -> None:
    jade = make_app("jade").test_client()
    response = jade.get("/theme/jade.css")
    assert response.status_code == 200 and b".jade-banner" in response.data
    assert jade.get("/theme/logo.svg").status_code == 200
    assert jade.get("/theme/../theme.toml").status_code == 404
    default = make_app("default").test_client()
    assert default.get("/theme/jade.css").status_code == 404
    assert default.get("/theme/logo.svg").status_code == 404


def test_unknown_theme_falls_back_to_default(make_app: Any) -> None:
    app = make_app("no-such-theme")
    html = _page(app)
    assert '<section class="hero"' in html and _css_var(html, "primary") == "#0f766e"
    assert app.test_client().get("/theme/jade.css").status_code == 404


def test_instance_theme_is_discovered_and_extends_jade(make_app: Any) -> None:
    app = make_app("acme")
    folder = Path(app.config["INSTANCE_PATH"]) / "themes" / "acme"
    (folder / "templates").mkdir(parents=True)
    (folder / "static").mkdir()
    (folder / "theme.toml").write_text(
        'name = "Acme"\nextends = "jade"\n[tokens]\nprimary = "#123456"\n', encoding="utf-8")
    (folder / "templates" / "_home_sections.html").write_text(
        "<p id='acme-listing'>{{ stores|length }} stores</p>", encoding="utf-8")
    (folder / "static" / "acme.txt").write_text("acme", encoding="utf-8")
    html = _page(app)
    assert "<p id='acme-listing'>1 stores</p>" in html  # the instance theme's own partial
    assert 'class="jade-banner"' in html  # inherited from jade
    assert _css_var(html, "primary") == "#123456"  # its token over jade's
    assert _css_var(html, "accent") == "#c9a227"  # jade's token where it has none
    client = app.test_client()
    assert client.get("/theme/acme.txt").data == b"acme"
    assert client.get("/theme/jade.css").status_code == 200  # from the parent theme


def test_use_theme_switches_without_restart(app: Any) -> None:
    assert '<section class="hero"' in _page(app)
    with app.app_context():
        theming.use_theme(app, "jade")
    html = _page(app)
    assert 'class="jade-banner"' in html and "/theme/jade.css" in html
    assert app.test_client().get("/theme/jade.css").status_code == 200
    with app.app_context():
        theming.use_theme(app, "default")
    html = _page(app)
    assert '<section class="hero"' in html and "jade" not in html
    assert app.test_client().get("/theme/jade.css").status_code == 404


def test_use_theme_rejects_unknown_names(app: Any) -> None:
    from core.errors import NotFound

    with app.app_context(), pytest.raises(NotFound) as err:
        theming.use_theme(app, "nope")
    assert "jade" in str(err.value) and "default" in str(err.value)


def test_brand_settings_override_theme_tokens(make_app: Any) -> None:
    html = _page(make_app("jade", primary_color="#ff0066", accent_color="#00aa55",
                          logo_url="/media/brand.png"))
    assert _css_var(html, "primary") == "#ff0066"
    assert _css_var(html, "accent") == "#00aa55"
    assert _css_var(html, "bg") == "#f5f1e8"  # not set by the brand: jade's token
    assert '<meta name="theme-color" content="#ff0066">' in html
    assert 'src="/media/brand.png"' in html and "/theme/logo.svg" not in html


def test_unsafe_token_values_never_reach_the_style_block(make_app: Any) -> None:
    html = _page(make_app("default", primary_color="red;}</style><script>x</script>",
                          accent_color="#fff;background:url(//evil)"))
    style = re.split(r"<style nonce=\"[^\"]+\">", html)[1].split("</style>")[0]
    assert "script" not in html.split("</style>")[1].split("<body")[0]
    assert _css_var(style, "primary") == "#0f766e"  # unsafe value: the fallback instead
    assert _css_var(style, "accent") == "#f59e0b"
    assert "evil" not in html and "<script>x</script>" not in html


def test_css_value_filter() -> None:
    from core.web.context import css_value

    assert css_value("#0f766e") == "#0f766e"
    assert css_value('"PingFang SC", sans-serif') == '"PingFang SC", sans-serif'
    assert css_value("rgb(1 2 3 / 50%)") == "rgb(1 2 3 / 50%)"
    for bad in ["red;}", "</style>", "a{b}", "url(x)", "x/*", "a\\62", "a\nb"]:
        assert css_value(bad, "fallback") == "fallback"
    assert css_value(None, "fb") == "fb" and css_value("", "fb") == "fb"


def test_available_themes_lists_bundled_ones(app: Any) -> None:
    themes = theming.available_themes(app)
    assert {"default", "jade"} <= set(themes)
    assert themes["jade"].extends == "default"
    assert themes["jade"].title == "Jade Spa 青玉水疗"
    for name in ("primary", "accent", "background", "surface", "text", "muted", "radius",
                 "font_family"):
        assert name in themes["default"].tokens and name in themes["jade"].tokens


def test_text_on_a_brand_primary_colour_stays_readable(make_app: Any) -> None:
    from core.web.context import readable_on

    assert readable_on("#fde047") == "#111827"  # yellow: dark text
    assert readable_on("#0f766e") == "#ffffff"
    assert readable_on("#fff") == "#111827" and readable_on("#000") == "#ffffff"
    assert readable_on("teal") is None
    html = _page(make_app("jade", primary_color="#fde047"))
    assert _css_var(html, "primary") == "#fde047"
    assert _css_var(html, "on-primary") == "#111827"
    html = _page(make_app("jade"))
    assert _css_var(html, "on-primary") == "#fdfaf2"  # the theme's own choice otherwise
