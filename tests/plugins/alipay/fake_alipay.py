"""A local fake of Alipay's open API gateway (``/gateway.do``), a real HTTP server.

It does what Alipay does with the requests our plugin's SDK sends, as far as the
plugin relies on it:

* **Requests** (``GET``/``POST gateway.do?...&sign=...``) are verified as Alipay
  does: the common parameters must be there, ``app_id`` must be the application's,
  ``sign_type`` RSA2, ``timestamp`` ``yyyy-MM-dd HH:mm:ss``, and ``sign`` the RSA2
  (SHA256withRSA, PKCS#1 v1.5) signature with the application's private key over every
  parameter except ``sign`` with a non-empty value, sorted by name, joined as ``k=v``
  with ``&``. Anything else gets Alipay's error answer, e.g. ``{"alipay_trade_query_
  response": {"code": "40002", "msg": "Invalid Arguments", "sub_code":
  "isv.invalid-signature", ...}, "sign": "..."}``.
* **Answers** to ``alipay.trade.query``, ``alipay.trade.refund`` and
  ``alipay.trade.fastpay.refund.query`` are JSON whose ``<method>_response`` object is
  signed with Alipay's private key over its exact text (non-ASCII written as is, UTF-8)
  — the substring the SDK cuts out to verify.
* **Pay pages** (``alipay.trade.page.pay`` / ``alipay.trade.wap.pay``, opened by the
  customer's browser) create the trade, waiting for the buyer; a signature, product
  code or amount that is wrong shows Alipay's error page instead.
* **Refunds** are de-duplicated by ``out_request_no`` as Alipay does: the same request
  again answers ``code 10000`` with ``fund_change: "N"`` and moves nothing.
* **Notifications** (:meth:`FakeAlipay.pay`, :meth:`FakeAlipay.notification`) are the
  form-encoded POST bodies Alipay sends, signed over every field except ``sign`` and
  ``sign_type``, sorted; :meth:`FakeAlipay.deliver` posts one to the ``notify_url`` the
  pay request named, through the app's test client.

Switches for tests: ``refuse_refunds = (sub_code, sub_msg)`` makes refunds a business
failure (40004); ``lose_answers[method] = n`` processes the next ``n`` calls of
``method`` and then drops the connection without answering (a network error after
Alipay acted).
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode, urlsplit
from urllib.request import urlopen
from zoneinfo import ZoneInfo

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

BEIJING = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SELLER_ID = "2088101122136241"
COMMON = ("app_id", "method", "charset", "sign_type", "sign", "timestamp", "version")
PRODUCT_CODES = {"alipay.trade.page.pay": "FAST_INSTANT_TRADE_PAY",
                 "alipay.trade.wap.pay": "QUICK_WAP_PAY"}
CENT = Decimal("0.01")


def signing_string(params: dict[str, str], exclude: tuple[str, ...]) -> str:
    """Alipay's content to sign: sorted ``k=v`` pairs joined by ``&``."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in exclude)


def beijing(moment: datetime | None = None) -> str:
    return (moment or datetime.now(BEIJING)).astimezone(BEIJING).strftime(TIME_FORMAT)


def yuan(text: Any) -> Decimal | None:
    """A valid Alipay amount (0.01 .. 100000000, two decimals at most), else None."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    if not value.is_finite() or value != value.quantize(CENT) or \
            not CENT <= value <= 100_000_000:
        return None
    return value


@dataclass
class Trade:
    out_trade_no: str
    total_amount: Decimal
    subject: str
    notify_url: str
    trade_no: str = field(default_factory=lambda: "2026" + secrets.token_hex(12)[:24])
    status: str = "WAIT_BUYER_PAY"
    paid_at: str | None = None
    #: out_request_no -> amount refunded by it
    refunds: dict[str, Decimal] = field(default_factory=dict)

    @property
    def refunded(self) -> Decimal:
        return sum(self.refunds.values(), Decimal("0.00"))


class FakeAlipay:
    def __init__(self, app_id: str, app_public_key: rsa.RSAPublicKey,
                 alipay_private_key: rsa.RSAPrivateKey, seller_id: str = SELLER_ID) -> None:
        self.app_id = app_id
        self.app_public_key = app_public_key
        self.private_key = alipay_private_key
        self.seller_id = seller_id
        self.trades: dict[str, Trade] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse_refunds: tuple[str, str] | None = None
        self.lose_answers: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- the server ---------------------------------------------------------------------
    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/gateway.do"

    def start(self) -> FakeAlipay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        if request.path != "/gateway.do":
            return Response("not found", status=404)(environ, start_response)
        params = {**request.args.to_dict(), **request.form.to_dict()}
        with self._lock:
            response = self._gateway(params)
            method = params.get("method", "")
            lose = self.lose_answers.get(method, 0)
            if lose:
                self.lose_answers[method] = lose - 1
        if lose:  # Alipay acted, the answer never arrives: the connection drops
            start_response("200 OK", [("Content-Type", "text/html;charset=utf-8")])
            environ["werkzeug.socket"].shutdown(socket.SHUT_RDWR)
            return [b""]
        return response(environ, start_response)

    # -- what the browser does ----------------------------------------------------------
    def open(self, url: str) -> str:
        """The customer's browser following our redirect to the gateway."""
        with urlopen(url, timeout=5) as answer:
            return answer.read().decode("utf-8")

    # -- the gateway --------------------------------------------------------------------
    def _gateway(self, params: dict[str, str]) -> Response:
        method = params.get("method", "")
        key = method.replace(".", "_") + "_response" if method else "error_response"
        problem = self._check_common(params)
        if problem is None and method not in (*PRODUCT_CODES, *self._apis()):
            problem = ("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            biz = None
        if problem is None and not isinstance(biz, dict):
            problem = ("40002", "Invalid Arguments", "isv.invalid-biz-content",
                       "biz_content 不是合法的 JSON")
        if method in PRODUCT_CODES:
            return self._pay_page(method, params, biz, problem)
        if problem is not None:
            code, msg, sub_code, sub_msg = problem
            return self._answer(key, {"code": code, "msg": msg, "sub_code": sub_code,
                                      "sub_msg": sub_msg})
        self.calls.append((method, biz))
        return self._answer(key, self._apis()[method](biz))

    def _apis(self) -> dict[str, Any]:
        return {"alipay.trade.query": self._query, "alipay.trade.refund": self._refund,
                "alipay.trade.fastpay.refund.query": self._refund_query}

    def _check_common(self, params: dict[str, str]) -> tuple[str, str, str, str] | None:
        for name in COMMON:
            if not params.get(name):
                return ("40001", "Missing Required Arguments", f"isv.missing-{name}",
                        f"缺少{name}参数")
        if params["app_id"] != self.app_id:
            return ("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
        if params["sign_type"] != "RSA2":
            return ("40002", "Invalid Arguments", "isv.invalid-signature-type",
                    "无效的签名类型参数")
        try:
            datetime.strptime(params["timestamp"], TIME_FORMAT)
        except ValueError:
            return ("40002", "Invalid Arguments", "isv.invalid-timestamp", "非法的时间戳参数")
        content = signing_string({k: v for k, v in params.items() if v}, ("sign",))
        try:
            self.app_public_key.verify(base64.b64decode(params["sign"]), content.encode(),
                                       padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return ("40002", "Invalid Arguments", "isv.invalid-signature",
                    "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，"
                    f"网关生成的验签字符串为：{content}")
        return None

    def _answer(self, key: str, body: dict[str, Any]) -> Response:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        raw = f'{{"{key}":{text},"sign":"{self.sign(text)}"}}'
        return Response(raw, content_type="text/html;charset=utf-8")

    def sign(self, content: str) -> str:
        signature = self.private_key.sign(content.encode(), padding.PKCS1v15(),
                                          hashes.SHA256())
        return base64.b64encode(signature).decode()

    def _pay_page(self, method: str, params: dict[str, str], biz: Any,
                  problem: tuple[str, str, str, str] | None) -> Response:
        if problem is None:
            problem = self._pay_problem(method, params, biz)
        if problem is not None:
            return Response(f"<html><body><h1>支付宝 - 网站支付</h1><p>错误代码 "
                            f"{problem[2]} 错误原因: {problem[3]}</p></body></html>",
                            content_type="text/html;charset=utf-8")
        return Response(f"<html><body><h1>支付宝收银台</h1><p>{biz['subject']}</p>"
                        f"<p>¥{biz['total_amount']}</p></body></html>",
                        content_type="text/html;charset=utf-8")

    def _pay_problem(self, method: str, params: dict[str, str], biz: dict[str, Any]
                     ) -> tuple[str, str, str, str] | None:
        amount = yuan(biz.get("total_amount"))
        ref, subject = str(biz.get("out_trade_no") or ""), str(biz.get("subject") or "")
        if biz.get("product_code") != PRODUCT_CODES[method]:
            return ("40004", "Business Failed", "ACQ.INVALID_PARAMETER",
                    "product_code 无效")
        if amount is None or not 0 < len(ref) <= 64 or not subject or \
                any(c in subject for c in "/=&"):
            return ("40004", "Business Failed", "ACQ.INVALID_PARAMETER", "参数无效")
        existing = self.trades.get(ref)
        if existing is not None and existing.total_amount != amount:
            return ("40004", "Business Failed", "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        if existing is None:
            self.trades[ref] = Trade(ref, amount, subject, params.get("notify_url", ""))
        self.calls.append((method, biz))
        return None

    def _query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get(str(biz.get("out_trade_no")))
        if trade is None:
            return {"code": "40004", "msg": "Business Failed", "sub_code":
                    "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在", "buyer_pay_amount": "0.00",
                    "invoice_amount": "0.00", "out_trade_no": biz.get("out_trade_no"),
                    "point_amount": "0.00", "receipt_amount": "0.00"}
        answer = {"code": "10000", "msg": "Success", "buyer_logon_id": "159****5620",
                  "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no,
                  "trade_status": trade.status, "total_amount": str(trade.total_amount)}
        if trade.paid_at:
            answer.update(send_pay_date=trade.paid_at,
                          buyer_pay_amount=str(trade.total_amount))
        return answer

    def _refund(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get(str(biz.get("out_trade_no")))
        amount = yuan(biz.get("refund_amount"))
        request_no = str(biz.get("out_request_no") or biz.get("out_trade_no"))
        failed = {"code": "40004", "msg": "Business Failed"}
        if trade is None:
            return {**failed, "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在"}
        if amount is None:
            return {**failed, "sub_code": "ACQ.INVALID_PARAMETER", "sub_msg": "参数无效"}
        done = {"code": "10000", "msg": "Success", "buyer_logon_id": "159****5620",
                "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no}
        if request_no in trade.refunds:  # a retry: Alipay moves nothing again
            if trade.refunds[request_no] != amount:
                return {**failed, "sub_code": "ACQ.DISCORDANT_REPEAT_REQUEST",
                        "sub_msg": "不一致的请求"}
            return {**done, "fund_change": "N", "refund_fee": str(trade.refunded)}
        if self.refuse_refunds is not None:
            sub_code, sub_msg = self.refuse_refunds
            return {**failed, "sub_code": sub_code, "sub_msg": sub_msg}
        if trade.status != "TRADE_SUCCESS":
            return {**failed, "sub_code": "ACQ.TRADE_STATUS_ERROR", "sub_msg": "交易状态不合法"}
        if trade.refunded + amount > trade.total_amount:
            return {**failed, "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                    "sub_msg": "退款金额超限"}
        trade.refunds[request_no] = amount
        if trade.refunded == trade.total_amount:
            trade.status = "TRADE_CLOSED"
        return {**done, "fund_change": "Y", "refund_fee": str(trade.refunded),
                "gmt_refund_pay": beijing()}

    def _refund_query(self, biz: dict[str, Any]) -> dict[str, Any]:
        trade = self.trades.get(str(biz.get("out_trade_no")))
        if trade is None:
            return {"code": "40004", "msg": "Business Failed",
                    "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在"}
        request_no = str(biz.get("out_request_no"))
        if request_no not in trade.refunds:
            return {"code": "10000", "msg": "Success"}  # Alipay: nothing found
        return {"code": "10000", "msg": "Success", "out_request_no": request_no,
                "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no,
                "total_amount": str(trade.total_amount),
                "refund_amount": str(trade.refunds[request_no]),
                "refund_status": "REFUND_SUCCESS"}

    # -- notifications ------------------------------------------------------------------
    def pay(self, out_trade_no: str, /, **overrides: str) -> bytes:
        """The buyer pays: the trade succeeds; returns Alipay's signed notification."""
        trade = self.trades[out_trade_no]
        trade.status, trade.paid_at = "TRADE_SUCCESS", beijing()
        return self.notification(out_trade_no, **overrides)

    def notification(self, out_trade_no: str, /, *, notify_time: datetime | None = None,
                     **overrides: str) -> bytes:
        """The form body Alipay posts about the trade now (``overrides`` replace or add
        fields before signing: a wrong ``app_id``, ``total_amount`` ...)."""
        trade = self.trades[out_trade_no]
        fields = {
            "notify_time": beijing(notify_time), "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(17), "charset": "utf-8", "version": "1.0",
            "auth_app_id": self.app_id, "app_id": self.app_id, "seller_id": self.seller_id,
            "buyer_id": "2088102177846880", "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no, "trade_status": trade.status,
            "total_amount": str(trade.total_amount),
            "receipt_amount": str(trade.total_amount), "subject": trade.subject,
            "gmt_create": beijing(datetime.now(BEIJING) - timedelta(minutes=1)),
            "sign_type": "RSA2"}
        if trade.paid_at:
            fields.update(gmt_payment=trade.paid_at, buyer_pay_amount=str(trade.total_amount),
                          fund_bill_list=json.dumps([{"amount": str(trade.total_amount),
                                                      "fundChannel": "ALIPAYACCOUNT"}]))
        if trade.refunds:
            fields.update(refund_fee=str(trade.refunded), gmt_refund=beijing(),
                          out_biz_no=list(trade.refunds)[-1])
        fields.update(overrides)
        fields["sign"] = self.sign(signing_string(fields, ("sign", "sign_type")))
        return urlencode(fields).encode()

    def deliver(self, client: Any, body: bytes, out_trade_no: str) -> Any:
        """POST a notification to the notify_url the pay request named, as Alipay does
        (through ``client``, a Flask test client of the app)."""
        path = urlsplit(self.trades[out_trade_no].notify_url).path
        return client.post(path, data=body,
                           content_type="application/x-www-form-urlencoded; charset=utf-8")
