"""The one place that adapts the ``wechatpayv3`` library (2.0.x) to Fulian.

Three things in the library do not fit, and are bent here and nowhere else
(``tests/plugins/wechatpay/test_client.py`` fails if the library changes underneath):

1. **The gateway is hard-coded.** ``Core.__init__`` assigns
   ``self._gate_way = 'https://api.mch.weixin.qq.com'`` and, in certificate mode,
   downloads the platform certificates from it *inside the constructor*; setting the
   attribute afterwards is too late. :class:`GatewayCore` makes ``_gate_way`` a
   property returning our ``FULIAN_WECHATPAY_API_BASE`` (WeChat's backup domain, or a
   fake in tests) and ignoring the library's assignment, so even the first request goes
   to the right place.
2. **``WeChatPay.__init__`` builds its own Core.** A second Core would download the
   certificates again, from the hard-coded gateway. :class:`Client` sets the same
   attributes ``WeChatPay.__init__`` sets, around our Core, and keeps all of the
   library's API methods (``pay``, ``query``, ``refund``, ``sign``, ``callback``...).
3. **An unknown ``Wechatpay-Serial`` makes the library clear its certificates and
   download them again**, on every such message, and a failed download leaves it with
   none. Anyone can post a notification with a made-up serial, so
   :meth:`GatewayCore._update_certificates` refreshes at most once a minute and keeps
   the certificates it had when the download brings nothing.

Building a client reads the keys and, in certificate mode, may download certificates,
so it is built on first use and cached per app (``app.extensions``) under the settings
it was built from.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.core import Core

from core.sdk.payments import ProviderError

from .settings import Settings, load

log = logging.getLogger(__name__)
EXTENSION = "wechatpay_client"
#: (connect, read) seconds: the library's default is to wait forever
TIMEOUT = (5, 20)
#: at most one certificate download per this many seconds after the first
REFRESH_INTERVAL = 60.0
_building = threading.Lock()


class GatewayCore(Core):
    """``wechatpayv3.core.Core`` talking to ``gateway`` from its very first request."""

    def __init__(self, *, gateway: str, **kwargs: Any) -> None:
        self._fulian_gateway = gateway
        self._fulian_refreshed: float | None = None
        super().__init__(**kwargs)

    @property
    def _gate_way(self) -> str:  # type: ignore[override]
        return self._fulian_gateway

    @_gate_way.setter
    def _gate_way(self, _hard_coded: str) -> None:
        """``Core.__init__`` assigns the production gateway: keep ours instead."""

    def _update_certificates(self) -> None:
        now = time.monotonic()
        if self._fulian_refreshed is not None and \
                now - self._fulian_refreshed < REFRESH_INTERVAL:
            return
        self._fulian_refreshed = now
        known = list(self._certificates)
        try:
            super()._update_certificates()
        finally:
            if not self._certificates:
                self._certificates.extend(known)


class Client(WeChatPay):
    """``wechatpayv3.WeChatPay`` (direct merchant mode) around a :class:`GatewayCore`."""

    def __init__(self, core: Core, *, mchid: str, appid: str) -> None:
        # exactly the attributes WeChatPay.__init__ sets, without building a Core
        self._type = WeChatPayType.NATIVE
        self._mchid = mchid
        self._appid = appid
        self._notify_url = None
        self._core = core
        self._partner_mode = False


def build(settings: Settings) -> Client:
    """A client for ``settings`` (reads the key files; in certificate mode, downloads
    the platform certificates unless the certificate folder already holds valid ones)."""
    public_key = None
    if settings.public_key_mode:
        public_key = settings.public_key_file.read_text(encoding="utf-8")
    core = GatewayCore(
        gateway=settings.api_base, mchid=settings.mchid,
        cert_serial_no=settings.cert_serial_no,
        private_key=settings.private_key_file.read_text(encoding="utf-8"),
        apiv3_key=settings.apiv3_key,
        cert_dir=None if settings.public_key_mode else str(settings.cert_dir),
        timeout=TIMEOUT, public_key=public_key,
        public_key_id=settings.public_key_id or None)
    return Client(core, mchid=settings.mchid, appid=settings.appid)


def client() -> tuple[Client, Settings]:
    """The current app's client and the settings it was built from; raises
    :class:`ProviderError` when it cannot be built (not configured, key unreadable,
    WeChat Pay unreachable for the first certificate download)."""
    settings = load()
    cached = current_app.extensions.get(EXTENSION)
    if cached is not None and cached[1] == settings:
        return cached
    with _building:
        cached = current_app.extensions.get(EXTENSION)
        if cached is not None and cached[1] == settings:
            return cached
        try:
            built = build(settings)
        except Exception as exc:  # files, key parsing, network, "no certificate"
            log.error("cannot set up the WeChat Pay client for merchant %s: %s: %s",
                      settings.mchid, type(exc).__name__, str(exc)[:200])
            raise ProviderError(_l("WeChat Pay is not available at the moment.")) from exc
        current_app.extensions[EXTENSION] = (built, settings)
        return built, settings
