"""The WeChat Pay merchant's settings, read from ``current_app.config`` at each use.

Every ``FULIAN_WECHATPAY_*`` environment variable reaches ``app.config`` (core/config.py),
so nothing here is cached: a changed setting takes effect with the next call, and the
client built from the settings is cached under them (see :mod:`.client`). Key and
certificate files live in the instance folder unless a ``..._FILE`` / ``..._DIR`` setting
points elsewhere. Secrets (the APIv3 key, the private key) are never logged.

Two ways to check WeChat Pay's signatures exist: the original **platform certificates**
(downloaded from ``/v3/certificates`` and kept in ``FULIAN_WECHATPAY_CERT_DIR``), and the
newer **WeChat Pay public key** (微信支付公钥, a key file and its id from the merchant
platform). Setting ``FULIAN_WECHATPAY_PUBLIC_KEY_ID`` selects the public key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_pem_public_key,
)
from flask import current_app
from flask_babel import lazy_gettext as _l

DEFAULT_API_BASE = "https://api.mch.weixin.qq.com"
APIV3_KEY_LENGTH = 32


@dataclass(frozen=True)
class Settings:
    """One merchant's configuration; hashable, so a client can be cached under it."""

    mchid: str
    appid: str
    apiv3_key: str
    cert_serial_no: str
    private_key_file: Path
    cert_dir: Path
    public_key_id: str
    public_key_file: Path
    api_base: str

    @property
    def public_key_mode(self) -> bool:
        return bool(self.public_key_id)


def _text(config: Any, name: str) -> str:
    return str(config.get(name) or "").strip()


def load() -> Settings:
    """The settings of the current app, with the instance-folder defaults filled in."""
    config = current_app.config
    folder = Path(config.get("INSTANCE_PATH") or current_app.instance_path) / "wechatpay"

    def path(name: str, default: str) -> Path:
        return Path(_text(config, name) or folder / default)

    return Settings(
        mchid=_text(config, "FULIAN_WECHATPAY_MCHID"),
        appid=_text(config, "FULIAN_WECHATPAY_APPID"),
        apiv3_key=str(config.get("FULIAN_WECHATPAY_APIV3_KEY") or ""),
        cert_serial_no=_text(config, "FULIAN_WECHATPAY_CERT_SERIAL_NO"),
        private_key_file=path("FULIAN_WECHATPAY_PRIVATE_KEY_FILE", "apiclient_key.pem"),
        cert_dir=path("FULIAN_WECHATPAY_CERT_DIR", "platform_certs"),
        public_key_id=_text(config, "FULIAN_WECHATPAY_PUBLIC_KEY_ID"),
        public_key_file=path("FULIAN_WECHATPAY_PUBLIC_KEY_FILE", "pub_key.pem"),
        api_base=(_text(config, "FULIAN_WECHATPAY_API_BASE") or DEFAULT_API_BASE).rstrip("/"),
    )


def problems(settings: Settings) -> list[Any]:
    """Translated reasons why WeChat Pay cannot work with ``settings`` (empty: ready).
    Cheap enough for every checkout page: key files are parsed again only when they
    change."""
    found: list[Any] = []
    required = (
        ("FULIAN_WECHATPAY_MCHID", settings.mchid, _l("the merchant id (商户号)")),
        ("FULIAN_WECHATPAY_APPID", settings.appid,
         _l("the AppID of the official account or app bound to the merchant")),
        ("FULIAN_WECHATPAY_APIV3_KEY", settings.apiv3_key, _l("the APIv3 key")),
        ("FULIAN_WECHATPAY_CERT_SERIAL_NO", settings.cert_serial_no,
         _l("the serial number of the merchant API certificate")),
    )
    for name, value, what in required:
        if not value:
            found.append(_l("%(setting)s is not set: %(what)s.", setting=name, what=what))
    if settings.apiv3_key and len(settings.apiv3_key.encode()) != APIV3_KEY_LENGTH:
        found.append(_l("FULIAN_WECHATPAY_APIV3_KEY must be exactly %(n)d characters.",
                        n=APIV3_KEY_LENGTH))
    if not _readable_key(settings.private_key_file, private=True):
        found.append(_l("The merchant private key %(path)s cannot be read (set "
                        "FULIAN_WECHATPAY_PRIVATE_KEY_FILE, or put apiclient_key.pem there).",
                        path=str(settings.private_key_file)))
    if settings.public_key_mode:
        if not _readable_key(settings.public_key_file, private=False):
            found.append(_l("The WeChat Pay public key %(path)s cannot be read (set "
                            "FULIAN_WECHATPAY_PUBLIC_KEY_FILE).",
                            path=str(settings.public_key_file)))
    elif not _writable_dir(settings.cert_dir):
        found.append(_l("The platform certificate folder %(path)s cannot be created or "
                        "written to (FULIAN_WECHATPAY_CERT_DIR).",
                        path=str(settings.cert_dir)))
    return found


def _readable_key(path: Path, *, private: bool) -> bool:
    try:
        stat = path.stat()
    except OSError:
        return False
    return _parses(str(path), stat.st_mtime_ns, stat.st_size, private)


@lru_cache(maxsize=16)
def _parses(path: str, _mtime_ns: int, _size: int, private: bool) -> bool:
    """Whether the PEM file holds a key of the expected kind (cached per file version)."""
    try:
        data = Path(path).read_bytes()
        if private:
            load_pem_private_key(data, password=None)
        else:
            load_pem_public_key(data)
    except (OSError, ValueError, TypeError):
        return False
    return True


def _writable_dir(path: Path) -> bool:
    """The folder exists and is writable, or can be created (the library creates it when
    it downloads the first certificate)."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)
