"""Settings: ``FULIAN_*`` environment variables over an instance folder.

The instance folder holds everything that belongs to one deployment and must never be
committed: the SQLite file of the embedded default, the secret key, provider keys and
certificates. Ops point ``FULIAN_INSTANCE`` elsewhere on real servers.

**Production is the default.** ``FULIAN_ENV`` says what kind of deployment this is:
``production`` (the default for ``fulian serve`` and gunicorn), ``demo`` (set by
``fulian demo``) or ``test`` (set by the test suite). Only demo and test have the
sandbox payment provider, the ``dev`` SMS provider and the demo licence key; production
never makes up a secret key on its own (``fulian init`` writes one, or
``FULIAN_SECRET_KEY`` gives it) and refuses to serve until :mod:`core.readiness` is
satisfied.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

SECRET_FILE = "secret_key"
ENVIRONMENTS = ("production", "demo", "test")


def deployment_env(env: Any = None) -> str:
    """``FULIAN_ENV`` checked: a typo must not silently turn a shop into a demo."""
    env = os.environ if env is None else env
    value = (env.get("FULIAN_ENV") or "production").strip().lower()
    if value not in ENVIRONMENTS:
        raise ValueError(f"FULIAN_ENV must be production, demo or test, not {value!r}")
    return value


def is_production(config: Any) -> bool:
    """True unless the app was built explicitly for a demo or the tests."""
    return config.get("FULIAN_ENV", "production") == "production"


def instance_path(env: dict[str, str] | None = None) -> Path:
    """Resolve the instance folder (``FULIAN_INSTANCE``, default ``./instance``)."""
    env = os.environ if env is None else env
    return Path(env.get("FULIAN_INSTANCE") or "instance").resolve()


def read_secret_key(folder: Path) -> str | None:
    """The secret key file of the instance folder, if there is one."""
    path = folder / SECRET_FILE
    return (path.read_text().strip() or None) if path.exists() else None


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


def _flag(env: Any, name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ValueError(f"{name} must be 1 or 0, not {raw!r}")
    return raw in ("1", "true", "yes", "on")


def _whole(env: Any, name: str, default: int, most: int) -> int:
    """A whole-number setting; a typo stops the start with a message naming it."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    if not raw.strip().isdigit() or int(raw) > most:
        raise ValueError(f"{name} must be a whole number from 0 to {most}, not {raw!r}")
    return int(raw)


def _networks(env: Any, name: str) -> list[str]:
    """Comma-separated CIDRs (``10.20.0.0/16, fd00::/8``); a typo stops the start."""
    found = []
    for part in (env.get(name) or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            found.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(f"{name} must list networks like 10.20.0.0/16, "
                             f"not {part!r}") from None
    return found


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from the environment and ``overrides``.

    ``overrides`` wins over the environment, which wins over defaults; tests pass
    overrides instead of mutating ``os.environ``.
    """
    overrides = dict(overrides or {})
    env = os.environ
    folder = Path(overrides.pop("INSTANCE_PATH", None) or instance_path()).resolve()
    folder.mkdir(parents=True, exist_ok=True)

    mode = deployment_env({"FULIAN_ENV": overrides.pop("FULIAN_ENV", None)
                           or env.get("FULIAN_ENV")})
    production = mode == "production"
    database_url = env.get("FULIAN_DATABASE_URL") or f"sqlite:///{folder / 'fulian.db'}"
    # Production never invents a key at start: several app servers would each make their
    # own and log everybody out in turn. ``fulian init`` writes it on purpose.
    secret = env.get("FULIAN_SECRET_KEY") or (
        read_secret_key(folder) if production else ensure_secret_key(folder))
    key_paths = [p for p in (env.get("FULIAN_LICENSE_PUBLIC_KEYS") or "").split(os.pathsep) if p]

    config: dict[str, Any] = {
        "FULIAN_ENV": mode,
        "DEBUG": False,
        "INSTANCE_PATH": str(folder),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SECRET_KEY": secret,
        "FULIAN_REDIS_URL": env.get("FULIAN_REDIS_URL") or None,
        "FULIAN_RQ_QUEUE": env.get("FULIAN_RQ_QUEUE") or "fulian",
        "FULIAN_LICENSE_PUBLIC_KEYS": key_paths,
        "FULIAN_THEMES_PATH": env.get("FULIAN_THEMES_PATH") or None,
        "FULIAN_JOBS_THREAD": env.get("FULIAN_JOBS_THREAD", "1") != "0",
        # a job handed to Redis and not started, or running, for this many seconds was
        # lost with Redis or with its worker: it is run again (core.jobs); jobs must
        # finish within half of it
        "FULIAN_JOBS_VISIBILITY_TIMEOUT": _whole(env, "FULIAN_JOBS_VISIBILITY_TIMEOUT",
                                                 3600, 7 * 24 * 3600),
        # finished jobs (done or failed) are deleted after this many days
        "FULIAN_JOBS_KEEP_DAYS": _whole(env, "FULIAN_JOBS_KEEP_DAYS", 14, 3660),
        "BABEL_DEFAULT_LOCALE": env.get("FULIAN_DEFAULT_LOCALE") or "zh_CN",
        "FULIAN_COMMISSION_BPS": _whole(env, "FULIAN_COMMISSION_BPS", 0, 10_000),
        "FULIAN_DEPOSIT_HOLD_MIN": _whole(env, "FULIAN_DEPOSIT_HOLD_MIN", 15, 24 * 60),
        # page sessions end after this long without a request, and after this long in
        # any case (core.auth.sessions); the cookie expires with the absolute lifetime
        "FULIAN_SESSION_IDLE_MINUTES": _whole(env, "FULIAN_SESSION_IDLE_MINUTES", 120,
                                              30 * 24 * 60),
        "FULIAN_SESSION_MAX_HOURS": _whole(env, "FULIAN_SESSION_MAX_HOURS", 168, 366 * 24),
        "FULIAN_SANDBOX_SECRET": env.get("FULIAN_SANDBOX_SECRET") or None,
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # HTTPS-only cookies: on by default in production (FULIAN_SECURE_COOKIES=0 for a
        # shop served over plain HTTP on a closed network, which `fulian check` flags)
        "SESSION_COOKIE_SECURE": _flag(env, "FULIAN_SECURE_COOKIES", production),
        "FULIAN_PUBLIC_URL": (env.get("FULIAN_PUBLIC_URL") or "").rstrip("/") or None,
        "FULIAN_SMS_PROVIDER": (env.get("FULIAN_SMS_PROVIDER") or "").strip()
        or (None if production else "dev"),
        "FULIAN_SMS_LOGIN": _flag(env, "FULIAN_SMS_LOGIN", True),
        # reverse proxies in front of the app whose X-Forwarded-* headers are believed
        # (0: none, so a client cannot spoof its address; 1: one nginx)
        "FULIAN_TRUSTED_PROXIES": _whole(env, "FULIAN_TRUSTED_PROXIES", 0, 5),
        # intranet networks webhooks may post to on purpose (a brand's ERP on 10.x);
        # every other private, loopback or link-local target is refused
        "FULIAN_WEBHOOK_ALLOWED_NETWORKS": _networks(env, "FULIAN_WEBHOOK_ALLOWED_NETWORKS"),
        # largest request body read, in bytes (413 beyond; core.armour): API bodies and
        # forms are a few kB, so 1 MiB leaves room without reading a flood into memory
        "FULIAN_MAX_BODY_BYTES": _whole(env, "FULIAN_MAX_BODY_BYTES", 1024 * 1024,
                                        1024 * 1024 * 1024),
        # availability served from a per-process cache of store-days, kept exact by
        # versions in the database (core.scheduling.cache); the TTL is a safety net for
        # writes that bypass the services, the size counts cached intervals (~120 B each)
        "FULIAN_AVAILABILITY_CACHE": _flag(env, "FULIAN_AVAILABILITY_CACHE", True),
        "FULIAN_AVAILABILITY_CACHE_TTL": _whole(env, "FULIAN_AVAILABILITY_CACHE_TTL", 300,
                                                24 * 3600),
        "FULIAN_AVAILABILITY_CACHE_SIZE": _whole(env, "FULIAN_AVAILABILITY_CACHE_SIZE",
                                                 250_000, 100_000_000),
        # a retry with the Idempotency-Key of a request still running waits this long
        # for its reply, then gets 409 with Retry-After (core.idempotency); it holds a
        # worker meanwhile, so at most gunicorn's default worker timeout of 30 s
        "FULIAN_IDEMPOTENCY_WAIT_SECONDS": _whole(env, "FULIAN_IDEMPOTENCY_WAIT_SECONDS",
                                                  10, 30),
        # a key claimed this long ago without a reply was left by a process that died:
        # a retry takes it over and runs the request
        "FULIAN_IDEMPOTENCY_STALE_SECONDS": _whole(env, "FULIAN_IDEMPOTENCY_STALE_SECONDS",
                                                   60, 24 * 3600),
    }
    # Plugins read their own FULIAN_<PLUGIN>_* settings from app.config like the core's
    # (tests override them the same way); the core does not need to know their names.
    for name, value in env.items():
        if name.startswith("FULIAN_") and name not in config:
            config[name] = value
    config.update(overrides)
    for name in ("FULIAN_SESSION_IDLE_MINUTES", "FULIAN_SESSION_MAX_HOURS",
                 "FULIAN_JOBS_VISIBILITY_TIMEOUT"):
        if not config[name]:  # zero would log everybody out (or rerun every job) at once
            raise ValueError(f"{name} must be at least 1")
    config.setdefault("PERMANENT_SESSION_LIFETIME",
                      timedelta(hours=config["FULIAN_SESSION_MAX_HOURS"]))
    config.setdefault("MAX_CONTENT_LENGTH", config["FULIAN_MAX_BODY_BYTES"])
    if production:  # nothing an override or FLASK_DEBUG says turns debugging on here
        config["DEBUG"] = False
        config["PROPAGATE_EXCEPTIONS"] = False
    return config
