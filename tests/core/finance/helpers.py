"""Paying online in service-level tests: start a sandbox payment and deliver the
provider's signed notification, as the real cycle does."""

from __future__ import annotations

import secrets

from core.finance import callbacks, orders, sandbox


def pay_online(order_id: int, amount: int) -> str:
    ref = "sbx_" + secrets.token_hex(8)
    orders.start_online(order_id, "sandbox", amount, ref)
    body = sandbox.notice_body(ref, amount)
    return callbacks.handle("sandbox", body, {sandbox.SIGNATURE_HEADER: sandbox.sign(body)})
