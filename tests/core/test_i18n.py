"""Locale selection with the real compiled catalogues, and the catalogues themselves."""

from __future__ import annotations

import gettext
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from core import i18n

REPO = Path(i18n.__file__).resolve().parent.parent
ZH_PO = i18n.CORE_TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
EN_PO = i18n.CORE_TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]")
#: the core's and every bundled plugin's own catalogue folder
CATALOGUE_DIRS = [i18n.CORE_TRANSLATIONS, *sorted((REPO / "plugins").glob("*/translations"))]


def _make_app(tmp_path: Path, default_locale: str = "zh_CN") -> Any:
    from core import create_app, dbmigrate
    from core.extensions import db
    from core.models import BrandSettings, Service, Store

    i18n.compile_catalogues([i18n.CORE_TRANSLATIONS])
    app = create_app({"INSTANCE_PATH": str(tmp_path), "FULIAN_JOBS_THREAD": False,
                      "TESTING": True})
    with app.app_context():
        dbmigrate.upgrade()
        db.session.add(BrandSettings(id=1, name="Silk", default_locale=default_locale,
                                     currency="CNY", timezone="Asia/Shanghai",
                                     theme="default"))
        db.session.add(Store(code="a", name="Store A", timezone="Asia/Shanghai"))
        db.session.add(Service(name="Cut", duration_min=45, price=12800))
        db.session.commit()
    return app


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Any]:
    from core.extensions import db

    apps: list[Any] = []

    def factory(default_locale: str = "zh_CN") -> Any:
        app = _make_app(tmp_path / f"i{len(apps)}", default_locale)
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


def _get(client: Any, path: str = "/", **headers: str) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _is_chinese(html: str) -> bool:
    return '<html lang="zh-CN">' in html and "我们的门店" in html and "45 分钟" in html


def _is_english(html: str) -> bool:
    return '<html lang="en">' in html and "Our stores" in html and "45 min" in html


def test_brand_default_locale_gives_chinese(app: Any) -> None:
    html = _get(app.test_client())
    assert _is_chinese(html)
    assert "¥128.00" in html and "跳到主要内容" in html


def test_accept_language_picks_english(app: Any) -> None:
    html = _get(app.test_client(), Accept_Language="en-GB,en;q=0.9")
    assert _is_english(html) and "CN¥128.00" in html


def test_accept_language_chinese_variants(make_app: Any) -> None:
    client = make_app("en").test_client()
    assert _is_english(_get(client))
    for header in ("zh-CN", "zh", "zh-Hans-CN,zh;q=0.9,en;q=0.5"):
        assert _is_chinese(_get(client, Accept_Language=header)), header


def test_explicit_choice_sticks_for_the_session(app: Any) -> None:
    client = app.test_client()
    assert _is_english(_get(client, "/?lang=en", Accept_Language="zh-CN"))
    assert _is_english(_get(client, "/", Accept_Language="zh-CN"))
    assert _is_chinese(_get(client, "/?lang=zh-CN", Accept_Language="en"))
    assert _is_chinese(_get(client, "/", Accept_Language="en"))


def test_unsupported_language_gives_brand_default(make_app: Any) -> None:
    assert _is_chinese(_get(make_app("zh_CN").test_client(), Accept_Language="fr"))
    assert _is_english(_get(make_app("en").test_client(), Accept_Language="fr-FR,de;q=0.5"))
    # an unsupported ?lang= is ignored, not remembered
    assert _is_chinese(_get(make_app("zh_CN").test_client(), "/?lang=xx"))


def test_language_switcher_links_keep_the_query(app: Any) -> None:
    html = _get(app.test_client(), "/?page=2&lang=en")
    assert 'href="/?page=2&amp;lang=zh_CN"' in html
    assert 'href="/?page=2&amp;lang=en" lang="en" hreflang="en" aria-current="true"' in html


def test_lazy_core_messages_follow_the_request_locale(app: Any) -> None:
    from core.errors import NotFound

    with app.app_context(), pytest.raises(NotFound) as err:
        from core import theming

        theming.use_theme(app, "nope")
    with app.test_request_context("/?lang=zh_CN"):
        assert str(err.value.message).startswith("没有名为 nope 的主题")
    with app.test_request_context("/?lang=en"):
        assert str(err.value.message).startswith("No theme named nope.")


# ------------------------------------------------------------------ catalogues


def _catalog(path: Path) -> Catalog:
    with path.open("rb") as fh:
        return read_po(fh)


@pytest.mark.parametrize("folder", CATALOGUE_DIRS, ids=lambda p: p.parent.name)
def test_chinese_catalogue_is_complete_and_consistent(folder: Path) -> None:
    catalog = _catalog(folder / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po")
    assert catalog.locale is not None and str(catalog.locale) == "zh_Hans_CN"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"untranslated or fuzzy: {ids[0]!r}")
            continue
        wanted = set(PLACEHOLDER.findall(ids[0]))
        for text in strings:
            if set(PLACEHOLDER.findall(text)) != wanted:
                problems.append(f"placeholders differ: {ids[0]!r} -> {text!r}")
            if re.search(r"%(?!\(\w+\)[sdif])", text.replace("%%", "")):  # %% is a %
                problems.append(f"stray %: {text!r}")
    assert not problems, "\n".join(problems)
    assert len(catalog) > (50 if folder == i18n.CORE_TRANSLATIONS else 0)  # plugins: few


def test_every_extracted_string_is_in_the_catalogues() -> None:
    """Guards "every user-facing string is translatable": run scripts/i18n-update and
    translate when this fails."""
    with (REPO / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    keywords = {"_": None, "_l": None, "gettext": None, "lazy_gettext": None,
                "ngettext": (1, 2), "lazy_ngettext": (1, 2)}

    def keep_dir(path: str) -> bool:  # mirrors --ignore-dirs of scripts/i18n-update
        name = Path(path).name
        return not (name.startswith((".", "_")) or name in {"tests", "build", "dist", "venv"})

    extracted: dict[str, str] = {}
    for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(REPO), method_map, options_map, keywords=keywords,
            directory_filter=keep_dir):
        msgid = message if isinstance(message, str) else message[0]
        extracted.setdefault(msgid, filename)
    assert "Our stores" in extracted and "Book your ritual" in extracted  # jinja works
    assert "No plugin named %(name)s is installed." in extracted  # python works
    for locale in ("zh_Hans_CN", "en"):
        known = {m.id if isinstance(m.id, str) else m.id[0]
                 for folder in CATALOGUE_DIRS
                 for m in _catalog(folder / locale / "LC_MESSAGES" / "messages.po") if m.id}
        missing = sorted(f"{extracted[m]}: {m!r}" for m in set(extracted) - known)
        assert not missing, f"{locale} lacks:\n" + "\n".join(missing)


def test_a_plugin_ships_its_own_catalogue() -> None:
    """The wallet's strings live in its own catalogue (loaded through its
    fulian_translation_dirs hook), not in the core's."""
    wallet = REPO / "plugins" / "wallet" / "translations"
    assert wallet in CATALOGUE_DIRS
    core_ids = {m.id for m in _catalog(ZH_PO)}
    wallet_zh = _catalog(wallet / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po")
    assert wallet_zh.get("Top up online") is not None and "Top up online" not in core_ids
    assert all(loc[0].startswith("plugins/wallet/") for m in wallet_zh if m.id
               for loc in m.locations)


def test_compile_catalogues_writes_mo_files_without_fuzzy(tmp_path: Path) -> None:
    folder = tmp_path / "translations"
    catalog = Catalog(locale="zh_Hans_CN")
    catalog.add("Hello", "你好")
    catalog.add("Maybe", "也许", flags=["fuzzy"])
    catalog.add("Untranslated", "")
    for locale in ("zh_Hans_CN", "en"):
        po = folder / locale / "LC_MESSAGES" / "messages.po"
        po.parent.mkdir(parents=True)
        with po.open("wb") as fh:
            write_po(fh, catalog)
    (folder / "README").write_text("not a catalogue")
    assert i18n.compile_catalogues([folder, tmp_path / "missing"]) == 2
    mo = folder / "zh_Hans_CN" / "LC_MESSAGES" / "messages.mo"
    with mo.open("rb") as fh:
        translations = gettext.GNUTranslations(fh)
    assert translations.gettext("Hello") == "你好"
    assert translations.gettext("Maybe") == "Maybe"
    assert translations.gettext("Untranslated") == "Untranslated"
    assert not list(folder.rglob("*.tmp"))


def test_compile_catalogues_covers_the_core(tmp_path: Path) -> None:
    copy = tmp_path / "translations"
    shutil.copytree(i18n.CORE_TRANSLATIONS, copy,
                    ignore=shutil.ignore_patterns("*.mo", "*.pot"))
    assert i18n.compile_catalogues([str(copy)]) == 2
    with (copy / "zh_Hans_CN" / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        translations = gettext.GNUTranslations(fh)
    assert translations.gettext("Our stores") == "我们的门店"
    assert not (i18n.CORE_TRANSLATIONS / "zh_CN").exists()  # NOTES trap 1
