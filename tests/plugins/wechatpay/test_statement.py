"""The day's trade bill from the fake (built from what it recorded), downloaded and
parsed into statement lines; and the parser on its own, with WeChat's quirks."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from core import jobs
from core.finance.providers import ProviderError, StatementLine, installed
from core.models import Refund
from plugins.wechatpay import bill
from plugins.wechatpay.provider import CHINA

from .conftest import WeChat
from .fake_wechatpay import BILL_HEADER


def test_the_statement_lists_the_day_s_payments_and_refunds(wechat: WeChat) -> None:
    order = wechat.paid()
    resp = wechat.world.post(f"/api/v1/orders/{order['id']}/refunds", "mgr_n",
                             json={"amount": 2550, "reason": ""})
    [refund] = resp.json
    jobs.run_pending(wechat.app)
    refund_ref = wechat.world.row(Refund, refund["id"]).external_ref
    placed = wechat.fake.orders[order["ref"]]
    today = datetime.now(CHINA).date()
    with wechat.app.app_context():
        provider = installed()["wechatpay"]
        lines = provider.statement(today)
        assert provider.statement(today - timedelta(days=3)) == []  # no bill that day
    assert lines == [
        StatementLine(kind="payment", ref=order["ref"], provider_txn_id=placed.transaction_id,
                      amount=12800, fee=77),  # 0.6% of ¥128.00 = ¥0.768, WeChat rounds
        StatementLine(kind="refund", ref=refund_ref,
                      provider_txn_id=wechat.fake.refunds[refund_ref].refund_id,
                      amount=2550, fee=-15),  # the fee given back
    ]
    assert ("GET", f"/v3/bill/tradebill?bill_date={today}&bill_type=ALL&tar_type=GZIP",
            200) in wechat.fake.requests
    # a file that does not match the hash in WeChat's signed answer is refused
    wechat.fake.tamper_bill_files = True
    with wechat.app.app_context(), pytest.raises(ProviderError):
        installed()["wechatpay"].statement(today)


def _row(state: str, *, trade_no: str = "fp1", total: str = "0.07", refund_no: str = "0",
         refund: str = "0.00", refund_state: str = "", fee: str = "0.00000") -> str:
    values = ["2026-12-01 10:00:00", "wxd678efh567hg6787", "1900000109", "0", "",
              "4200001", trade_no, "oUpF8u", "NATIVE", state, "OTHERS", "CNY",
              total if state == "SUCCESS" else "0.00", "0.00",
              "5000001" if refund_no != "0" else "0", refund_no, refund, "0.00",
              "ORIGINAL" if refund_no != "0" else "", refund_state, "Cut", "", fee, "0.60%",
              total, refund, ""]
    return ",".join("`" + v for v in values)


def test_the_parser_uses_decimal_columns_by_name_and_stops_at_the_summary() -> None:
    text = "\ufeff" + "\r\n".join([
        BILL_HEADER,
        _row("SUCCESS", total="0.07", fee="0.00004"),  # 0.07 * 100 as a float is 7.000…01
        _row("SUCCESS", trade_no="fp2", total="1234567.89", fee="7407.40734"),
        _row("REVOKED", trade_no="fp3"),
        _row("REFUND", refund_no="fr1", refund="0.07", refund_state="SUCCESS", fee="-0.00004"),
        _row("REFUND", refund_no="fr2", refund="0.01", refund_state="FAIL"),
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
        "`5,`1234567.96,`0.08,`0.00,`7407.40734,`1234567.96,`0.08",
    ]) + "\r\n"
    assert bill.parse(text) == [
        StatementLine("payment", "fp1", "4200001", 7, 0),
        StatementLine("payment", "fp2", "4200001", 123456789, 740741),
        StatementLine("refund", "fr1", "5000001", 7, 0),
    ]


@pytest.mark.parametrize("broken", [
    "交易时间,商户号\r\n`2026-12-01,`1900000109\r\n",  # columns missing
    BILL_HEADER + "\r\n" + _row("SUCCESS", total="0.075") + "\r\n",  # finer than a fen
    BILL_HEADER + "\r\n" + _row("SUCCESS", total="NaN") + "\r\n",
    BILL_HEADER + "\r\n" + _row("SUCCESS", total="一块") + "\r\n",
    "",
])
def test_the_parser_refuses_what_wechat_does_not_write(broken: str) -> None:
    with pytest.raises(bill.BillError):
        bill.parse(broken)
