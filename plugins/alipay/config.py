"""This deployment's Alipay settings, and the SDK client built from them.

Settings (``FULIAN_*`` environment variables end up in ``app.config``):

``FULIAN_ALIPAY_APP_ID``
    the application's APPID on open.alipay.com (required).
``FULIAN_ALIPAY_APP_PRIVATE_KEY_FILE``
    the application's RSA2 private key (default ``<instance>/alipay/app_private_key.pem``).
``FULIAN_ALIPAY_PUBLIC_KEY_FILE``
    *Alipay's* public key, shown next to the application's key in the console (default
    ``<instance>/alipay/alipay_public_key.pem``). Both files are PEM; the bare base64
    text Alipay's key tool writes is accepted too.
``FULIAN_ALIPAY_GATEWAY``
    default ``https://openapi.alipay.com/gateway.do``; tests point it at a fake.
``FULIAN_ALIPAY_SELLER_ID``
    optional: the merchant's PID (2088...); notifications for another seller are refused.

The client is built on first use and kept per app, keyed by the settings and the key
files' size and modification time: rotating a key file takes effect without a restart,
and :func:`problems` (asked on every checkout page) costs two ``stat`` calls.
"""

from __future__ import annotations

import base64
import binascii
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from alipay import AliPay
from alipay.utils import AliPayConfig
from Cryptodome.PublicKey import RSA
from flask import current_app
from flask_babel import lazy_gettext as _l

from core.sdk import is_production

from .codec import beijing_now

DEFAULT_GATEWAY = "https://openapi.alipay.com/gateway.do"
TIMEOUT_SECONDS = 15
_EXTENSION = "fulian_alipay"
_lock = threading.Lock()


@dataclass(frozen=True)
class Settings:
    app_id: str
    private_key_file: Path
    public_key_file: Path
    gateway: str
    seller_id: str


def settings() -> Settings:
    config = current_app.config
    folder = Path(config["INSTANCE_PATH"]) / "alipay"
    return Settings(
        app_id=str(config.get("FULIAN_ALIPAY_APP_ID") or "").strip(),
        private_key_file=Path(config.get("FULIAN_ALIPAY_APP_PRIVATE_KEY_FILE")
                              or folder / "app_private_key.pem"),
        public_key_file=Path(config.get("FULIAN_ALIPAY_PUBLIC_KEY_FILE")
                             or folder / "alipay_public_key.pem"),
        gateway=str(config.get("FULIAN_ALIPAY_GATEWAY") or DEFAULT_GATEWAY).strip(),
        seller_id=str(config.get("FULIAN_ALIPAY_SELLER_ID") or "").strip())


def origin(gateway: str) -> str:
    """``https://openapi.alipay.com/gateway.do`` -> ``https://openapi.alipay.com``."""
    parts = urlsplit(gateway)
    return f"{parts.scheme}://{parts.netloc}"


class Client(AliPay):
    """The SDK's client (``python-alipay-sdk`` 3.4) with the two things it has no
    parameter for. This is the one place that reaches into the SDK's internals;
    ``tests/plugins/alipay/test_config.py`` fails if they change."""

    def __init__(self, config: Settings, private_key: Any, public_key: Any) -> None:
        super().__init__(appid=config.app_id, app_private_key_string=private_key,
                         alipay_public_key_string=public_key, sign_type="RSA2",
                         config=AliPayConfig(timeout=TIMEOUT_SECONDS))
        # The constructor picks the production or the sandbox gateway (``debug``) and
        # makes no network call; every request is sent to ``self._gateway``.
        self._gateway = config.gateway

    def build_body(self, method: str, biz_content: Any = None, **kwargs: Any
                   ) -> dict[str, Any]:
        data = super().build_body(method, biz_content, **kwargs)
        # The SDK stamps the server's local time; Alipay reads Beijing time.
        data["timestamp"] = beijing_now()
        return data


class NotConfigured(Exception):
    """The settings or key files are not usable; ``problems`` says why (translated)."""

    def __init__(self, problems: list[Any]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def _read_key(path: Path, private: bool) -> bytes | str:
    """The key in ``path`` as the SDK takes it: PEM text, or DER bytes when the file
    holds Alipay's bare base64. Raises OSError or ValueError."""
    text = path.read_text(encoding="ascii").strip()
    key: bytes | str = text
    if "-----BEGIN" not in text:
        try:
            key = base64.b64decode("".join(text.split()), validate=True)
        except binascii.Error as exc:
            raise ValueError("neither PEM nor base64") from exc
    parsed = RSA.import_key(key)
    if private and not parsed.has_private():
        raise ValueError("a public key where the private key belongs")
    return key


def _fingerprint(config: Settings) -> tuple[Any, ...]:
    def stamp(path: Path) -> tuple[int, int] | None:
        try:
            found = path.stat()
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size

    return (config, stamp(config.private_key_file), stamp(config.public_key_file),
            is_production(current_app.config))


def _load(path: Path, private: bool, problems: list[Any]) -> bytes | str | None:
    """One key file, or None with the reason added to ``problems``."""
    try:
        return _read_key(path, private)
    except OSError as exc:
        current_app.logger.warning("alipay: cannot read %s: %s", path, exc.strerror)
        problems.append(
            _l("The application's private key %(path)s cannot be read "
               "(FULIAN_ALIPAY_APP_PRIVATE_KEY_FILE).", path=str(path)) if private else
            _l("Alipay's public key %(path)s cannot be read (FULIAN_ALIPAY_PUBLIC_KEY_FILE).",
               path=str(path)))
    except ValueError:  # not text, not a key, or not the right half of one
        problems.append(_l("%(path)s holds no RSA private key.", path=str(path)) if private
                        else _l("%(path)s holds no RSA public key.", path=str(path)))
    return None


def _build(config: Settings) -> Client:
    problems: list[Any] = []
    if not config.app_id:
        problems.append(_l("FULIAN_ALIPAY_APP_ID is not set (the APPID of the application "
                           "on open.alipay.com)."))
    parts = urlsplit(config.gateway)
    secure = parts.scheme == "https" or (parts.scheme == "http"
                                         and not is_production(current_app.config))
    if not secure or not parts.netloc:
        problems.append(_l("FULIAN_ALIPAY_GATEWAY must be an https:// address."))
    private_key = _load(config.private_key_file, True, problems)
    public_key = _load(config.public_key_file, False, problems)
    if problems:
        raise NotConfigured(problems)
    return Client(config, private_key, public_key)


def client() -> Client:
    """The SDK client for this app's settings (built once per change of settings or key
    files). Raises :class:`NotConfigured`."""
    config = settings()
    fingerprint = _fingerprint(config)
    cache: dict[str, Any] = current_app.extensions.setdefault(_EXTENSION, {})
    with _lock:
        if cache.get("fingerprint") != fingerprint:
            try:
                cache["built"] = _build(config)
            except NotConfigured as exc:
                cache["built"] = exc.problems
            cache["fingerprint"] = fingerprint
        built = cache["built"]
    if isinstance(built, list):
        raise NotConfigured(built)
    return built


def problems() -> list[Any]:
    """Translated reasons why Alipay cannot be used here; empty when it can."""
    try:
        client()
    except NotConfigured as exc:
        return list(exc.problems)
    return []
