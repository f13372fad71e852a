"""fulian_payment_providers, through the checkout page, the orders API and the pay
page."""

from __future__ import annotations

from typing import Any

from core.extensions import db
from core.finance.providers import Checkout, PayContext, PaymentProvider
from core.models import User
from core.plugins import PluginMeta, hookimpl
from tests.core.factories import bearer, token_for
from tests.core.hooks.helpers import CUSTOMER_EMAIL, login, shop_with_booking


class HookPay(PaymentProvider):
    code = "hookpay"
    label = "Hook Pay"
    channels = ("native",)

    def __init__(self) -> None:
        self.started: list[str] = []
        self.problems: list[str] = []

    def readiness(self) -> list[Any]:
        return list(self.problems)

    def start(self, payment: Any, context: PayContext) -> Checkout:
        self.started.append(payment.external_ref)
        return Checkout(channel="native", qr_text=f"hookpay://{payment.external_ref}")


class HookPayPlugin:
    meta = PluginMeta(name="hookpay", title="Hook Pay", version="1.0")

    def __init__(self) -> None:
        self.provider = HookPay()

    @hookimpl
    def fulian_payment_providers(self) -> list[Any]:
        return [self.provider]


def test_hook_fulian_payment_providers(started_with: Any) -> None:
    plugin = HookPayPlugin()
    app = started_with("hookpay", extra=(plugin,))
    ids = shop_with_booking(app)
    client = login(app, CUSTOMER_EMAIL)
    checkout = f"/me/bookings/{ids['code']}/pay?lang=en"
    html = client.get(checkout).get_data(as_text=True)
    assert 'name="method" value="hookpay"' in html and "Hook Pay" in html  # offered
    plugin.provider.problems = ["no merchant id"]
    assert 'value="hookpay"' not in client.get(checkout).get_data(as_text=True)
    plugin.provider.problems = []
    # the customer starts a payment with it over the API; the pay page starts it there
    with app.app_context():
        auth = bearer(token_for(db.session.get(User, ids["user_id"])))
    api = app.test_client()
    order = api.post(f"/api/v1/bookings/{ids['booking_id']}/order", headers=auth).json
    started = api.post(f"/api/v1/orders/{order['id']}/payments", headers=auth,
                       json={"provider": "hookpay", "amount": order["total"]})
    assert started.status_code == 201, started.json
    assert started.json["provider"] == "hookpay" and started.json["status"] == "pending"
    ref = started.json["redirect_url"].rsplit("/", 1)[1]
    page = client.get(started.json["redirect_url"] + "?lang=en")
    assert page.status_code == 200 and "Hook Pay" in page.get_data(as_text=True)
    assert plugin.provider.started == [ref]


def test_the_example_plugin_is_a_whole_provider(contract_app: Any) -> None:
    """The third-party example (tests/fixtures/site/fulian_contract), built on the SDK
    alone: started from the API, settled by its signed notification through the core's
    notify route (once, however often it is sent), refunded through the provider."""
    import json
    import secrets
    import time

    import fulian_contract

    ids = shop_with_booking(contract_app)
    with contract_app.app_context():
        auth = bearer(token_for(db.session.get(User, ids["user_id"])))
    api = contract_app.test_client()
    order = api.post(f"/api/v1/bookings/{ids['booking_id']}/order", headers=auth).json
    started = api.post(f"/api/v1/orders/{order['id']}/payments", headers=auth,
                       json={"provider": "contract-pay", "amount": order["total"]})
    assert started.status_code == 201, started.json
    ref = started.json["redirect_url"].rsplit("/", 1)[1]
    body = json.dumps({"ref": ref, "amount": order["total"], "status": "succeeded",
                       "timestamp": int(time.time()), "nonce": secrets.token_hex(8)}).encode()
    url = "/api/v1/payments/contract-pay/notify"
    forged = api.post(url, data=body, headers={"X-Contract-Signature": "0" * 64,
                                               "Content-Type": "application/json"})
    assert forged.status_code == 401
    signed = {"X-Contract-Signature": fulian_contract.pay_signature(body),
              "Content-Type": "application/json"}
    assert api.post(url, data=body, headers=signed).status_code == 200
    assert api.post(url, data=body, headers=signed).status_code == 200  # a retry: no effect
    paid = api.get(f"/api/v1/orders/{order['id']}", headers=auth).json
    assert paid["status"] == "paid" and paid["paid"] == order["total"], paid

    from core import jobs
    from tests.core.factories import make_user

    with contract_app.app_context():
        manager = bearer(token_for(make_user("mgr@example.com", "store_manager", ["main"])))
    refund = api.post(f"/api/v1/orders/{order['id']}/refunds", headers=manager,
                      json={"amount": 100, "reason": "goodwill"})
    assert refund.status_code == 201, refund.json
    jobs.run_pending(contract_app)  # the refund is handed to the provider after commit
    assert [name for name, _ in fulian_contract.CALLS].count("pay.refund") == 1
    refunded = api.get(f"/api/v1/orders/{order['id']}", headers=auth).json
    assert refunded["refunded"] == 100, refunded
