"""Locale selection and catalogues.

Order of preference: an explicit choice (``?lang=`` remembered in the session, or the
logged-in user's saved locale), then the browser's ``Accept-Language``, then the brand's
default. Catalogues are named ``zh_Hans_CN`` on disk because Babel parses ``zh_CN`` as
``zh_Hans_CN`` and silently ignores a folder named ``zh_CN`` (NOTES trap 1); URLs and
settings may keep saying ``zh_CN``.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import Babel

SUPPORTED = ("zh_CN", "en")
CORE_TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def normalise(value: str | None) -> str | None:
    """Map ``zh``, ``zh-CN``, ``zh_Hans_CN``, ``en-GB`` ... onto a supported locale."""
    if not value:
        return None
    v = value.replace("-", "_").lower()
    if v.startswith("zh"):
        return "zh_CN"
    if v.startswith("en"):
        return "en"
    return None


def operator_locale() -> str:
    """The language of messages for the person at the console (the CLI, a server's
    start-up refusal): ``FULIAN_LOCALE``, else the usual locale variables, else English."""
    for var in ("FULIAN_LOCALE", "LC_ALL", "LC_MESSAGES", "LANG"):
        loc = normalise(os.environ.get(var, "").split(".")[0])
        if loc:
            return loc
    return "en"


def brand_default_locale() -> str:
    from .extensions import db
    from .models import BrandSettings

    try:
        brand = db.session.get(BrandSettings, 1)
    except Exception:  # before the first migration there is no brand yet
        db.session.rollback()
        brand = None
    if brand is not None and normalise(brand.default_locale):
        return normalise(brand.default_locale) or "zh_CN"
    return normalise(current_app.config.get("BABEL_DEFAULT_LOCALE")) or "zh_CN"


def select_locale() -> str:
    if not has_request_context():
        return getattr(g, "fulian_locale", None) or brand_default_locale()
    chosen = normalise(request.args.get("lang"))
    if chosen:
        session["lang"] = chosen
        return chosen
    if normalise(session.get("lang")):
        return normalise(session.get("lang")) or "zh_CN"
    user = getattr(g, "user", None)
    if user is not None and normalise(getattr(user, "locale", None)):
        return normalise(user.locale) or "zh_CN"
    best = request.accept_languages.best_match(["zh", "zh-CN", "zh-Hans", "en"])
    return normalise(best) or brand_default_locale()


def init_app(app: Flask, extra_dirs: Iterable[str] = ()) -> Babel:
    dirs = [str(CORE_TRANSLATIONS), *[str(d) for d in extra_dirs]]
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(dirs)
    babel = Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["current_locale"] = lambda: str(select_locale())
    return babel


def compile_catalogues(dirs: Iterable[str | Path]) -> int:
    """Compile every ``<dir>/<locale>/LC_MESSAGES/*.po`` to ``.mo``; return how many.

    Fuzzy entries are left out (they are guesses, not translations). ``.mo`` files are
    build products (git-ignored): the install step and the test runner call this.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    count = 0
    for folder in dirs:
        for po_path in sorted(Path(folder).glob("*/LC_MESSAGES/*.po")):
            locale = po_path.parent.parent.name
            with po_path.open("rb") as fh:
                catalog = read_po(fh, locale=locale)
            mo_path = po_path.with_suffix(".mo")
            # A private temp name per writer: parallel test workers compile concurrently.
            fd, tmp_name = tempfile.mkstemp(dir=mo_path.parent, suffix=".mo.tmp")
            with os.fdopen(fd, "wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)
            os.replace(tmp_name, mo_path)  # atomic: a running app never reads half a file
            count += 1
    return count


def installed_translation_dirs() -> list[Path]:
    """Core's catalogues plus the ``translations`` folder of every installed plugin.

    Used by the install step, which must compile plugins that are not enabled yet too.
    """
    from importlib.metadata import entry_points

    dirs = [CORE_TRANSLATIONS]
    for ep in entry_points(group="fulian.plugins"):
        module_name = ep.value.split(":")[0]
        try:
            spec = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            continue
        if spec is None or not spec.origin:
            continue
        folder = Path(spec.origin).resolve().parent / "translations"
        if folder.is_dir() and folder not in dirs:
            dirs.append(folder)
    return dirs


def compile_all() -> int:
    return compile_catalogues(installed_translation_dirs())
