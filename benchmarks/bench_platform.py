"""Platform overheads a newcomer feels: login hashing, hook dispatch, the home page.

Usage: python benchmarks/bench_platform.py
Prints medians/p95 in milliseconds. Runs against a throw-away SQLite demo instance.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable

# a throw-away test deployment: the sandbox provider and dev SMS are allowed
os.environ.setdefault("FULIAN_ENV", "test")


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    from core import create_app
    from core.audit import acting_as
    from core.auth.passwords import hash_password, verify_password

    h = hash_password("benchmark-password")
    med, p95 = timed(lambda: verify_password(h, "benchmark-password"), 30)
    print(f"argon2id verify (m=19MiB,t=2,p=1): median {med:.1f} ms, p95 {p95:.1f} ms")

    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"INSTANCE_PATH": folder, "FULIAN_JOBS_THREAD": False})
        with app.app_context(), acting_as(None, "bench"):
            from cli.setup_cmds import initialise
            from core.demo import load_demo

            initialise("Bench", "o@example.com", "bench-pass-1", "O", "zh_CN", "CNY",
                       "Asia/Shanghai")
            load_demo()
            reg = app.extensions["fulian_plugins"]
            reg.set_enabled("beauty", True)
            med, p95 = timed(lambda: reg.call("fulian_menu_items", face="customer", user=None),
                             2000)
            print(f"hook dispatch (enabled-set cached): median {med * 1000:.1f} us, "
                  f"p95 {p95 * 1000:.1f} us")
        client = app.test_client()
        client.get("/")
        med, p95 = timed(lambda: client.get("/"), 200)
        print(f"home page (demo brand, jade theme, SQLite): median {med:.1f} ms, "
              f"p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
