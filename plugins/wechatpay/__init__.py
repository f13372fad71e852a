"""WeChat Pay (微信支付): API v3 online payments — Native QR, H5 and JSAPI — with
refunds, recovery of lost notifications and the daily trade bill.

A free plugin: it adds the ``wechatpay`` payment provider
(:class:`~plugins.wechatpay.provider.WeChatPayProvider`) to the core's online payment
lifecycle and ships its own translations. Settings (``FULIAN_WECHATPAY_*``) are read
by :mod:`plugins.wechatpay.settings`; the ``wechatpayv3`` library is adapted in
:mod:`plugins.wechatpay.client`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.sdk import PluginMeta, hookimpl

from .provider import WeChatPayProvider

meta = PluginMeta(name="wechatpay", title="WeChat Pay (微信支付)", version="0.1.0",
                  core=">=0.1,<0.2",
                  description="WeChat Pay API v3 online payments: Native QR, H5 and JSAPI, "
                              "refunds.")


@hookimpl
def fulian_payment_providers() -> list[Any]:
    return [WeChatPayProvider()]


@hookimpl
def fulian_translation_dirs() -> list[str]:
    return [str(Path(__file__).resolve().parent / "translations")]
