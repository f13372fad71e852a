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
