"""The installed ``fulian`` console script, as an operator runs it (real processes)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import FAKE_SITE

FULIAN = shutil.which("fulian") or str(Path(sys.executable).parent / "fulian")


def _env(tmp_path: Path, extra_site: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FULIAN_")}
    env.update(FULIAN_INSTANCE=str(tmp_path / "inst"), FULIAN_LOCALE="en",
               FULIAN_JOBS_THREAD="0")
    if extra_site:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(FAKE_SITE),
                                                          env.get("PYTHONPATH")]))
    else:
        env.pop("PYTHONPATH", None)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FULIAN, *args], env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_a_plugin_installed_later_shows_up_without_core_change(tmp_path):
    without = run(["plugins", "list"], _env(tmp_path))
    assert without.returncode == 0, without.stderr
    assert "contract" not in without.stdout and "beauty" in without.stdout
    # "pip install" of another distribution = its dist-info on the path
    with_it = run(["plugins", "list"], _env(tmp_path, extra_site=True))
    assert with_it.returncode == 0, with_it.stderr
    assert "contract" in with_it.stdout and "vault" in with_it.stdout


def test_bad_usage_is_one_line_without_traceback(tmp_path):
    proc = run(["store", "create", "--code", "x"], _env(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "Error: Missing option '--name'."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def test_demo_serves_the_home_page(tmp_path):
    env = _env(tmp_path)
    port = _free_port()
    proc = subprocess.Popen([FULIAN, "demo", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        body = ""
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    assert resp.status == 200
                    body = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.2)
        assert "青玉" in body
        assert "经典补水面部护理" in body
        assert "徐汇旗舰店" in body
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_production_refuses_to_start_on_demo_parts(tmp_path):
    """FULIAN_ENV unset is production: `serve` and gunicorn refuse to start while
    customers could not log in (no real SMS provider), saying why in one line."""
    env = _env(tmp_path)
    init = run(["init", "--owner-email", "boss@example.com", "--owner-password",
                "a-long-password"], env)
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "inst" / "secret_key").exists()  # init makes the key, on purpose
    check = run(["check"], env)
    assert check.returncode == 1
    assert "✗" in check.stdout and "FULIAN_SMS_PROVIDER" in check.stdout
    serve = run(["serve", "--port", str(_free_port())], env)
    assert serve.returncode == 1
    assert serve.stderr.startswith("Error: Fulian cannot start in production:")
    assert "Traceback" not in serve.stderr
    gunicorn = subprocess.run(
        [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{_free_port()}",
         "core.wsgi:app"], env=env, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL)
    assert gunicorn.returncode != 0
    assert "Fulian cannot start in production" in gunicorn.stderr


def test_a_ready_production_deployment_serves_without_demo_parts(tmp_path):
    env = {**_env(tmp_path), "FULIAN_SMS_LOGIN": "0", "FULIAN_SECURE_COOKIES": "0"}
    assert run(["init", "--owner-email", "boss@example.com", "--owner-password",
                "a-long-password"], env).returncode == 0
    check = run(["check"], env)
    assert check.returncode == 0, check.stdout
    port = _free_port()
    proc = subprocess.Popen([FULIAN, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        status = None
        for _ in range(200):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login",
                                            timeout=2) as resp:
                    status, headers = resp.status, resp.headers
                    break
            except OSError:
                time.sleep(0.2)
        assert status == 200
        assert headers["X-Frame-Options"] == "DENY" and "Strict-Transport-Security" in headers
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/sandbox/pay/sbx_x", timeout=5)
            raise AssertionError("the sandbox answered in production")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=20)
