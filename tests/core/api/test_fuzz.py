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
EXCLUDED = [
    # Business rules (a free slot, a staff member at the store) cannot be expressed in
    # JSON Schema, so schema-valid requests may rightly be refused; see README.
    st_checks.positive_data_acceptance,
]


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
            cust_user = User(phone="13800000001", name="Bo")
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
        case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)
