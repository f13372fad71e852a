"""Settings: ``FULIAN_*`` environment variables over an instance folder.

The instance folder holds everything that belongs to one deployment and must never be
committed: the SQLite file of the embedded default, the generated secret key, installed
licences and vendor public keys. Ops point ``FULIAN_INSTANCE`` elsewhere on real servers.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

SECRET_FILE = "secret_key"


def instance_path(env: dict[str, str] | None = None) -> Path:
    """Resolve the instance folder (``FULIAN_INSTANCE``, default ``./instance``)."""
    env = os.environ if env is None else env
    return Path(env.get("FULIAN_INSTANCE") or "instance").resolve()


def ensure_secret_key(folder: Path) -> str:
    """Return the deployment's secret key, generating it on first use.

    It is written with mode 0600 so that another local user cannot forge sessions.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _whole(env: Any, name: str, default: int, most: int) -> int:
    """A whole-number setting; a typo stops the start with a message naming it."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    if not raw.strip().isdigit() or int(raw) > most:
        raise ValueError(f"{name} must be a whole number from 0 to {most}, not {raw!r}")
    return int(raw)


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from the environment and ``overrides``.

    ``overrides`` wins over the environment, which wins over defaults; tests pass
    overrides instead of mutating ``os.environ``.
    """
    overrides = dict(overrides or {})
    env = os.environ
    folder = Path(overrides.pop("INSTANCE_PATH", None) or instance_path()).resolve()
    folder.mkdir(parents=True, exist_ok=True)

    database_url = env.get("FULIAN_DATABASE_URL") or f"sqlite:///{folder / 'fulian.db'}"
    secret = env.get("FULIAN_SECRET_KEY") or ensure_secret_key(folder)
    key_paths = [p for p in (env.get("FULIAN_LICENSE_PUBLIC_KEYS") or "").split(os.pathsep) if p]

    config: dict[str, Any] = {
        "INSTANCE_PATH": str(folder),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SECRET_KEY": secret,
        "FULIAN_REDIS_URL": env.get("FULIAN_REDIS_URL") or None,
        "FULIAN_RQ_QUEUE": env.get("FULIAN_RQ_QUEUE") or "fulian",
        "FULIAN_LICENSE_PUBLIC_KEYS": key_paths,
        "FULIAN_THEMES_PATH": env.get("FULIAN_THEMES_PATH") or None,
        "FULIAN_JOBS_THREAD": env.get("FULIAN_JOBS_THREAD", "1") != "0",
        "BABEL_DEFAULT_LOCALE": env.get("FULIAN_DEFAULT_LOCALE") or "zh_CN",
        "FULIAN_COMMISSION_BPS": _whole(env, "FULIAN_COMMISSION_BPS", 0, 10_000),
        "FULIAN_DEPOSIT_HOLD_MIN": _whole(env, "FULIAN_DEPOSIT_HOLD_MIN", 15, 24 * 60),
        "FULIAN_SANDBOX_SECRET": env.get("FULIAN_SANDBOX_SECRET") or None,
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
    }
    config.update(overrides)
    return config
