"""A local fake of WeChat Pay's API v3 — a real HTTP server on 127.0.0.1 — for tests.

It plays WeChat Pay's part as documented (pay.weixin.qq.com/docs/merchant):

- every request must carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="...",
  nonce_str="...",signature="...",timestamp="...",serial_no="..."``, the merchant's
  RSA-SHA256 (PKCS#1 v1.5) signature over ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\n
  BODY\\n``, checked with the public key of the merchant certificate ``serial_no``
  names; anything else is ``401 {"code": "SIGN_ERROR", ...}``;
- every answer (but the bill file, which WeChat leaves unsigned and covers by the hash
  in the bill request's answer) and every notification is signed with the platform
  key: ``Wechatpay-Timestamp``, ``-Nonce``, ``-Serial``, ``-Signature-Type`` and
  ``-Signature`` over ``TIMESTAMP\\nNONCE\\nBODY\\n``;
- ``/v3/certificates`` hands out the platform certificate encrypted with AES-256-GCM
  under the APIv3 key (associated data ``certificate``); notifications carry their
  resource encrypted the same way (``transaction`` / ``refund``).

In public-key mode (``FakeWeChatPay(keys, public_key_mode=True)``) the platform key
signs under the public key id instead of a certificate serial.

Test helpers play the payer and WeChat's back office: :meth:`FakeWeChatPay.pay` marks
an order paid and returns the signed notification (deliver it, or drop it to test
recovery), :meth:`FakeWeChatPay.finish_refund` finishes a refund likewise,
:meth:`FakeWeChatPay.refuse_refunds` makes the next refund requests fail.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

CHINA = ZoneInfo("Asia/Shanghai")
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
NOTIFY_PATH = "/api/v1/payments/wechatpay/notify"
OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
AUTH_FIELD = re.compile(r'(\w+)="([^"]*)"')
BILL_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,"
               "交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,"
               "商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
               "手续费,费率,订单金额,申请退款金额,费率备注")
FEE_RATE = Decimal("0.006")


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(key: rsa.RSAPrivateKey, serial: int, name: str) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com")])
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * 5))
            .sign(key, hashes.SHA256()))


def pem_private(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def pem_public(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class Keys:
    """A merchant and WeChat Pay's side of it, generated for the test run."""

    mchid: str
    appid: str
    apiv3_key: str
    merchant_key: rsa.RSAPrivateKey
    merchant_serial: str  # hex, as the merchant platform shows it
    platform_key: rsa.RSAPrivateKey
    platform_cert: x509.Certificate
    public_key_id: str

    @property
    def platform_serial(self) -> str:
        return f"{self.platform_cert.serial_number:X}"


def make_keys() -> Keys:
    merchant, platform = _rsa(), _rsa()
    merchant_serial = secrets.randbits(150) | (1 << 150)
    platform_serial = secrets.randbits(150) | (1 << 150)
    return Keys(mchid="1900000109", appid="wxd678efh567hg6787",
                apiv3_key=secrets.token_hex(16), merchant_key=merchant,
                merchant_serial=f"{merchant_serial:X}",
                platform_key=platform,
                platform_cert=_certificate(platform, platform_serial, "Tenpay.com Root CA"),
                public_key_id="PUB_KEY_ID_0119000001092025010100000000000001")


def rsa_sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(),
                                     hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message.encode(),
                   padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def aes_encrypt(apiv3_key: str, plaintext: str, associated_data: str) -> dict[str, str]:
    nonce = secrets.token_hex(6)  # 12 characters, used as 12 bytes like WeChat's
    sealed = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), plaintext.encode(),
                                                associated_data.encode())
    return {"algorithm": "AEAD_AES_256_GCM", "nonce": nonce,
            "associated_data": associated_data,
            "ciphertext": base64.b64encode(sealed).decode()}


def rfc3339(moment: datetime | None = None) -> str:
    return (moment or datetime.now(CHINA)).astimezone(CHINA).isoformat(timespec="seconds")


def yuan(fen: int | Decimal, places: int = 2) -> str:
    return str((Decimal(fen) / 100).quantize(Decimal(1).scaleb(-places),
                                            rounding=ROUND_HALF_UP))


@dataclass
class Notification:
    """A signed notification as WeChat Pay posts it."""

    headers: dict[str, str]
    body: bytes

    def deliver(self, client: Any) -> Any:
        """POST it to the app through a Flask test client, as WeChat's servers would."""
        return client.post(NOTIFY_PATH, data=self.body,
                           headers={**self.headers, "Content-Type": "application/json"})


@dataclass
class Order:
    out_trade_no: str
    trade_type: str
    request: dict[str, Any]
    state: str = "NOTPAY"
    prepay_id: str = field(default_factory=lambda: "wx" + secrets.token_hex(16))
    transaction_id: str | None = None
    success_time: datetime | None = None

    @property
    def total(self) -> int:
        return int(self.request["amount"]["total"])


@dataclass
class RefundRecord:
    out_refund_no: str
    order: Order
    amount: int
    request: dict[str, Any]
    refund_id: str = field(default_factory=lambda: "50" + secrets.token_hex(14))
    status: str = "PROCESSING"
    created: datetime = field(default_factory=lambda: datetime.now(CHINA))
    success_time: datetime | None = None


class FakeWeChatPay:
    """WeChat Pay API v3, in process. ``base_url`` is FULIAN_WECHATPAY_API_BASE."""

    def __init__(self, keys: Keys, *, public_key_mode: bool = False) -> None:
        self.keys = keys
        self.public_key_mode = public_key_mode
        self.orders: dict[str, Order] = {}
        self.refunds: dict[str, RefundRecord] = {}
        self.bills: dict[str, tuple[bytes, bool]] = {}
        #: (method, path with query, status) of every request, in order
        self.requests: list[tuple[str, str, int]] = []
        self._refusals: list[tuple[int, str, str]] = []
        #: serve bill files that do not match the hash given for them (a tampered copy)
        self.tamper_bill_files = False
        self._lock = threading.Lock()
        self._urls = Map([
            Rule("/v3/certificates", endpoint="certificates", methods=["GET"]),
            Rule("/v3/pay/transactions/<any(native,h5,jsapi):kind>", endpoint="prepay",
                 methods=["POST"]),
            Rule("/v3/pay/transactions/out-trade-no/<ref>", endpoint="order",
                 methods=["GET"]),
            Rule("/v3/pay/transactions/out-trade-no/<ref>/close", endpoint="close_order",
                 methods=["POST"]),
            Rule("/v3/refund/domestic/refunds", endpoint="refund", methods=["POST"]),
            Rule("/v3/refund/domestic/refunds/<ref>", endpoint="refund_query",
                 methods=["GET"]),
            Rule("/v3/bill/tradebill", endpoint="trade_bill", methods=["GET"]),
            Rule("/v3/billdownload/file", endpoint="bill_file", methods=["GET"]),
        ])
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # -- the server --------------------------------------------------------------------
    def start(self) -> FakeWeChatPay:
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        try:
            endpoint, args = self._urls.bind_to_environ(environ).match()
            denied = self._authenticate(request, environ, body)
            if denied is not None:
                response = denied
            else:
                with self._lock:
                    response = getattr(self, f"_{endpoint}")(request, body, **args)
        except NotFound:
            response = self._error(404, "NOT_FOUND", "无效的请求路径")
        except HTTPException as exc:
            response = self._error(exc.code or 400, "INVALID_REQUEST", str(exc))
        path = environ.get("RAW_URI") or request.full_path.rstrip("?")
        self.requests.append((request.method, path, response.status_code))
        return response(environ, start_response)

    # -- signatures --------------------------------------------------------------------
    def _authenticate(self, request: Request, environ: dict[str, Any], body: bytes
                      ) -> Response | None:
        """WeChat's check of the merchant's request signature (over the raw URL)."""
        header = request.headers.get("Authorization", "")
        scheme, _, rest = header.partition(" ")
        fields = dict(AUTH_FIELD.findall(rest))
        if scheme != SIGNATURE_TYPE or set(fields) != {
                "mchid", "nonce_str", "signature", "timestamp", "serial_no"}:
            return self._error(401, "SIGN_ERROR", "Http头Authorization值格式错误")
        if fields["mchid"] != self.keys.mchid:
            return self._error(401, "SIGN_ERROR", "商户号不存在")
        if fields["serial_no"].upper() != self.keys.merchant_serial:
            return self._error(401, "SIGN_ERROR", "商户证书序列号有误")
        if not fields["timestamp"].isdigit() or \
                abs(time.time() - int(fields["timestamp"])) > 300:
            return self._error(401, "SIGN_ERROR", "请求时间戳已过期")
        url = environ.get("RAW_URI") or request.full_path.rstrip("?")
        message = (f"{request.method}\n{url}\n"
                   f"{fields['timestamp']}\n{fields['nonce_str']}\n{body.decode()}\n")
        if not rsa_verify(self.keys.merchant_key.public_key(), message, fields["signature"]):
            return self._error(401, "SIGN_ERROR", "签名错误")
        return None

    @property
    def serial(self) -> str:
        return self.keys.public_key_id if self.public_key_mode else self.keys.platform_serial

    def signed_headers(self, body: bytes, *, timestamp: int | None = None,
                       key: rsa.RSAPrivateKey | None = None,
                       serial: str | None = None) -> dict[str, str]:
        """WeChat Pay's signature headers over ``body`` (a wrong ``key`` or ``serial``
        makes forgeries for tests)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16).upper()
        signature = rsa_sign(key or self.keys.platform_key,
                             f"{stamp}\n{nonce}\n{body.decode()}\n")
        return {"Wechatpay-Timestamp": stamp, "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": signature, "Wechatpay-Serial": serial or self.serial,
                "Wechatpay-Signature-Type": SIGNATURE_TYPE}

    def _json(self, status: int, data: dict[str, Any]) -> Response:
        body = json.dumps(data, ensure_ascii=False).encode()
        headers = {**self.signed_headers(body), "Request-ID": secrets.token_hex(12)}
        return Response(body, status=status, headers=headers,
                        content_type="application/json; charset=utf-8")

    def _error(self, status: int, code: str, message: str) -> Response:
        return self._json(status, {"code": code, "message": message})

    # -- the API -----------------------------------------------------------------------
    def _certificates(self, request: Request, body: bytes) -> Response:
        cert = self.keys.platform_cert
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        return self._json(200, {"data": [{
            "serial_no": self.keys.platform_serial,
            "effective_time": rfc3339(cert.not_valid_before_utc),
            "expire_time": rfc3339(cert.not_valid_after_utc),
            "encrypt_certificate": aes_encrypt(self.keys.apiv3_key, pem, "certificate"),
        }]})

    def _prepay(self, request: Request, body: bytes, kind: str) -> Response:
        data = json.loads(body or b"{}")
        problem = self._prepay_problem(data, kind)
        if problem:
            return self._error(400, "PARAM_ERROR", problem)
        if (data["appid"], data["mchid"]) != (self.keys.appid, self.keys.mchid):
            return self._error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        order = self.orders.get(data["out_trade_no"])
        if order is not None:
            if order.state == "SUCCESS":
                return self._error(400, "ORDERPAID", "该订单已支付")
            if order.trade_type != kind.upper() or order.request != data:
                return self._error(400, "INVALID_REQUEST", "201 商户订单号重复")
        else:
            order = Order(data["out_trade_no"], kind.upper(), data)
            self.orders[order.out_trade_no] = order
        if kind == "native":
            code = order.prepay_id[-8:]
            return self._json(200, {"code_url": f"weixin://wxpay/bizpayurl?pr={code}"})
        if kind == "h5":
            return self._json(200, {"h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/"
                                              f"checkmweb?prepay_id={order.prepay_id}"
                                              "&package=2150917749"})
        return self._json(200, {"prepay_id": order.prepay_id})

    @staticmethod
    def _prepay_problem(data: dict[str, Any], kind: str) -> str | None:
        """What WeChat would find wrong with a prepay request (None: nothing)."""
        for name in ("appid", "mchid", "description", "out_trade_no", "notify_url"):
            if not isinstance(data.get(name), str) or not data[name]:
                return f"输入源“/body/{name}”映射到字段“{name}”必填性规则校验失败"
        if not OUT_TRADE_NO.fullmatch(data["out_trade_no"]):
            return "out_trade_no格式错误"
        if len(data["description"]) > 127:
            return "description长度超过127"
        if not data["notify_url"].startswith("https://") or "?" in data["notify_url"]:
            return "notify_url格式错误"
        amount = data.get("amount") or {}
        if not isinstance(amount.get("total"), int) or amount["total"] <= 0 or \
                amount.get("currency", "CNY") != "CNY":
            return "amount格式错误"
        try:
            expires = datetime.fromisoformat(data.get("time_expire", ""))
        except ValueError:
            return "time_expire格式错误"
        if expires.utcoffset() != timedelta(hours=8) or expires <= datetime.now(CHINA):
            return "time_expire格式错误"
        scene = data.get("scene_info") or {}
        if kind == "h5" and (not scene.get("payer_client_ip") or
                             not (scene.get("h5_info") or {}).get("type")):
            return "H5支付须传scene_info.payer_client_ip和h5_info"
        if kind == "jsapi" and not (data.get("payer") or {}).get("openid"):
            return "JSAPI支付须传payer.openid"
        return None

    def _order(self, request: Request, body: bytes, ref: str) -> Response:
        if request.args.get("mchid") != self.keys.mchid:
            return self._error(400, "PARAM_ERROR", "mchid参数错误")
        order = self.orders.get(ref)
        if order is None:
            return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
        return self._json(200, self._transaction(order))

    def _close_order(self, request: Request, body: bytes, ref: str) -> Response:
        """Close an unpaid order (204, signed empty body); a paid one cannot be closed."""
        if json.loads(body or b"{}").get("mchid") != self.keys.mchid:
            return self._error(400, "PARAM_ERROR", "mchid参数错误")
        order = self.orders.get(ref)
        if order is None:
            return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
        if order.state == "SUCCESS":
            return self._error(400, "ORDERPAID", "订单已支付")
        order.state = "CLOSED"
        return Response(b"", status=204, headers=self.signed_headers(b""))

    def _transaction(self, order: Order, *, amount: int | None = None,
                     mchid: str | None = None, appid: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "appid": appid or self.keys.appid, "mchid": mchid or self.keys.mchid,
            "out_trade_no": order.out_trade_no, "trade_type": order.trade_type,
            "trade_state": order.state, "trade_state_desc": order.state,
            "amount": {"total": order.total if amount is None else amount,
                       "currency": "CNY", "payer_currency": "CNY"}}
        if order.transaction_id:
            data.update(transaction_id=order.transaction_id, bank_type="OTHERS",
                        attach="", success_time=rfc3339(order.success_time),
                        payer={"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})
            data["amount"]["payer_total"] = data["amount"]["total"]
        return data

    def _refund(self, request: Request, body: bytes) -> Response:
        data = json.loads(body or b"{}")
        if self._refusals:
            status, code, message = self._refusals.pop(0)
            return self._error(status, code, message)
        out_refund_no, amount = data.get("out_refund_no"), data.get("amount") or {}
        if not out_refund_no or not isinstance(amount.get("refund"), int):
            return self._error(400, "PARAM_ERROR", "参数错误")
        existing = self.refunds.get(out_refund_no)
        if existing is not None:
            if existing.request != data:
                return self._error(400, "INVALID_REQUEST", "退款单号重复，且请求参数不一致")
            return self._json(200, self._refund_data(existing))
        order = self.orders.get(data.get("out_trade_no", ""))
        if order is None or order.state not in ("SUCCESS", "REFUND"):
            return self._error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if amount.get("total") != order.total:
            return self._error(400, "INVALID_REQUEST", "订单金额与原订单不一致")
        refunded = sum(r.amount for r in self.refunds.values() if r.order is order
                       and r.status != "CLOSED")
        if amount["refund"] <= 0 or refunded + amount["refund"] > order.total:
            return self._error(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
        record = RefundRecord(out_refund_no, order, amount["refund"], data)
        self.refunds[out_refund_no] = record
        order.state = "REFUND"
        return self._json(200, self._refund_data(record))

    def _refund_data(self, record: RefundRecord) -> dict[str, Any]:
        data = {"refund_id": record.refund_id, "out_refund_no": record.out_refund_no,
                "transaction_id": record.order.transaction_id,
                "out_trade_no": record.order.out_trade_no, "channel": "ORIGINAL",
                "user_received_account": "支付用户零钱", "create_time": rfc3339(record.created),
                "status": record.status, "funds_account": "AVAILABLE",
                "amount": {"total": record.order.total, "refund": record.amount,
                           "payer_total": record.order.total, "payer_refund": record.amount,
                           "settlement_refund": record.amount,
                           "settlement_total": record.order.total, "discount_refund": 0,
                           "currency": "CNY"}}
        if record.success_time:
            data["success_time"] = rfc3339(record.success_time)
        return data

    def _refund_query(self, request: Request, body: bytes, ref: str) -> Response:
        record = self.refunds.get(ref)
        if record is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return self._json(200, self._refund_data(record))

    def _trade_bill(self, request: Request, body: bytes) -> Response:
        day = request.args.get("bill_date", "")
        if request.args.get("bill_type", "ALL") != "ALL" or \
                not re.fullmatch(r"\d{4}-\d\d-\d\d", day):
            return self._error(400, "PARAM_ERROR", "参数错误")
        text = self.bill_text(day)
        if text is None:
            return self._error(400, "NO_STATEMENT_EXIST", "账单不存在")
        raw = text.encode()
        token = secrets.token_urlsafe(12)
        self.bills[token] = (raw, request.args.get("tar_type") == "GZIP")
        return self._json(200, {
            "hash_type": "SHA1", "hash_value": hashlib.sha1(raw).hexdigest(),
            "download_url": f"https://api.mch.weixin.qq.com/v3/billdownload/file?"
                            f"token={token}&tartype=gzip"})

    def _bill_file(self, request: Request, body: bytes) -> Response:
        found = self.bills.get(request.args.get("token", ""))
        if found is None:
            return self._error(400, "INVALID_REQUEST", "账单下载地址已过期")
        raw, gzipped = found
        if self.tamper_bill_files:
            raw = raw.replace(b".", b"9.", 1)
        # WeChat does not sign the file; the SHA1 in the bill answer covers it
        return Response(gzip.compress(raw) if gzipped else raw,
                        content_type="application/octet-stream")

    def bill_text(self, day: str) -> str | None:
        """The trade bill of ``day`` (China time) built from what was recorded."""
        rows = []
        for order in self.orders.values():
            if order.success_time and order.success_time.date().isoformat() == day:
                fee = (Decimal(order.total) * FEE_RATE).quantize(Decimal(1), ROUND_HALF_UP)
                rows.append(self._bill_row(order, "SUCCESS", settled=order.total,
                                           fee=fee, total=order.total))
        for record in self.refunds.values():
            if record.created.date().isoformat() == day:
                fee = -(Decimal(record.amount) * FEE_RATE).quantize(Decimal(1),
                                                                   ROUND_HALF_UP)
                rows.append(self._bill_row(record.order, "REFUND", settled=record.order.total,
                                           fee=fee, total=record.order.total, refund=record))
        if not rows:
            return None
        settled = sum(o.total for o in self.orders.values()
                      if o.success_time and o.success_time.date().isoformat() == day)
        summary = ["`" + v for v in (str(len(rows)), yuan(settled), "0.00", "0.00", "0.00000",
                                     yuan(settled), "0.00")]
        return "\r\n".join([BILL_HEADER, *rows,
                            "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,"
                            "订单总金额,申请退款总金额", ",".join(summary)]) + "\r\n"

    def _bill_row(self, order: Order, state: str, *, settled: int, fee: Decimal, total: int,
                  refund: RefundRecord | None = None) -> str:
        when = (refund.created if refund else order.success_time) or datetime.now(CHINA)
        values = [when.strftime("%Y-%m-%d %H:%M:%S"), self.keys.appid, self.keys.mchid, "0",
                  "", order.transaction_id or "", order.out_trade_no,
                  "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", order.trade_type, state, "OTHERS", "CNY",
                  yuan(settled) if not refund else "0.00", "0.00",
                  refund.refund_id if refund else "0", refund.out_refund_no if refund else "0",
                  yuan(refund.amount) if refund else "0.00", "0.00",
                  "ORIGINAL" if refund else "", refund.status if refund else "",
                  order.request.get("description", ""), "", yuan(fee, 5), "0.60%",
                  yuan(total), yuan(refund.amount) if refund else "0.00", ""]
        return ",".join("`" + v for v in values)

    # -- the payer and WeChat's back office ------------------------------------------
    def pay(self, out_trade_no: str, *, timestamp: int | None = None,
            amount: int | None = None, mchid: str | None = None, appid: str | None = None,
            key: rsa.RSAPrivateKey | None = None) -> Notification:
        """The payer pays: the order succeeds and WeChat signs TRANSACTION.SUCCESS.
        The keyword arguments make notifications that are stale, for another amount or
        merchant, or signed by someone else."""
        with self._lock:
            order = self.orders[out_trade_no]
            if order.state == "NOTPAY":
                order.state = "SUCCESS"
                order.transaction_id = "42" + secrets.token_hex(13)[:26]
                order.success_time = datetime.now(CHINA)
            resource = self._transaction(order, amount=amount, mchid=mchid, appid=appid)
        return self.notification("TRANSACTION.SUCCESS", "支付成功", "transaction", resource,
                                 timestamp=timestamp, key=key)

    def close(self, out_trade_no: str) -> None:
        """The order times out unpaid."""
        with self._lock:
            self.orders[out_trade_no].state = "CLOSED"

    def finish_refund(self, out_refund_no: str, status: str = "SUCCESS",
                      *, timestamp: int | None = None) -> Notification:
        """WeChat finishes a refund (SUCCESS, ABNORMAL or CLOSED) and signs the
        notification."""
        with self._lock:
            record = self.refunds[out_refund_no]
            record.status = status
            if status == "SUCCESS":
                record.success_time = datetime.now(CHINA)
            data = self._refund_data(record)
        resource = {"mchid": self.keys.mchid, "out_trade_no": data["out_trade_no"],
                    "transaction_id": data["transaction_id"],
                    "out_refund_no": out_refund_no, "refund_id": record.refund_id,
                    "refund_status": status, "user_received_account": "支付用户零钱",
                    "amount": {k: data["amount"][k] for k in
                               ("total", "refund", "payer_total", "payer_refund")}}
        if record.success_time:
            resource["success_time"] = rfc3339(record.success_time)
        summary = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}[status]
        return self.notification(f"REFUND.{status}", summary, "refund", resource,
                                 timestamp=timestamp)

    def refuse_refunds(self, code: str = "NOT_ENOUGH",
                       message: str = "基本账户余额不足，请充值后重新发起", status: int = 403,
                       times: int = 1) -> None:
        """The next ``times`` refund requests answer with this error."""
        self._refusals.extend([(status, code, message)] * times)

    def notification(self, event_type: str, summary: str, original_type: str,
                     resource: dict[str, Any], *, timestamp: int | None = None,
                     key: rsa.RSAPrivateKey | None = None) -> Notification:
        """A notification as WeChat Pay posts it: the resource encrypted with the
        APIv3 key, the body signed with the platform key."""
        sealed = aes_encrypt(self.keys.apiv3_key, json.dumps(resource, ensure_ascii=False),
                             original_type)
        body = json.dumps({
            "id": "EV-" + secrets.token_hex(10), "create_time": rfc3339(),
            "resource_type": "encrypt-resource", "event_type": event_type,
            "summary": summary, "resource": {"original_type": original_type, **sealed},
        }, ensure_ascii=False).encode()
        return Notification(self.signed_headers(body, timestamp=timestamp, key=key), body)
