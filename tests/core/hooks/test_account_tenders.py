"""fulian_account_tenders, through the customer's checkout page."""

from __future__ import annotations

from typing import Any

from core.extensions import db
from core.finance import ledger
from core.models import Payment
from core.plugins import PluginMeta, hookimpl
from tests.core.hooks.helpers import CUSTOMER_EMAIL, form_field, login, shop_with_booking


class PotTender:
    """Pays from a pot the brand keeps for the customer (here: the store's cash)."""

    code = "pot"
    label = "Gift pot"

    def legs(self, order: Any, amount: int) -> list[tuple[str, int]]:
        return [(f"store:{order.store_id}:cash", amount)]

    def refund_legs(self, order: Any, payment: Any, amount: int) -> list[tuple[str, int]]:
        return [(f"store:{order.store_id}:cash", -amount)]

    def available(self, order: Any) -> int:
        return 3000


class PotPlugin:
    meta = PluginMeta(name="pot", title="Gift pot", version="1.0")

    @hookimpl
    def fulian_account_tenders(self) -> list[Any]:
        return [PotTender()]


def test_hook_fulian_account_tenders(started_with: Any) -> None:
    app = started_with("pot", extra=(PotPlugin(),))
    ids = shop_with_booking(app)
    client = login(app, CUSTOMER_EMAIL)
    url = f"/me/bookings/{ids['code']}/pay"
    html = client.get(url + "?lang=en").get_data(as_text=True)
    assert 'name="method" value="pot"' in html and "Gift pot" in html  # offered
    resp = client.post(url, data={"csrf_token": form_field(html, "csrf_token"),
                                  "once": form_field(html, "once"), "method": "pot",
                                  "amount": "due"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:400]
    with app.app_context():
        [payment] = db.session.query(Payment).all()
        # as much as the pot holds, settled at once, the ledger balanced by the core
        assert (payment.provider, payment.amount, payment.status) == ("pot", 3000,
                                                                      "succeeded")
        assert ledger.balance(f"store:{ids['store_id']}:revenue") == 3000
