"""Alipay enabled on the resource world (tests/core/api/resources_world.py), talking to
a fake gateway on 127.0.0.1 with keys generated here.

``alipay`` (both databases) gives an :class:`AlipayWorld`: the world (its app configured
with ``FULIAN_ALIPAY_*`` and ``FULIAN_PUBLIC_URL=https://shop.example``, the key files in
the instance folder, the plugin enabled) and the running :class:`FakeAlipay`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.core.api.resources_world import BACKENDS, World, world_fixture
from tests.plugins.alipay.fake_alipay import FakeAlipay

APP_ID = "2021004100000001"
PUBLIC_URL = "https://shop.example"


@dataclass(frozen=True)
class Keys:
    """The application's key pair (ours) and Alipay's (the fake's)."""

    app: rsa.RSAPrivateKey
    alipay: rsa.RSAPrivateKey

    def app_private_pem(self) -> bytes:
        return self.app.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption())

    def alipay_public_pem(self) -> bytes:
        return self.alipay.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class AlipayWorld:
    world: World
    fake: FakeAlipay
    keys: Keys

    @property
    def app(self) -> Any:
        return self.world.app

    @property
    def key_folder(self) -> Path:
        return Path(self.app.config["INSTANCE_PATH"]) / "alipay"


@pytest.fixture(scope="session")
def alipay_keys() -> Keys:
    """Generated once per test process (RSA 2048, as Alipay's key tool makes)."""
    def new() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    return Keys(app=new(), alipay=new())


def install_keys(folder: Path, keys: Keys) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app_private_key.pem").write_bytes(keys.app_private_pem())
    (folder / "alipay_public_key.pem").write_bytes(keys.alipay_public_pem())


@pytest.fixture
def fake_alipay(alipay_keys: Keys) -> Iterator[FakeAlipay]:
    fake = FakeAlipay(APP_ID, alipay_keys.app.public_key(), alipay_keys.alipay).start()
    yield fake
    fake.stop()


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from world_fixture(request, tmp_path)


@pytest.fixture
def alipay(world: World, fake_alipay: FakeAlipay, alipay_keys: Keys) -> AlipayWorld:
    app = world.app
    app.config.update(FULIAN_ALIPAY_APP_ID=APP_ID, FULIAN_ALIPAY_GATEWAY=fake_alipay.gateway,
                      FULIAN_PUBLIC_URL=PUBLIC_URL)
    install_keys(Path(app.config["INSTANCE_PATH"]) / "alipay", alipay_keys)
    with app.app_context():
        app.extensions["fulian_plugins"].set_enabled("alipay", True)
    return AlipayWorld(world, fake_alipay, alipay_keys)
