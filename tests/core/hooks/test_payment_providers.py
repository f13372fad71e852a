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
