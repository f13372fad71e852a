"""Tencent Cloud SMS (腾讯云短信): login codes and notifications through Tencent Cloud.

A free plugin: enabled, it contributes the ``tencent`` SMS provider
(``FULIAN_SMS_PROVIDER=tencent``; settings ``FULIAN_TENCENT_SMS_*``, see
:mod:`.provider`) and its own catalogues (``translations/``, loaded through
``fulian_translation_dirs``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.sdk import PluginMeta, hookimpl

from .provider import TencentSmsProvider

meta = PluginMeta(name="tencentsms", title="Tencent Cloud SMS (腾讯云短信)", version="0.1.0",
                  core=">=0.1,<0.2",
                  description="Sends login codes and notifications through Tencent Cloud SMS.")


@hookimpl
def fulian_translation_dirs() -> list[str]:
    return [str(Path(__file__).resolve().parent / "translations")]


@hookimpl
def fulian_sms_providers() -> list[Any]:
    return [TencentSmsProvider()]
