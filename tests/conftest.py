"""Shared fixtures: real SQLite and real PostgreSQL, a fake installed plugin distribution.

``scripts/test`` starts PostgreSQL and Redis on loopback and exports
``FULIAN_TEST_PG_URL`` / ``FULIAN_TEST_REDIS_URL``. Without them (a quick local run) the
PostgreSQL and Redis variants are skipped, except under ``CI=true`` where a missing
service is an error, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.core.private_redis import PrivateRedis, available

TESTS = Path(__file__).resolve().parent
FAKE_SITE = TESTS / "fixtures" / "site"
# Make the test-only plugin distribution "installed": importlib.metadata finds its
# dist-info and entry points exactly as for a pip-installed third-party plugin.
if str(FAKE_SITE) not in sys.path:
    sys.path.insert(0, str(FAKE_SITE))

PG_ADMIN_URL = os.environ.get("FULIAN_TEST_PG_URL")
REDIS_URL = os.environ.get("FULIAN_TEST_REDIS_URL")
IN_CI = os.environ.get("CI") == "true"
# Production is the default deployment kind; the suite (and every app or server process
# it starts, which inherit the environment) runs as "test". Tests of production mode
# build their apps with FULIAN_ENV="production" explicitly.
os.environ["FULIAN_ENV"] = "test"


def _require(service: str, url: str | None) -> None:
    if url:
        return
    if IN_CI:
        pytest.fail(f"{service} is required in CI; run the suite through scripts/test")
    pytest.skip(f"{service} not started (run scripts/test)")


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogues() -> None:
    from core import i18n

    i18n.compile_catalogues([i18n.CORE_TRANSLATIONS, FAKE_SITE / "fulian_contract" /
                             "translations"])


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    _require("PostgreSQL", PG_ADMIN_URL)
    assert PG_ADMIN_URL
    return PG_ADMIN_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    _require("Redis", REDIS_URL)
    assert REDIS_URL
    return REDIS_URL


def new_pg_database(admin_url: str) -> tuple[str, Any]:
    """Create an empty database; return its URL and a function that drops it."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    return url, drop


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fulian.db'}"
        return
    url, drop = new_pg_database(request.getfixturevalue("pg_admin_url"))
    yield url
    drop()


@pytest.fixture
def vendor_keys(tmp_path: Path) -> dict[str, Path]:
    """A vendor signing key pair; the public half is configured in the deployment."""
    from core import licensing

    private, public = licensing.generate_keypair()
    folder = tmp_path / "vendor"
    folder.mkdir()
    (folder / "vendor.key").write_bytes(private)
    (folder / "vendor.pem").write_bytes(public)
    return {"private": folder / "vendor.key", "public": folder / "vendor.pem"}


@pytest.fixture
def make_app(db_url: str, tmp_path: Path, vendor_keys: dict[str, Path]) -> Iterator[Any]:
    """Factory for apps on the parametrised database (migrated unless told otherwise)."""
    from core import create_app, dbmigrate
    from core.extensions import db

    apps = []

    def factory(migrate: bool = True, brand: bool = True, extra: tuple = (),
                **config: Any) -> Any:
        settings = {
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "SQLALCHEMY_DATABASE_URI": db_url,
            "FULIAN_JOBS_THREAD": False,
            "FULIAN_LICENSE_PUBLIC_KEYS": [str(vendor_keys["public"])],
            "TESTING": True,
            **config,
        }
        app = create_app(settings, extra_plugins=extra)
        apps.append(app)
        if migrate:
            with app.app_context():
                dbmigrate.upgrade()
                if brand:
                    from core.org.brand import ensure_brand

                    ensure_brand({"name": "Test Brand", "default_locale": "en",
                                  "currency": "CNY", "timezone": "Asia/Shanghai"})
            app.extensions["fulian_plugins"].refresh()
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Any) -> Any:
    return make_app()


@pytest.fixture
def ctx(app: Any) -> Iterator[Any]:
    """An app context on the migrated test app (most service tests need one)."""
    with app.app_context():
        yield app


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, vendor_keys: dict[str, Path],
            monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for running the ``fulian`` CLI against the parametrised database."""
    env = {
        "FULIAN_INSTANCE": str(tmp_path / "instance"),
        "FULIAN_DATABASE_URL": db_url,
        "FULIAN_LICENSE_PUBLIC_KEYS": str(vendor_keys["public"]),
        "FULIAN_JOBS_THREAD": "0",
        "FULIAN_LOCALE": "en",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("FULIAN_REDIS_URL", raising=False)
    return env


@pytest.fixture
def run_cli(cli_env: dict[str, str]) -> Iterator[Any]:
    """Run ``fulian ARGS`` in process; returns (exit_code, stdout, stderr)."""
    from click.testing import CliRunner

    import cli.base
    from cli.main import cli as group
    from core.extensions import db

    def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
        cli.base._app = cli.base._mode = None
        group._plugin_commands = None
        runner = CliRunner()
        result = runner.invoke(group, list(args), input=input, catch_exceptions=False,
                               prog_name="fulian", standalone_mode=False)
        app = cli.base._app
        if app is not None:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        return result.exit_code, result.stdout, result.stderr

    yield run
    cli.base._app = cli.base._mode = None


# --- the browser: one per test process, for every package's page tests ------------------

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                "--disable-quic"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: scripts/test installs Debian's chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def redis_server() -> Iterator[PrivateRedis]:
    """A redis-server of the test module's own, to stop, start and flush
    (:mod:`tests.core.private_redis`)."""
    if not available():
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    server = PrivateRedis().start()
    yield server
    server.stop()
