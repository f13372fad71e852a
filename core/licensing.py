"""Ed25519-signed licences for paid plugins.

A licence is a JSON document ``{"payload": {...}, "signature": "<base64>"}``. The payload
names the deployment it is for, the licensee, the paid plugins it unlocks, the maximum
number of active stores and the expiry date. The vendor signs the canonical JSON of the
payload (sorted keys, no spaces) with a private key that never leaves the vendor; each
deployment holds only the public key(s). Verification is offline: private deployments
may have no internet.

Which keys are trusted is not up to the deployment's own writable files: the vendor's
public keys ship inside the distribution (``core/license_keys/*.pem``) and an operator
may add keys through configuration (``FULIAN_LICENSE_PUBLIC_KEYS``), never through the
instance folder the app itself writes to. Demo deployments (and only they) also trust a
well-known demo key, so that ``fulian demo`` can show the paid plugins.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from flask_babel import lazy_gettext as _l

from .errors import FulianError

#: the vendor's public keys, shipped with the code
SHIPPED_KEYS = Path(__file__).resolve().parent / "license_keys"
#: seed of the demo key: public on purpose, so trusted by demo deployments only
DEMO_SEED = hashlib.sha256(b"fulian demo licences: trusted only by FULIAN_ENV=demo").digest()


class LicenseError(FulianError):
    """A licence that must not be honoured; the message says why, translated."""


@dataclass(frozen=True)
class License:
    license_id: str
    deployment_id: str
    licensee: str
    plugins: tuple[str, ...]
    max_stores: int
    issued_at: date
    expires_at: date

    def as_payload(self) -> dict[str, Any]:
        return {
            "license_id": self.license_id,
            "deployment_id": self.deployment_id,
            "licensee": self.licensee,
            "plugins": sorted(self.plugins),
            "max_stores": self.max_stores,
            "issued_at": self.issued_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def generate_keypair() -> tuple[bytes, bytes]:
    """Return ``(private_pem, public_pem)`` for a new vendor signing key."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise LicenseError(_l("The signing key is not a readable PEM private key.")) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise LicenseError(_l("The signing key is not an Ed25519 key."))
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise LicenseError(_l("A vendor public key is not a readable PEM public key.")) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise LicenseError(_l("A vendor public key is not an Ed25519 key."))
    return key


def public_key_paths(configured: list[str]) -> list[Path]:
    """The shipped vendor keys plus the files the operator configured."""
    shipped = sorted(SHIPPED_KEYS.glob("*.pem")) if SHIPPED_KEYS.is_dir() else []
    return [*shipped, *(Path(p) for p in configured)]


def demo_private_pem() -> bytes:
    """The demo signing key (``fulian demo`` licenses itself with it)."""
    return Ed25519PrivateKey.from_private_bytes(DEMO_SEED).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())


def demo_public_key() -> Ed25519PublicKey:
    return Ed25519PrivateKey.from_private_bytes(DEMO_SEED).public_key()


def issue(
    private_pem: bytes,
    *,
    deployment_id: str,
    licensee: str,
    plugins: list[str],
    max_stores: int,
    expires_at: date,
    issued_at: date | None = None,
) -> str:
    """Sign a licence (vendor side) and return the JSON document to ship."""
    if not licensee.strip():
        raise LicenseError(_l("The licensee must not be empty."))
    if max_stores < 1:
        raise LicenseError(_l("The maximum number of stores must be at least 1."))
    if not plugins:
        raise LicenseError(_l("A licence must name at least one plugin."))
    issued = issued_at or date.today()
    if expires_at < issued:
        raise LicenseError(_l("The expiry date is before the issue date."))
    lic = License(
        license_id=str(uuid.uuid4()), deployment_id=deployment_id, licensee=licensee.strip(),
        plugins=tuple(sorted(set(plugins))), max_stores=max_stores, issued_at=issued,
        expires_at=expires_at,
    )
    payload = lic.as_payload()
    signature = load_private_key(private_pem).sign(canonical(payload))
    return json.dumps(
        {"payload": payload, "signature": base64.b64encode(signature).decode()},
        indent=2, ensure_ascii=False,
    )


def parse(document: str) -> tuple[License, dict[str, Any], bytes]:
    """Parse a licence document without trusting it."""
    try:
        data = json.loads(document)
        payload = data["payload"]
        signature = base64.b64decode(data["signature"], validate=True)
        lic = License(
            license_id=str(payload["license_id"]),
            deployment_id=str(payload["deployment_id"]),
            licensee=str(payload["licensee"]),
            plugins=tuple(str(p) for p in payload["plugins"]),
            max_stores=int(payload["max_stores"]),
            issued_at=date.fromisoformat(payload["issued_at"]),
            expires_at=date.fromisoformat(payload["expires_at"]),
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise LicenseError(_l("The licence file is not a valid Fulian licence document.")) from exc
    return lic, payload, signature


def verify(
    document: str,
    public_keys: list[Ed25519PublicKey],
    *,
    deployment_id: str,
    active_stores: int,
    today: date | None = None,
) -> License:
    """Return the licence if it may be honoured here and now, else raise LicenseError."""
    lic, payload, signature = parse(document)
    if not public_keys:
        raise LicenseError(_l("No vendor public key is configured, so no licence can be checked."))
    for key in public_keys:
        try:
            key.verify(signature, canonical(payload))
            break
        except InvalidSignature:
            continue
    else:
        raise LicenseError(_l("The licence signature is invalid: the file was altered or not "
                              "issued by the vendor."))
    if lic.deployment_id != deployment_id:
        raise LicenseError(_l("The licence is for deployment %(other)s, not this one (%(this)s).",
                              other=lic.deployment_id, this=deployment_id))
    today = today or date.today()
    if lic.expires_at < today:
        raise LicenseError(_l("The licence expired on %(day)s.", day=lic.expires_at.isoformat()))
    if active_stores > lic.max_stores:
        raise LicenseError(_l("The licence allows %(max)d stores but %(count)d are active.",
                              max=lic.max_stores, count=active_stores))
    return lic
