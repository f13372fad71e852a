"""The database going away is 503 with Retry-After, not a 500 traceback, and its return
is picked up by the same app without a restart (core.web.errors; the pool pings
connections before use).

PostgreSQL: a private cluster that this module starts on a free port in a temporary
folder (as scripts/services does; never the suite's shared cluster), stopped and started
again between requests. SQLite: the database file cannot be opened for a while.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from glob import glob
from pathlib import Path
from typing import Any

import pytest

from core import create_app, dbmigrate
from core.auth.tokens import issue_token
from core.extensions import db
from core.org.brand import ensure_brand
from core.org.users import create_user
from tests.conftest import IN_CI
from tests.core.factories import make_shop

PG_BIN = (sorted(glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
          or [None])[-1]


class Cluster:
    """A throw-away PostgreSQL cluster owned by the ``postgres`` user when run as root
    (initdb refuses root), listening on loopback only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8")

    def _run(self, tool: str, *args: str) -> None:
        command = [f"{PG_BIN}/{tool}", *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "pg.log"), "-w",
                  "-t", "60", "start", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data} "
                  "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if PG_BIN is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        if IN_CI:
            pytest.fail("PostgreSQL server binaries are required in CI")
        pytest.skip("PostgreSQL server binaries not installed")
    folder = Path(tempfile.mkdtemp(prefix="fulian-outage-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    server = Cluster(folder)
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped by a failed test
        shutil.rmtree(folder, ignore_errors=True)


def _app(tmp_path: Path, url: str) -> tuple[Any, str]:
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"),
                      "SQLALCHEMY_DATABASE_URI": url, "FULIAN_JOBS_THREAD": False,
                      "RATELIMIT_ENABLED": False, "TESTING": True})
    with app.app_context():
        dbmigrate.upgrade()
        ensure_brand({"name": "Outage", "default_locale": "en", "currency": "CNY",
                      "timezone": "Asia/Shanghai"})
        make_shop()
        owner = create_user({"name": "O", "email": "o@example.com"}, role="owner")
        token = issue_token(owner)[0]
    return app, token


def _assert_unavailable(app: Any, token: str) -> None:
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    for resp in (client.get("/api/v1/stores"),
                 client.get("/api/v1/me", headers=bearer),  # the token is read first
                 client.post("/api/v1/auth/token",
                             json={"login": "o@example.com", "password": "x"})):
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert resp.mimetype == "application/problem+json"
        assert int(resp.headers["Retry-After"]) > 0
    page = client.get("/")
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert int(page.headers["Retry-After"]) > 0


def _assert_available(app: Any, token: str) -> None:
    client = app.test_client()
    assert client.get("/api/v1/stores").status_code == 200
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["name"] == "O"
    assert client.get("/").status_code == 200


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info]


def test_postgresql_stopped_is_503_and_its_return_needs_no_restart(
        cluster: Cluster, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app, token = _app(tmp_path, cluster.url)
    try:
        _assert_available(app, token)  # the pool now holds connections to the old server
        cluster.stop()
        caplog.set_level(logging.INFO)
        _assert_unavailable(app, token)
        assert not _tracebacks(caplog)
        assert any("database unavailable" in r.getMessage() for r in caplog.records)
        cluster.start()
        _assert_available(app, token)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_sqlite_that_cannot_be_opened_is_503(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    app, token = _app(tmp_path, f"sqlite:///{folder / 'fulian.db'}")
    _assert_available(app, token)
    with app.app_context():
        db.engine.dispose()
    folder.rename(tmp_path / "moved")  # a volume that went away
    caplog.set_level(logging.INFO)
    _assert_unavailable(app, token)
    assert not _tracebacks(caplog)
    (tmp_path / "moved").rename(folder)
    _assert_available(app, token)
    with app.app_context():
        db.engine.dispose()
