"""Reading WeChat Pay's trade bill (交易账单, ``bill_type=ALL``) for reconciliation.

The bill is CSV: a header row of Chinese column names, one row per payment or refund
whose every value starts with a backtick (so that spreadsheets keep long numbers as
text), then a summary header (``总交易单数,...``) and its row. Amounts are yuan with
two decimals, the fee yuan with up to five; they are converted with ``Decimal``, never
through a float. Columns are found by name, not position, because WeChat has added
columns over the years.
"""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from core.sdk.payments import StatementLine

STATE = "交易状态"
TXN_ID = "微信订单号"
TRADE_NO = "商户订单号"
REFUND_ID = "微信退款单号"
REFUND_NO = "商户退款单号"
REFUND_STATE = "退款状态"
FEE = "手续费"
#: what the payer was asked for, then what is settled to the merchant (older bills)
PAYMENT_AMOUNTS = ("订单金额", "应结订单金额")
REFUND_AMOUNTS = ("申请退款金额", "退款金额")
#: refunds that count on this bill: done, or on their way (never failed ones)
REFUND_STATES = ("SUCCESS", "PROCESSING")
HUNDRED = Decimal(100)


class BillError(ValueError):
    """The bill is not what WeChat Pay documents."""


def fen(yuan: str) -> int:
    """``"128.00"`` -> 12800; anything finer than a fen is an error."""
    amount = _decimal(yuan) * HUNDRED
    if amount != amount.to_integral_value():
        raise BillError(f"not a whole number of fen: {yuan!r}")
    return int(amount)


def fee_fen(yuan: str) -> int:
    """The fee column (``"0.76800"``), rounded half up to the fen; negative on refund
    rows (the part of the fee given back)."""
    return int((_decimal(yuan) * HUNDRED).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise BillError(f"not an amount: {text!r}") from exc
    if not value.is_finite():
        raise BillError(f"not an amount: {text!r}")
    return value


def parse(text: str) -> list[StatementLine]:
    """The payments (``SUCCESS``) and refunds (``REFUND``) listed on a trade bill."""
    try:
        return _parse(text)
    except csv.Error as exc:
        raise BillError(str(exc)) from exc


def _parse(text: str) -> list[StatementLine]:
    rows = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(rows, None)
    if not header:
        raise BillError("empty bill")
    columns = {name.strip(): i for i, name in enumerate(header)}
    for needed in (STATE, TXN_ID, TRADE_NO, REFUND_ID, REFUND_NO, REFUND_STATE, FEE):
        if needed not in columns:
            raise BillError(f"no column {needed}")
    lines: list[StatementLine] = []
    for cells in rows:
        if not cells or not any(cell.strip() for cell in cells):
            continue
        if not cells[0].startswith("`"):
            break  # the summary follows the details
        row = {name: cells[i].strip().removeprefix("`")
               for name, i in columns.items() if i < len(cells)}
        state = row.get(STATE)
        if state == "SUCCESS":
            lines.append(StatementLine(kind="payment", ref=row.get(TRADE_NO, ""),
                                       provider_txn_id=row.get(TXN_ID, ""),
                                       amount=fen(_first(row, PAYMENT_AMOUNTS)),
                                       fee=fee_fen(row.get(FEE) or "0")))
        elif state == "REFUND" and row.get(REFUND_STATE) in REFUND_STATES:
            lines.append(StatementLine(kind="refund", ref=row.get(REFUND_NO, ""),
                                       provider_txn_id=row.get(REFUND_ID, ""),
                                       amount=fen(_first(row, REFUND_AMOUNTS)),
                                       fee=fee_fen(row.get(FEE) or "0")))
    return lines


def _first(row: dict[str, str], names: tuple[str, ...]) -> str:
    """The first of ``names`` the bill fills in."""
    return next((row[n] for n in names if row.get(n)), "")
