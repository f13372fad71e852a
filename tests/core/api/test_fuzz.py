"""schemathesis against the live OpenAPI document, authenticated as every role.

Bad input of every kind must get a documented 4xx problem document, never a 5xx, and
every response must match its documented status, content type, headers and schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks as st_checks

from core import create_app, dbmigrate
from core.auth.tokens import issue_token
from core.db import write_transaction
from core.models import Customer, RoleAssignment, User
from core.org.brand import ensure_brand
from core.org.users import create_user
from tests.core.factories import make_shop

ROLES = ("owner", "store_manager", "front_desk", "staff", "customer", "anonymous")
# Rules *between* fields (an end after its start, intervals that must not overlap, the
# text form of weekly hours) cannot be written in JSON Schema, and each operation's
# description states them. Only for these fields may a schema-valid request get a 422;
# every other rule is published as a schema constraint and checked by
# positive_data_acceptance like everything else.
CROSS_FIELD_RULES = {
    "GET /api/v1/stores/{store_id}/availability": {"date_to"},
    "GET /api/v1/audit": {"until"},
    "POST /api/v1/staff/{staff_id}/time-off": {"end_at"},
    "POST /api/v1/staff/{staff_id}/overrides": {"intervals"},
    "POST /api/v1/stores/{store_id}/holidays": {"opens_min", "closes_min"},
    "PUT /api/v1/stores/{store_id}/hours": {"text", "intervals"},
    "PUT /api/v1/staff/{staff_id}/availability": {"text", "intervals"},
    # not a rule between fields, but not a schema either: where the host resolves to
    # (a private or loopback address is refused) is known only by asking DNS
    "POST /api/v1/webhooks": {"url"},
}
# A phone number's pattern is published, but whether a number of that shape exists
# depends on its country's numbering plan (libphonenumber's metadata, and the brand's
# country for national numbers), which JSON Schema cannot carry; the field's description
# and each operation's description say so. Only these fields may be 422 for that reason.
NUMBERING_PLAN_RULES = {
    "POST /api/v1/auth/token": {"phone"},
    "POST /api/v1/auth/sms-code": {"phone"},
    "POST /api/v1/bookings": {"customer"},
    "POST /api/v1/customers": {"phone"},
    "PATCH /api/v1/customers/{customer_id}": {"phone"},
    "POST /api/v1/staff": {"phone"},
}
MAY_BE_422 = {op: CROSS_FIELD_RULES.get(op, set()) | NUMBERING_PLAN_RULES.get(op, set())
              for op in {*CROSS_FIELD_RULES, *NUMBERING_PLAN_RULES}}


def _world(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    folder = tmp_path_factory.mktemp("fuzz")
    app = create_app({"INSTANCE_PATH": str(folder), "FULIAN_JOBS_THREAD": False,
                      "RATELIMIT_ENABLED": False, "PROPAGATE_EXCEPTIONS": False})
    tokens: dict[str, str] = {}
    with app.app_context():
        dbmigrate.upgrade()
        ensure_brand({"name": "Fuzz", "default_locale": "en", "currency": "CNY",
                      "timezone": "Asia/Shanghai"})
        shop = make_shop()
        make_shop("other", "other@example.com")
        users = {
            "owner": create_user({"name": "O", "email": "o@example.com",
                                  "password": "fuzz-pass-1"}, role="owner"),
            "store_manager": create_user({"name": "M", "email": "m@example.com",
                                          "password": "fuzz-pass-1"}, role="store_manager",
                                         stores=["main"]),
            "front_desk": create_user({"name": "F", "email": "f@example.com",
                                       "password": "fuzz-pass-1"}, role="front_desk",
                                      stores=["main"]),
            "staff": shop.staff.user,
        }
        with write_transaction() as session:
            cust_user = User(phone="+8613800000001", name="Bo")  # E.164, as stored
            cust_user.roles.append(RoleAssignment(role="customer"))
            session.add(cust_user)
            session.flush()
            session.get(Customer, shop.customer.id).user_id = cust_user.id
        users["customer"] = cust_user
        for role, user in users.items():
            tokens[role] = issue_token(user)[0]
    return app, tokens


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return _world(tmp_path_factory)


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@pytest.fixture(scope="module")
def fuzz_schema(world):
    app, _ = world
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_survives_fuzzing(case, world):
    _, tokens = world
    for role in ROLES:  # the same generated request, as every kind of caller
        headers = {} if role == "anonymous" else {"Authorization": f"Bearer {tokens[role]}"}
        response = case.call(headers=headers)
        excluded = []
        if response.status_code == 422 and case.meta.generation.mode.is_positive \
                and case.operation.label in MAY_BE_422:
            fields = set(response.json().get("errors") or {})
            assert fields and fields <= MAY_BE_422[case.operation.label], \
                response.text
            excluded = [st_checks.positive_data_acceptance]
        case.validate_response(response, excluded_checks=excluded)
