"""A redis-server of a test's own, which the test may stop, start again and flush.

Fault tests take Redis away under the app; the suite's shared Redis (port 63799) must
never be touched, so each such module starts one of these on a free loopback port. No
persistence (``--save ""``, no AOF): a restart comes back empty, as a Redis without
persistence does in production.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def available() -> bool:
    return Path(REDIS_SERVER).exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """One redis-server process at a time, always on the same port (so clients built
    with :attr:`url` reconnect to it after :meth:`start`)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> PrivateRedis:
        """Start the server (if stopped) and wait until it answers PING."""
        from redis import Redis

        if self.running:
            return self
        for _ in range(5):  # the port may be taken between probe and bind: take another
            self._proc = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--daemonize", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            client = Redis.from_url(self.url, socket_connect_timeout=0.2)
            deadline = time.monotonic() + 10
            while self._proc.poll() is None and time.monotonic() < deadline:
                try:
                    if client.ping():
                        client.close()
                        return self
                except Exception:
                    time.sleep(0.02)
            client.close()
            self.stop()
            self.port = _free_port()
            self.url = f"redis://127.0.0.1:{self.port}/0"
        raise RuntimeError("could not start redis-server")

    def stop(self) -> None:
        """Stop the server (its data is gone: nothing is persisted)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def flush(self) -> None:
        """FLUSHALL: every key gone, as after a restart without persistence."""
        from redis import Redis

        client = Redis.from_url(self.url)
        try:
            client.flushall()
        finally:
            client.close()
