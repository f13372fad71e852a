"""How Alipay writes money, time and notifications, and how we read them exactly.

Alipay speaks yuan as decimal strings (``"128.00"``, but also ``"0.1"``) and Beijing
wall-clock times (``"2026-12-02 18:30:00"``, GMT+8, no zone written); the core counts
integer fen and Unix seconds. Every conversion goes through :class:`~decimal.Decimal`
and refuses what it cannot convert exactly, so no float ever touches an amount.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: a yuan amount as Alipay writes it: digits, at most two decimals, no sign/exponent
_YUAN = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?")
_MAX_FIELDS = 100


class Malformed(ValueError):
    """A value Alipay would never send; the caller decides what that means."""


def to_yuan(fen: int) -> str:
    """``12800`` -> ``"128.00"``: always two decimals, as ``total_amount`` and
    ``refund_amount`` are specified."""
    if isinstance(fen, bool) or not isinstance(fen, int) or fen < 0:
        raise Malformed(f"not an amount in fen: {fen!r}")
    return format(Decimal(fen).scaleb(-2), "f")


def to_fen(yuan: object) -> int:
    """``"128.00"`` / ``"0.1"`` -> fen, exactly; anything with more than two decimals,
    a sign, an exponent or no digits is :class:`Malformed`."""
    if not isinstance(yuan, str) or not _YUAN.fullmatch(yuan):
        raise Malformed(f"not a yuan amount: {yuan!r}")
    return int(Decimal(yuan).scaleb(2))


def beijing_now() -> str:
    """Now as Alipay's ``timestamp`` wants it: Beijing wall-clock time, whatever the
    server's own time zone is."""
    return datetime.now(BEIJING).strftime(TIME_FORMAT)


def to_unix(text: object) -> int:
    """A Beijing wall-clock time (``notify_time``) as Unix seconds."""
    if not isinstance(text, str):
        raise Malformed(f"not a time: {text!r}")
    try:
        local = datetime.strptime(text, TIME_FORMAT)
    except ValueError as exc:
        raise Malformed(f"not a time: {text!r}") from exc
    return int(local.replace(tzinfo=BEIJING).timestamp())


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` notification as a flat dict: UTF-8 (the
    ``charset`` we ask for), blank values kept (they are signed too), every name once."""
    try:
        text = body.decode("utf-8")
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=True,
                          encoding="utf-8", errors="strict", max_num_fields=_MAX_FIELDS)
    except ValueError as exc:  # bad UTF-8, bad pairs, too many fields
        raise Malformed("not a form") from exc
    if any(len(values) != 1 for values in fields.values()):
        raise Malformed("a field given twice")
    return {name: values[0] for name, values in fields.items()}
