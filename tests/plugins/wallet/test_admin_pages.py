"""The wallet's back office on the demo brand with the plugin licensed and enabled:
brand admins set up top-up plans, punch cards and tiers through the pages (yuan typed,
fen stored; bad input is 422 with the message and writes nothing); store managers and
front desks cannot reach the set-up; the desk shows a customer's whole wallet and only
the managers of the chosen store refund a card; the PATCH/DELETE API endpoints share
the same rules. One browser journey with screenshots."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from html import unescape
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from core import create_app, licensing
from core.audit import acting_as
from core.auth.tokens import issue_token
from core.db import write_transaction
from core.extensions import db
from core.models import BrandSettings, Customer, InstalledLicense, Service, Store, User
from plugins.wallet import punch
from plugins.wallet import service as wallet
from plugins.wallet.models import PunchProduct, Tier, TopUpPlan
from tests.web.conftest import (  # noqa: F401 - fixtures
    _TEMPLATE,
    PEOPLE,
    Site,
    _seed,
    login,
    page,
    post_form,
    shot,
)

PHONE = "13800138001"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The demo site (as tests/web's) with a wallet licence installed and the plugin on."""
    if "db" not in _TEMPLATE:
        _TEMPLATE["db"] = _seed(tmp_path_factory.mktemp("demo-template"))
    folder = tmp_path_factory.mktemp("wallet-site")
    shutil.copyfile(_TEMPLATE["db"], folder / "demo.db")
    private, public = licensing.generate_keypair()
    (folder / "vendor.pem").write_bytes(public)
    config = {"INSTANCE_PATH": str(_TEMPLATE["db"].parent / "instance"),
              "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'demo.db'}",
              "FULIAN_JOBS_THREAD": False, "RATELIMIT_ENABLED": False,
              "FULIAN_LICENSE_PUBLIC_KEYS": [str(folder / "vendor.pem")]}
    first = create_app(config)
    with first.app_context(), acting_as(None, "test"):
        deployment = db.session.get(BrandSettings, 1).deployment_id
        document = licensing.issue(private, deployment_id=deployment, licensee="Jade",
                                   plugins=["wallet"], max_stores=5,
                                   expires_at=date.today() + timedelta(days=30))
        with write_transaction() as session:
            session.add(InstalledLicense(document=document))
        first.extensions["fulian_plugins"].refresh()
        first.extensions["fulian_plugins"].set_enabled("wallet", True)
        db.session.remove()
    app = create_app(config)  # restart: the plugin's blueprints mount
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(app, f"http://127.0.0.1:{server.server_port}", folder, server)
    server.shutdown()
    with app.app_context():
        db.engine.dispose()


def _html(resp: Any) -> str:
    return unescape(resp.get_data(as_text=True))


def _on_sale(client: Any) -> str:
    """The options of the desk's two sell forms (what the desk can sell now)."""
    html = _html(client.get("/admin/wallet/"))
    return " ".join(re.findall(r'<select id="f-(?:plan|product)".*?</select>', html, re.S))


def _store(site: Site, code: str) -> int:
    with site.app.app_context():
        return db.session.scalars(select(Store.id).where(Store.code == code)).one()


def _count(site: Site, model: Any) -> int:
    with site.app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _token(site: Site, who: str) -> str:
    with site.app.app_context():
        user = db.session.scalars(select(User).where(User.email == PEOPLE[who])).one()
        return issue_token(user)[0]


def _api(site: Site, method: str, url: str, who: str, **kw: Any) -> Any:
    return site.client().open(url, method=method, headers={
        "Authorization": f"Bearer {_token(site, who)}"}, **kw)


def test_setup_pages_are_for_brand_admins_only(site: Site) -> None:
    for who in ("mgr_xuhui", "desk_xuhui"):
        client = site.client_as(who)
        for url in ("/admin/wallet/plans", "/admin/wallet/plans/new",
                    "/admin/wallet/punch-cards", "/admin/wallet/punch-cards/new",
                    "/admin/wallet/tiers", "/admin/wallet/tiers/new"):
            assert client.get(url).status_code == 403, (who, url)
        assert client.post("/admin/wallet/tiers/new", data={
            "name": "X", "min_spend": "1", "discount_percent": "1"}).status_code in (400, 403)
        desk = _html(client.get("/admin/wallet/?lang=en"))
        assert "Wallet desk" in desk and "/admin/wallet/plans" not in desk  # no set-up tabs
    assert _count(site, Tier) == 0
    owner = _html(site.client_as("owner").get("/admin/wallet/?lang=en"))
    assert 'href="/admin/wallet/plans"' in owner and 'href="/admin/wallet/tiers"' in owner


def test_plans_create_edit_retire_through_the_pages(site: Site) -> None:
    client = site.client_as("owner")
    empty = _html(client.get("/admin/wallet/plans?lang=en"))
    assert "No top-up plans yet" in empty
    bad = post_form(client, "/admin/wallet/plans/new?lang=en",
                    {"name": "", "pay_amount": "12.345", "bonus_amount": "abc"})
    text = _html(bad)
    assert bad.status_code == 422
    assert "Missing data for required field." in text
    assert "Use at most 2 decimal places." in text and "Enter an amount like 128.50." in text
    assert 'value="12.345"' in text  # what was typed is kept
    zero = post_form(client, "/admin/wallet/plans/new?lang=en",
                     {"name": "Free", "pay_amount": "0", "bonus_amount": ""})
    assert zero.status_code == 422 and "Must be more than zero." in _html(zero)
    assert _count(site, TopUpPlan) == 0

    done = post_form(client, "/admin/wallet/plans/new",
                     {"name": "Pay 1000 get 1100", "pay_amount": "1,000",
                      "bonus_amount": "100"})
    assert done.status_code == 302
    with site.app.app_context():
        plan = db.session.scalars(select(TopUpPlan)).one()
        assert (plan.pay_amount, plan.bonus_amount, plan.active) == (100000, 10000, True)
        plan_id = plan.id
    listing = _html(client.get("/admin/wallet/plans?lang=en"))
    assert "Pay 1000 get 1100" in listing and "¥1,100.00" in listing  # what the customer gets
    assert "Pay 1000 get 1100" in _on_sale(client)  # on the desk's form

    edit_url = f"/admin/wallet/plans/{plan_id}"
    assert 'value="1000.00"' in _html(client.get(edit_url))
    bad_edit = post_form(client, edit_url + "?lang=en",
                         {"name": "Pay 1000 get 1100", "pay_amount": "-5",
                          "bonus_amount": "150.50"})
    assert bad_edit.status_code == 422 and "The amount cannot be negative." in _html(bad_edit)
    assert post_form(client, edit_url, {"name": "Pay 1000 get 1150.50", "pay_amount": "1000",
                                        "bonus_amount": "150.50"}).status_code == 302
    with site.app.app_context():
        plan = db.session.get(TopUpPlan, plan_id)
        assert (plan.name, plan.bonus_amount) == ("Pay 1000 get 1150.50", 15050)

    retire = post_form(client, f"/admin/wallet/plans/{plan_id}/retire", {},
                       page_url="/admin/wallet/plans")
    assert retire.status_code == 302
    with site.app.app_context():
        assert db.session.get(TopUpPlan, plan_id).active is False
    assert "Pay 1000 get 1150.50" not in _on_sale(client)
    assert "Retired" in _html(client.get("/admin/wallet/plans?lang=en"))
    post_form(client, f"/admin/wallet/plans/{plan_id}/reactivate", {},
              page_url="/admin/wallet/plans")
    assert "Pay 1000 get 1150.50" in _on_sale(client)
    assert client.get("/admin/wallet/plans/999999").status_code == 404


def test_punch_cards_create_edit_retire_through_the_pages(site: Site) -> None:
    client = site.client_as("owner")
    with site.app.app_context():
        published = list(db.session.scalars(select(Service).where(
            Service.published.is_(True)).order_by(Service.id)))
        first, second = published[0].id, published[1].id
    form = _html(client.get("/admin/wallet/punch-cards/new?lang=en"))
    assert f'name="service_ids" value="{first}"' in form
    assert "No punch cards yet" in _html(client.get("/admin/wallet/punch-cards?lang=en"))
    bad = post_form(client, "/admin/wallet/punch-cards/new?lang=en",
                    {"name": "10 visits", "uses": "0", "price": "1280",
                     "validity_days": "180"})
    assert bad.status_code == 422
    assert "Choose at least one service." in _html(bad)
    assert "Between 1 and 1000 visits." in _html(bad)
    assert _count(site, PunchProduct) == 0

    resp = client.post("/admin/wallet/punch-cards/new", data={
        "csrf_token": _csrf(client, "/admin/wallet/punch-cards/new"), "name": "10 visits",
        "service_ids": [str(first), str(second)], "uses": "10", "price": "1280.00",
        "validity_days": "180"})
    assert resp.status_code == 302
    with site.app.app_context():
        product = db.session.scalars(select(PunchProduct)).one()
        assert (product.service_ids, product.uses, product.price, product.validity_days) == \
            (sorted([first, second]), 10, 128000, 180)
        product_id = product.id
    assert "10 visits" in _on_sale(client)
    edit_url = f"/admin/wallet/punch-cards/{product_id}"
    assert client.post(edit_url, data={
        "csrf_token": _csrf(client, edit_url), "name": "12 visits",
        "service_ids": [str(first)], "uses": "12", "price": "1280",
        "validity_days": "365"}).status_code == 302
    with site.app.app_context():
        product = db.session.get(PunchProduct, product_id)
        assert (product.name, product.service_ids, product.uses) == ("12 visits", [first], 12)
    post_form(client, f"/admin/wallet/punch-cards/{product_id}/retire", {},
              page_url="/admin/wallet/punch-cards")
    with site.app.app_context():
        assert db.session.get(PunchProduct, product_id).active is False
    assert "12 visits" not in _on_sale(client)
    post_form(client, f"/admin/wallet/punch-cards/{product_id}/reactivate", {},
              page_url="/admin/wallet/punch-cards")
    assert "12 visits" in _on_sale(client)


def _csrf(client: Any, url: str) -> str:
    from tests.web.conftest import csrf_token

    return csrf_token(client, url)


def test_tiers_create_edit_delete_through_the_pages(site: Site) -> None:
    client = site.client_as("owner")
    assert "No member tiers yet" in _html(client.get("/admin/wallet/tiers?lang=en"))
    assert post_form(client, "/admin/wallet/tiers/new", {
        "name": "Gold", "min_spend": "5000", "discount_percent": "5"}).status_code == 302
    dup = post_form(client, "/admin/wallet/tiers/new?lang=en", {
        "name": "Gold 2", "min_spend": "5000.00", "discount_percent": "8"})
    assert dup.status_code == 422
    assert 'id="min_spend-error">A tier already starts at this spend.' in _html(dup)
    pct = post_form(client, "/admin/wallet/tiers/new?lang=en", {
        "name": "Platinum", "min_spend": "20000", "discount_percent": "150"})
    assert pct.status_code == 422 and "Between 0 and 100 percent." in _html(pct)
    assert _count(site, Tier) == 1
    with site.app.app_context():
        gold = db.session.scalars(select(Tier)).one()
        assert (gold.min_spend, gold.discount_percent) == (500000, 5)
        gold_id = gold.id
    assert post_form(client, f"/admin/wallet/tiers/{gold_id}", {
        "name": "Gold", "min_spend": "4000", "discount_percent": "6"}).status_code == 302
    with site.app.app_context():
        assert db.session.get(Tier, gold_id).min_spend == 400000
    assert "Gold" in _html(client.get("/admin/wallet/tiers"))
    assert post_form(client, f"/admin/wallet/tiers/{gold_id}/delete", {},
                     page_url="/admin/wallet/tiers").status_code == 302
    assert _count(site, Tier) == 0


def test_desk_panel_and_refund_for_the_stores_managers_only(site: Site) -> None:
    xuhui, jingan = _store(site, "xuhui"), _store(site, "jingan")
    with site.app.app_context(), acting_as(None, "test"):
        customer = db.session.scalars(select(Customer).where(
            Customer.phone == "+86" + PHONE)).one()
        cid, name = customer.id, customer.name
        wallet.top_up(cid, xuhui, 100000, 10000)
        service_id = db.session.scalars(select(Service.id).where(
            Service.published.is_(True))).first()
        product = punch.add_product("Desk facials", [service_id], 5, 50000, 90)
        punch.sell(cid, xuhui, product.id)
    desk = site.client_as("desk_xuhui")
    html = _html(desk.get(f"/admin/wallet/?phone={PHONE}&lang=en"))
    assert name in html and "¥1,100.00" in html
    assert "¥1,000.00" in html and "¥100.00" in html  # principal and bonus
    statement = html.split("Statement")[1].split("</table>")[0]
    assert "Top-up" in statement and "青玉 徐汇旗舰店" in statement  # the store that sold it
    assert "Desk facials" in html and "5 of 5 visits left" in html
    assert "Refund the card" not in html  # a front desk does not refund
    assert "No customer has this phone number." in _html(
        desk.get("/admin/wallet/?phone=139000&lang=en"))

    url = f"/admin/wallet/customers/{cid}/refund"
    assert post_form(desk, url, {"store_id": xuhui},
                     page_url="/admin/wallet/").status_code == 403
    other = site.client_as("mgr_jingan")
    other_page = _html(other.get(f"/admin/wallet/?phone={PHONE}&lang=en"))
    assert "Refund the card" in other_page and f'<option value="{xuhui}"' not in \
        other_page.split("f-refund-store")[1].split("</select>")[0]
    assert post_form(other, url, {"store_id": xuhui},
                     page_url="/admin/wallet/").status_code == 403
    with site.app.app_context():
        assert wallet.balances(cid)["total"] == 110000  # nothing refunded

    manager = site.client_as("mgr_xuhui")
    done = post_form(manager, url, {"store_id": xuhui, "reason": "moving away"},
                     page_url="/admin/wallet/")
    assert done.status_code == 302
    with site.app.app_context():
        assert wallet.balances(cid) == {"principal": 0, "bonus": 0, "total": 0}
    after = _html(manager.get(f"/admin/wallet/?phone={PHONE}&lang=en"))
    assert "Card refund" in after
    again = post_form(manager, url + "?lang=en", {"store_id": xuhui},
                      page_url="/admin/wallet/")
    assert again.status_code == 422 and "There is nothing on this card to refund." in \
        _html(again)
    assert post_form(manager, f"/admin/wallet/customers/{cid}/refund",
                     {"store_id": jingan}, page_url="/admin/wallet/").status_code == 403


def test_api_patch_and_delete(site: Site) -> None:
    with site.app.app_context(), acting_as(None, "test"):
        plan_id = wallet.add_plan("API plan", 20000, 0).id
        service_id = db.session.scalars(select(Service.id)).first()
        product_id = punch.add_product("API card", [service_id], 3, 9000, 30).id
    base = "/api/v1/wallet"
    assert _api(site, "PATCH", f"{base}/plans/{plan_id}", "mgr_xuhui",
                json={"name": "x"}).status_code == 403
    assert _api(site, "PATCH", f"{base}/plans/999999", "owner",
                json={"name": "x"}).status_code == 404
    bad = _api(site, "PATCH", f"{base}/plans/{plan_id}", "owner", json={"pay_amount": 0})
    assert bad.status_code == 422 and "pay_amount" in bad.get_data(as_text=True)
    ok = _api(site, "PATCH", f"{base}/plans/{plan_id}", "owner",
              json={"bonus_amount": 2000, "active": False})
    assert ok.status_code == 200 and (ok.json["bonus_amount"], ok.json["active"]) == (2000,
                                                                                      False)
    retired = _api(site, "GET", f"{base}/plans?include_retired=true", "owner").json
    assert plan_id in [p["id"] for p in retired]
    assert plan_id not in [p["id"] for p in _api(
        site, "GET", f"{base}/plans?include_retired=true", "mgr_xuhui").json]

    assert _api(site, "PATCH", f"{base}/punch-products/{product_id}", "desk_xuhui",
                json={"uses": 4}).status_code == 403
    unknown = _api(site, "PATCH", f"{base}/punch-products/{product_id}", "owner",
                   json={"service_ids": [999999]})
    assert unknown.status_code == 422
    changed = _api(site, "PATCH", f"{base}/punch-products/{product_id}", "owner",
                   json={"uses": 4, "active": False})
    assert changed.status_code == 200 and (changed.json["uses"], changed.json["active"]) == \
        (4, False)
    assert _api(site, "PATCH", f"{base}/punch-products/999999", "owner",
                json={"uses": 4}).status_code == 404

    one = _api(site, "POST", f"{base}/tiers", "owner",
               json={"name": "Silver", "min_spend": 100000, "discount_percent": 3})
    two = _api(site, "POST", f"{base}/tiers", "owner",
               json={"name": "Gold", "min_spend": 300000, "discount_percent": 5})
    assert one.status_code == two.status_code == 201
    assert _api(site, "POST", f"{base}/tiers", "owner", json={
        "name": "Again", "min_spend": 100000, "discount_percent": 1}).status_code == 409
    clash = _api(site, "PATCH", f"{base}/tiers/{two.json['id']}", "owner",
                 json={"min_spend": 100000})
    assert clash.status_code == 409
    assert clash.headers["Content-Type"].startswith("application/problem+json")
    assert _api(site, "PATCH", f"{base}/tiers/{two.json['id']}", "owner",
                json={"discount_percent": 101}).status_code == 422
    assert _api(site, "PATCH", f"{base}/tiers/{two.json['id']}", "mgr_xuhui",
                json={"discount_percent": 6}).status_code == 403
    renamed = _api(site, "PATCH", f"{base}/tiers/{two.json['id']}", "owner",
                   json={"name": "Gold+", "discount_percent": 6})
    assert renamed.status_code == 200 and renamed.json["name"] == "Gold+"
    assert _api(site, "DELETE", f"{base}/tiers/{one.json['id']}",
                "desk_xuhui").status_code == 403
    assert _api(site, "DELETE", f"{base}/tiers/999999", "owner").status_code == 404
    assert _api(site, "DELETE", f"{base}/tiers/{one.json['id']}", "owner").status_code == 204
    assert [t["name"] for t in _api(site, "GET", f"{base}/tiers", "owner").json] == ["Gold+"]
    paths = site.client().get("/api/v1/openapi.json").json["paths"]
    assert {"patch", "delete"} <= set(paths["/api/v1/wallet/tiers/{tier_id}"])
    assert "patch" in paths["/api/v1/wallet/plans/{plan_id}"]


def test_browser_sets_up_a_plan_and_looks_up_a_customer(page: Any, site: Site  # noqa: F811
                                                        ) -> None:
    login(page, "owner")
    page.goto("/admin/wallet/plans")
    page.click(".su-head a.button[href='/admin/wallet/plans/new']")
    page.fill("#f-name", "充 2000 送 300")
    page.fill("#f-pay_amount", "2000")
    page.fill("#f-bonus_amount", "300")
    assert "2,300.00" in page.inner_text(".wl-preview")  # what the customer gets, live
    shot(page, "wallet-plan-form")
    page.click(".su-form-card form button[type=submit]")
    page.wait_for_load_state()
    assert "充 2000 送 300" in page.content()
    shot(page, "wallet-plans")
    page.goto("/admin/wallet/punch-cards")
    shot(page, "wallet-punch-cards")
    page.goto("/admin/wallet/punch-cards/new")
    shot(page, "wallet-punch-form")
    page.goto("/admin/wallet/tiers")
    shot(page, "wallet-tiers")
    page.goto("/admin/wallet/tiers/new")
    shot(page, "wallet-tier-form")
    page.goto("/admin/wallet/")
    page.fill("#f-lookup", PHONE)
    page.click("form[role=search] button")
    page.wait_for_load_state()
    assert PHONE in page.content()
    shot(page, "wallet-desk")
    # the customer's page in the back office shows the wallet's sections too
    with site.app.app_context():
        customer_id = db.session.scalar(select(Customer.id).where(
            Customer.phone == "+86" + PHONE))
    page.goto(f"/admin/customers/{customer_id}")
    assert page.locator("#sec-wallet").is_visible()
    shot(page, "admin-customer-wallet")


def test_customer_tops_up_online_in_the_browser(page: Any, site: Site) -> None:  # noqa: F811
    """The member centre's wallet section → top up → the provider's page → back to the
    member centre with the card credited; screenshots of each page."""
    from tests.web.conftest import customer_login

    with site.app.app_context(), acting_as(None, "test"):
        wallet.add_plan("充 500 送 50", 50000, 5000)
    page.set_viewport_size({"width": 360, "height": 800})
    customer_login(page, site, "13800138005", "/me")
    page.goto("/me")
    shot(page, "wallet-member-centre")
    page.click("a[href='/me/wallet/top-up']")
    page.wait_for_url("**/me/wallet/top-up")
    page.locator("label.pay-choice", has_text="充 500 送 50").click()
    shot(page, "wallet-customer-top-up")
    page.click(".pay-form button[type=submit]")
    page.wait_for_url("**/sandbox/pay/**")
    page.click("button[value=pay]")
    page.wait_for_url("**/me")
    assert "¥550.00" in page.locator("#sec-wallet + .card").inner_text()
    page.goto("/me/wallet/statement")
    shot(page, "wallet-customer-statement")
    assert "¥550.00" in page.locator("main").inner_text()
