"""Alipay (支付宝): customers pay online on Alipay's pages — ``wap`` on phones,
``page`` on desktops — and refunds go back through Alipay.

A free plugin. It adds one online payment provider (:mod:`.provider`) to the core's
lifecycle (pay page, verified notifications, polling, refund jobs) and its own
translations. Settings and key files: :mod:`.config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.sdk import PluginMeta, hookimpl

from .provider import AlipayProvider

meta = PluginMeta(name="alipay", title="Alipay (支付宝)", version="0.1.0",
                  core=">=0.1,<0.2",
                  description="Alipay online payments: page and wap pay, refunds.")

_PROVIDER = AlipayProvider()


@hookimpl
def fulian_payment_providers() -> list[Any]:
    return [_PROVIDER]


@hookimpl
def fulian_translation_dirs() -> list[str]:
    return [str(Path(__file__).resolve().parent / "translations")]
