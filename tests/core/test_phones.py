"""Phone numbers as identities: E.164 in every spelling, the brand's country for national
numbers, refusals of numbers that cannot exist, the national format on pages."""

from __future__ import annotations

import pytest
from flask import render_template_string
from sqlalchemy import select

from core import phones
from core.auth import tokens
from core.crm.customers import create_customer, find_or_create, search_customers
from core.db import write_transaction
from core.errors import Conflict, ValidationFailed
from core.extensions import db
from core.models import BrandSettings
from core.org.brand import update_brand
from core.org.users import create_user, find_user

CN_SPELLINGS = [
    "+8613800138000", "+86 138 0013 8000", "13800138000", "138 0013 8000", "138-0013-8000",
    "0086 138 0013 8000", "008613800138000", "86 13800138000", "+86-138-0013-8000",
    " 13800138000 ", "(+86) 138 0013 8000", "１３８００１３８０００",
    "+86\u00a0138\u00a00013\u00a08000",
]


@pytest.mark.parametrize("raw", CN_SPELLINGS)
def test_chinese_mobile_in_every_spelling_is_one_number(raw: str) -> None:
    assert phones.normalise(raw, "CN") == "+8613800138000"


@pytest.mark.parametrize(("raw", "country", "e164"), [
    ("021-6431 8800", "CN", "+862164318800"),  # a Shanghai landline
    ("(202) 555-0143", "US", "+12025550143"),
    ("202-555-0143", "US", "+12025550143"),
    ("+1 202 555 0143", "CN", "+12025550143"),  # a country code wins over the brand's
    ("011 86 138 0013 8000", "US", "+8613800138000"),  # the US international prefix
    ("0086 138 0013 8000", "US", "+8613800138000"),  # 00 is understood everywhere
    ("+44 20 7946 0958", "CN", "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),
])
def test_national_numbers_are_read_in_the_given_country(raw: str, country: str,
                                                        e164: str) -> None:
    assert phones.normalise(raw, country) == e164


@pytest.mark.parametrize(("raw", "country"), [
    ("12345", "CN"), ("1380013800", "CN"), ("138001380001", "CN"), ("+86 999", "CN"),
    ("", "CN"), ("   ", "CN"), ("phone", "CN"), ("13800138000", "US"),
    ("+1 555 0100", "CN"), ("00000000000", "CN"), ("13800138000 ext. 12", "CN"),
    ("1" * 80, "CN"), (None, "CN"), (13800138000, "CN"),
])
def test_impossible_numbers_are_refused_with_a_field_error(raw: object,
                                                           country: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        phones.normalise(raw, country)
    assert caught.value.status == 422
    assert list(caught.value.field_errors) == ["phone"]
    assert phones.lookup_key(raw, country) is None


def test_display_national_at_home_international_abroad() -> None:
    assert phones.display("+8613800138000", "CN") == "138 0013 8000"
    assert phones.display("+12025550143", "CN") == "+1 202-555-0143"
    assert phones.display("+12025550143", "US") == "(202) 555-0143"
    assert phones.display("+8613800138000", "US") == "+86 138 0013 8000"
    assert phones.display("legacy 123", "CN") == "legacy 123"  # shown as stored
    assert phones.display(None) == ""


def test_search_fragments_match_stored_numbers() -> None:
    assert "13800138000" in phones.search_fragments("138 0013 8000", "CN")
    assert "+8613800138000" in phones.search_fragments("0086 138 0013 8000", "CN")
    assert "2164318800" in phones.search_fragments("021 6431 8800", "CN")
    assert phones.search_fragments("Wang", "CN") == []


def test_brand_country_sets_the_region_and_is_validated(ctx) -> None:
    assert phones.region() == "CN"  # the default
    assert db.session.get(BrandSettings, 1).country == "CN"
    with pytest.raises(ValidationFailed) as caught:
        update_brand({"country": "XX"})
    assert "country" in caught.value.field_errors
    update_brand({"country": "us"})
    assert phones.region() == "US"
    assert phones.normalise("(202) 555-0143") == "+12025550143"
    with pytest.raises(ValidationFailed):
        phones.normalise("13800138000")  # a Chinese mobile without +86 is not a US number
    assert phones.normalise("+86 138 0013 8000") == "+8613800138000"
    with ctx.test_request_context():
        assert render_template_string("{{ p|phone }}", p="+12025550143") == "(202) 555-0143"


def test_one_customer_per_number_in_any_spelling(ctx) -> None:
    with write_transaction():
        first = find_or_create("138 0013 8000", "Wu")
    with write_transaction():
        again = find_or_create("+86 13800138000", "Wu")
        same = find_or_create("0086-138-0013-8000")
    assert first.id == again.id == same.id and first.phone == "+8613800138000"
    with pytest.raises(Conflict):
        create_customer({"phone": "13800138000", "name": "Twin"})
    with pytest.raises(ValidationFailed) as caught:
        create_customer({"phone": "1380013800", "name": "Short"})
    assert "phone" in caught.value.field_errors
    for typed in ("138 0013 8000", "13800138000", "0013 8000", "+86 138", "Wu"):
        found = db.session.scalars(search_customers(typed)).all()
        assert [c.id for c in found] == [first.id], typed
    with ctx.test_request_context():
        assert render_template_string("{{ c.phone|phone }}", c=first) == "138 0013 8000"


def test_users_are_found_and_log_in_by_any_spelling(ctx) -> None:
    user = create_user({"name": "Desk", "phone": "138 0013 8001", "password": "long-pass-1"},
                       role="owner")
    assert user.phone == "+8613800138001"
    assert find_user("13800138001").id == user.id
    assert tokens.login("+86 138-0013-8001", "long-pass-1").id == user.id
    with pytest.raises(Conflict):
        create_user({"name": "Twin", "phone": "+8613800138001", "password": "long-pass-1"})
    with pytest.raises(ValidationFailed):
        create_user({"name": "Bad", "phone": "138 0013", "password": "long-pass-1"})


def test_api_refuses_impossible_numbers_with_field_errors(app) -> None:
    from tests.core.factories import make_shop

    client = app.test_client()
    with app.app_context():
        shop = make_shop()
        owner = create_user({"name": "O", "email": "o@example.com", "password": "long-pass-1"},
                            role="owner")
        token, _ = tokens.issue_token(owner)
        store_id, service_id = shop.store.id, shop.service.id
        start = shop.start.isoformat()
        stored = db.session.scalars(select(BrandSettings.country)).one()
    assert stored == "CN"
    auth = {"Authorization": f"Bearer {token}"}
    # the schema's pattern lets "1234567" through; the numbering plan does not
    resp = client.post("/api/v1/customers", json={"phone": "1234567", "name": "X"},
                       headers=auth)
    assert resp.status_code == 422 and list(resp.get_json()["errors"]) == ["phone"]
    resp = client.post("/api/v1/customers", json={"phone": "+86 138 0013 8002", "name": "Y"},
                       headers=auth)
    assert resp.status_code == 201 and resp.get_json()["phone"] == "+8613800138002"
    resp = client.post("/api/v1/bookings", headers=auth, json={
        "store_id": store_id, "service_id": service_id, "start_at": start,
        "customer": {"phone": "0000000", "name": "Z"}, "source": "phone"})
    assert resp.status_code == 422
    assert list(resp.get_json()["errors"]) == ["customer"]
    assert list(resp.get_json()["errors"]["customer"]) == ["phone"]
    resp = client.post("/api/v1/auth/sms-code", json={"phone": "999999"})
    assert resp.status_code == 422 and list(resp.get_json()["errors"]) == ["phone"]
    # the document says what the pattern cannot
    doc = client.get("/api/v1/openapi.json").get_json()
    field = doc["components"]["schemas"]["SmsCodeIn"]["properties"]["phone"]
    assert "numbering plan" in field["description"] and field["example"] == "+8613800138000"


def test_init_country_option(run_cli, cli_env) -> None:
    from sqlalchemy import create_engine, text

    code, _, err = run_cli("init", "--owner-email", "o@example.com", "--owner-password",
                           "owner-pass-1", "--country", "XX")
    assert code == 2 and "--country" in err and "Traceback" not in err
    code, out, err = run_cli("init", "--owner-email", "o@example.com", "--owner-password",
                             "owner-pass-1", "--country", "us")
    assert code == 0, err
    code, out, err = run_cli("user", "create", "--name", "U", "--phone", "(202) 555-0143",
                             "--password", "long-pass-1", "--role", "owner")
    assert code == 0, err  # a US number without +1: the brand's country is US
    code, out, err = run_cli("init", "--country", "CN")  # a re-run changes only the country
    assert code == 0 and "already exists" in out and "CN" in out, err
    engine = create_engine(cli_env["FULIAN_DATABASE_URL"])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT country FROM brand_settings")).scalar() == "CN"
        assert conn.execute(text("SELECT phone FROM users WHERE name = 'U'")).scalar() \
            == "+12025550143"
    engine.dispose()


def test_brand_page_sets_the_country(app) -> None:
    from tests.web.conftest import post_form

    with app.app_context():
        create_user({"name": "O", "email": "o@example.com", "password": "long-pass-1"},
                    role="owner")
    client = app.test_client()
    assert post_form(client, "/login", {"login": "o@example.com",
                                        "password": "long-pass-1"}).status_code == 302
    form = {"name": "Test Brand", "default_locale": "en", "theme": "default",
            "primary_color_theme": "1", "accent_color_theme": "1"}
    resp = post_form(client, "/admin/brand", {**form, "country": "ZZ"})
    assert resp.status_code == 422 and 'id="country-error"' in resp.get_data(as_text=True)
    assert post_form(client, "/admin/brand", {**form, "country": "US"}).status_code == 302
    html = client.get("/admin/brand").get_data(as_text=True)
    assert '<option value="US" selected>' in html
    with app.app_context():
        assert db.session.get(BrandSettings, 1).country == "US"
